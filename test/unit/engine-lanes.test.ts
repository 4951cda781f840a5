// The engine's lanes on fakes: queue, supersede and parallel policies; partial pull-request
// runs; tag runs; run variables; rerun and resume; cancelling a lane. The pure policy is in
// test/unit/concurrency.test.ts; here the real Engine applies it.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, it } from 'node:test';
import { FakeBuilder } from '../../src/builders/fake/builder.ts';
import type { Config } from '../../src/config/model.ts';
import type { Run, Stage } from '../../src/core/types.ts';
import { FakeDeployer } from '../../src/deployers/fake/deployer.ts';
import { Engine, type EngineOptions, type StartRunRequest } from '../../src/engine/engine.ts';
import { MemoryEventBus } from '../../src/events/bus.ts';
import type { StepExit, StepSpec } from '../../src/executors/executor.ts';
import { FakeExecutor, type FakeStepScript } from '../../src/executors/fake/executor.ts';
import { FAKE_COMMIT, FakeSource } from '../../src/source/fake/source.ts';
import { openSqliteStore } from '../../src/store/sqlite/store.ts';
import type { Store } from '../../src/store/store.ts';
import { finished, until } from '../support/wait.ts';
import { parsedConfig } from '../support/config.ts';

const REPO = '/repos/api.git';
const MAIN = 'a'.repeat(40);
const DEVELOP = 'b'.repeat(40);
const FEATURE = 'c'.repeat(40);
const TAGGED = 'd'.repeat(40);
const MOVED = 'e'.repeat(40);

const CONFIG = `
registry: registry.test
pipeline:
  - stage: quality
    run: make lint
  - stage: build
  - stage: integration
    run: make integration
  - stage: deploy
    environment: staging
environments:
  staging: {}
services:
  api:
    repo: ${REPO}
    port: 3000
    variables:
      SHARED: from-service
      ONLY_SERVICE: service
`;

const config = (text = CONFIG): Config => parsedConfig(text);

const STOPPED_EXIT_CODE = 137;

/**
 * A FakeExecutor whose matching steps, once started, do not end until the test releases their
 * run (they end with 0) or the engine stops them (they end with 137, like any stopped step).
 */
class GatedExecutor extends FakeExecutor {
  private readonly held = new Map<string, { runId: number; release: () => void }>();
  private readonly gates = new Map<string, Promise<void>>();
  private readonly released = new Set<number>();
  private readonly stopped = new Set<string>();

  constructor(
    private readonly holds: (step: StepSpec) => boolean,
    script: (step: StepSpec) => FakeStepScript = () => ({}),
  ) {
    super(script);
  }

  override async start(step: StepSpec): Promise<string> {
    const handle = await super.start(step);
    if (this.holds(step) && !this.released.has(step.runId)) {
      let release!: () => void;
      this.gates.set(handle, new Promise<void>((resolve) => (release = resolve)));
      this.held.set(handle, { runId: step.runId, release });
    }
    return handle;
  }

  override async wait(handle: string): Promise<StepExit> {
    await this.gates.get(handle);
    const exit = await super.wait(handle);
    // The fake step behind a gate may have ended with 0 already; a held step that is stopped
    // ends the way a stopped step does.
    return this.stopped.has(handle) ? { exitCode: STOPPED_EXIT_CODE } : exit;
  }

  override stop(handle: string): Promise<void> {
    if (this.held.has(handle)) this.stopped.add(handle);
    this.unhold(handle);
    return super.stop(handle);
  }

  /** True while a step of the run is started and held. */
  holding(runId: number): boolean {
    return [...this.held.values()].some((held) => held.runId === runId);
  }

  /** Lets the run's held steps end with 0, and its later steps run through. */
  release(runId: number): void {
    this.released.add(runId);
    for (const [handle, held] of this.held) if (held.runId === runId) this.unhold(handle);
  }

  releaseAll(): void {
    for (const handle of [...this.held.keys()]) this.unhold(handle);
  }

  /** Runs whose steps started, in order of their first step. */
  startedRuns(): number[] {
    return [...new Set(this.calls.filter((call) => call.method === 'start').map((call) => call.step!.runId))];
  }

  stepsOf(runId: number): StepSpec[] {
    return this.calls.filter((call) => call.method === 'start' && call.step!.runId === runId).map((call) => call.step!);
  }

  private unhold(handle: string): void {
    this.held.get(handle)?.release();
    this.held.delete(handle);
  }
}

