// The integration stage (engine/stages/integration.ts) on the real Engine and SQLite store with
// fake ports: who is started beside the service and from which image (the release serving in the
// first environment, a pinned one, or its branch head built), the suite on the sandbox's network
// (a command in the toolchain image, or a test-suite service's own image), every member's last
// lines when something fails, and the sandbox always removed. The real engine runs it in
// test/e2e/integration.test.ts.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, it } from 'node:test';
import { FakeBuilder } from '../../src/builders/fake/builder.ts';
import type { Config } from '../../src/config/model.ts';
import type { Release, Run, Stage } from '../../src/core/types.ts';
import { FakeDeployer, healthyDeploy } from '../../src/deployers/fake/deployer.ts';
import { pullReference } from '../../src/deployers/reference.ts';
import { Engine } from '../../src/engine/engine.ts';
import { planStages } from '../../src/engine/plan.ts';
import { MemoryEventBus } from '../../src/events/bus.ts';
import type { StepSpec } from '../../src/executors/executor.ts';
import { FakeExecutor, type FakeStepScript } from '../../src/executors/fake/executor.ts';
import { FakeSandbox } from '../../src/sandboxes/fake/sandbox.ts';
import { FakeSource } from '../../src/source/fake/source.ts';
import { openSqliteStore } from '../../src/store/sqlite/store.ts';
import { parseConfig } from '../../src/config/load.ts';
import { parsedConfig } from '../support/config.ts';
import { finished } from '../support/wait.ts';

const SHA = ['a', 'b', 'c', 'd', 'e'].map((char) => char.repeat(40)) as [string, string, string, string, string];
const REPOS = { payment: '/repos/payment.git', notification: '/repos/notification.git', 'payment-tests': '/repos/payment-tests.git' } as Record<string, string> & { notification: string };

/** payment requires notification and the database; notification requires the database too. */
function config(options: { payment?: string[]; pipeline?: string[]; extra?: string[] } = {}): Config {
  return parsedConfig(
    [
      'registry: registry.test',
      'pipeline:',
      '  - stage: build',
      ...(options.pipeline ?? ['  - stage: integration', '    type: integration']),
      '  - stage: deploy-staging',
      '    environment: staging',
      'environments:',
      '  staging: { bake: 0 }',
      'infrastructure:',
      '  db:',
      '    image: localhost/postgres:15',
      '    port: 5432',
      '    aliases: [database]',
      '    variables: { POSTGRES_PASSWORD: test }',
      '    health: { command: pg_isready }',
      'services:',
      '  payment:',
      `    repo: ${REPOS.payment}`,
      '    port: 3000',
      '    toolchain: node:20',
      '    variables: { NOTIFY_URL: "http://notification:4000" }',
      ...(options.payment ?? ['    requires: [notification, db]', '    stages: { integration: { run: npm run test:integration } }']),
      '  notification:',
      `    repo: ${REPOS.notification}`,
      '    port: 4000',
      '    health: /healthz',
      '    requires: [db]',
      ...(options.extra ?? []),
    ].join('\n'),
  );
}

