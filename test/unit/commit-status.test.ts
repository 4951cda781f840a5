// CommitStatusNotifier: run changes on the bus become commit_status items in the outbox, which
// the Outbox sends to a scriptable reporter off the engine's path: in order, newest state first,
// retried with backoff, kept across a restart, outcomes in the event log. The real SQLite store.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import type { Run, RunStatus, Stage, StageKind } from '../../src/core/types.ts';
import { MemoryEventBus } from '../../src/events/bus.ts';
import type { CommitState, CommitStatus, StatusReporter } from '../../src/forges/forge.ts';
import { notificationSender } from '../../src/notifications/channels.ts';
import { Outbox, type RetryPolicy } from '../../src/notifications/outbox.ts';
import { openSqliteStore } from '../../src/store/sqlite/store.ts';
import type { Store } from '../../src/store/store.ts';
import { CommitStatusNotifier, commitStateOf, commitStatusSender } from '../../src/triggers/commit-status.ts';
import { newRun } from '../support/records.ts';
import { until } from '../support/wait.ts';

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
/** Never answers; rejects once the outbox aborts it. */
const hangUntilAborted: Answer = (_status, _call, signal) =>
  new Promise((_resolve, reject) => signal?.addEventListener('abort', () => reject(new Error('aborted'))));

/** A report the test answers by hand, in the order asked: taken, or refused with `error`. */
function gated(): { answer: Answer; release: (error?: Error) => void } {
  const waiting: Array<(error?: Error) => void> = [];
  return {
    answer: () => new Promise<void>((resolve, reject) => waiting.push((error) => (error ? reject(error) : resolve()))),
    release: (error) => waiting.shift()?.(error),
  };
}

