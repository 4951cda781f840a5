// The HTTP API in process (app.request), on the engine with fakes: routes, the error catalogue
// and the live event stream, through the same typed client the CLI uses.

import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Hono } from 'hono';
import { FakeBuilder } from '../../src/builders/fake/builder.ts';
import type { Delivery, DeliveryDetail, RunDetail, Schedule, WebhookSecretSource } from '../../src/client/api.ts';
import { ApiError, SlipwayClient } from '../../src/client/client.ts';
import { parseConfig } from '../../src/config/load.ts';
import { FakeDeployer } from '../../src/deployers/fake/deployer.ts';
import { Engine } from '../../src/engine/engine.ts';
import { isTerminalRun } from '../../src/core/types.ts';
import { MemoryEventBus } from '../../src/events/bus.ts';
import { FakeExecutor } from '../../src/executors/fake/executor.ts';
import { AccessService } from '../../src/auth/access.ts';
import { createApp } from '../../src/server/app.ts';
import { webhookListener } from '../../src/server/hooks.ts';
import { FakeSource } from '../../src/source/fake/source.ts';
import { openSqliteStore } from '../../src/store/sqlite/store.ts';
import type { Store } from '../../src/store/store.ts';
import { Deployments } from '../../src/deployments/service.ts';
import { SecretBox } from '../../src/secrets/box.ts';
import { EnvironmentSecrets, SecretKeeper } from '../../src/secrets/environment.ts';
import { createTriggers, type Triggers } from '../../src/triggers/triggers.ts';

const SHA = 'c'.repeat(40);
const GITEA_SECRET = 'gitea-forge-wide-secret';
const GITEA_REPO = 'http://localhost:3000/gitea/webhooks.git';
/** Gitea's documented push example: a push to develop of gitea/webhooks. */
const GITEA_PUSH = readFileSync(new URL('../fixtures/gitea/push.json', import.meta.url));
/** The test clock: schedules read their ticks and deliveries their arrival from it. */
const NOW = new Date('2025-03-10T12:00:00.000Z');
/** Test steps fail while the gate is closed, for runs given GATED=1. */
let gateOpen = false;
let app: Hono;
/** Webhooks have a node:http listener of their own, so they are posted over real HTTP. */
let hooksServer: Server;
let hooksUrl: string;
let engine: Engine;
let store: Store;
let workRoot: string;
let client: SlipwayClient;
let triggers: Triggers;
let executor: FakeExecutor;
let access: AccessService;
/** The first admin's token, as the first start makes it. */
let adminToken: string;

/** A client whose fetch goes straight into the app, with no socket. */
function inProcessClient(): SlipwayClient {
  const original = globalThis.fetch;
  globalThis.fetch = ((input: RequestInfo | URL, init?: RequestInit) => {
    const url = String(input instanceof Request ? input.url : input);
    return url.startsWith('http://slipway.test/') ? Promise.resolve(app.request(url, init)) : original(input, init);
  }) as typeof fetch;
  return new SlipwayClient('http://slipway.test', adminToken);
}

/** A request into the app as the admin (or with `token`, or none when it is null). */
function request(path: string, init: RequestInit = {}, token: string | null = adminToken): Response | Promise<Response> {
  const headers = new Headers(init.headers);
  if (token !== null) headers.set('authorization', `Bearer ${token}`);
  return app.request(path, { ...init, headers });
}

