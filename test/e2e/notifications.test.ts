// Notifications end to end: `notifications:` channels as slipway.yml gives them (secrets from
// the environment), bus events through the dispatcher into the outbox of a SQLite file, and the
// Outbox sending them to a real SMTP server and a real webhook receiver; then a restart that cut
// a notification's retries short, after which the receiver still gets it, once.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { Notifications } from '../../src/config/notifications.ts';
import type { Run } from '../../src/core/types.ts';
import { MemoryEventBus } from '../../src/events/bus.ts';
import { notificationSender } from '../../src/notifications/channels.ts';
import { NotificationDispatcher } from '../../src/notifications/dispatcher.ts';
import { Outbox } from '../../src/notifications/outbox.ts';
import { runFailed } from '../../src/notifiers/message.ts';
import { verifyWebhookSignature } from '../../src/notifiers/webhook/notifier.ts';
import { openSqliteStore } from '../../src/store/sqlite/store.ts';
import type { Store } from '../../src/store/store.ts';
import { commitStatusSender } from '../../src/triggers/commit-status.ts';
import { newRun } from '../support/records.ts';
import { startHttpReceiver, startSmtpReceiver, type HttpReceiver, type SmtpReceiver } from '../support/receivers.ts';
import { until } from '../support/wait.ts';

const SECRET = 'whsec-e2e-notifications';
const SMTP_USER = 'slipway-mailer';
const SMTP_PASS = 'mail-pass-71c2';
const PUBLIC_URL = 'https://ci.example.com';

