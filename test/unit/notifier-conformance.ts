// The Notifier contract (src/notifiers/notifier.ts), checked against a live local receiver.
// Every channel runs this suite; its test file starts the receiver (a real HTTP or SMTP server),
// builds the notifier against it and reads back what the receiver got.

import assert from 'node:assert/strict';
import { afterEach, describe, test } from 'node:test';
import { approvalExpired, approvalWaiting, deployed, rolledBack, runFailed, runFixed } from '../../src/notifiers/message.ts';
import { NOTIFICATION_EVENTS, NotifyError, type Notification, type NotificationEvent, type Notifier } from '../../src/notifiers/notifier.ts';

/** How the receiver answers: accept, refuse for now (503, SMTP 451), refuse for good (400, SMTP 550), or never answer. */
export type ReceiverAnswer = 'accept' | 'transient' | 'permanent' | 'hang';

export interface LiveNotifier {
  notifier: Notifier;
  /** How the receiver answers every attempt from now on. Its refusals echo the settings' secrets back. */
  answer(answer: ReceiverAnswer): void;
  /** Each notification the receiver accepted, as the text a person gets to read. */
  delivered(): string[];
  /** Attempts that reached the receiver, accepted or not. */
  attempts(): number;
  /** The secrets in the notifier's settings, which no error message may show. */
  secrets: string[];
  /** Stops the receiver; attempts after it find nobody there. Safe to call twice. */
  stop(): Promise<void>;
}

export interface NotifierConformance {
  kind: Notifier['kind'];
  /** The status or reply code of each refusal: 503 and 400 over HTTP, 451 and 550 over SMTP. */
  refusals: { transient: number; permanent: number };
  /** The receiver's own words in its permanent refusal (the start of its answer), which the rejection must carry. */
  refusalWords: RegExp;
  /** Starts a receiver and a notifier sending to it, each attempt bounded by `timeoutMs`. */
  start(options: { timeoutMs: number }): Promise<LiveNotifier>;
}

const AT = '2024-05-01T10:00:00.000Z';
const SHA = '3f786850e387550fdab836ed7e6dc881de23001b';
const DIGEST = 'sha256:9b2f6c8d1e4a7b3c5d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c';
/** Ample for a local receiver, far below any attempt timeout the suite waits out. */
const PROMPTLY_MS = 1_000;
const NORMAL_TIMEOUT_MS = 5_000;
const SHORT_TIMEOUT_MS = 150;

/** One notification of every event, in message.ts's words, as the outbox would send them. */
export const SAMPLES: Record<NotificationEvent, Notification> = {
  'run.failed': runFailed({
    run: { id: 12, service: 'payment', ref: 'main', commitSha: SHA, reason: 'stage test exited with code 1' },
    failedStage: 'test',
    link: 'https://ci.example.com/runs/12',
    at: AT,
  }),
  'run.fixed': runFixed({ run: { id: 13, service: 'payment', ref: 'main', commitSha: SHA }, failedRunId: 12, link: 'https://ci.example.com/runs/13', at: AT }),
  'approval.waiting': approvalWaiting({
    runId: 14,
    service: 'payment',
    environment: 'production',
    releaseId: 7,
    digest: DIGEST,
    commitSha: SHA,
    waitingFor: '1 of role deployer',
    expiresAt: '2024-05-02T10:00:00.000Z',
    link: 'https://ci.example.com/runs/14/approval',
    recipients: ['ada@example.com', 'grace@example.com'],
    at: AT,
  }),
  deployed: deployed({
    service: 'payment',
    environment: 'staging',
    releaseId: 7,
    digest: DIGEST,
    url: 'http://127.0.0.1:41000',
    runId: 14,
    link: 'https://ci.example.com/runs/14',
    at: AT,
  }),
  rolled_back: rolledBack({
    service: 'payment',
    environment: 'production',
    fromReleaseId: 8,
    toReleaseId: 7,
    reason: 'the health check failed after the deploy',
    automatic: true,
    actor: null,
    runId: 15,
    link: 'https://ci.example.com/runs/15',
    at: AT,
  }),
  'approval.expired': approvalExpired({
    runId: 14,
    service: 'payment',
    environment: 'production',
    releaseId: 7,
    waitingFor: '1 of role deployer',
    link: 'https://ci.example.com/runs/14',
    at: AT,
  }),
};

