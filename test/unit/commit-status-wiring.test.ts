// Commit statuses from slipway.yml to the forge: the `forges:` section picks the reporter by the
// service's repository host, runs report at their commit with a link through the outbox, and a
// forge that is down never holds a run back. Real engine on fakes, real reporters, the real
// Outbox and SQLite store, a local HTTP server as the forge.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, it } from 'node:test';
import { FakeBuilder } from '../../src/builders/fake/builder.ts';
import { FakeDeployer } from '../../src/deployers/fake/deployer.ts';
import { Engine } from '../../src/engine/engine.ts';
import { MemoryEventBus } from '../../src/events/bus.ts';
import { FakeExecutor } from '../../src/executors/fake/executor.ts';
import { notificationSender } from '../../src/notifications/channels.ts';
import { Outbox } from '../../src/notifications/outbox.ts';
import { SecretBox } from '../../src/secrets/box.ts';
import { FakeSource } from '../../src/source/fake/source.ts';
import { openSqliteStore } from '../../src/store/sqlite/store.ts';
import type { Store } from '../../src/store/store.ts';
import { createTriggers, statusSender, type Triggers } from '../../src/triggers/triggers.ts';
import { finished, until } from '../support/wait.ts';
import { closedPort, startFakeForge, type FakeForge } from './status-reporter-conformance.ts';
import { parsedConfig } from '../support/config.ts';

const SHA = 'd'.repeat(40);
const PUBLIC_URL = 'https://ci.example.com';

interface Setup {
  engine: Engine;
  store: Store;
  triggers: Triggers;
  outbox: Outbox;
  dir: string;
}

let setup: Setup | null = null;
let forge: FakeForge | null = null;

afterEach(async () => {
  if (setup) {
    await setup.triggers.stop();
    await setup.engine.stop();
    await setup.triggers.close();
    await setup.outbox.stop();
    await setup.store.close();
    rmSync(setup.dir, { recursive: true, force: true });
    setup = null;
  }
  await forge?.close();
  forge = null;
});

async function start(forgesYaml: string[], repos: Record<string, string>): Promise<Setup> {
  const text = [
    'pipeline:',
    '  - stage: test',
    '    run: "{{ service.test }}"',
    'forges:',
    ...forgesYaml,
    'services:',
    ...Object.entries(repos).flatMap(([name, repo]) => [`  ${name}:`, `    repo: ${repo}`, '    test: make test']),
    '',
  ].join('\n');
  const config = parsedConfig(text);
  const store = await openSqliteStore(':memory:');
  const dir = mkdtempSync(join(tmpdir(), 'slipway-status-'));
  const bus = new MemoryEventBus();
  const source = new FakeSource();
  for (const repo of Object.values(repos)) source.setRef(repo, 'main', SHA);
  const engine = new Engine({
    store,
    bus,
    config,
    source,
    executor: new FakeExecutor(() => ({ lines: [{ stream: 'stdout', text: 'ok' }] })),
    builder: new FakeBuilder(),
    deployer: new FakeDeployer(),
    workRoot: join(dir, 'work'),
  });
  const outbox = new Outbox({
    store,
    senders: { commit_status: statusSender(config), notification: notificationSender([]) },
    retry: { initialDelayMs: 5, maxDelayMs: 20, maxAttempts: 3 },
  });
  const triggers = await createTriggers({
    config,
    store,
    bus,
    engine,
    source,
    secretBox: SecretBox.open(join(dir, 'secret.key')),
    outbox,
  });
  triggers.open(PUBLIC_URL);
  outbox.start();
  await engine.start();
  await triggers.start();
  setup = { engine, store, triggers, outbox, dir };
  return setup;
}

/** `read` again until `done` says its answer will do. */
function eventually<T>(what: string, read: () => Promise<T> | T, done: (value: T) => boolean): Promise<T> {
  return until(what, async () => {
    const value = await read();
    return done(value) ? { value } : null;
  }).then(({ value }) => value);
}

describe('commit statuses configured in slipway.yml', () => {
  it('go to the forge serving the service repository, at the run commit, with a link to the run', async () => {
    forge = await startFakeForge(() => ({ status: 201, body: { id: 1, state: 'success' } }));
    const { engine, store } = await start(
      ['  github:', `    api_url: ${forge.origin}`, '    token: ghp_test_token'],
      { shop: 'https://github.com/Acme/Shop.git', local: '/srv/git/local.git' },
    );
    const shop = await engine.startRun({ service: 'shop', trigger: { kind: 'manual', by: 'test' } });
    const local = await engine.startRun({ service: 'local', trigger: { kind: 'manual', by: 'test' } });
    assert.ok(shop.ok && local.ok);
    assert.equal((await finished(store, shop.value.run.id)).status, 'succeeded');
    await finished(store, local.value.run.id);

    const requests = await eventually(
      'the success status',
      () => forge!.requests,
      (all) => all.some((request) => JSON.parse(request.body).state === 'success'),
    );
    assert.ok(requests.length >= 2, 'pending or running went out before success');
    for (const request of requests) {
      assert.equal(request.method, 'POST');
      assert.equal(request.url, `/repos/Acme/Shop/statuses/${SHA}`, 'the repository as written, the run commit');
      assert.equal(request.headers.authorization, 'token ghp_test_token');
      const body = JSON.parse(request.body);
      assert.equal(body.context, 'slipway/shop');
      assert.equal(body.target_url, `${PUBLIC_URL}/runs/${shop.value.run.id}`);
    }
    assert.deepEqual(
      requests.map((request) => JSON.parse(request.body).state).at(-1),
      'success',
    );
    const reported = await eventually(
      'the outcome in the event log',
      () => store.events.list({ runId: shop.value.run.id }),
      (events) => events.some((event) => event.type === 'commit_status.sent'),
    );
    assert.ok(reported.some((event) => event.type === 'commit_status.sent'));
    assert.equal((await store.events.list({ runId: local.value.run.id })).filter((event) => event.type.startsWith('commit_status')).length, 0, 'a repository on no configured forge reports nothing');
  });

  it('a forge that is down neither fails nor holds the run; the report is given up after retries and logged', async () => {
    const port = await closedPort();
    const { engine, store } = await start(['  gitea:', `    url: http://127.0.0.1:${port}`, '    token: gitea-token'], {
      shop: `http://127.0.0.1:${port}/acme/shop.git`,
    });
    const started = await engine.startRun({ service: 'shop', trigger: { kind: 'manual', by: 'test' } });
    assert.ok(started.ok);
    assert.equal((await finished(store, started.value.run.id)).status, 'succeeded');
    const events = await eventually(
      'the success status given up',
      () => store.events.list({ runId: started.value.run.id }),
      (all) => all.some((event) => event.type === 'commit_status.failed' && (event.data as { state: string }).state === 'success'),
    );
    const failed = events.find((event) => event.type === 'commit_status.failed' && (event.data as { state: string }).state === 'success');
    assert.ok(failed, 'the final state was tried and given up');
    assert.equal((failed.data as { attempts: number }).attempts, 3);
    assert.match((failed.data as { error: string }).error, /ECONNREFUSED|cannot reach/);
  });
});
