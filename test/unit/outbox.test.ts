// The Outbox on the real SQLite store, sending notifications through the real webhook notifier to
// a real HTTP receiver: sent once, retried with backoff, given up, leases that end with a killed
// server, two servers on one database, and every outcome in the event log.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import type { NotificationChannel } from '../../src/config/notifications.ts';
import { notificationSender } from '../../src/notifications/channels.ts';
import { backoffDelay, Outbox, type OutboxOptions, type OutboxSender } from '../../src/notifications/outbox.ts';
import { runFailed } from '../../src/notifiers/message.ts';
import type { Notification } from '../../src/notifiers/notifier.ts';
import { NOTIFICATION_EVENTS } from '../../src/notifiers/notifier.ts';
import { openSqliteStore } from '../../src/store/sqlite/store.ts';
import type { OutboxItem, Store } from '../../src/store/store.ts';
import { commitStatusSender } from '../../src/triggers/commit-status.ts';
import { startHttpReceiver, type HttpReceiver } from '../support/receivers.ts';
import { until } from '../support/wait.ts';

const SECRET = 'whsec-outbox-test-secret';
const RETRY = { initialDelayMs: 40, maxDelayMs: 200, maxAttempts: 5 };

function notification(runId: number): Notification {
  return runFailed({
    run: { id: runId, service: 'payment', ref: 'main', commitSha: 'a'.repeat(40), reason: 'stage test exited with code 1' },
    failedStage: 'test',
    link: `https://ci.example.com/runs/${runId}`,
    at: '2024-05-01T10:00:00.000Z',
  });
}

const entry = (runId: number) => ({ topic: 'notification' as const, destination: 'hooks', key: null, payload: notification(runId) });

