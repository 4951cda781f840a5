// The HTTP API in process (app.request), on the engine with fakes: routes, the error catalogue
// and the live event stream, through the same typed client the CLI uses.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Hono } from 'hono';
import { FakeBuilder } from '../../src/builders/fake/builder.ts';
import { SlipwayClient } from '../../src/client/client.ts';
import { parseConfig } from '../../src/config/load.ts';
import { FakeDeployer } from '../../src/deployers/fake/deployer.ts';
import { Engine } from '../../src/engine/engine.ts';
import { MemoryEventBus } from '../../src/events/bus.ts';
import { FakeExecutor } from '../../src/executors/fake/executor.ts';
import { createApp } from '../../src/server/app.ts';
import { FakeSource } from '../../src/source/fake/source.ts';
import { openSqliteStore } from '../../src/store/sqlite/store.ts';
import type { Store } from '../../src/store/store.ts';
import { SecretBox } from '../../src/secrets/box.ts';
import { createTriggers, type Triggers } from '../../src/triggers/triggers.ts';

const SHA = 'c'.repeat(40);
let app: Hono;
let engine: Engine;
let store: Store;
let workRoot: string;
let client: SlipwayClient;
let triggers: Triggers;

/** A client whose fetch goes straight into the app, with no socket. */
function inProcessClient(): SlipwayClient {
  const original = globalThis.fetch;
  globalThis.fetch = ((input: RequestInfo | URL, init?: RequestInit) => {
    const url = String(input instanceof Request ? input.url : input);
    return url.startsWith('http://slipway.test/') ? Promise.resolve(app.request(url, init)) : original(input, init);
  }) as typeof fetch;
  return new SlipwayClient('http://slipway.test');
}

before(async () => {
  const parsed = parseConfig(
    ['pipeline:', '  - stage: test', '    run: "{{ service.test }}"', 'services:', '  api:', '    repo: /repos/api.git', '    test: make test', ''].join('\n'),
    'slipway.yml',
  );
  assert.ok(parsed.ok);
  store = await openSqliteStore(':memory:');
  workRoot = mkdtempSync(join(tmpdir(), 'slipway-api-'));
  const bus = new MemoryEventBus();
  const source = new FakeSource().setRef('/repos/api.git', 'main', SHA);
  const executor = new FakeExecutor((step) => (step.command === 'make test' ? { lines: [{ stream: 'stdout', text: 'all good' }], delayMs: 20 } : {}));
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
  triggers = await createTriggers({ config: parsed.config, store, bus, engine, source, secretBox: SecretBox.open(join(workRoot, 'secret.key')) });
  triggers.open('http://slipway.test');
  await engine.start();
  await triggers.start();
  app = createApp({
    engine,
    store,
    bus,
    info: { version: 'test', executor: 'fake', builder: 'fake', deployer: 'fake', store: store.description, configFile: 'slipway.yml', notices: [] },
    webhooks: { receiver: triggers.receiver, secrets: triggers.secrets },
    schedules: triggers.schedules,
    publicUrl: () => 'http://slipway.test',
  });
  client = inProcessClient();
});

after(async () => {
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
    assert.deepEqual(run.stages.map((stage) => stage.name), ['checkout', 'test']);
    const seen: string[] = [];
    for (let next = await events.next(); !next.done; next = await events.next()) {
      const event = next.value;
      if (event.type === 'stage') seen.push(`${event.data.name}:${event.data.status}`);
      if (event.type === 'log' && event.data.stream === 'stdout') seen.push(`log:${event.data.text}`);
      if (event.type === 'run' && event.data.status === 'succeeded') break;
    }
    abort.abort();
    assert.deepEqual(seen, ['checkout:pending', 'test:pending', 'checkout:running', 'checkout:succeeded', 'test:running', 'log:all good', 'test:succeeded']);
    const logs = await client.logs(run.id);
    assert.deepEqual(logs.map((line) => line.seq), logs.map((_, index) => index + 1));
    const [overview] = await client.services();
    assert.equal(overview?.lastRun?.id, run.id);
    assert.equal(overview?.lastRun?.status, 'succeeded');
  });

  it('answers every error with its catalogue code, status and one sentence', async () => {
    const cases: Array<[string, RequestInit | undefined, number, string, string]> = [
      ['/api/runs/999', undefined, 404, 'RUN_NOT_FOUND', 'run 999 does not exist'],
      ['/api/runs/abc', undefined, 400, 'BAD_REQUEST', 'run id: Invalid input: expected number, received NaN'],
      ['/api/services/nope', undefined, 404, 'SERVICE_NOT_FOUND', 'unknown service nope'],
      ['/api/runs', { method: 'POST', body: '{not json', headers: { 'content-type': 'application/json' } }, 400, 'BAD_REQUEST', 'the request body is not valid JSON'],
      ['/api/runs', { method: 'POST', body: JSON.stringify({ service: 'api', extra: 1 }) }, 400, 'BAD_REQUEST', 'body: Unrecognized key: "extra"'],
      ['/api/runs', { method: 'POST', body: JSON.stringify({ service: 'nope' }) }, 404, 'SERVICE_NOT_FOUND', 'unknown service nope (known services: api)'],
      ['/api/runs', { method: 'POST', body: JSON.stringify({ service: 'api', ref: 'gone' }) }, 422, 'REF_NOT_FOUND', 'ref gone does not exist in /repos/api.git'],
      ['/api/nowhere', undefined, 404, 'NOT_FOUND', 'no route GET /api/nowhere'],
    ];
    for (const [path, init, status, code, message] of cases) {
      const response = await app.request(path, init);
      assert.equal(response.status, status, path);
      assert.deepEqual(await response.json(), { error: { code, message } }, path);
    }
  });

  it('refuses to cancel a finished run with 409', async () => {
    const [run] = await store.runs.list({ statuses: ['succeeded'], limit: 1 });
    const response = await app.request(`/api/runs/${run!.id}/cancel`, { method: 'POST' });
    assert.equal(response.status, 409);
    assert.deepEqual(await response.json(), { error: { code: 'RUN_NOT_CANCELLABLE', message: `run ${run!.id} already succeeded` } });
  });
});