before(async () => {
  const parsed = parseConfig(
    [
      'pipeline:',
      '  - stage: lint',
      '    run: "{{ service.lint }}"',
      '  - stage: test',
      '    run: "{{ service.test }}"',
      'forges:',
      '  gitea:',
      '    url: http://localhost:3000',
      `    secret: ${GITEA_SECRET}`,
      'schedules:',
      '  - name: nightly',
      '    cron: "0 3 * * *"',
      '    timezone: Europe/Berlin',
      '    services: [api]',
      'services:',
      '  api:',
      '    repo: /repos/api.git',
      '    lint: make lint',
      '    test: make test',
      '  web:',
      `    repo: ${GITEA_REPO}`,
      '    branch: develop',
      '    test: make test',
      '  broken:',
      '    repo: /repos/broken.git',
      '    test: make test',
      '',
    ].join('\n'),
    'slipway.yml',
  );
  assert.ok(parsed.ok);
  store = await openSqliteStore(':memory:');
  workRoot = mkdtempSync(join(tmpdir(), 'slipway-api-'));
  const bus = new MemoryEventBus();
  const source = new FakeSource().setRef('/repos/api.git', 'main', SHA).setRef('/repos/broken.git', 'main', SHA);
  source.brokenCheckouts.add('/repos/broken.git');
  executor = new FakeExecutor((step) => {
    if (step.env.HOLD === '1' && step.command === 'make test') return { hang: true };
    if (step.env.GATED === '1' && step.command === 'make test' && !gateOpen) return { lines: [{ stream: 'stderr', text: 'gate closed' }], exitCode: 3 };
    return step.command === 'make test' ? { lines: [{ stream: 'stdout', text: 'all good' }], delayMs: 20 } : {};
  });
  engine = new Engine({
    store,
    bus,
    config: parsed.config,
    source,
    executor,
    builder: new FakeBuilder(),
    deployer: new FakeDeployer(),
    workRoot,
  });
  triggers = await createTriggers({ config: parsed.config, store, bus, engine, source, secretBox: SecretBox.open(join(workRoot, 'secret.key')), now: () => NOW });
  triggers.open('http://slipway.test');
  await engine.start();
  await triggers.start();
  access = new AccessService(store);
  adminToken = (await access.bootstrap('test'))!.value;
  app = createApp({
    engine,
    store,
    bus,
    access,
    deployments: new Deployments(engine, store, parsed.config),
    secrets: new EnvironmentSecrets(parsed.config, store, new SecretKeeper(SecretBox.open(join(workRoot, 'secret.key')))),
    info: { version: 'test', executor: 'fake', builder: 'fake', deployer: 'fake', store: store.description, configFile: 'slipway.yml', notices: [] },
    webhooks: { receiver: triggers.receiver, secrets: triggers.secrets },
    schedules: triggers.schedules,
    publicUrl: () => 'http://slipway.test',
  });
  client = inProcessClient();
  hooksServer = createServer(webhookListener(triggers.receiver));
  await new Promise<void>((resolve) => hooksServer.listen(0, '127.0.0.1', resolve));
  hooksUrl = `http://127.0.0.1:${(hooksServer.address() as AddressInfo).port}/hooks`;
});

/** Polls until the run has ended. */
async function finished(id: number): Promise<RunDetail> {
  for (let tries = 0; tries < 500; tries++) {
    const run = await client.run(id);
    if (isTerminalRun(run.status)) return run;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`run ${id} did not end`);
}