describe('Outbox', () => {
  let receiver: HttpReceiver;
  let dir: string;
  let stores: Store[];
  let outboxes: Outbox[];
  let logged: string[];

  beforeEach(async () => {
    receiver = await startHttpReceiver();
    dir = mkdtempSync(join(tmpdir(), 'slipway-outbox-'));
    stores = [];
    outboxes = [];
    logged = [];
  });
  afterEach(async () => {
    for (const outbox of outboxes) await outbox.stop();
    for (const store of stores) await store.close();
    await receiver.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function open(path = ':memory:'): Promise<Store> {
    const store = await openSqliteStore(path);
    stores.push(store);
    return store;
  }

  function channel(): NotificationChannel {
    return { name: 'hooks', type: 'webhook', settings: { url: `${receiver.origin}/hook`, secret: SECRET }, events: [...NOTIFICATION_EVENTS], services: null, environments: null };
  }

  function started(store: Store, options: Partial<OutboxOptions> = {}): Outbox {
    const outbox = new Outbox({
      store,
      senders: { notification: notificationSender([channel()]), commit_status: commitStatusSender(() => null) },
      retry: RETRY,
      log: (message) => logged.push(message),
      ...options,
    });
    outboxes.push(outbox);
    outbox.start();
    return outbox;
  }

  /** The notification ids the receiver accepted, in order. */
  const delivered = () => receiver.requests.filter((request) => request.status === 200).map((request) => String(request.headers['x-slipway-delivery']));

  async function outcomes(store: Store) {
    return (await store.events.list({ types: ['notification.'] })).map((event) => ({ type: event.type, runId: event.runId, service: event.service, data: event.data as Record<string, unknown> }));
  }

  async function settledItem(store: Store): Promise<OutboxItem> {
    return until('the item to settle', async () => (await store.outbox.list()).find((item) => item.status !== 'pending'));
  }

  test('sends an item once, records it sent, and sleeps until the next enqueue wakes it', async () => {
    const store = await open();
    const outbox = started(store);
    await new Promise((resolve) => setTimeout(resolve, 30));
    const [item] = await outbox.enqueue([entry(12)]);
    const sent = await settledItem(store);
    assert.equal(sent.status, 'sent');
    assert.equal(sent.attempts, 1);
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.deepEqual(delivered(), [notification(12).id]);
    assert.deepEqual(await outcomes(store), [
      { type: 'notification.sent', runId: 12, service: 'payment', data: { event: 'run.failed', notificationId: notification(12).id, outboxId: item!.id, destination: 'hooks', attempts: 1 } },
    ]);
  });

  test('a 503 is retried with a doubling backoff until the receiver takes it', async () => {
    const times: number[] = [];
    receiver.answer = () => {
      times.push(Date.now());
      return times.length <= 2 ? { status: 503, body: 'busy' } : { status: 200 };
    };
    const store = await open();
    const outbox = started(store);
    await outbox.enqueue([entry(12)]);
    assert.equal((await settledItem(store)).status, 'sent');
    assert.deepEqual(receiver.requests.map((request) => request.status), [503, 503, 200]);
    // Each wait is the backoff, less up to 20% of jitter: 40 ms, then 80 ms.
    assert.ok(times[1]! - times[0]! >= 32, `first wait ${times[1]! - times[0]!} ms`);
    assert.ok(times[2]! - times[1]! >= 64, `second wait ${times[2]! - times[1]!} ms`);
    const events = await outcomes(store);
    assert.deepEqual(events.map(({ type, data }) => [type, data.attempts]), [
      ['notification.retrying', 1],
      ['notification.retrying', 2],
      ['notification.sent', 3],
    ]);
    assert.match(String(events[0]!.data.error), /answered 503 Service Unavailable: busy/);
    assert.ok(typeof events[0]!.data.nextAttemptAt === 'string');
    assert.deepEqual(logged, []);
  });

  test('a refusal for good (400) fails at once, without the secret the receiver echoes', async () => {
    receiver.answer = () => ({ status: 400, body: `invalid_payload: ${SECRET}` });
    const store = await open();
    const outbox = started(store);
    await outbox.enqueue([entry(12)]);
    const failed = await settledItem(store);
    assert.equal(failed.status, 'failed');
    assert.equal(receiver.requests.length, 1);
    const events = await outcomes(store);
    assert.deepEqual(events.map(({ type }) => type), ['notification.failed']);
    assert.match(String(events[0]!.data.error), /answered 400 Bad Request: invalid_payload: \[secret\]/);
    assert.equal(JSON.stringify(events).includes(SECRET) || JSON.stringify(failed).includes(SECRET), false);
    assert.equal(logged.length, 1);
    assert.match(logged[0]!, /^gave up sending run\.failed of payment #12 to hooks after 1 attempt: /);
  });

  test('a receiver that stays down is given up after maxAttempts', async () => {
    receiver.answer = () => ({ status: 503 });
    const store = await open();
    const outbox = started(store, { retry: { ...RETRY, initialDelayMs: 5, maxAttempts: 3 } });
    await outbox.enqueue([entry(12)]);
    assert.equal((await settledItem(store)).status, 'failed');
    assert.equal(receiver.requests.length, 3);
    assert.deepEqual((await outcomes(store)).map(({ type, data }) => [type, data.attempts]), [
      ['notification.retrying', 1],
      ['notification.retrying', 2],
      ['notification.failed', 3],
    ]);
  });

  test('stop() aborts an attempt in flight and leaves the item due at once for the next start', async () => {
    receiver.answer = () => 'hang';
    const path = join(dir, 'slipway.db');
    const first = await open(path);
    const outbox = started(first);
    await outbox.enqueue([entry(12)]);
    await until('the attempt to reach the receiver', () => receiver.requests.length === 1);
    const stoppedAt = Date.now();
    await outbox.stop();
    assert.ok(Date.now() - stoppedAt < 1_000, 'stop() does not wait out the attempt');
    const [left] = await first.outbox.list();
    assert.equal(left!.status, 'pending');
    assert.equal(left!.leaseUntil, null);
    assert.deepEqual(await outcomes(first), [], 'stopping is not the receiver failing');

    receiver.answer = () => ({ status: 200 });
    const second = await open(path);
    started(second);
    assert.equal((await settledItem(second)).status, 'sent');
    assert.deepEqual(delivered(), [notification(12).id]);
  });

  test('an item a killed server held is sent by another once the lease ends, not before', async () => {
    const path = join(dir, 'slipway.db');
    const store = await open(path);
    await store.outbox.enqueue([{ ...entry(12), at: new Date().toISOString() }]);
    // What a server killed mid-send leaves: the item claimed for a minute, never settled.
    const now = new Date();
    const [held] = await store.outbox.claim(now.toISOString(), new Date(now.getTime() + 60_000).toISOString(), 10);
    assert.ok(held);

    const early = started(await open(path));
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(receiver.requests.length, 0, 'the lease still holds');
    await early.stop();

    // A clock past the lease's end, rather than a minute of waiting.
    started(await open(path), { now: () => new Date(Date.now() + 61_000) });
    const sent = await settledItem(store);
    assert.equal(sent.status, 'sent');
    assert.equal(sent.attempts, 2, 'the killed attempt counts');
    assert.deepEqual(delivered(), [notification(12).id]);
  });

  test('two servers on one database never send an item twice', async () => {
    const path = join(dir, 'slipway.db');
    const [a, b] = [await open(path), await open(path)];
    const count = 40;
    await a.outbox.enqueue(Array.from({ length: count }, (_, index) => ({ ...entry(index + 1), at: new Date().toISOString() })));
    const sentBy = { a: 0, b: 0 };
    const counting = (server: 'a' | 'b'): OutboxSender => {
      const sender = notificationSender([channel()]);
      return { ...sender, send: (item, signal) => sender.send(item, signal).then(() => void (sentBy[server] += 1)) };
    };
    started(a, { concurrency: 4, senders: { notification: counting('a'), commit_status: commitStatusSender(() => null) } });
    started(b, { concurrency: 4, senders: { notification: counting('b'), commit_status: commitStatusSender(() => null) } });
    await until('every item to be sent', async () => (await a.outbox.list({ statuses: ['sent'] })).length === count, 15_000);
    const ids = delivered();
    assert.equal(ids.length, count);
    assert.equal(new Set(ids).size, count, 'no notification arrived twice');
    const sent = (await outcomes(a)).filter(({ type }) => type === 'notification.sent');
    assert.equal(sent.length, count, 'one outcome per item');
    assert.equal(sentBy.a + sentBy.b, count);
    assert.ok(sentBy.a > 0 && sentBy.b > 0, `both servers sent: ${JSON.stringify(sentBy)}`);
  });

  test('an item for a channel no longer configured fails for good', async () => {
    const store = await open();
    const outbox = started(store);
    await outbox.enqueue([{ ...entry(12), destination: 'removed' }]);
    const failed = await settledItem(store);
    assert.equal(failed.status, 'failed');
    assert.equal(failed.lastError, 'no notification channel is named removed');
    assert.equal(receiver.requests.length, 0);
  });
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
