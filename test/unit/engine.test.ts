// The engine's logic on fakes: stage order, failure, skips, cancellation, timeouts, queueing,
// deploy outcomes and recovery after a crash. The real engine runs in test/e2e.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, it } from 'node:test';
import { FakeBuilder } from '../../src/builders/fake/builder.ts';
import type { Config } from '../../src/config/model.ts';
import type { Run, Stage } from '../../src/core/types.ts';
import { failingHealthCheck, FakeDeployer } from '../../src/deployers/fake/deployer.ts';
import { Engine, type EngineOptions } from '../../src/engine/engine.ts';
import { MemoryEventBus, type LiveEvent } from '../../src/events/bus.ts';
import type { StepSpec } from '../../src/executors/executor.ts';
import { FakeExecutor, type FakeStepScript } from '../../src/executors/fake/executor.ts';
import { FakeSource } from '../../src/source/fake/source.ts';
import { openSqliteStore } from '../../src/store/sqlite/store.ts';
import type { Store } from '../../src/store/store.ts';
import { finished, until } from '../support/wait.ts';
import { parsedConfig } from '../support/config.ts';

const SHA1 = 'a'.repeat(40);
const SHA2 = 'b'.repeat(40);

const CONFIG = `
registry: registry.test
pipeline:
  - stage: quality
    run: "{{ service.lint }}"
  - stage: test
    run: "{{ service.test }}"
  - stage: build
  - stage: deploy
    environment: staging
environments:
  staging: {}
services:
  api:
    repo: /repos/api.git
    lint: make lint
    test: make test
    port: 3000
  web:
    repo: /repos/web.git
    test: npm test
    port: 8080
    stages:
      build:
        skip: true
      deploy:
        skip: true
`;

const config = (text = CONFIG): Config => parsedConfig(text);

interface Harness {
  engine: Engine;
  store: Store;
  bus: MemoryEventBus;
  executor: FakeExecutor;
  builder: FakeBuilder;
  deployer: FakeDeployer;
  source: FakeSource;
  events: LiveEvent[];
  options: EngineOptions;
}

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function harness(
  script: (step: StepSpec) => FakeStepScript = () => ({}),
  overrides: Partial<EngineOptions> = {},
  storePath = ':memory:',
): Promise<Harness> {
  const workRoot = mkdtempSync(join(tmpdir(), 'slipway-engine-'));
  const store = overrides.store ?? (await openSqliteStore(storePath));
  const bus = new MemoryEventBus();
  const events: LiveEvent[] = [];
  bus.subscribe(() => true, (event) => events.push(event));
  const executor = (overrides.executor as FakeExecutor | undefined) ?? new FakeExecutor(script);
  const builder = new FakeBuilder();
  const deployer = new FakeDeployer();
  const source = new FakeSource().setRef('/repos/api.git', 'main', SHA1).setRef('/repos/web.git', 'main', SHA2);
  const options: EngineOptions = { store, bus, config: config(), source, executor, builder, deployer, workRoot, ...overrides };
  const engine = new Engine(options);
  cleanups.push(async () => {
    await engine.stop();
    if (!overrides.store) await store.close().catch(() => {});
    rmSync(workRoot, { recursive: true, force: true });
  });
  await engine.start();
  return { engine, store, bus, executor, builder, deployer, source, events, options };
}

async function start(h: Harness, service = 'api', ref?: string): Promise<{ run: Run; stages: Stage[] }> {
  const started = await h.engine.startRun({ service, ref, trigger: { kind: 'manual', by: 'test' } });
  assert.ok(started.ok, started.ok ? '' : started.error.message);
  return started.value;
}

const statuses = (stages: Stage[]) => Object.fromEntries(stages.map((stage) => [stage.name, stage.status]));