interface Harness {
  engine: Engine;
  store: Store;
  executor: GatedExecutor;
  builder: FakeBuilder;
  deployer: FakeDeployer;
  source: FakeSource;
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function harness(
  options: { holds?: (step: StepSpec) => boolean; script?: (step: StepSpec) => FakeStepScript; config?: Config } & Partial<EngineOptions> = {},
): Promise<Harness> {
  const { holds = () => false, script, config: configured = config(), ...overrides } = options;
  const workRoot = mkdtempSync(join(tmpdir(), 'slipway-lanes-'));
  const store = await openSqliteStore(':memory:');
  const executor = new GatedExecutor(holds, script);
  const builder = new FakeBuilder();
  const deployer = new FakeDeployer();
  const source = new FakeSource()
    .setRef(REPO, 'main', MAIN)
    .setRef(REPO, 'develop', DEVELOP)
    .setRef(REPO, 'feature', FEATURE)
    .setRef(REPO, 'v1.2.0', TAGGED)
    .setRef(REPO, 'feature/x', TAGGED);
  const engine = new Engine({ store, bus: new MemoryEventBus(), config: configured, source, executor, builder, deployer, workRoot, ...overrides });
  cleanups.push(async () => {
    executor.releaseAll();
    await engine.stop();
    await store.close();
    rmSync(workRoot, { recursive: true, force: true });
  });
  await engine.start();
  return { engine, store, executor, builder, deployer, source };
}

async function start(h: Harness, request: Partial<StartRunRequest> = {}): Promise<Run> {
  const started = await h.engine.startRun({ service: 'api', trigger: { kind: 'manual', by: 'test' }, ...request });
  assert.ok(started.ok, started.ok ? '' : started.error.message);
  return started.value.run;
}

const held = (h: Harness, run: Run) => until(`run ${run.id} to be held in a step`, () => h.executor.holding(run.id));
const statusOf = async (h: Harness, run: Run) => (await h.store.runs.get(run.id))?.status;
const stagesOf = async (h: Harness, run: Run) => h.store.stages.listByRun(run.id);
const byName = (stages: Stage[], name: string) => stages.find((stage) => stage.name === name)!;
const statuses = (stages: Stage[]) => Object.fromEntries(stages.map((stage) => [stage.name, stage.status]));

describe('engine lanes: queue', () => {
  it('runs two runs of one branch one after the other, in order', async () => {
    const h = await harness({ holds: (step) => step.name === 'quality' });
    const first = await start(h);
    const second = await start(h);
    assert.equal(first.lane, 'main');
    assert.equal(first.concurrency, 'queue');
    await held(h, first);
    assert.equal(await statusOf(h, second), 'pending');

    h.executor.release(first.id);
    assert.equal((await finished(h.store, first.id)).status, 'succeeded');
    await held(h, second);
    h.executor.release(second.id);
    const done = await finished(h.store, second.id);
    assert.equal(done.status, 'succeeded');
    assert.deepEqual(h.executor.startedRuns(), [first.id, second.id]);
    // The second run started only after the first had finished (the event log's order).
    const events = (await h.store.events.list()).filter((event) => event.type.startsWith('run.')).map((event) => `${event.type} #${event.runId}`);
    assert.ok(events.indexOf(`run.succeeded #${first.id}`) < events.indexOf(`run.running #${second.id}`), events.join(', '));
  });

  it('runs another branch of the same service at the same time', async () => {
    const h = await harness({ holds: (step) => step.name === 'quality' });
    const main = await start(h, { ref: 'main' });
    const develop = await start(h, { ref: 'develop' });
    assert.equal(develop.lane, 'develop');
    // Both are held in their first step at once.
    await held(h, main);
    await held(h, develop);
    assert.equal(await statusOf(h, main), 'running');
    assert.equal(await statusOf(h, develop), 'running');
    h.executor.release(main.id);
    h.executor.release(develop.id);
    assert.equal((await finished(h.store, main.id)).status, 'succeeded');
    assert.equal((await finished(h.store, develop.id)).status, 'succeeded');
  });
});

describe('engine lanes: supersede', () => {
  const pr = (number: number): Partial<StartRunRequest> => ({ ref: 'feature', pullRequest: number, trigger: { kind: 'pull_request', by: 'octocat' } });

  it('cancels a running pull-request run when a newer one for the same pull request arrives', async () => {
    const h = await harness({ holds: (step) => step.name === 'quality' });
    const older = await start(h, pr(7));
    const other = await start(h, pr(8));
    assert.equal(older.concurrency, 'supersede');
    await held(h, older);
    await held(h, other);

    const newer = await start(h, pr(7));
    const cancelled = await finished(h.store, older.id);
    assert.equal(cancelled.status, 'cancelled');
    assert.equal(cancelled.reason, `superseded by run #${newer.id}`);
    assert.equal(byName(await stagesOf(h, older), 'quality').status, 'cancelled');

    // The newer run takes the lane once the older one has stopped; PR 8 runs on, untouched.
    await held(h, newer);
    assert.equal(await statusOf(h, other), 'running');
    h.executor.release(newer.id);
    h.executor.release(other.id);
    assert.equal((await finished(h.store, newer.id)).status, 'succeeded');
    assert.equal((await finished(h.store, other.id)).status, 'succeeded');
  });

  it('cancels a pending pull-request run without starting it', async () => {
    // One run at a time: the blocker holds the only slot, so the pull-request runs wait.
    const h = await harness({ holds: (step) => step.name === 'quality', maxParallelRuns: 1 });
    const blocker = await start(h);
    await held(h, blocker);
    const older = await start(h, pr(7));
    const other = await start(h, pr(8));
    const newer = await start(h, pr(7));

    const cancelled = await finished(h.store, older.id);
    assert.equal(cancelled.status, 'cancelled');
    assert.equal(cancelled.reason, `superseded by run #${newer.id}`);
    assert.equal(cancelled.startedAt, null);
    assert.ok((await stagesOf(h, older)).every((stage) => stage.status === 'skipped'));
    assert.equal(await statusOf(h, other), 'pending');
    assert.equal(await statusOf(h, newer), 'pending');

    h.executor.release(blocker.id);
    h.executor.release(other.id);
    h.executor.release(newer.id);
    assert.equal((await finished(h.store, other.id)).status, 'succeeded');
    assert.equal((await finished(h.store, newer.id)).status, 'succeeded');
    assert.deepEqual(h.executor.startedRuns(), [blocker.id, other.id, newer.id]);
  });
});

describe('engine lanes: parallel', () => {
  it('runs two runs of the same lane at once when branches are parallel', async () => {
    const h = await harness({
      holds: (step) => step.name === 'quality',
      config: config(`${CONFIG}concurrency:\n  branches: parallel\n`),
    });
    const first = await start(h);
    const second = await start(h);
    assert.equal(first.lane, second.lane);
    assert.equal(second.concurrency, 'parallel');
    await held(h, first);
    await held(h, second);
    h.executor.release(first.id);
    h.executor.release(second.id);
    assert.equal((await finished(h.store, first.id)).status, 'succeeded');
    assert.equal((await finished(h.store, second.id)).status, 'succeeded');
  });
});

describe('engine: pull request runs are partial', () => {
  it('stops after the build and never deploys', async () => {
    const h = await harness();
    const started = await h.engine.startRun({ service: 'api', ref: 'feature', pullRequest: 7, trigger: { kind: 'pull_request', by: 'octocat' } });
    assert.ok(started.ok);
    const { run, stages } = started.value;
    assert.equal(run.lane, 'pr/7');
    assert.equal(run.partial, true);
    assert.equal(run.commitSha, FEATURE);
    for (const name of ['integration', 'deploy']) {
      assert.equal(byName(stages, name).status, 'skipped');
      assert.equal(byName(stages, name).reason, 'pull request runs stop after the build and never deploy');
    }
    assert.equal((await finished(h.store, run.id)).status, 'succeeded');
    assert.deepEqual(statuses(await stagesOf(h, run)), {
      checkout: 'succeeded',
      quality: 'succeeded',
      build: 'succeeded',
      integration: 'skipped',
      deploy: 'skipped',
    });
    assert.equal(h.builder.calls.length, 1);
    assert.equal(h.deployer.calls.length, 0);
    assert.deepEqual(h.executor.stepsOf(run.id).map((step) => step.name), ['quality']);
  });

  it('a branch run is neither partial nor in a pull-request lane', async () => {
    const h = await harness();
    const run = await start(h, { ref: 'feature' });
    assert.equal(run.lane, 'feature');
    assert.equal(run.partial, false);
    assert.equal((await finished(h.store, run.id)).status, 'succeeded');
    assert.equal(h.deployer.calls.length, 1);
  });
});

describe('engine: tag runs', () => {
  it('builds the tag as an image alias and records it on the release', async () => {
    const h = await harness();
    const run = await start(h, { tag: 'v1.2.0', trigger: { kind: 'tag', by: 'octocat' } });
    assert.equal(run.lane, 'tag/v1.2.0');
    assert.equal(run.tag, 'v1.2.0');
    assert.equal(run.commitSha, TAGGED);
    assert.equal((await finished(h.store, run.id)).status, 'succeeded');
    assert.deepEqual(h.builder.calls[0]?.aliases, ['v1.2.0']);
    assert.equal(h.builder.calls[0]?.tag, TAGGED);
    const [release] = await h.store.releases.list({ service: 'api' });
    assert.equal(release?.tag, 'v1.2.0');
    assert.equal(release?.runId, run.id);
  });

  it('builds a tag whose name is no valid image tag without an alias', async () => {
    const h = await harness();
    const run = await start(h, { tag: 'feature/x', trigger: { kind: 'tag', by: 'octocat' } });
    assert.equal(run.lane, 'tag/feature/x');
    assert.equal((await finished(h.store, run.id)).status, 'succeeded');
    assert.deepEqual(h.builder.calls[0]?.aliases, []);
    const [release] = await h.store.releases.list({ service: 'api' });
    assert.equal(release?.tag, 'feature/x');
  });

  it('a branch run builds no alias and its release has no tag', async () => {
    const h = await harness();
    const run = await start(h);
    assert.equal(run.tag, null);
    await finished(h.store, run.id);
    assert.deepEqual(h.builder.calls[0]?.aliases, []);
    assert.equal((await h.store.releases.list({ service: 'api' }))[0]?.tag, null);
  });
});

describe('engine: run variables', () => {
  it("reach every step, over the service's variables, under the reserved ones", async () => {
    const h = await harness();
    const run = await start(h, {
      variables: { GREETING: 'hello', SHARED: 'from-run', SLIPWAY_RUN_ID: '999', SLIPWAY_SERVICE: 'other', CI: 'false' },
    });
    assert.deepEqual(run.variables, { GREETING: 'hello', SHARED: 'from-run', SLIPWAY_RUN_ID: '999', SLIPWAY_SERVICE: 'other', CI: 'false' });
    assert.equal((await finished(h.store, run.id)).status, 'succeeded');
    const steps = h.executor.stepsOf(run.id);
    assert.deepEqual(steps.map((step) => step.name), ['quality', 'integration']);
    for (const { env } of steps) {
      assert.equal(env.GREETING, 'hello');
      assert.equal(env.SHARED, 'from-run');
      assert.equal(env.ONLY_SERVICE, 'service');
      assert.equal(env.SLIPWAY_RUN_ID, String(run.id));
      assert.equal(env.SLIPWAY_SERVICE, 'api');
      assert.equal(env.SLIPWAY_COMMIT_SHA, MAIN);
      assert.equal(env.CI, 'true');
    }
  });

  it("without run variables, steps get the service's", async () => {
    const h = await harness();
    const run = await start(h);
    assert.deepEqual(run.variables, {});
    await finished(h.store, run.id);
    assert.equal(h.executor.stepsOf(run.id)[0]?.env.SHARED, 'from-service');
  });
});

describe('engine: rerun', () => {
  it('runs a finished run again at the same commit, in the same lane, with the same variables', async () => {
    const h = await harness();
    const origin = await start(h, { ref: 'develop', variables: { GREETING: 'hello' } });
    assert.equal((await finished(h.store, origin.id)).status, 'succeeded');
    // The branch moved on since; a rerun still builds the commit the run built.
    h.source.setRef(REPO, 'develop', MOVED);

    const rerun = await h.engine.rerun(origin.id, 'alice');
    assert.ok(rerun.ok, rerun.ok ? '' : rerun.error.message);
    const { run } = rerun.value;
    assert.notEqual(run.id, origin.id);
    assert.equal(run.commitSha, DEVELOP);
    assert.equal(run.ref, 'develop');
    assert.equal(run.lane, 'develop');
    assert.deepEqual(run.variables, { GREETING: 'hello' });
    assert.deepEqual(run.trigger, { kind: 'rerun', by: 'alice' });
    assert.equal(run.originRunId, origin.id);
    // What the origin's checkout read of its commit comes along from the start.
    const checkedOut = (await h.store.runs.get(origin.id))!;
    assert.deepEqual([checkedOut.commitAuthor, checkedOut.commitTitle, checkedOut.committedAt], [FAKE_COMMIT.author, 'Fake commit', FAKE_COMMIT.committedAt]);
    assert.deepEqual([run.commitAuthor, run.commitTitle, run.committedAt], [checkedOut.commitAuthor, checkedOut.commitTitle, checkedOut.committedAt]);
    assert.equal((await finished(h.store, run.id)).status, 'succeeded');
    assert.equal(h.executor.stepsOf(run.id)[0]?.env.GREETING, 'hello');
    // A rerun starts from the beginning and builds again.
    assert.deepEqual(statuses(await stagesOf(h, run)), {
      checkout: 'succeeded',
      quality: 'succeeded',
      build: 'succeeded',
      integration: 'succeeded',
      deploy: 'succeeded',
    });
    assert.equal(h.builder.calls.length, 2);
  });

  it('keeps a pull-request run partial and a tag run tagged', async () => {
    const h = await harness();
    const prRun = await start(h, { ref: 'feature', pullRequest: 7, trigger: { kind: 'pull_request', by: 'octocat' } });
    const tagRun = await start(h, { tag: 'v1.2.0', trigger: { kind: 'tag', by: 'octocat' } });
    await finished(h.store, prRun.id);
    await finished(h.store, tagRun.id);
    const prAgain = await h.engine.rerun(prRun.id, 'alice');
    const tagAgain = await h.engine.rerun(tagRun.id, 'alice');
    assert.ok(prAgain.ok && tagAgain.ok);
    assert.equal(prAgain.value.run.lane, 'pr/7');
    assert.equal(prAgain.value.run.partial, true);
    assert.equal(byName(prAgain.value.stages, 'deploy').status, 'skipped');
    assert.equal(tagAgain.value.run.lane, 'tag/v1.2.0');
    assert.equal(tagAgain.value.run.tag, 'v1.2.0');
  });

  it('refuses a run that has not finished, and one that does not exist', async () => {
    const h = await harness({ holds: (step) => step.name === 'quality' });
    const running = await start(h);
    await held(h, running);
    const unfinished = await h.engine.rerun(running.id, 'alice');
    assert.ok(!unfinished.ok);
    assert.equal(unfinished.error.code, 'RUN_NOT_FINISHED');
    assert.equal(unfinished.error.message, `run ${running.id} is still running`);
    const unknown = await h.engine.rerun(404, 'alice');
    assert.ok(!unknown.ok);
    assert.equal(unknown.error.code, 'RUN_NOT_FOUND');
    assert.equal((await h.store.runs.list()).length, 1);
  });
});

describe('engine: resume', () => {
  /** Fails the integration stage of the listed runs. */
  const failIntegrationOf = (runs: number[]) => (step: StepSpec): FakeStepScript =>
    step.name === 'integration' && runs.includes(step.runId) ? { exitCode: 1 } : {};

  it('checks out again, reuses the stages that passed, and runs from the one that failed', async () => {
    const h = await harness({ script: failIntegrationOf([1]) });
    const origin = await start(h, { variables: { GREETING: 'hello' } });
    assert.equal(origin.id, 1);
    const failed = await finished(h.store, origin.id);
    assert.equal(failed.status, 'failed');
    assert.equal(failed.reason, 'stage integration failed: command exited with code 1');
    const [built] = await h.store.releases.list({ service: 'api' });
    assert.ok(built);

    const resumed = await h.engine.resume(origin.id, 'alice');
    assert.ok(resumed.ok, resumed.ok ? '' : resumed.error.message);
    const { run } = resumed.value;
    assert.deepEqual(run.trigger, { kind: 'resume', by: 'alice' });
    assert.equal(run.originRunId, origin.id);
    assert.equal(run.commitSha, MAIN);
    assert.deepEqual(run.variables, { GREETING: 'hello' });
    for (const name of ['quality', 'build']) {
      assert.equal(byName(resumed.value.stages, name).status, 'skipped');
      assert.equal(byName(resumed.value.stages, name).reason, `passed in run #${origin.id}; reused`);
    }

    assert.equal((await finished(h.store, run.id)).status, 'succeeded');
    assert.deepEqual(statuses(await stagesOf(h, run)), {
      checkout: 'succeeded',
      quality: 'skipped',
      build: 'skipped',
      integration: 'succeeded',
      deploy: 'succeeded',
    });
    assert.deepEqual(h.source.checkouts.map((checkout) => checkout.sha), [MAIN, MAIN]);
    assert.deepEqual(h.executor.stepsOf(run.id).map((step) => step.name), ['integration']);
    // Nothing is built again: the deploy places the image the original run built.
    assert.equal(h.builder.calls.length, 1);
    assert.equal(h.deployer.calls.length, 1);
    assert.equal(h.deployer.calls[0]?.release.id, built.id);
    assert.equal(h.deployer.calls[0]?.release.runId, origin.id);
    const deployment = await h.store.deployments.current('api', 'staging');
    assert.equal(deployment?.runId, run.id);
    assert.equal(deployment?.releaseId, built.id);
  });

  it('resuming a resumed run still reuses what the first run built', async () => {
    const h = await harness({ script: failIntegrationOf([1, 2]) });
    const origin = await start(h);
    await finished(h.store, origin.id);
    const second = await h.engine.resume(origin.id, 'alice');
    assert.ok(second.ok);
    assert.equal((await finished(h.store, second.value.run.id)).status, 'failed');

    const third = await h.engine.resume(second.value.run.id, 'alice');
    assert.ok(third.ok, third.ok ? '' : third.error.message);
    assert.equal(third.value.run.originRunId, second.value.run.id);
    assert.equal(byName(third.value.stages, 'build').reason, `passed in run #${second.value.run.id}; reused`);
    assert.equal((await finished(h.store, third.value.run.id)).status, 'succeeded');
    assert.equal(h.builder.calls.length, 1);
    assert.equal(h.deployer.calls[0]?.release.runId, origin.id);
  });

  it('refuses a run that succeeded, one that failed at checkout, and one still running', async () => {
    const h = await harness();
    const succeeded = await start(h);
    assert.equal((await finished(h.store, succeeded.id)).status, 'succeeded');
    const notFailed = await h.engine.resume(succeeded.id, 'alice');
    assert.ok(!notFailed.ok);
    assert.equal(notFailed.error.code, 'RUN_NOT_RESUMABLE');

    h.source.brokenCheckouts.add(REPO);
    const noCheckout = await start(h);
    assert.equal((await finished(h.store, noCheckout.id)).status, 'failed');
    const atCheckout = await h.engine.resume(noCheckout.id, 'alice');
    assert.ok(!atCheckout.ok);
    assert.equal(atCheckout.error.code, 'RUN_NOT_RESUMABLE');

    const unknown = await h.engine.resume(404, 'alice');
    assert.ok(!unknown.ok);
    assert.equal(unknown.error.code, 'RUN_NOT_FOUND');
    assert.equal((await h.store.runs.list()).length, 2);
  });

  it('refuses a run that has not finished', async () => {
    const h = await harness({ holds: (step) => step.name === 'quality' });
    const running = await start(h);
    await held(h, running);
    const resumed = await h.engine.resume(running.id, 'alice');
    assert.ok(!resumed.ok);
    assert.equal(resumed.error.code, 'RUN_NOT_FINISHED');
  });
});

describe('engine: cancelLane', () => {
  it("cancels the lane's pending and running runs, and no other lane's", async () => {
    const h = await harness({ holds: (step) => step.name === 'quality' });
    const running = await start(h, { ref: 'main' });
    const queued = await start(h, { ref: 'main' });
    const elsewhere = await start(h, { ref: 'develop' });
    await held(h, running);
    await held(h, elsewhere);
    assert.equal(await statusOf(h, queued), 'pending');

    const cancelled = await h.engine.cancelLane('api', 'main', 'branch main was deleted');
    assert.deepEqual(cancelled.map((run) => run.id).sort(), [running.id, queued.id].sort());
    for (const run of cancelled) {
      assert.equal(run.status, 'cancelled');
      assert.equal(run.reason, 'branch main was deleted');
    }
    assert.ok(!h.executor.startedRuns().includes(queued.id));
    assert.equal(await statusOf(h, elsewhere), 'running');
    h.executor.release(elsewhere.id);
    assert.equal((await finished(h.store, elsewhere.id)).status, 'succeeded');

    // Nothing left to cancel: an empty answer.
    assert.deepEqual(await h.engine.cancelLane('api', 'main', 'again'), []);
  });
});