describe('notifications end to end', () => {
  let dir: string;
  let path: string;
  let webhook: HttpReceiver;
  let smtp: SmtpReceiver;
  let notifications: Notifications;
  const stores: Store[] = [];
  const outboxes: Outbox[] = [];

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'slipway-notifications-'));
    path = join(dir, 'slipway.db');
    webhook = await startHttpReceiver();
    smtp = await startSmtpReceiver({ user: SMTP_USER, pass: SMTP_PASS });
    process.env.SLIPWAY_E2E_WEBHOOK_SECRET = SECRET;
    process.env.SLIPWAY_E2E_SMTP = `smtp://${SMTP_USER}:${SMTP_PASS}@${smtp.host}:${smtp.port}`;
    notifications = Notifications.parse({
      channels: [
        { name: 'ops-hook', type: 'webhook', url: `${webhook.origin}/slipway`, secret: { env: 'SLIPWAY_E2E_WEBHOOK_SECRET' } },
        { name: 'ops-mail', type: 'email', smtp: { env: 'SLIPWAY_E2E_SMTP' }, from: 'Slipway <ci@example.com>', to: ['ops@example.com'], events: ['run.failed', 'approval.waiting'] },
      ],
    });
  });
  afterEach(async () => {
    for (const outbox of outboxes.splice(0)) await outbox.stop();
    for (const store of stores.splice(0)) await store.close();
    await webhook.close();
    await smtp.close();
    delete process.env.SLIPWAY_E2E_WEBHOOK_SECRET;
    delete process.env.SLIPWAY_E2E_SMTP;
    rmSync(dir, { recursive: true, force: true });
  });

  async function open(): Promise<Store> {
    const store = await openSqliteStore(path);
    stores.push(store);
    return store;
  }

  function outboxOn(store: Store, retry = { initialDelayMs: 50, maxDelayMs: 500, maxAttempts: 6 }): Outbox {
    const outbox = new Outbox({ store, senders: { notification: notificationSender(notifications.channels), commit_status: commitStatusSender(() => null) }, retry });
    outboxes.push(outbox);
    return outbox;
  }

  async function failedRun(store: Store): Promise<Run> {
    const { run, stages } = await store.runs.create(newRun('payment'), [
      { position: 0, name: 'test', kind: 'command', command: 'make test', environment: null, timeoutMs: 60_000 },
    ]);
    await store.stages.update(stages[0]!.id, { status: 'failed' });
    return (await store.runs.update(run.id, { status: 'failed', reason: 'stage test exited with code 1', finishedAt: new Date().toISOString() }))!;
  }

  test('a failed run reaches the webhook, signed, and the mail server, addressed to ops', async () => {
    const store = await open();
    const bus = new MemoryEventBus();
    const outbox = outboxOn(store);
    outbox.start();
    const dispatcher = new NotificationDispatcher({ bus, store, outbox, config: { notifications, environments: {} }, publicUrl: () => PUBLIC_URL });
    dispatcher.start();
    const run = await failedRun(store);
    bus.publish({ type: 'run', data: run });
    await dispatcher.stop();

    await until('both channels to take it', () => webhook.accepted().length === 1 && smtp.mails.length === 1);
    const [request] = webhook.requests;
    assert.equal(request!.headers['x-slipway-event'], 'run.failed');
    assert.ok(verifyWebhookSignature(request!.body, String(request!.headers['x-slipway-signature-256']), SECRET));
    const body = JSON.parse(request!.body.toString()) as { title: string; link: string };
    assert.equal(body.title, `payment #${run.id} failed at stage test`);
    assert.equal(body.link, `${PUBLIC_URL}/runs/${run.id}`);

    const [mail] = smtp.mails;
    assert.equal(mail!.user, SMTP_USER);
    assert.deepEqual(mail!.to, ['ops@example.com']);
    assert.equal(mail!.parsed.subject, `payment #${run.id} failed at stage test`);
    assert.match(mail!.parsed.text ?? '', new RegExp(`${PUBLIC_URL}/runs/${run.id}`));

    const outcomes = await until('both outcomes in the event log', async () => {
      const events = await store.events.list({ types: ['notification.'] });
      return events.length === 2 ? events : null;
    });
    assert.deepEqual(outcomes.map((event) => [event.type, (event.data as { destination: string }).destination]).sort(), [
      ['notification.sent', 'ops-hook'],
      ['notification.sent', 'ops-mail'],
    ]);
    assert.equal(JSON.stringify(outcomes).includes(SMTP_PASS) || JSON.stringify(outcomes).includes(SECRET), false);
  });

  test('still sent after a restart that interrupted its retries, and only once', async () => {
    webhook.answer = () => (webhook.requests.length < 2 ? { status: 503, body: 'restarting' } : { status: 200, body: 'ok' });
    const before = await open();
    const first = outboxOn(before, { initialDelayMs: 400, maxDelayMs: 1_000, maxAttempts: 6 });
    first.start();
    const notification = runFailed({ run: { id: 7, service: 'payment', ref: 'main', commitSha: 'b'.repeat(40), reason: 'tests failed' }, failedStage: 'test', link: null, at: new Date().toISOString() });
    await first.enqueue([{ topic: 'notification', destination: 'ops-hook', key: null, payload: notification }]);
    await until('the first attempt to be refused', async () => (await before.events.list({ types: ['notification.retrying'] })).length === 1);

    // The server stops while the notification waits for its second attempt.
    await first.stop();
    await before.close();
    stores.splice(stores.indexOf(before), 1);
    assert.equal(webhook.accepted().length, 0);

    const after = await open();
    outboxOn(after, { initialDelayMs: 50, maxDelayMs: 500, maxAttempts: 6 }).start();
    await until('the receiver to take it', () => webhook.accepted().length === 1, 10_000);
    await until('the outcome in the event log', async () => (await after.events.list({ types: ['notification.sent'] })).length === 1);
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(webhook.accepted().length, 1, 'sent exactly once');
    assert.deepEqual(webhook.requests.map((request) => request.status), [503, 503, 200]);
    assert.deepEqual(webhook.requests.map((request) => request.headers['x-slipway-delivery']), [notification.id, notification.id, notification.id]);
    const events = await after.events.list({ types: ['notification.'] });
    assert.deepEqual(events.map((event) => [event.type, (event.data as { attempts: number }).attempts]), [
      ['notification.retrying', 1],
      ['notification.retrying', 2],
      ['notification.sent', 3],
    ]);
    const [item] = await after.outbox.list();
    assert.equal(item!.status, 'sent');
  });
});
