// Engine.recover() on fakes: a server "killed" at each crash point of a deploy (the FakeDeployer
// keeps what the target held, the previous release standing by as behind the proxy; the store is
// closed and opened again by a new engine), and step containers left behind. After the restart
// each service's requests go to exactly the replicas of one deployment per environment, the one
// the store says serves, and no deployment stays in progress.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, it } from 'node:test';
import { FakeBuilder } from '../../src/builders/fake/builder.ts';
import type { Run } from '../../src/core/types.ts';
import { FakeDeployer, type FakeCrashPoint } from '../../src/deployers/fake/deployer.ts';
import { Engine } from '../../src/engine/engine.ts';
import { MemoryEventBus } from '../../src/events/bus.ts';
import { FakeExecutor } from '../../src/executors/fake/executor.ts';
import { FakeSource } from '../../src/source/fake/source.ts';
import { openSqliteStore } from '../../src/store/sqlite/store.ts';
import type { Store } from '../../src/store/store.ts';
import { parsedConfig } from '../support/config.ts';
import { until } from '../support/wait.ts';

const CONFIG = parsedConfig(`
registry: registry.test
pipeline:
  - stage: build
  - stage: deploy
    environment: staging
  - stage: smoke
    run: make smoke
environments:
  staging: { replicas: 2, bake: 0 }
services:
  api:
    repo: /repos/api.git
    port: 3000
`);

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** One "machine": a data folder and a target (deployer, executor) that outlive each server on it. */
function machine(executor = new FakeExecutor((step) => (step.command === 'make hang' ? { hang: true } : {}))) {
  const dir = mkdtempSync(join(tmpdir(), 'slipway-recovery-'));
  const deployer = new FakeDeployer(undefined, { keepsPrevious: true });
  const logs: string[] = [];
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return {
    deployer,
    executor,
    logs,
    /** A server on the machine: a new engine on the store in the data folder. */
    async boot(options: { start?: boolean; config?: typeof CONFIG } = {}): Promise<{ engine: Engine; store: Store }> {
      const store = await openSqliteStore(join(dir, 'slipway.db'));
      const workRoot = mkdtempSync(join(dir, 'work-'));
      const source = new FakeSource().setRef('/repos/api.git', 'main', 'a'.repeat(40));
      const engine = new Engine({ store, bus: new MemoryEventBus(), config: options.config ?? CONFIG, source, executor, builder: new FakeBuilder(), deployer, workRoot, log: (line) => logs.push(line) });
      if (options.start !== false) await engine.start();
      return { engine, store };
    },
  };
}

async function startRun(engine: Engine): Promise<Run> {
  const started = await engine.startRun({ service: 'api', trigger: { kind: 'manual', by: 'test' } });
  assert.ok(started.ok, started.ok ? '' : started.error.message);
  return started.value.run;
}

/** The crash: the server's store goes away with its deploy halfway; the target keeps what it held. */
async function crash(store: Store): Promise<void> {
  await store.close();
}

/** api's requests in staging go to exactly the replicas of the deployment the store says serves, and nothing else is left. */
async function assertServes(deployer: FakeDeployer, store: Store, releaseId: number): Promise<void> {
  const current = await store.deployments.current('api', 'staging');
  assert.equal(current?.releaseId, releaseId, 'the store says which release serves');
  assert.equal(current?.url, 'http://api.staging.fake.invalid', 'a deployment is at the stable address');
  const instances = (await deployer.listInstances()).filter((instance) => instance.service === 'api' && instance.environment === 'staging');
  assert.deepEqual(
    instances.map((instance) => [instance.releaseId, instance.deploymentId, instance.proven, instance.running]),
    [
      [releaseId, current?.id, true, true],
      [releaseId, current?.id, true, true],
    ],
    'both replicas of the serving deployment, and no other instance',
  );
  assert.deepEqual(deployer.servingInstances('api', 'staging'), instances.map((instance) => instance.instance), 'exactly they take the requests');
  assert.deepEqual(await store.deployments.list({ statuses: ['in_progress'] }), [], 'no deployment stays in progress');
}

/** Generous waits: these tests share two cores with everything else, and never judge speed. */
const PATIENCE_MS = 60_000;

function finished(store: Store, runId: number): Promise<Run> {
  return until(`run ${runId} to end`, async () => {
    const run = await store.runs.get(runId);
    return run && ['succeeded', 'failed', 'cancelled'].includes(run.status) ? run : null;
  }, PATIENCE_MS);
}

const statuses = async (store: Store, run: Run) => Object.fromEntries((await store.stages.listByRun(run.id)).map((stage) => [stage.name, stage.status]));