describe('CommitStatusNotifier', () => {
  let dir: string;
  let store: Store;
  let bus: MemoryEventBus;
  let notifier: CommitStatusNotifier | null;
  let outbox: Outbox | null;
  let logged: string[];

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'slipway-commit-status-'));
    store = await openSqliteStore(join(dir, 'slipway.db'));
    bus = new MemoryEventBus();
    notifier = null;
    outbox = null;
    logged = [];
  });
  afterEach(async () => {
    await notifier?.stop();
    await outbox?.stop();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** An outbox sending commit statuses to `reporter`; started unless told otherwise (a server killed before it sent). */
  function outboxFor(reporter: StatusReporter | null, options: { retry?: Partial<RetryPolicy>; start?: boolean } = {}): Outbox {
    outbox = new Outbox({
      store,
      senders: { commit_status: commitStatusSender(() => reporter), notification: notificationSender([]) },
      retry: options.retry ?? { initialDelayMs: 5, maxDelayMs: 20, maxAttempts: 4 },
      log: (message) => logged.push(message),
    });
    if (options.start !== false) outbox.start();
    return outbox;
  }

  function notify(reporter: StatusReporter | null, options: { retry?: Partial<RetryPolicy>; start?: boolean } = {}): CommitStatusNotifier {
    notifier = new CommitStatusNotifier({
      bus,
      store,
      outbox: outboxFor(reporter, options),
      targetOf: () => (reporter ? { reporter, repository: 'octo-org/payment' } : null),
      publicUrl: 'https://ci.example.com/',
      log: (message) => logged.push(message),
    });
    notifier.start();
    return notifier;
  }

  /** Every run change heard is in the outbox, and nothing there waits to be sent. */
  async function settled(): Promise<void> {
    await notifier!.idle();
    await until('the outbox to settle', async () => (await store.outbox.list({ statuses: ['pending'] })).length === 0);
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

  async function outcomes(runId: number, on = store) {
    const events = await on.events.list({ runId, types: ['commit_status.'] });
    return events.map((event) => ({ type: event.type, data: event.data as Record<string, unknown> }));
  }

  const statesOf = (events: Array<{ type: string; data: Record<string, unknown> }>) => events.map(({ type, data }) => [type, data.state]);

  test('pending, running, success reach the forge in order, linked to the run', async () => {
    const reporter = new ScriptedReporter();
    notify(reporter);
    const { run } = await createRun();
    for (const status of ['pending', 'running', 'succeeded'] as const) {
      await publish(run, status);
      await settled();
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
    assert.deepEqual(statesOf(await outcomes(run.id)), [
      ['commit_status.sent', 'pending'],
      ['commit_status.sent', 'running'],
      ['commit_status.sent', 'success'],
    ]);
  });

  test("a pull request's run reports its preview beside the run: linked to the preview when it serves, to the run when it failed", async () => {
    const reporter = new ScriptedReporter();
    notify(reporter);
    const stages = [
      { position: 0, name: 'checkout', kind: 'checkout' as const, command: null, environment: null, timeoutMs: 60_000 },
      { position: 1, name: 'preview', kind: 'preview' as const, command: null, environment: null, timeoutMs: 60_000 },
    ];
    const { run, stages: [, stage] } = await store.runs.create(newRun('payment', { commitSha: SHA, lane: 'pr/4' }), stages);
    await store.stages.update(stage!.id, { status: 'succeeded' });
    const preview = await store.previews.create({ service: 'payment', pullRequest: 4, environment: 'pr4-payment', commitSha: SHA, runId: run.id, createdAt: '2026-12-01T10:00:00Z', expiresAt: '2026-12-04T10:00:00Z' });
    await store.previews.update(preview!.id, { statuses: ['starting'] }, { status: 'ready', url: 'http://payment.pr4-payment.localhost:8480' });
    await publish(run, 'running');
    await publish(run, 'succeeded');
    await settled();
    assert.deepEqual(
      reporter.calls.map(({ status }) => [status.context, status.state, status.description, status.targetUrl]),
      [
        ['slipway/payment', 'running', `Run #${run.id} is running`, `https://ci.example.com/runs/${run.id}`],
        ['slipway/payment', 'success', `Run #${run.id} succeeded`, `https://ci.example.com/runs/${run.id}`],
        ['slipway/payment/preview', 'success', 'Preview pr4-payment is ready', 'http://payment.pr4-payment.localhost:8480'],
      ],
    );

    const second = await store.runs.create(newRun('payment', { commitSha: SHA, lane: 'pr/5' }), stages);
    await store.stages.update(second.stages[1]!.id, { status: 'failed', reason: 'db was not ready in time' });
    await publish(second.run, 'failed');
    await settled();
    assert.deepEqual(
      reporter.calls.slice(3).map(({ status }) => [status.context, status.state, status.description, status.targetUrl]),
      [
        ['slipway/payment', 'failure', `Run #${second.run.id} failed at stage preview`, `https://ci.example.com/runs/${second.run.id}`],
        ['slipway/payment/preview', 'failure', 'Preview pr5-payment failed: db was not ready in time', `https://ci.example.com/runs/${second.run.id}`],
      ],
    );
  });

  test('a forge that fails twice is retried, and the log records the attempts it took', async () => {
    const reporter = new ScriptedReporter((_status, call) => (call <= 2 ? forgeDown() : Promise.resolve()));
    notify(reporter);
    const { run } = await createRun();
    await publish(run, 'succeeded');
    await settled();
    assert.deepEqual(reporter.states, ['success', 'success', 'success']);
    const events = await outcomes(run.id);
    assert.deepEqual(events.map(({ type, data }) => [type, data.attempts]), [
      ['commit_status.retrying', 1],
      ['commit_status.retrying', 2],
      ['commit_status.sent', 3],
    ]);
    const { outboxId: _id, ...sent } = events[2]!.data;
    assert.deepEqual(sent, { repository: 'octo-org/payment', sha: SHA, state: 'success', context: 'slipway/payment', destination: 'github', attempts: 3 });
    assert.equal(events[0]!.data.error, 'cannot reach github at https://api.github.com: ECONNREFUSED');
    assert.deepEqual(logged, []);
  });

  test('a forge that stays down: given up after maxAttempts, recorded and logged', async () => {
    const reporter = new ScriptedReporter(forgeDown);
    notify(reporter, { retry: { initialDelayMs: 1, maxDelayMs: 2, maxAttempts: 3 } });
    const { run } = await createRun();
    await publish(run, 'failed');
    await settled();
    assert.equal(reporter.calls.length, 3);
    const failed = (await outcomes(run.id)).at(-1)!;
    assert.equal(failed.type, 'commit_status.failed');
    const { outboxId: _id, ...data } = failed.data;
    assert.deepEqual(data, {
      repository: 'octo-org/payment',
      sha: SHA,
      state: 'failure',
      context: 'slipway/payment',
      destination: 'github',
      attempts: 3,
      error: 'cannot reach github at https://api.github.com: ECONNREFUSED',
    });
    assert.equal(logged.length, 1);
    assert.match(logged[0]!, /^gave up sending failure for octo-org\/payment@3f786850e387 \(slipway\/payment\) to github after 3 attempts: .*ECONNREFUSED/);
  });

  test('publishing never waits for the forge, and stopping aborts what is in flight', async () => {
    const reporter = new ScriptedReporter(hangUntilAborted);
    const running = notify(reporter);
    const { run } = await createRun();
    await publish(run, 'pending');
    await until('the report to start', () => reporter.calls.length === 1);

    await outbox!.stop();
    assert.equal(reporter.calls[0]!.signal?.aborted, true);
    assert.deepEqual(await outcomes(run.id), [], 'stopping is not the forge failing');
    assert.deepEqual((await store.outbox.list()).map((item) => item.status), ['pending'], 'kept for the next start');
    await running.stop();
    await publish(run, 'running');
    await running.idle();
    assert.equal((await store.outbox.list()).length, 1, 'a stopped notifier no longer listens');
  });

  test('stopping does not wait out a retry', async () => {
    const reporter = new ScriptedReporter(forgeDown);
    notify(reporter, { retry: { initialDelayMs: 60_000 } });
    const { run } = await createRun();
    await publish(run, 'pending');
    await until('the first attempt to fail', () => reporter.failures === 1);
    const startedAt = Date.now();
    await notifier!.stop();
    await outbox!.stop();
    assert.ok(Date.now() - startedAt < 1_000);
    assert.equal(reporter.calls.length, 1);
  });

  test('a newer state replaces one waiting for its retry, and goes out at once', async () => {
    const reporter = new ScriptedReporter((_status, call) => (call === 1 ? forgeDown() : Promise.resolve()));
    notify(reporter, { retry: { initialDelayMs: 60_000 } });
    const { run } = await createRun();
    const pending = await publish(run, 'pending');
    await until('pending to wait for its retry', async () => (await outcomes(run.id)).length === 1);
    await publish(pending, 'running');
    await settled();
    assert.deepEqual(reporter.states, ['pending', 'running']);
    assert.deepEqual(statesOf(await outcomes(run.id)), [
      ['commit_status.retrying', 'pending'],
      ['commit_status.sent', 'running'],
    ]);
  });

  test('one status at a time per commit and context, in order; the newest wanted is sent next', async () => {
    const gate = gated();
    const reporter = new ScriptedReporter(gate.answer);
    notify(reporter);
    const { run } = await createRun();
    const pending = await publish(run, 'pending');
    await until('pending to be in flight', () => reporter.calls.length === 1);
    const started = await publish(pending, 'running');
    await publish(started, 'succeeded');
    await notifier!.idle();
    gate.release();
    await until('the next state to go out', () => reporter.calls.length === 2);
    gate.release();
    await settled();
    assert.deepEqual(reporter.states, ['pending', 'success']);
    assert.equal(reporter.maxInFlight, 1);
  });

  test('a state that fails after a newer one was wanted is not retried over it', async () => {
    const gate = gated();
    const reporter = new ScriptedReporter(gate.answer);
    notify(reporter);
    const { run } = await createRun();
    const pending = await publish(run, 'pending');
    await until('pending to be in flight', () => reporter.calls.length === 1);
    await publish(pending, 'running');
    await notifier!.idle();
    gate.release(new Error('github answered 502 Bad Gateway'));
    await until('the newer state to go out', () => reporter.calls.length === 2);
    gate.release();
    await settled();
    assert.deepEqual(reporter.states, ['pending', 'running']);
    assert.deepEqual(statesOf(await outcomes(run.id)), [['commit_status.sent', 'running']]);
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
    await until('both reports to start', () => reporter.calls.length === 2);
    await until('billing to be recorded', async () => (await outcomes(billing.run.id)).length === 1);
  });

  test('a run whose checkout failed is an error on the forge, not a failure of the code', async () => {
    const reporter = new ScriptedReporter();
    notify(reporter);
    const { run, stages } = await createRun();
    await store.stages.update(stages[0]!.id, { status: 'failed' });
    await publish(run, 'failed');
    await settled();
    assert.deepEqual(
      reporter.calls.map(({ status }) => [status.state, status.description]),
      [['error', `Run #${run.id} could not check out the commit`]],
    );
  });

  test('a run that failed at a stage names it', async () => {
    const reporter = new ScriptedReporter();
    notify(reporter);
    const { run, stages } = await createRun();
    await store.stages.update(stages[0]!.id, { status: 'succeeded' });
    await store.stages.update(stages[1]!.id, { status: 'failed' });
    await publish(run, 'failed');
    await settled();
    assert.deepEqual(
      reporter.calls.map(({ status }) => [status.state, status.description]),
      [['failure', `Run #${run.id} failed at stage test`]],
    );
  });

  test('a repository without a reporter: nothing is stored, sent or recorded', async () => {
    notify(null);
    const { run } = await createRun();
    await publish(run, 'succeeded');
    await settled();
    assert.deepEqual(await store.outbox.list(), []);
    assert.deepEqual(await outcomes(run.id), []);
  });

  test('a state stored for a forge no longer configured is given up at once', async () => {
    const reporter = new ScriptedReporter();
    notifier = new CommitStatusNotifier({
      bus,
      store,
      outbox: outboxFor(null),
      targetOf: () => ({ reporter, repository: 'octo-org/payment' }),
      publicUrl: 'https://ci.example.com',
    });
    notifier.start();
    const { run } = await createRun();
    await publish(run, 'succeeded');
    await settled();
    assert.deepEqual(statesOf(await outcomes(run.id)), [['commit_status.failed', 'success']]);
    assert.equal(reporter.calls.length, 0);
  });

  test('a status survives a restart: stored by one server, sent by the next', async () => {
    const reporter = new ScriptedReporter();
    notify(reporter, { start: false });
    const { run } = await createRun();
    await publish(run, 'succeeded');
    await notifier!.stop();
    await outbox!.stop();
    await store.close();

    store = await openSqliteStore(join(dir, 'slipway.db'));
    outboxFor(reporter);
    await until('the stored state to be sent', async () => (await store.outbox.list({ statuses: ['sent'] })).length === 1);
    assert.deepEqual(reporter.states, ['success']);
    assert.deepEqual(statesOf(await outcomes(run.id)), [['commit_status.sent', 'success']]);
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
    ['waiting', null, 'pending', 'Run #12 is waiting at a gate'],
    ['rejected', null, 'failure', 'Run #12 was rejected'],
    ['expired', null, 'failure', 'Run #12 expired waiting for approval'],
  ];
  for (const [status, failedStage, state, description] of cases) {
    test(`${status}${failedStage ? ` at ${failedStage.kind}` : ''} -> ${state}`, () => {
      assert.deepEqual(commitStateOf({ ...run, status }, failedStage), { state, description });
    });
  }
});