describe('engine', () => {
  it('runs every stage in order and records the release and the deployment', async () => {
    const h = await harness((step) => ({ lines: [{ stream: 'stdout', text: `ran ${step.command}` }] }));
    const { run } = await start(h);
    const done = await finished(h.store, run.id);
    assert.equal(done.status, 'succeeded');
    assert.equal(done.commitSha, SHA1);
    const stages = await h.store.stages.listByRun(run.id);
    assert.deepEqual(statuses(stages), { checkout: 'succeeded', quality: 'succeeded', test: 'succeeded', build: 'succeeded', deploy: 'succeeded' });
    assert.deepEqual(
      h.executor.calls.filter((call) => call.method === 'start').map((call) => call.step!.command),
      ['make lint', 'make test'],
    );
    const [release] = await h.store.releases.list({ service: 'api' });
    assert.equal(release?.image, `registry.test/api:${SHA1}`);
    assert.equal(h.builder.calls[0]?.tag, SHA1);
    const current = await h.store.deployments.current('api', 'staging');
    assert.equal(current?.releaseId, release?.id);
    assert.equal(current?.url, 'http://api.staging.fake.invalid');
    const logs = await h.store.logs.list(run.id);
    assert.ok(logs.some((line) => line.stream === 'stdout' && line.text === 'ran make test'));
    assert.ok(logs.some((line) => line.stream === 'system' && line.text === '$ make lint'));
    const types = (await h.store.events.list({ runId: run.id })).map((event) => event.type);
    assert.equal(types[0], 'run.created');
    assert.equal(types.at(-1), 'run.succeeded');
    assert.ok(types.includes('release.created') && types.includes('deployment.succeeded'));
    // Live events mirror the store: the last run event is the terminal one.
    const runEvents = h.events.filter((event) => event.type === 'run');
    assert.equal(runEvents.at(-1)?.data.status, 'succeeded');
  });

  it('fails the run at the failing stage and skips the rest', async () => {
    const h = await harness((step) => (step.name === 'test' ? { exitCode: 2, lines: [{ stream: 'stderr', text: 'assertion failed' }] } : {}));
    const { run } = await start(h);
    const done = await finished(h.store, run.id);
    assert.equal(done.status, 'failed');
    assert.equal(done.reason, 'stage test failed: command exited with code 2');
    const stages = await h.store.stages.listByRun(run.id);
    assert.deepEqual(statuses(stages), { checkout: 'succeeded', quality: 'succeeded', test: 'failed', build: 'skipped', deploy: 'skipped' });
    assert.equal(stages.find((stage) => stage.name === 'test')?.exitCode, 2);
    assert.equal(h.builder.calls.length, 0);
    assert.equal(h.deployer.calls.length, 0);
    assert.equal(await h.store.deployments.current('api', 'staging'), null);
  });

  it('skips stages a service leaves unset or overrides with skip', async () => {
    const h = await harness();
    const { run, stages } = await start(h, 'web');
    assert.equal(stages.find((stage) => stage.name === 'quality')?.reason, 'service web sets no lint');
    const done = await finished(h.store, run.id);
    assert.equal(done.status, 'succeeded');
    assert.deepEqual(statuses(await h.store.stages.listByRun(run.id)), { checkout: 'succeeded', quality: 'skipped', test: 'succeeded', build: 'skipped', deploy: 'skipped' });
  });

  it('refuses an unknown service or ref and stores nothing', async () => {
    const h = await harness();
    const unknown = await h.engine.startRun({ service: 'nope', trigger: { kind: 'manual', by: 'test' } });
    assert.ok(!unknown.ok);
    assert.equal(unknown.error.code, 'SERVICE_NOT_FOUND');
    assert.equal(unknown.error.message, 'unknown service nope (known services: api, web)');
    const badRef = await h.engine.startRun({ service: 'api', ref: 'no-such-branch', trigger: { kind: 'manual', by: 'test' } });
    assert.ok(!badRef.ok);
    assert.equal(badRef.error.code, 'REF_NOT_FOUND');
    assert.equal(badRef.error.message, 'ref no-such-branch does not exist in /repos/api.git');
    assert.deepEqual(await h.store.runs.list(), []);
  });

  it('fails the checkout stage with the reason when the repository cannot be read', async () => {
    const h = await harness();
    h.source.brokenCheckouts.add('/repos/api.git');
    const { run } = await start(h);
    const done = await finished(h.store, run.id);
    assert.equal(done.status, 'failed');
    assert.equal(done.reason, 'stage checkout failed: cannot clone /repos/api.git: fake outage');
    assert.equal(h.executor.calls.length, 0);
  });

  it('cancels a running run: stops its step, cancels the stage and skips the rest', async () => {
    const h = await harness((step) => (step.name === 'quality' ? { hang: true } : {}));
    const { run } = await start(h);
    await until('quality to run', async () => (await h.store.stages.listByRun(run.id)).find((stage) => stage.name === 'quality' && stage.handle));
    const cancelled = await h.engine.cancel(run.id);
    assert.ok(cancelled.ok);
    assert.equal(cancelled.value.status, 'cancelled');
    assert.ok(h.executor.calls.some((call) => call.method === 'stop'));
    assert.deepEqual(statuses(await h.store.stages.listByRun(run.id)), { checkout: 'succeeded', quality: 'cancelled', test: 'skipped', build: 'skipped', deploy: 'skipped' });
    const again = await h.engine.cancel(run.id);
    assert.ok(!again.ok);
    assert.equal(again.error.code, 'RUN_NOT_CANCELLABLE');
  });

  it('queues runs of one service and cancels a queued run without starting it', async () => {
    const h = await harness((step) => (step.runId === 1 && step.name === 'quality' ? { hang: true } : {}));
    const first = await start(h);
    const second = await start(h);
    await until('first run to block', async () => (await h.store.stages.listByRun(first.run.id)).find((stage) => stage.name === 'quality' && stage.handle));
    assert.equal((await h.store.runs.get(second.run.id))?.status, 'pending');
    const cancelled = await h.engine.cancel(second.run.id);
    assert.ok(cancelled.ok);
    assert.equal(cancelled.value.status, 'cancelled');
    assert.ok(!h.executor.calls.some((call) => call.step?.runId === second.run.id));
    await h.engine.cancel(first.run.id);
  });

  it('runs different services in parallel', async () => {
    const h = await harness((step) => (step.name === 'test' && step.env.SLIPWAY_SERVICE === 'api' ? { hang: true } : {}));
    const api = await start(h, 'api');
    const web = await start(h, 'web');
    assert.equal((await finished(h.store, web.run.id)).status, 'succeeded');
    assert.equal((await h.store.runs.get(api.run.id))?.status, 'running');
    await h.engine.cancel(api.run.id);
  });

  it('fails a stage that outlives its timeout and stops its step', async () => {
    const h = await harness((step) => (step.name === 'quality' ? { hang: true } : {}), {
      config: config(CONFIG.replace('run: "{{ service.lint }}"', 'run: "{{ service.lint }}"\n    timeout: 50ms')),
    });
    const { run } = await start(h);
    const done = await finished(h.store, run.id);
    assert.equal(done.status, 'failed');
    const quality = (await h.store.stages.listByRun(run.id)).find((stage) => stage.name === 'quality');
    assert.equal(quality?.reason, 'timed out after 50ms');
    assert.ok(h.executor.calls.some((call) => call.method === 'stop'));
  });

  it('fails the deploy stage and keeps the previous release current when the health check fails', async () => {
    const h = await harness();
    const first = await start(h);
    assert.equal((await finished(h.store, first.run.id)).status, 'succeeded');
    const serving = await h.store.deployments.current('api', 'staging');
    h.deployer.respondWith(failingHealthCheck);
    const second = await start(h);
    const done = await finished(h.store, second.run.id);
    assert.equal(done.status, 'failed');
    assert.match(done.reason ?? '', /^stage deploy failed: health check GET \/ did not answer 2xx/);
    const [latest] = await h.store.deployments.list({ service: 'api' });
    assert.equal(latest?.status, 'failed');
    assert.equal(latest?.previousReleaseId, serving?.releaseId);
    assert.equal((await h.store.deployments.current('api', 'staging'))?.id, serving?.id);
  });

  it("never deploys a pull request's build, and records where each release came from", async () => {
    const h = await harness();
    const pullRequest = await h.engine.startRun({ service: 'api', commitSha: SHA1, pullRequest: 7, trigger: { kind: 'pull_request', by: 'octocat' } });
    assert.ok(pullRequest.ok);
    assert.equal((await finished(h.store, pullRequest.value.run.id)).status, 'succeeded');
    const [built] = await h.store.releases.list({ runId: pullRequest.value.run.id });
    assert.deepEqual([built?.origin, built?.lane], ['pull_request', 'pr/7']);
    assert.equal(await h.store.deployments.current('api', 'staging'), null, 'a pull request run stops after the build');

    // Even a run that reaches its deploy stage with such a release (a record written by hand,
    // a future bug) refuses it.
    const { run } = await h.store.runs.create({ ...pullRequest.value.run, partial: false }, [
      { position: 0, name: 'build', kind: 'build', command: null, environment: null, timeoutMs: 60_000 },
      { position: 1, name: 'deploy', kind: 'deploy', command: null, environment: 'staging', timeoutMs: 60_000 },
    ]);
    await start(h, 'web'); // the scheduler reads the store whenever a run is created
    const forced = await finished(h.store, run.id);
    assert.equal(forced.status, 'failed');
    const deploy = (await h.store.stages.listByRun(run.id)).find((stage) => stage.name === 'deploy')!;
    assert.match(deploy.reason ?? '', /release #\d+ was built for pr\/7, and a pull request's build is never deployed/);
    assert.equal(h.deployer.calls.length, 0);
  });

  it('skips build and deploy, saying why, when no container engine exists', async () => {
    const h = await harness(() => ({}), { builder: null, deployer: null, noEngineReason: 'no Docker or Podman socket' });
    const { run, stages } = await start(h);
    assert.match(stages.find((stage) => stage.name === 'build')?.reason ?? '', /^no container engine on this machine, so nothing is built or deployed \(no Docker or Podman socket\)$/);
    assert.equal((await finished(h.store, run.id)).status, 'succeeded');
  });

  it('re-attaches a step that survived a crash and finishes the run without repeating log lines', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'slipway-crash-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const path = join(dir, 'slipway.db');
    const executor = new FakeExecutor((step) =>
      step.name === 'test' ? { lines: [{ stream: 'stdout', text: 'line 1' }, { stream: 'stdout', text: 'line 2' }], delayMs: 300 } : {},
    );
    const storeBefore = await openSqliteStore(path);
    const before = await harness(undefined, { executor, store: storeBefore });
    const { run } = await start(before);
    const test = await until('test to run', async () => (await storeBefore.stages.listByRun(run.id)).find((stage) => stage.name === 'test' && stage.handle));
    await until('first lines stored', async () => (await storeBefore.logs.count(test.id, 'stdout')) >= 1);
    // The "crash": the first server's store goes away mid-stage; its step lives on.
    await storeBefore.close();
    executor.reattachable.add(test.handle!);
    const storeAfter = await openSqliteStore(path);
    cleanups.push(() => storeAfter.close());
    await harness(undefined, { executor, store: storeAfter });
    const done = await finished(storeAfter, run.id);
    assert.equal(done.status, 'succeeded');
    const lines = (await storeAfter.logs.list(run.id, { stageId: test.id })).filter((line) => line.stream === 'stdout').map((line) => line.text);
    assert.deepEqual(lines, ['line 1', 'line 2']);
    assert.ok(executor.calls.some((call) => call.method === 'reattach' && call.handle === test.handle));
  });

  it('fails a stage whose step is gone after a crash, with the reason', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'slipway-crash-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const path = join(dir, 'slipway.db');
    const executor = new FakeExecutor((step) => (step.name === 'test' ? { hang: true } : {}));
    const storeBefore = await openSqliteStore(path);
    const before = await harness(undefined, { executor, store: storeBefore });
    const { run } = await start(before);
    await until('test to run', async () => (await storeBefore.stages.listByRun(run.id)).find((stage) => stage.name === 'test' && stage.handle));
    await storeBefore.close();
    const storeAfter = await openSqliteStore(path);
    cleanups.push(() => storeAfter.close());
    const after = await harness(undefined, { executor: new FakeExecutor(() => ({})), store: storeAfter });
    const done = await finished(storeAfter, run.id);
    assert.equal(done.status, 'failed');
    const stages = await storeAfter.stages.listByRun(run.id);
    assert.equal(stages.find((stage) => stage.name === 'test')?.reason, 'the server stopped while this stage ran, and its step could not be found again');
    assert.deepEqual(statuses(stages), { checkout: 'succeeded', quality: 'succeeded', test: 'failed', build: 'skipped', deploy: 'skipped' });
    assert.equal(after.deployer.calls.length, 0);
    for (const call of executor.calls) if (call.method === 'start') await executor.stop(call.handle);
  });
});