export function notifierConformance(expected: NotifierConformance): void {
  describe(`Notifier conformance: ${expected.kind}`, () => {
    const started: LiveNotifier[] = [];
    afterEach(async () => {
      await Promise.all(started.splice(0).map((live) => live.stop()));
    });

    async function live(timeoutMs = NORMAL_TIMEOUT_MS): Promise<LiveNotifier> {
      const notifier = await expected.start({ timeoutMs });
      started.push(notifier);
      return notifier;
    }

    /** The send's rejection: a NotifyError, promptly, saying `message`, retryable as told, with no secret in it. */
    async function rejection(live: LiveNotifier, send: Promise<void>, message: RegExp, retryable: boolean): Promise<NotifyError> {
      const startedAt = performance.now();
      const error = await send.then(
        () => assert.fail('the send resolved'),
        (error: unknown) => error,
      );
      assert.ok(performance.now() - startedAt < PROMPTLY_MS, `rejects promptly (${Math.round(performance.now() - startedAt)} ms)`);
      assert.ok(error instanceof NotifyError, `rejects with a NotifyError: ${String(error)}`);
      assert.match(error.message, message);
      assert.equal(error.retryable, retryable, `retryable: ${error.message}`);
      for (const secret of live.secrets) assert.ok(!error.message.includes(secret), `the message shows no secret: ${error.message}`);
      return error;
    }

    test('names its kind', async () => {
      assert.equal((await live()).notifier.kind, expected.kind);
    });

    for (const event of NOTIFICATION_EVENTS) {
      test(`delivers ${event} once, with its title and link`, async () => {
        const receiver = await live();
        const notification = SAMPLES[event];
        await receiver.notifier.send(notification);
        assert.equal(receiver.attempts(), 1);
        const [delivered, ...more] = receiver.delivered();
        assert.deepEqual(more, []);
        assert.ok(delivered !== undefined, 'the receiver accepted it');
        assert.ok(delivered.includes(notification.title), `the title arrives: ${delivered}`);
        assert.ok(delivered.includes(notification.link!), `the link arrives: ${delivered}`);
      });
    }

    test(`a transient refusal (${expected.refusals.transient}) rejects as retryable, after one attempt; the next attempt may succeed`, async () => {
      const receiver = await live();
      receiver.answer('transient');
      await rejection(receiver, receiver.notifier.send(SAMPLES['run.failed']), new RegExp(String(expected.refusals.transient)), true);
      assert.equal(receiver.attempts(), 1, 'no retries of its own');
      receiver.answer('accept');
      await receiver.notifier.send(SAMPLES['run.failed']);
      assert.equal(receiver.delivered().length, 1);
    });

    test(`a permanent refusal (${expected.refusals.permanent}) rejects as not retryable, with the receiver's words and none of the secrets it echoed`, async () => {
      const receiver = await live();
      receiver.answer('permanent');
      const error = await rejection(receiver, receiver.notifier.send(SAMPLES['run.failed']), new RegExp(String(expected.refusals.permanent)), false);
      assert.match(error.message, expected.refusalWords);
      assert.equal(receiver.attempts(), 1);
    });

    test('a receiver that never answers: the attempt ends at its timeout, retryable', async () => {
      const receiver = await live(SHORT_TIMEOUT_MS);
      receiver.answer('hang');
      await rejection(receiver, receiver.notifier.send(SAMPLES['approval.waiting']), /did not answer within 0\.15 s/, true);
    });

    test('a receiver that never answers: the attempt ends as soon as the signal aborts, retryable', async () => {
      const receiver = await live();
      receiver.answer('hang');
      const controller = new AbortController();
      setTimeout(() => controller.abort(), 100);
      await rejection(receiver, receiver.notifier.send(SAMPLES['approval.waiting'], controller.signal), /aborted/, true);
    });

    test('an already aborted signal: rejects without delivering anything', async () => {
      const receiver = await live();
      await rejection(receiver, receiver.notifier.send(SAMPLES.deployed, AbortSignal.abort()), /aborted/, true);
      assert.deepEqual(receiver.delivered(), []);
    });

    test('a receiver that is down: rejects promptly as retryable, saying it cannot reach it', async () => {
      const receiver = await live();
      await receiver.stop();
      await rejection(receiver, receiver.notifier.send(SAMPLES.deployed), /cannot reach/, true);
    });
  });
}