async function until<T>(read: () => Promise<T>, done: (value: T) => boolean): Promise<T> {
  for (let tries = 0; tries < 500; tries++) {
    const value = await read();
    if (done(value)) return value;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error('gave up waiting');
}

async function expectError(path: string, init: RequestInit | undefined, status: number, code: string, message: string): Promise<void> {
  const response = await request(path, init);
  assert.equal(response.status, status, `${init?.method ?? 'GET'} ${path}`);
  assert.deepEqual(await response.json(), { error: { code, message } }, `${init?.method ?? 'GET'} ${path}`);
}

const json = (method: string, body: unknown): RequestInit => ({ method, body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });

/** A Gitea delivery as Gitea sends it: X-Gitea-Signature is the hex HMAC-SHA256 of the body. */
function postGitea(body: Buffer, options: { secret: string; deliveryId: string; event?: string }): Promise<Response> {
  const signature = createHmac('sha256', options.secret).update(body).digest('hex');
  return Promise.resolve(
    fetch(`${hooksUrl}/gitea`, {
      method: 'POST',
      body: new Uint8Array(body),
      headers: {
        'content-type': 'application/json',
        'x-gitea-event': options.event ?? 'push',
        'x-gitea-delivery': options.deliveryId,
        'x-gitea-signature': signature,
      },
    }),
  );
}

after(async () => {
  await new Promise((resolve) => hooksServer.close(resolve));
  await triggers.stop();
  await engine.stop();
  await triggers.close();
  await store.close();
  rmSync(workRoot, { recursive: true, force: true });
});

describe('HTTP API', () => {
  it('starts a run and streams its events live until it ends', async () => {
    const abort = new AbortController();
    const events = client.events({}, abort.signal)[Symbol.asyncIterator]();
    assert.deepEqual((await events.next()).value, { type: 'ready' });
    const run = await client.startRun({ service: 'api' });
    assert.equal(run.commitSha, SHA);
    assert.deepEqual(run.stages.map((stage) => stage.name), ['checkout', 'lint', 'test']);
    const seen: string[] = [];
    for (let next = await events.next(); !next.done; next = await events.next()) {
      const event = next.value;
      if (event.type === 'stage') seen.push(`${event.data.name}:${event.data.status}`);
      if (event.type === 'log' && event.data.stream === 'stdout') seen.push(`log:${event.data.text}`);
      if (event.type === 'run' && event.data.status === 'succeeded') break;
    }
    abort.abort();
    assert.deepEqual(seen, [
      'checkout:pending',
      'lint:pending',
      'test:pending',
      'checkout:running',
      'checkout:succeeded',
      'lint:running',
      'lint:succeeded',
      'test:running',
      'log:all good',
      'test:succeeded',
    ]);
    const logs = await client.logs(run.id);
    assert.deepEqual(logs.map((line) => line.seq), logs.map((_, index) => index + 1));
    const [overview] = await client.services();
    assert.equal(overview?.lastRun?.id, run.id);
    assert.equal(overview?.lastRun?.status, 'succeeded');
  });

  it('refuses every /api route but login without a token, and the security suite names each of them', async () => {
    const suite = readFileSync(new URL('../security/api-auth.test.ts', import.meta.url), 'utf8');
    const routes = app.routes.filter((route) => route.path.startsWith('/api/') && route.method !== 'ALL' && route.path !== '/api/login');
    assert.ok(routes.length >= 25, `${routes.length} routes`);
    for (const route of routes) {
      const path = route.path
        .replace(':id', '1')
        .replace(':environment', 'production')
        .replace(':name', route.path.startsWith('/api/services') ? 'api' : route.path.startsWith('/api/secrets') ? 'DB_PASSWORD' : 'admin');
      const response = await request(path, { method: route.method }, null);
      assert.equal(response.status, 401, `${route.method} ${route.path}`);
      assert.equal(((await response.json()) as { error: { code: string } }).error.code, 'UNAUTHENTICATED');
      assert.ok(suite.includes(`['${route.method}', '${path}'`), `test/security/api-auth.test.ts does not attack ${route.method} ${path}`);
    }
  });

  it('answers every error with its catalogue code, status and one sentence', async () => {
    const cases: Array<[string, RequestInit | undefined, number, string, string]> = [
      ['/api/runs/999', undefined, 404, 'RUN_NOT_FOUND', 'run 999 does not exist'],
      ['/api/runs/abc', undefined, 400, 'BAD_REQUEST', 'run id: Invalid input: expected number, received NaN'],
      ['/api/services/nope', undefined, 404, 'SERVICE_NOT_FOUND', 'unknown service nope'],
      ['/api/runs', { method: 'POST', body: '{not json', headers: { 'content-type': 'application/json' } }, 400, 'BAD_REQUEST', 'the request body is not valid JSON'],
      ['/api/runs', { method: 'POST', body: JSON.stringify({ service: 'api', extra: 1 }) }, 400, 'BAD_REQUEST', 'body: Unrecognized key: "extra"'],
      ['/api/runs', { method: 'POST', body: JSON.stringify({ service: 'nope' }) }, 404, 'SERVICE_NOT_FOUND', 'unknown service nope (known services: api, web, broken)'],
      ['/api/runs', { method: 'POST', body: JSON.stringify({ service: 'api', ref: 'gone' }) }, 422, 'REF_NOT_FOUND', 'ref gone does not exist in /repos/api.git'],
      ['/api/nowhere', undefined, 404, 'NOT_FOUND', 'no route GET /api/nowhere'],
    ];
    for (const [path, init, status, code, message] of cases) {
      const response = await request(path, init);
      assert.equal(response.status, status, path);
      assert.deepEqual(await response.json(), { error: { code, message } }, path);
    }
  });

  it('refuses to cancel a finished run with 409', async () => {
    const [run] = await store.runs.list({ statuses: ['succeeded'], limit: 1 });
    const response = await request(`/api/runs/${run!.id}/cancel`, { method: 'POST' });
    assert.equal(response.status, 409);
    assert.deepEqual(await response.json(), { error: { code: 'RUN_NOT_CANCELLABLE', message: `run ${run!.id} already succeeded` } });
  });
  it("passes a run's variables to every step and keeps them, with its lane and policy", async () => {
    const run = await client.startRun({ service: 'api', variables: { GREETING: 'hello', EMPTY: '' } });
    assert.deepEqual(run.variables, { GREETING: 'hello', EMPTY: '' });
    assert.deepEqual(
      { trigger: run.trigger, lane: run.lane, concurrency: run.concurrency, partial: run.partial, tag: run.tag, originRunId: run.originRunId },
      { trigger: { kind: 'manual', by: 'admin' }, lane: 'main', concurrency: 'queue', partial: false, tag: null, originRunId: null },
    );
    assert.equal((await finished(run.id)).status, 'succeeded');
    const steps = executor.calls.filter((call) => call.method === 'start' && call.step?.runId === run.id);
    assert.deepEqual(steps.map((call) => call.step!.command), ['make lint', 'make test']);
    for (const call of steps) assert.equal(call.step!.env.GREETING, 'hello');
    assert.deepEqual((await client.run(run.id)).variables, { GREETING: 'hello', EMPTY: '' });

    // Zod reports a bad record key without the schema's own message.
    await expectError('/api/runs', json('POST', { service: 'api', variables: { '1X': 'a' } }), 400, 'BAD_REQUEST', 'body.variables.1X: "1X" is not a variable name (letters, digits and _, not starting with a digit)');
    await expectError('/api/runs', json('POST', { service: 'api', variables: { COUNT: 3 } }), 400, 'BAD_REQUEST', 'body.variables.COUNT: Invalid input: expected string, received number');
  });


  it('reruns a finished run from the start: same commit, lane and variables', async () => {
    const [origin] = await client.runs({ service: 'api', limit: 1 });
    const rerun = await client.rerun(origin!.id);
    assert.deepEqual(rerun.trigger, { kind: 'rerun', by: 'admin' });
    assert.equal(rerun.originRunId, origin!.id);
    assert.deepEqual([rerun.commitSha, rerun.lane, rerun.variables], [origin!.commitSha, origin!.lane, origin!.variables]);
    assert.deepEqual(rerun.stages.map((stage) => `${stage.name}:${stage.status}`), ['checkout:pending', 'lint:pending', 'test:pending']);
    assert.equal((await finished(rerun.id)).status, 'succeeded');

    const response = await request(`/api/runs/${origin!.id}/rerun`, { method: 'POST' });
    assert.equal(response.status, 201);
    await finished(((await response.json()) as RunDetail).id);
    await expectError('/api/runs/999/rerun', { method: 'POST' }, 404, 'RUN_NOT_FOUND', 'run 999 does not exist');
    await expectError('/api/runs/abc/rerun', { method: 'POST' }, 400, 'BAD_REQUEST', 'run id: Invalid input: expected number, received NaN');
  });


  it('reads the event log oldest first, after an id and for one run', async () => {
    const [run] = await client.runs({ service: 'api', limit: 1 });
    const response = await request(`/api/event-log?run=${run!.id}`);
    assert.equal(response.status, 200);
    const events = (await response.json()) as Array<{ id: number; type: string; runId: number }>;
    assert.equal(events[0]?.type, 'run.created');
    assert.ok(events.every((event) => event.runId === run!.id));
    assert.ok(events.some((event) => event.type === 'run.succeeded'));
    const later = (await (await request(`/api/event-log?after=${events[0]!.id}&run=${run!.id}&limit=1`)).json()) as Array<{ id: number }>;
    assert.deepEqual(later.map((event) => event.id), [events[1]!.id]);
    await expectError('/api/event-log?after=-1', {}, 400, 'BAD_REQUEST', 'after: Too small: expected number to be >=0');
  });

  it('resumes a failed run from the stage where it stopped, reusing the stages that passed', async () => {
    gateOpen = false;
    const failing = await finished((await client.startRun({ service: 'api', variables: { GATED: '1' } })).id);
    assert.equal(failing.status, 'failed');
    assert.deepEqual(failing.stages.map((stage) => stage.status), ['succeeded', 'succeeded', 'failed']);

    const [succeeded] = await store.runs.list({ service: 'api', statuses: ['succeeded'], limit: 1 });
    await expectError(`/api/runs/${succeeded!.id}/resume`, { method: 'POST' }, 409, 'RUN_NOT_RESUMABLE', `run ${succeeded!.id} succeeded; there is nothing to resume (rerun it instead)`);
    const broken = await finished((await client.startRun({ service: 'broken' })).id);
    assert.equal(broken.stages[0]!.status, 'failed');
    await expectError(`/api/runs/${broken.id}/resume`, { method: 'POST' }, 409, 'RUN_NOT_RESUMABLE', `run ${broken.id} stopped before any stage passed; rerun it instead`);
    await expectError('/api/runs/999/resume', { method: 'POST' }, 404, 'RUN_NOT_FOUND', 'run 999 does not exist');

    gateOpen = true;
    const resumed = await client.resume(failing.id);
    assert.deepEqual(resumed.trigger, { kind: 'resume', by: 'admin' });
    assert.equal(resumed.originRunId, failing.id);
    assert.deepEqual(resumed.variables, { GATED: '1' });
    assert.deepEqual(
      resumed.stages.map((stage) => `${stage.name}:${stage.status}`),
      ['checkout:pending', 'lint:skipped', 'test:pending'],
    );
    assert.equal(resumed.stages[1]!.reason, `passed in run #${failing.id}; reused`);
    const done = await finished(resumed.id);
    assert.equal(done.status, 'succeeded');
    const commands = executor.calls.filter((call) => call.method === 'start' && call.step?.runId === resumed.id).map((call) => call.step!.command);
    assert.deepEqual(commands, ['make test'], 'lint is not run again');
  });


  it("says where each pending run waits in its lane's line, and refuses to repeat a run in flight", async () => {
    const hold = { HOLD: '1' };
    const first = await client.startRun({ service: 'api', variables: hold });
    const second = await client.startRun({ service: 'api', variables: hold });
    const third = await client.startRun({ service: 'api', variables: hold });
    await until(() => client.run(first.id), (run) => run.status === 'running');
    assert.deepEqual(
      await Promise.all([first, second, third].map(async ({ id }) => (await client.run(id)).queuePosition)),
      [null, 1, 2],
    );
    const listed = await client.runs({ service: 'api', limit: 3 });
    assert.deepEqual(
      listed.map((run) => [run.id, run.status, run.queuePosition]),
      [
        [third.id, 'pending', 2],
        [second.id, 'pending', 1],
        [first.id, 'running', null],
      ],
    );
    assert.deepEqual((await client.runs({ status: ['pending'] })).map((run) => run.id), [third.id, second.id]);
    assert.deepEqual((await client.runs({ status: ['running', 'pending'], limit: 2 })).map((run) => run.id), [third.id, second.id]);
    await expectError('/api/runs?status=paused', {}, 400, 'BAD_REQUEST', 'status.0: Invalid option: expected one of "pending"|"running"|"waiting"|"succeeded"|"failed"|"cancelled"|"rejected"|"expired"');
    await expectError(`/api/runs/${first.id}/rerun`, { method: 'POST' }, 409, 'RUN_NOT_FINISHED', `run ${first.id} is still running`);
    await expectError(`/api/runs/${second.id}/resume`, { method: 'POST' }, 409, 'RUN_NOT_FINISHED', `run ${second.id} is still pending`);

    await client.cancelRun(second.id);
    assert.equal((await client.run(third.id)).queuePosition, 1, 'the line moves up');
    for (const { id } of [third, first]) await client.cancelRun(id);
    for (const { id } of [first, second, third]) assert.equal((await finished(id)).status, 'cancelled');
  });


  it('records a signed webhook delivery and lists it without its body', async () => {
    const response = await postGitea(GITEA_PUSH, { secret: GITEA_SECRET, deliveryId: 'delivery-1' });
    assert.equal(response.status, 202);
    const accepted = (await response.json()) as { delivery: number };
    assert.deepEqual(accepted, { status: 'accepted', delivery: accepted.delivery, deliveryId: 'delivery-1', event: 'push' });
    await triggers.inbox.idle();

    const [listed] = await client.deliveries();
    const expected: Delivery = {
      id: accepted.delivery,
      forge: 'gitea',
      deliveryId: 'delivery-1',
      repository: 'gitea/webhooks',
      event: 'push',
      bodyDigest: `sha256:${createHash('sha256').update(GITEA_PUSH).digest('hex')}`,
      status: 'processed',
      outcome: listed!.outcome,
      receivedAt: NOW.toISOString(),
      processedAt: NOW.toISOString(),
    };
    assert.deepEqual(listed, expected, 'no body, headers or parsed event in the list');
    const runId = Number(/^push to develop started run #(\d+) of web$/.exec(listed!.outcome ?? '')?.[1]);
    assert.ok(runId > 0, listed!.outcome ?? 'no outcome');
    const run = await finished(runId);
    assert.deepEqual([run.service, run.trigger.kind, run.trigger.by, run.lane, run.commitSha], ['web', 'push', 'gitea', 'develop', 'bffeb74224043ba2feb48d137756c8a9331c449a']);

    const detail: DeliveryDetail = await client.delivery(accepted.delivery);
    assert.equal(detail.body, GITEA_PUSH.toString('utf8'));
    assert.equal(detail.headers['x-gitea-event'], 'push');
    assert.equal((detail.parsed as { kind: string }).kind, 'event');

    const repeated = await postGitea(GITEA_PUSH, { secret: GITEA_SECRET, deliveryId: 'delivery-1' });
    assert.equal(repeated.status, 200);
    assert.equal(((await repeated.json()) as { status: string }).status, 'repeated');
    assert.equal((await client.deliveries({ limit: 5 })).length, 1, 'a repeat is not stored again');

    await expectError('/api/deliveries/999', undefined, 404, 'NOT_FOUND', 'delivery 999 does not exist');
    await expectError('/api/deliveries/x', undefined, 400, 'BAD_REQUEST', 'delivery id: Invalid input: expected number, received NaN');
    await expectError('/api/deliveries?limit=0', undefined, 400, 'BAD_REQUEST', 'limit: Too small: expected number to be >=1');
  });


  it('answers a webhook path that names no forge, or a GET, with a catalogue error', async () => {
    const post = (path: string) => fetch(`${hooksUrl}/${path}`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } });
    for (const path of ['%E0%A4%A', 'gitea/extra', '']) {
      const response = await post(path);
      assert.equal(response.status, 404, path);
      assert.equal(((await response.json()) as { error: { code: string } }).error.code, 'NOT_FOUND', path);
    }
    const get = await fetch(`${hooksUrl}/gitea`);
    assert.equal(get.status, 405);
    assert.deepEqual(await get.json(), { error: { code: 'METHOD_NOT_ALLOWED', message: '/hooks/gitea takes POST, not GET' } });
  });

  it('sets and removes webhook secrets through the API, and never shows one', async () => {
    const forged = await postGitea(GITEA_PUSH, { secret: 'not-the-secret', deliveryId: 'forged-1' });
    assert.equal(forged.status, 401);
    assert.equal(((await forged.json()) as { error: { code: string } }).error.code, 'SIGNATURE_INVALID');
    const before = await client.webhooks();
    assert.deepEqual(before.rejections, { 'gitea bad_signature': 1 });
    assert.equal(before.url, 'http://slipway.test/hooks/<forge>');
    assert.deepEqual(before.secrets, [{ forge: 'gitea', repository: '*', source: 'config (forge-wide)' }]);

    assert.equal(await client.setWebhookSecret({ forge: 'gitea', repository: 'gitea/webhooks', secret: 'repository-own-secret' }), undefined);
    const after = await client.webhooks();
    assert.deepEqual(after.secrets, [
      { forge: 'gitea', repository: 'gitea/webhooks', source: 'api' },
      { forge: 'gitea', repository: '*', source: 'config (forge-wide)' },
    ]);
    const text = JSON.stringify(after);
    assert.ok(!text.includes('repository-own-secret') && !text.includes(GITEA_SECRET), 'no secret in the answer');
    // The repository's own secret now wins over the forge-wide one (an ignored event starts nothing).
    // Another body than the push's above: a body seen before is a replay.
    const repositoryEvent = Buffer.concat([GITEA_PUSH, Buffer.from(' ')]);
    assert.equal((await postGitea(repositoryEvent, { secret: GITEA_SECRET, deliveryId: 'old-secret', event: 'repository' })).status, 401);
    assert.equal((await postGitea(repositoryEvent, { secret: 'repository-own-secret', deliveryId: 'own-secret', event: 'repository' })).status, 202);

    assert.equal(await client.removeWebhookSecret({ forge: 'gitea', repository: 'gitea/webhooks' }), undefined);
    await assert.rejects(client.removeWebhookSecret({ forge: 'gitea', repository: 'gitea/webhooks' }), (error: unknown) => {
      assert.ok(error instanceof ApiError);
      assert.deepEqual([error.status, error.code, error.message], [404, 'NOT_FOUND', 'no gitea webhook secret is set for gitea/webhooks through the API']);
      return true;
    });
    assert.deepEqual((await client.webhooks()).secrets, [{ forge: 'gitea', repository: '*', source: 'config (forge-wide)' }]);
    await triggers.inbox.idle();

    const put = (body: unknown) => json('PUT', body);
    await expectError('/api/webhook-secrets', put({ forge: 'gitea', repository: 'a/b', secret: 'short' }), 400, 'BAD_REQUEST', 'body.secret: expected at least 8 characters');
    await expectError('/api/webhook-secrets', put({ forge: 'bitbucket', repository: 'a/b', secret: 'long-enough' }), 400, 'BAD_REQUEST', 'body.forge: expected one of github, gitlab, gitea, git');
    await expectError('/api/webhook-secrets', put({ forge: 'gitea', repository: 'a/b', secret: 'long-enough', extra: 1 }), 400, 'BAD_REQUEST', 'body: Unrecognized key: "extra"');
    await expectError('/api/webhook-secrets', json('DELETE', { forge: 'gitea' }), 400, 'BAD_REQUEST', 'body.repository: Invalid input: expected string, received undefined');
    await expectError('/api/webhook-secrets', json('DELETE', { forge: 'github', repository: 'acme/none' }), 404, 'NOT_FOUND', 'no github webhook secret is set for acme/none through the API');
  });


  it("registers a plain repository's hook with a token of its own, rotated by registering again", async () => {
    const response = await request('/api/git-hooks', json('POST', { repository: '/repos/api.git' }));
    assert.equal(response.status, 201);
    const first = (await response.json()) as { token: string };
    assert.match(first.token, /^[A-Za-z0-9_-]{32}$/);
    assert.deepEqual(first, { repository: '/repos/api.git', token: first.token, hookUrl: 'http://slipway.test/hooks/git', services: ['api'] });
    const secrets: WebhookSecretSource[] = (await client.webhooks()).secrets;
    // A plain repository is listed by its canonical key (no ".git", lower case).
    assert.ok(secrets.some((entry) => entry.forge === 'git' && entry.repository === '/repos/api' && entry.source === 'api'), JSON.stringify(secrets));

    const second = await client.registerGitHook('/repos/api.git');
    assert.notEqual(second.token, first.token);
    const refUpdate = JSON.stringify({ repository: '/repos/api.git', ref: 'refs/heads/main', before: SHA, after: SHA, commit: SHA, forced: false, commits: 0, pusher: 't' });
    const withToken = (token: string) =>
      fetch(`${hooksUrl}/git`, { method: 'POST', body: refUpdate, headers: { 'content-type': 'application/json', 'x-slipway-token': token, 'x-slipway-delivery': token } });
    assert.equal((await withToken(first.token)).status, 401, 'the old token no longer works');
    assert.equal((await withToken(second.token)).status, 202);
    await triggers.inbox.idle();

    assert.deepEqual((await client.registerGitHook('/repos/unknown.git')).services, []);
    await expectError('/api/git-hooks', json('POST', {}), 400, 'BAD_REQUEST', 'body.repository: Invalid input: expected string, received undefined');
  });


  it('describes each schedule with its next tick and the last one acted on', async () => {
    const expected: Schedule[] = [
      {
        name: 'nightly',
        cron: '0 3 * * *',
        timezone: 'Europe/Berlin',
        services: ['api'],
        // 03:00 in Berlin is 02:00 UTC in March, before summer time.
        nextAt: '2025-03-11T02:00:00.000Z',
        lastAt: '2025-03-10T02:00:00.000Z',
      },
    ];
    assert.deepEqual(await client.schedules(), expected);
  });
});
