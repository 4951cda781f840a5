// CommitStatusNotifier: run changes on the bus become commit statuses on a scriptable reporter,
// off the engine's path, retried with backoff, newest state first, outcomes in the event log.

import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';
import type { Run, RunStatus, Stage, StageKind } from '../../src/core/types.ts';
import { MemoryEventBus } from '../../src/events/bus.ts';
import type { CommitState, CommitStatus, StatusReporter } from '../../src/forges/forge.ts';
import { openSqliteStore } from '../../src/store/sqlite/store.ts';
import type { Store } from '../../src/store/store.ts';
import { newRun } from '../support/records.ts';
import { backoffDelay, CommitStatusNotifier, commitStateOf, type CommitStatusNotifierOptions } from '../../src/triggers/commit-status.ts';

const SHA = '3f786850e387550fdab836ed7e6dc881de23001b';

type Answer = (status: CommitStatus, call: number, signal: AbortSignal | undefined) => Promise<void>;

/** Answers each report as its script says, and remembers what it was asked and how. */
class ScriptedReporter implements StatusReporter {
  readonly forge = 'github' as const;
  readonly calls: Array<{ status: CommitStatus; signal: AbortSignal | undefined }> = [];
  failures = 0;
  private inFlight = 0;
  maxInFlight = 0;

  constructor(private readonly answer: Answer = async () => {}) {}

  get states(): CommitState[] {
    return this.calls.map((call) => call.status.state);
  }

  async report(status: CommitStatus, signal?: AbortSignal): Promise<void> {
    this.calls.push({ status, signal });
    this.inFlight += 1;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      await this.answer(status, this.calls.length, signal);
    } catch (error) {
      this.failures += 1;
      throw error;
    } finally {
      this.inFlight -= 1;
    }
  }
}

const forgeDown = () => Promise.reject(new Error('cannot reach github at https://api.github.com: ECONNREFUSED'));
/** Never answers; rejects once the notifier aborts it. */
const hangUntilAborted: Answer = (_status, _call, signal) =>
  new Promise((_resolve, reject) => signal?.addEventListener('abort', () => reject(new Error('aborted'))));

/** A report the test answers by hand, in the order asked. */
function gated(): { answer: Answer; release: () => void } {
  const waiting: Array<() => void> = [];
  return {
    answer: () => new Promise<void>((resolve) => waiting.push(resolve)),
    release: () => waiting.shift()?.(),
  };
}

