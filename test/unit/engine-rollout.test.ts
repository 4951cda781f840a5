// A deployment's rollout (engine/stages/rollout.ts) on the real Engine and SQLite store with fake
// ports, the FakeDeployer standing the previous release by as behind the proxy: pre-deploy
// commands before any traffic moves, post-deploy commands and the bake window after, either of
// which rolls the release back (recorded rolled_back, notified); a good bake retires the
// previous release; replicas and batches reach the deployer.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, it } from 'node:test';
import { FakeBuilder } from '../../src/builders/fake/builder.ts';
import type { Config } from '../../src/config/model.ts';
import type { Deployment, Release, Run } from '../../src/core/types.ts';
import { FakeDeployer, healthyDeploy } from '../../src/deployers/fake/deployer.ts';
import { Engine } from '../../src/engine/engine.ts';
import { MemoryEventBus } from '../../src/events/bus.ts';
import { FakeExecutor } from '../../src/executors/fake/executor.ts';
import { notificationSender } from '../../src/notifications/channels.ts';
import { NotificationDispatcher } from '../../src/notifications/dispatcher.ts';
import { Outbox } from '../../src/notifications/outbox.ts';
import type { Notification } from '../../src/notifiers/notifier.ts';
import { FakeSource } from '../../src/source/fake/source.ts';
import { openSqliteStore } from '../../src/store/sqlite/store.ts';
import type { Store } from '../../src/store/store.ts';
import { commitStatusSender } from '../../src/triggers/commit-status.ts';
import { parsedConfig } from '../support/config.ts';
import { finished } from '../support/wait.ts';

const REPO = '/repos/api.git';
const [SHA1, SHA2, SHA3] = ['a', 'b', 'c'].map((char) => char.repeat(40)) as [string, string, string];
/** Long enough for a few looks at the new release; the tests never judge how long it took. */
const BAKE = '200ms';

/** api deployed to staging (and to production when it is given), with a channel that hears everything. */
function config(options: { staging?: string; production?: string; service?: string[] } = {}): Config {
  const { staging = `{ bake: ${BAKE} }`, production, service = [] } = options;
  return parsedConfig(
    [
      'registry: registry.test',
      'pipeline:',
      '  - stage: build',
      '  - stage: deploy-staging',
      '    environment: staging',
      ...(production ? ['  - stage: deploy-production', '    environment: production'] : []),
      'environments:',
      `  staging: ${staging}`,
      ...(production ? [`  production: ${production}`] : []),
      'services:',
      '  api:',
      `    repo: ${REPO}`,
      '    port: 3000',
      ...service.map((line) => `    ${line}`),
      'notifications:',
      '  channels:',
      '    - { name: team, type: webhook, url: "http://127.0.0.1:9/hook", secret: s }',
    ].join('\n'),
  );
}