describe('engine recovery after a crash during a deploy', () => {
  const cases: Array<{ point: FakeCrashPoint; moved: boolean }> = [
    { point: 'before-start', moved: false },
    { point: 'unproven', moved: false },
    { point: 'proven', moved: true },
    { point: 'switched', moved: true },
  ];
  for (const { point, moved } of cases) {
    it(`cut short at "${point}": ${moved ? 'the new release serves and the run goes on' : 'the previous release serves on and the run fails'}`, async () => {
      const m = machine();
      const first = await m.boot();
      const serving = await finished(first.store, (await startRun(first.engine)).id);
      assert.equal(serving.status, 'succeeded');
      m.deployer.crashAt(point);
      const cut = await startRun(first.engine);
      await until('the deploy to begin', () => m.deployer.calls.length === 2, PATIENCE_MS);
      await crash(first.store);

      const second = await m.boot();
      const done = await finished(second.store, cut.id);
      const [deployment] = await second.store.deployments.list({ service: 'api' });
      assert.equal(deployment?.runId, cut.id);
      const [release] = await second.store.releases.list({ runId: cut.id });
      if (moved) {
        assert.equal(done.status, 'succeeded', done.reason ?? '');
        assert.deepEqual(await statuses(second.store, cut), { checkout: 'succeeded', build: 'succeeded', deploy: 'succeeded', smoke: 'succeeded' });
        assert.equal(deployment?.status, 'succeeded');
        const log = await second.store.logs.list(cut.id);
        assert.ok(log.some((line) => line.stream === 'system' && line.text.includes(`after release #${release!.id} passed its health check`)), 'the deploy stage says how it ended');
        await assertServes(m.deployer, second.store, release!.id);
      } else {
        assert.equal(done.status, 'failed');
        assert.equal(deployment?.status, 'failed');
        assert.equal(deployment?.reason, `the server stopped during this deployment, before release #${release!.id} passed its health check; release #${release!.id - 1} serves on`);
        await assertServes(m.deployer, second.store, release!.id - 1);
      }
      await second.engine.stop();
      await second.store.close();
    });
  }

  it('two crashes in a row during deploys leave one release serving, the one recorded', async () => {
    const m = machine();
    let server = await m.boot();
    const serving = await finished(server.store, (await startRun(server.engine)).id);
    const cut: Run[] = [];
    for (let crashes = 0; crashes < 2; crashes++) {
      m.deployer.crashAt('unproven');
      cut.push(await startRun(server.engine));
      await until('the deploy to begin', () => m.deployer.calls.length === crashes + 2, PATIENCE_MS);
      await crash(server.store);
      server = await m.boot();
    }
    for (const run of cut) assert.equal((await finished(server.store, run.id)).status, 'failed');
    const [release] = await server.store.releases.list({ runId: serving.id });
    await assertServes(m.deployer, server.store, release!.id);
    await server.engine.stop();
    await server.store.close();
  });

  it('takes no run before recovery has settled what the dead server left', async () => {
    const m = machine();
    const server = await m.boot({ start: false });
    const early = await startRun(server.engine);
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal((await server.store.runs.get(early.id))?.status, 'pending');
    assert.equal(m.deployer.calls.length, 0);
    await server.engine.start();
    assert.equal((await finished(server.store, early.id)).status, 'succeeded');
    await server.engine.stop();
    await server.store.close();
  });
});

describe('engine recovery of step containers', () => {
  it('removes the steps no running run will re-attach, and keeps the one it re-attaches', async () => {
    const hanging = parsedConfig(`
pipeline:
  - stage: wait
    run: make hang
services:
  api:
    repo: /repos/api.git
`);
    const m = machine();
    const first = await m.boot({ config: hanging });
    const kept = await startRun(first.engine);
    await until('the step to start', async () => (await first.store.stages.listByRun(kept.id)).find((stage) => stage.handle), PATIENCE_MS);
    await crash(first.store);
    const [left] = await m.executor.listSteps();
    const keptHandle = left!.handle;
    m.executor.reattachable.add(keptHandle);
    // A step whose run is over, its container still there (a cleanup that never happened).
    const started = m.executor.calls.find((call) => call.method === 'start')!.step!;
    const stray = await m.executor.start({ ...started, runId: 999, stageId: 9999 });

    const second = await m.boot({ config: hanging });
    await until('the step to be re-attached', () => m.executor.calls.some((call) => call.method === 'reattach' && call.handle === keptHandle), PATIENCE_MS);
    assert.ok(m.executor.calls.some((call) => call.method === 'cleanup' && call.handle === stray), 'the stray step is cleaned up before runs resume');
    assert.ok(!m.executor.calls.some((call) => call.method === 'cleanup' && call.handle === keptHandle), 'the re-attached step is left running');
    assert.deepEqual((await m.executor.listSteps()).map((step) => step.handle), [keptHandle]);
    assert.ok(m.logs.includes('recovery: removing the step of run #999 (stage 9999): run #999 is no longer running'), m.logs.join('\n'));
    await second.engine.cancel(kept.id);
    await second.engine.stop();
    await second.store.close();
  });
});