async function until(condition: () => boolean | Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 2_000;
  while (!(await condition())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

describe('CommitStatusNotifier', () => {
  let store: Store;
  let bus: MemoryEventBus;
  let notifier: CommitStatusNotifier | null;
  let logged: string[];

  beforeEach(async () => {
    store = await openSqliteStore(':memory:');
    bus = new MemoryEventBus();
    notifier = null;
    logged = [];
  });
  afterEach(async () => {
    await notifier?.stop();
    await store.close();
  });

  function notify(reporter: StatusReporter | null, options: Partial<CommitStatusNotifierOptions> = {}): CommitStatusNotifier {
    notifier = new CommitStatusNotifier({
      bus,
      store,
      targetOf: () => (reporter ? { reporter, repository: 'octo-org/payment' } : null),
      publicUrl: 'https://ci.example.com/',
      retry: { initialDelayMs: 5, maxDelayMs: 20, maxAttempts: 4 },
      log: (message) => logged.push(message),
      ...options,
    });
    notifier.start();
    return notifier;
  }

  /** A stored run of `service` with a checkout and a test stage, as the engine creates it. */
  async function createRun(service = 'payment'): Promise<{ run: Run; stages: Stage[] }> {
    return store.runs.create(newRun(service, { commitSha: SHA }), [
      { position: 0, name: 'checkout', kind: 'checkout', command: null, environment: null, timeoutMs: 60_000 },
      { position: 1, name: 'test', kind: 'command', command: 'make test', environment: null, timeoutMs: 60_000 },
    ]);
  }

  /** Moves the run to `status` in the store and publishes it, as the engine does. */
  async function publish(run: Run, status: RunStatus): Promise<Run> {
    const updated = status === run.status ? run : (await store.runs.update(run.id, { status }))!;
    bus.publish({ type: 'run', data: updated });
    return updated;
  }

  async function outcomes(runId: number) {
    const events = await store.events.list({ runId });
    return events.filter((event) => event.type.startsWith('commit_status.')).map((event) => ({ type: event.type, data: event.data }));
  }

  test('pending, running, success reach the forge in order, linked to the run', async () => {
    const reporter = new ScriptedReporter();
    const running = notify(reporter);
    const { run } = await createRun();
    for (const status of ['pending', 'running', 'succeeded'] as const) {
      await publish(run, status);
      await running.idle();
    }
    assert.deepEqual(
      reporter.calls.map(({ status }) => status),
      [
        ['pending', `Run #${run.id} is queued`],
        ['running', `Run #${run.id} is running`],
        ['success', `Run #${run.id} succeeded`],
      ].map(([state, description]) => ({
        repository: 'octo-org/payment',
        sha: SHA,
        state,
        context: 'slipway/payment',
        description,
        targetUrl: `https://ci.example.com/runs/${run.id}`,
      })),
    );
    assert.deepEqual(
      (await outcomes(run.id)).map(({ type, data }) => [type, (data as { state: string }).state]),
      [
        ['commit_status.reported', 'pending'],
        ['commit_status.reported', 'running'],
        ['commit_status.reported', 'success'],
      ],
    );
  });

  test('a forge that fails twice is retried, and the log records the attempts it took', async () => {
    const reporter = new ScriptedReporter((_status, call) => (call <= 2 ? forgeDown() : Promise.resolve()));
    const running = notify(reporter);
    const { run } = await createRun();
    await publish(run, 'succeeded');
    await running.idle();
    assert.deepEqual(reporter.states, ['success', 'success', 'success']);
    assert.deepEqual(await outcomes(run.id), [
      { type: 'commit_status.reported', data: { forge: 'github', repository: 'octo-org/payment', sha: SHA, state: 'success', attempts: 3 } },
    ]);
    assert.deepEqual(logged, []);
  });

  test('a forge that stays down: given up after maxAttempts, recorded and logged', async () => {
    const reporter = new ScriptedReporter(forgeDown);
    const running = notify(reporter, { retry: { initialDelayMs: 1, maxDelayMs: 2, maxAttempts: 3 } });
    const { run } = await createRun();
    await publish(run, 'failed');
    await running.idle();
    assert.equal(reporter.calls.length, 3);
    assert.deepEqual(await outcomes(run.id), [
      {
        type: 'commit_status.failed',
        data: {
          forge: 'github',
          repository: 'octo-org/payment',
          sha: SHA,
          state: 'failure',
          attempts: 3,
          error: 'cannot reach github at https://api.github.com: ECONNREFUSED',
        },
      },
    ]);
    assert.equal(logged.length, 1);
    assert.match(logged[0]!, /gave up reporting failure for octo-org\/payment@3f786850e387 \(slipway\/payment\) to github after 3 attempts: .*ECONNREFUSED/);
  });

  test('publishing never waits for the forge, and stop() aborts what is in flight', async () => {
    const reporter = new ScriptedReporter(hangUntilAborted);
    const running = notify(reporter);
    const { run } = await createRun();
    await publish(run, 'pending');
    await until(() => reporter.calls.length === 1, 'the report to start');
    let idle = false;
    void running.idle().then(() => (idle = true));
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(idle, false, 'the report is still in flight');

    await running.stop();
    assert.equal(reporter.calls[0]!.signal?.aborted, true);
    assert.deepEqual(await outcomes(run.id), [], 'stopping is not the forge failing');
    await publish(run, 'running');
    assert.equal(reporter.calls.length, 1, 'a stopped notifier no longer listens');
  });

  test('stop() does not wait out a retry', async () => {
    const reporter = new ScriptedReporter(forgeDown);
    const running = notify(reporter, { retry: { initialDelayMs: 60_000 } });
    const { run } = await createRun();
    await publish(run, 'pending');
    await until(() => reporter.failures === 1, 'the first attempt to fail');
    const startedAt = Date.now();
    await running.stop();
    assert.ok(Date.now() - startedAt < 1_000);
    assert.equal(reporter.calls.length, 1);
  });

  test('a newer state replaces one waiting for its retry, and goes out at once', async () => {
    const reporter = new ScriptedReporter((_status, call) => (call === 1 ? forgeDown() : Promise.resolve()));
    const running = notify(reporter, { retry: { initialDelayMs: 60_000 } });
    const { run } = await createRun();
    const pending = await publish(run, 'pending');
    await until(() => reporter.failures === 1, 'the first attempt to fail');
    await publish(pending, 'running');
    await running.idle();
    assert.deepEqual(reporter.states, ['pending', 'running']);
    assert.deepEqual(
      (await outcomes(run.id)).map(({ type, data }) => [type, (data as { state: string }).state]),
      [['commit_status.reported', 'running']],
    );
  });

  test('one status at a time per commit and context, in order; the newest wanted is sent next', async () => {
    const gate = gated();
    const reporter = new ScriptedReporter(gate.answer);
    const running = notify(reporter);
    const { run } = await createRun();
    const pending = await publish(run, 'pending');
    await until(() => reporter.calls.length === 1, 'pending to be in flight');
    const started = await publish(pending, 'running');
    await publish(started, 'succeeded');
    gate.release();
    await until(() => reporter.calls.length === 2, 'the next state to go out');
    gate.release();
    await running.idle();
    assert.deepEqual(reporter.states, ['pending', 'success']);
    assert.equal(reporter.maxInFlight, 1);
  });

  test('a forge slow for one service does not hold up another', async () => {
    const reporter = new ScriptedReporter((status, _call, signal) =>
      status.context === 'slipway/payment' ? hangUntilAborted(status, 0, signal) : Promise.resolve(),
    );
    notify(reporter);
    const payment = await createRun('payment');
    const billing = await createRun('billing');
    await publish(payment.run, 'pending');
    await publish(billing.run, 'pending');
    await until(() => reporter.calls.length === 2, 'both reports to start');
    await until(async () => (await outcomes(billing.run.id)).length === 1, 'billing to be recorded');
  });

  test('a run whose checkout failed is an error on the forge, not a failure of the code', async () => {
    const reporter = new ScriptedReporter();
    const running = notify(reporter);
    const { run, stages } = await createRun();
    await store.stages.update(stages[0]!.id, { status: 'failed' });
    await publish(run, 'failed');
    await running.idle();
    assert.deepEqual(
      reporter.calls.map(({ status }) => [status.state, status.description]),
      [['error', `Run #${run.id} could not check out the commit`]],
    );
  });

  test('a run that failed at a stage names it', async () => {
    const reporter = new ScriptedReporter();
    const running = notify(reporter);
    const { run, stages } = await createRun();
    await store.stages.update(stages[0]!.id, { status: 'succeeded' });
    await store.stages.update(stages[1]!.id, { status: 'failed' });
    await publish(run, 'failed');
    await running.idle();
    assert.deepEqual(
      reporter.calls.map(({ status }) => [status.state, status.description]),
      [['failure', `Run #${run.id} failed at stage test`]],
    );
  });

  test('a repository without a reporter: nothing is sent or recorded', async () => {
    const running = notify(null);
    const { run } = await createRun();
    await publish(run, 'succeeded');
    await running.idle();
    assert.deepEqual(await outcomes(run.id), []);
  });
});

describe('commitStateOf', () => {
  const run = { id: 12 } as Run;
  const stage = (name: string, kind: StageKind) => ({ name, kind }) as Stage;
  const cases: Array<[RunStatus, Stage | null, CommitState, string]> = [
    ['pending', null, 'pending', 'Run #12 is queued'],
    ['running', null, 'running', 'Run #12 is running'],
    ['succeeded', null, 'success', 'Run #12 succeeded'],
    ['failed', stage('test', 'command'), 'failure', 'Run #12 failed at stage test'],
    ['failed', stage('checkout', 'checkout'), 'error', 'Run #12 could not check out the commit'],
    ['failed', null, 'failure', 'Run #12 failed'],
    ['cancelled', null, 'cancelled', 'Run #12 was cancelled'],
  ];
  for (const [status, failedStage, state, description] of cases) {
    test(`${status}${failedStage ? ` at ${failedStage.kind}` : ''} -> ${state}`, () => {
      assert.deepEqual(commitStateOf({ ...run, status }, failedStage), { state, description });
    });
  }
});

describe('backoffDelay', () => {
  const policy = { initialDelayMs: 1_000, maxDelayMs: 5_000 };
  test('doubles from the initial delay up to the cap', () => {
    assert.deepEqual([1, 2, 3, 4, 5].map((failed) => backoffDelay(failed, policy, () => 0)), [1_000, 2_000, 4_000, 5_000, 5_000]);
  });
  test('jitter takes up to 20% off, never adds', () => {
    assert.equal(backoffDelay(1, policy, () => 1), 800);
    assert.equal(backoffDelay(9, policy, () => 0.5), 4_500);
  });
});