interface Harness {
  store: Store;
  deployer: FakeDeployer;
  /** Runs the pipeline for a commit of main to its end. */
  deploy(sha: string): Promise<{ run: Run; release: Release; deployment: Deployment; log: Array<{ stream: string; text: string }> }>;
  /** What the outbox holds for the channel, oldest first. */
  notifications(): Promise<Notification[]>;
  /** The instances of api in an environment. */
  instances(environment?: string): Promise<Array<{ instance: string; releaseId: number }>>;
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function harness(cfg: Config): Promise<Harness> {
  const dir = mkdtempSync(join(tmpdir(), 'slipway-rollout-'));
  const store = await openSqliteStore(join(dir, 'slipway.db'));
  const bus = new MemoryEventBus();
  const deployer = new FakeDeployer(healthyDeploy, { keepsPrevious: true });
  const source = new FakeSource();
  // An outbox that is not started: what the dispatcher stores stays there to be read.
  const outbox = new Outbox({ store, senders: { notification: notificationSender(cfg.notifications.channels), commit_status: commitStatusSender(() => null) } });
  const dispatcher = new NotificationDispatcher({ bus, store, outbox, config: cfg, publicUrl: () => 'https://ci.example.com' });
  dispatcher.start();
  const engine = new Engine({ store, bus, config: cfg, source, executor: new FakeExecutor(() => ({})), builder: new FakeBuilder(), deployer, workRoot: join(dir, 'work') });
  await engine.start();
  cleanups.push(async () => {
    await engine.stop();
    await dispatcher.stop();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return {
    store,
    deployer,
    async deploy(sha) {
      source.setRef(REPO, 'main', sha);
      const started = await engine.startRun({ service: 'api', trigger: { kind: 'manual', by: 'test' } });
      assert.ok(started.ok, started.ok ? '' : started.error.message);
      const run = await finished(store, started.value.run.id, 30_000);
      const [release] = await store.releases.list({ runId: run.id });
      const deployment = (await store.deployments.list({ service: 'api', environment: 'staging' })).find((candidate) => candidate.runId === run.id);
      assert.ok(release && deployment, `run #${run.id} made a release and a deployment (${run.reason})`);
      return { run, release, deployment, log: await store.logs.list(run.id) };
    },
    async notifications() {
      await dispatcher.idle();
      return (await store.outbox.list({ topic: 'notification' })).reverse().map((item) => item.payload as Notification);
    },
    async instances(environment = 'staging') {
      return (await deployer.listInstances()).filter((placed) => placed.service === 'api' && placed.environment === environment).map(({ instance, releaseId }) => ({ instance, releaseId }));
    },
  };
}

/** The stage's failure as the run records it. */
async function deployStageReason(store: Store, run: Run): Promise<string | null> {
  const stage = (await store.stages.listByRun(run.id)).find((candidate) => candidate.name === 'deploy-staging');
  assert.equal(stage?.status, 'failed');
  return stage!.reason;
}

/** What serves api in staging: the store's record, the deployer's instances and which take the requests agree. */
async function assertServes(h: Harness, release: Release): Promise<void> {
  assert.equal((await h.store.deployments.current('api', 'staging'))?.releaseId, release.id, 'the store says it serves');
  const instances = await h.instances();
  assert.deepEqual(instances.map((placed) => placed.releaseId), [release.id], 'only its instance is left');
  assert.deepEqual(h.deployer.servingInstances('api', 'staging'), instances.map((placed) => placed.instance), 'it takes the requests');
}

describe('rollout: commands around the switch', () => {
  it('a failing pre-deploy command fails the deployment, naming the command, before deploy() is called', async () => {
    const h = await harness(config({ staging: '{ bake: 0 }', service: ['pre_deploy: ./migrate up'] }));
    const first = await h.deploy(SHA1);
    assert.equal(first.run.status, 'succeeded', first.run.reason ?? '');
    h.deployer.taskExits.set('./migrate up', 2);
    const second = await h.deploy(SHA2);
    assert.equal(second.run.status, 'failed');
    const reason = `the pre-deploy command "./migrate up" exited with code 2; release #${first.release.id} serves on`;
    assert.deepEqual([second.deployment.status, second.deployment.reason], ['failed', reason]);
    assert.equal(await deployStageReason(h.store, second.run), reason);
    assert.equal(h.deployer.calls.length, 1, 'deploy() was never called for the second release');
    assert.deepEqual(h.deployer.tasks.map(({ task, request }) => [task.name, task.command, request.release.id]), [
      ['pre-deploy', './migrate up', first.release.id],
      ['pre-deploy', './migrate up', second.release.id],
    ]);
    await assertServes(h, first.release);
  });

  it('a failing post-deploy command rolls back: rolled_back, the stage failed, the previous release serves, and it is notified', async () => {
    const h = await harness(config({ service: ['post_deploy: ./smoke-test'] }));
    const first = await h.deploy(SHA1);
    assert.equal(first.run.status, 'succeeded', first.run.reason ?? '');
    h.deployer.taskExits.set('./smoke-test', 1);
    const second = await h.deploy(SHA2);
    assert.equal(second.run.status, 'failed');
    assert.equal(second.deployment.status, 'rolled_back');
    assert.equal(second.deployment.reason, 'the post-deploy command "./smoke-test" exited with code 1');
    assert.equal(await deployStageReason(h.store, second.run), `release #${second.release.id} was rolled back: the post-deploy command "./smoke-test" exited with code 1`);
    await assertServes(h, first.release);
    assert.ok(second.log.some((line) => line.text === `Rolled back: release #${first.release.id} serves staging again`));

    const rolledBack = (await h.notifications()).filter((notification) => notification.event === 'rolled_back');
    assert.equal(rolledBack.length, 1);
    assert.equal(rolledBack[0]!.title, `api in staging was rolled back from release #${second.release.id} to #${first.release.id}`);
    assert.equal(rolledBack[0]!.text, 'automatically: the post-deploy command "./smoke-test" exited with code 1');

    const smoke = h.deployer.tasks.filter(({ task }) => task.name === 'post-deploy');
    assert.deepEqual(smoke.map(({ task }) => task.env.SLIPWAY_URL), ['http://api:3000', 'http://api:3000'], "SLIPWAY_URL is the service's own address");
  });

  it('a first deploy that fails its smoke test leaves nothing serving and is failed, not rolled back', async () => {
    const h = await harness(config({ service: ['post_deploy: ./smoke-test'] }));
    h.deployer.taskExits.set('./smoke-test', 1);
    const first = await h.deploy(SHA1);
    assert.equal(first.run.status, 'failed');
    assert.equal(first.deployment.status, 'failed');
    assert.equal(first.deployment.reason, 'the post-deploy command "./smoke-test" exited with code 1; no previous release stands by to take the requests back');
    assert.deepEqual(await h.instances(), []);
    assert.deepEqual(h.deployer.servingInstances('api', 'staging'), []);
    assert.equal(await h.store.deployments.current('api', 'staging'), null);
    assert.deepEqual((await h.notifications()).map((notification) => notification.event), ['run.failed']);
  });
});

describe('rollout: the bake window', () => {
  it('an instance failing its health check during the bake rolls back, with the evidence in the stage log', async () => {
    const h = await harness(config());
    const first = await h.deploy(SHA1);
    assert.equal(first.run.status, 'succeeded', first.run.reason ?? '');
    const watched = new Set<string>();
    h.deployer.observeWith = (instances) => {
      for (const instance of instances) watched.add(instance);
      return instances.map((instance) => ({ instance, healthy: false, lastCheck: 'L7STS/503 in 3ms', errors: 0 }));
    };
    const second = await h.deploy(SHA2);
    assert.equal(second.deployment.status, 'rolled_back');
    assert.match(second.deployment.reason ?? '', /^the new release failed its bake; instance \S+ failed its health check: L7STS\/503 in 3ms$/);
    assert.match(await deployStageReason(h.store, second.run) ?? '', new RegExp(`^release #${second.release.id} was rolled back: the new release failed its bake`));
    const texts = second.log.map((line) => line.text);
    assert.ok(texts.some((text) => text.includes('failed its health check: L7STS/503 in 3ms')), 'the last check is in the log');
    assert.equal(watched.size, 1);
    assert.ok(texts.includes(`  last line of ${[...watched][0]} (fake)`), "the instance's last lines are in the log");
    await assertServes(h, first.release);
  });

  it('errors reaching bake_errors roll back; fewer do not', async () => {
    const h = await harness(config({ staging: `{ bake: ${BAKE}, bake_errors: 3 }` }));
    const first = await h.deploy(SHA1);
    assert.equal(first.run.status, 'succeeded', first.run.reason ?? '');
    h.deployer.observeWith = (instances) => instances.map((instance) => ({ instance, healthy: true, lastCheck: 'L7OK/200', errors: 3 }));
    const many = await h.deploy(SHA2);
    assert.equal(many.deployment.status, 'rolled_back');
    assert.match(many.deployment.reason ?? '', /the proxy saw 3 errors from the new release/);
    await assertServes(h, first.release);

    h.deployer.observeWith = (instances) => instances.map((instance) => ({ instance, healthy: true, lastCheck: 'L7OK/200', errors: 2 }));
    const few = await h.deploy(SHA3);
    assert.equal(few.run.status, 'succeeded', few.run.reason ?? '');
    assert.equal(few.deployment.status, 'succeeded');
    await assertServes(h, few.release);
  });

  it('a good bake retires the previous release, which stood by until then', async () => {
    const h = await harness(config());
    const first = await h.deploy(SHA1);
    const bake: { listed?: Promise<Array<{ releaseId: number }>> } = {};
    h.deployer.observeWith = (instances) => {
      // What the target holds as the bake looks: listed at once, read after.
      bake.listed ??= h.instances();
      return instances.map((instance) => ({ instance, healthy: true, lastCheck: 'L7OK/200', errors: 0 }));
    };
    const second = await h.deploy(SHA2);
    assert.equal(second.deployment.status, 'succeeded');
    assert.equal(second.deployment.url, 'http://api.staging.fake.invalid');
    assert.deepEqual((await bake.listed)?.map((placed) => placed.releaseId), [first.release.id, second.release.id], 'during the bake the previous release stood by');
    await assertServes(h, second.release);
    assert.deepEqual((await h.notifications()).map((notification) => notification.event), ['deployed', 'deployed']);
  });
});

describe('rollout: replicas', () => {
  it("the environment's replicas and batch reach the deploy request, and a service's own replicas win where it sets them", async () => {
    const h = await harness(
      config({
        staging: '{ bake: 0, replicas: 3, batch: 2, drain_timeout: 5s }',
        production: '{ bake: 0, replicas: 3 }',
        service: ['replicas: { production: 2 }', 'health: { path: /healthz, interval: 500ms }', 'aliases: [payments]'],
      }),
    );
    const { run } = await h.deploy(SHA1);
    assert.equal(run.status, 'succeeded', run.reason ?? '');
    const [staging, production] = h.deployer.calls;
    assert.deepEqual([staging?.environment.name, staging?.environment.replicas, staging?.environment.batch, staging?.environment.drainTimeoutMs], ['staging', 3, 2, 5000]);
    assert.deepEqual([production?.environment.name, production?.environment.replicas, production?.environment.batch], ['production', 2, 1]);
    assert.deepEqual(staging?.service.health, { path: '/healthz', intervalMs: 500, timeoutMs: 2000, successes: 1, failures: 2 });
    assert.deepEqual(staging?.service.aliases, ['payments']);
    assert.equal((await h.instances('staging')).length, 3);
    assert.equal(h.deployer.servingInstances('api', 'staging').length, 3);
    assert.equal(h.deployer.servingInstances('api', 'production').length, 2);
  });
});