interface Harness {
  sandbox: FakeSandbox;
  builder: FakeBuilder;
  steps: StepSpec[];
  source: FakeSource;
  run(service: string, sha: string): Promise<{ run: Run; release: Release | null; log: string[]; stages: Stage[] }>;
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function harness(cfg: Config, script: (step: StepSpec) => FakeStepScript = () => ({})): Promise<Harness> {
  const dir = mkdtempSync(join(tmpdir(), 'slipway-integration-'));
  const store = await openSqliteStore(join(dir, 'slipway.db'));
  const sandbox = new FakeSandbox();
  const builder = new FakeBuilder();
  const source = new FakeSource();
  const steps: StepSpec[] = [];
  const executor = new FakeExecutor(
    (step) => {
      steps.push(step);
      return script(step);
    },
    { usesImages: true },
  );
  const engine = new Engine({ store, bus: new MemoryEventBus(), config: cfg, source, executor, builder, deployer: new FakeDeployer(healthyDeploy), sandbox, workRoot: join(dir, 'work') });
  await engine.start();
  cleanups.push(async () => {
    await engine.stop();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return {
    sandbox,
    builder,
    steps,
    source,
    async run(service, sha) {
      source.setRef(REPOS[service] ?? '', 'main', sha);
      const started = await engine.startRun({ service, trigger: { kind: 'manual', by: 'test' } });
      assert.ok(started.ok, started.ok ? '' : started.error.message);
      const run = await finished(store, started.value.run.id, 30_000);
      const [release] = await store.releases.list({ runId: run.id });
      return { run, release: release ?? null, log: (await store.logs.list(run.id)).map((line) => line.text), stages: await store.stages.listByRun(run.id) };
    },
  };
}

describe('integration stage', () => {
  it('starts the service with what it requires (each once, at the release serving in the first environment) and runs the suite on their network', async () => {
    const h = await harness(config());
    const notification = await h.run('notification', SHA[0]);
    assert.equal(notification.run.status, 'succeeded', notification.run.reason ?? '');
    const payment = await h.run('payment', SHA[1]);
    assert.equal(payment.run.status, 'succeeded', payment.run.reason ?? '');

    const [spec] = h.sandbox.started;
    assert.ok(spec, 'one sandbox was started');
    assert.deepEqual(
      spec.members.map((member) => [member.name, member.image]),
      [
        ['payment', pullReference(payment.release!)],
        ['notification', pullReference(notification.release!)],
        ['db', 'localhost/postgres:15'],
      ],
    );
    const db = spec.members.find((member) => member.name === 'db')!;
    assert.deepEqual(db.aliases, ['database']);
    assert.deepEqual(db.readiness, { kind: 'command', command: 'pg_isready', intervalMs: 1000, timeoutMs: 5000 });
    assert.deepEqual(spec.members.find((member) => member.name === 'notification')!.readiness, { kind: 'http', path: '/healthz', intervalMs: 1000, timeoutMs: 2000 });
    assert.equal(spec.members[0]!.env.NOTIFY_URL, 'http://notification:4000');
    assert.equal(spec.readyTimeoutMs, 5 * 60_000, 'five minutes unless the stage says otherwise');

    const suite = h.steps.find((step) => step.name === 'integration')!;
    assert.equal(suite.command, 'npm run test:integration');
    assert.equal(suite.image, 'node:20');
    assert.equal(suite.network, `fake-${spec.id}`);
    assert.equal(suite.env.SLIPWAY_URL, 'http://payment:3000');
    assert.ok(payment.log.includes(`notification: release #${notification.release!.id}, serving in staging`), payment.log.join('\n'));
    assert.ok(payment.log.includes('Removed the integration environment'));
    assert.deepEqual(await h.sandbox.list(), [], 'nothing is left');
  });

  it('a failing suite fails the stage, shows every member\'s last lines, removes the sandbox and deploys nothing', async () => {
    const h = await harness(config(), (step) => (step.name === 'integration' ? { exitCode: 1, lines: [{ stream: 'stdout', text: '1 failing' }] } : {}));
    await h.run('notification', SHA[0]);
    h.sandbox.image('localhost/postgres:15', { state: 'ready', lines: ['database system is ready'] });
    const payment = await h.run('payment', SHA[1]);
    assert.equal(payment.run.status, 'failed');
    assert.ok(payment.log.includes('1 failing'));
    assert.ok(payment.log.includes('Last lines of db:'));
    assert.ok(payment.log.includes('db | database system is ready'));
    assert.ok(payment.log.includes('Last lines of notification: (none)'));
    assert.deepEqual(await h.sandbox.list(), []);
    assert.deepEqual(
      payment.stages.filter((stage) => stage.kind === 'deploy').map((stage) => stage.status),
      ['skipped'],
      'nothing is deployed',
    );
  });

  it('a required service that never gets ready fails the stage with its log lines, before any suite runs', async () => {
    const h = await harness(config());
    const notification = await h.run('notification', SHA[0]);
    h.sandbox.image(pullReference(notification.release!), { state: 'never-ready', lines: ['Error: cannot reach SMTP'] });
    const payment = await h.run('payment', SHA[1]);
    assert.equal(payment.run.status, 'failed');
    assert.match(payment.run.reason ?? '', /notification was not ready in time/);
    assert.ok(payment.log.includes('notification | Error: cannot reach SMTP'), payment.log.join('\n'));
    assert.equal(h.steps.some((step) => step.name === 'integration'), false, 'no suite ran');
    assert.deepEqual(await h.sandbox.list(), []);
  });

  it('a required service with no release serving is built from its branch head, and the log says so', async () => {
    const h = await harness(config());
    h.source.setRef(REPOS.notification, 'main', SHA[2]);
    const payment = await h.run('payment', SHA[1]);
    assert.equal(payment.run.status, 'succeeded', payment.run.reason ?? '');
    const build = h.builder.calls.find((call) => call.repository === 'registry.test/notification');
    assert.equal(build?.tag, SHA[2]);
    assert.ok(payment.log.includes('notification has no release serving in staging: building it from the head of main'));
    assert.match(h.sandbox.started[0]!.members[1]!.image, /^registry\.test\/notification@sha256:/);
  });

  it("a service pinned to a release runs that release; the stage's ready_timeout reaches the sandbox", async () => {
    const pipeline = ['  - stage: integration', '    type: integration', '    ready_timeout: 90s'];
    const h = await harness(config({ pipeline, payment: ['    requires: [{ name: notification, release: 1 }]', '    stages: { integration: { run: make it } }'] }));
    const first = await h.run('notification', SHA[0]);
    await h.run('notification', SHA[3]);
    const payment = await h.run('payment', SHA[1]);
    assert.equal(payment.run.status, 'succeeded', payment.run.reason ?? '');
    assert.equal(h.sandbox.started.at(-1)!.members[1]!.image, pullReference(first.release!));
    assert.equal(h.sandbox.started.at(-1)!.readyTimeoutMs, 90_000);
  });

  it("a test-suite service's own image runs the suite: built like any service, never deployed or integrated itself", async () => {
    const extra = ['  payment-tests:', `    repo: ${REPOS['payment-tests']}`, '    test_suite: true'];
    const h = await harness(config({ payment: ['    requires: [notification, db]', '    stages: { integration: { suite: payment-tests } }'], extra }));
    const tests = await h.run('payment-tests', SHA[4]);
    assert.equal(tests.run.status, 'succeeded', tests.run.reason ?? '');
    assert.ok(tests.release, 'the test suite has a release');
    await h.run('notification', SHA[0]);
    const payment = await h.run('payment', SHA[1]);
    assert.equal(payment.run.status, 'succeeded', payment.run.reason ?? '');
    const suite = h.steps.find((step) => step.name === 'integration' && step.runId === payment.run.id)!;
    assert.equal(suite.command, null, "the image's own command");
    assert.equal(suite.image, pullReference(tests.release!));
    assert.ok(payment.log.includes(`payment-tests: its newest release #${tests.release!.id}`));
  });
});

describe('integration stage: plans and configuration', () => {
  it('runs in a pull request, is skipped for a fork, for a test suite and for a service without a suite', () => {
    const extra = ['  payment-tests:', `    repo: ${REPOS['payment-tests']}`, '    test_suite: true'];
    const cfg = config({ extra });
    const kindOf = (stages: ReturnType<typeof planStages>) => stages.find((stage) => stage.kind === 'integration')!;
    assert.equal(kindOf(planStages(cfg, 'payment', { partial: 'pull request runs stop after the build and never deploy' })).skipReason, null);
    assert.match(kindOf(planStages(cfg, 'payment', { untrusted: true })).skipReason ?? '', /fork/);
    assert.match(kindOf(planStages(cfg, 'payment-tests')).skipReason ?? '', /payment-tests is a test suite/);
    assert.match(planStages(cfg, 'payment-tests').find((stage) => stage.kind === 'deploy')!.skipReason ?? '', /test suite/);
    assert.equal(kindOf(planStages(cfg, 'notification')).skipReason, 'service notification sets no integration suite');
  });

  it('refuses names that mean nothing or the wrong thing, where they are written', () => {
    const errors = (extra: string[], payment: string[] = []) => {
      const parsed = parseConfig(
        [
          'pipeline: [{ stage: build }, { stage: integration, type: integration }, { stage: lint, run: make lint }]',
          'registry: r',
          'infrastructure: { db: { image: pg }, api: { image: x } }',
          'services:',
          '  api: { repo: /r }',
          '  payment:',
          '    repo: /p',
          ...payment.map((line) => `    ${line}`),
          ...extra,
        ].join('\n'),
        'slipway.yml',
      );
      return parsed.ok ? [] : parsed.errors.map((error) => error.message);
    };
    const all = errors(['  tests: { repo: /t, test_suite: true }'], ['requires: [payment, ghost, tests, { name: db, release: 3 }]', 'stages: { lint: { suite: tests }, integration: { suite: api } }']);
    const parsed = parseConfig('pipeline: [{ stage: lint, run: make, ready_timeout: 1m }]\nservices: { api: { repo: /r } }', 'slipway.yml');
    assert.ok(!parsed.ok && parsed.errors.some((error) => /"ready_timeout" is only for integration and preview stages, and lint is a command stage/.test(error.message)));
    for (const expected of [
      /api is both a service and an infrastructure container/,
      /service payment cannot require itself/,
      /ghost is neither a service nor an infrastructure container/,
      /tests is a test suite/,
      /db is an infrastructure container: only a service is pinned to a release/,
      /"suite" is only for integration stages, and lint is a command stage/,
      /api is not a service with "test_suite: true"/,
    ]) {
      assert.ok(all.some((message) => expected.test(message)), `${expected} in:\n${all.join('\n')}`);
    }
  });
});
