// NotificationDispatcher: run, approval and deployment changes on a real MemoryEventBus become
// notification items in the real SQLite store's outbox, one per channel that wants them (its
// events, services and environments), with the approvers' addresses for approval requests.

import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { Notifications } from '../../src/config/notifications.ts';
import type { Deployment, Role, Run } from '../../src/core/types.ts';
import type { ApprovalPolicy } from '../../src/delivery/approval-policy.ts';
import { MemoryEventBus } from '../../src/events/bus.ts';
import { notificationSender } from '../../src/notifications/channels.ts';
import { NotificationDispatcher } from '../../src/notifications/dispatcher.ts';
import { Outbox } from '../../src/notifications/outbox.ts';
import type { Notification } from '../../src/notifiers/notifier.ts';
import { openSqliteStore } from '../../src/store/sqlite/store.ts';
import type { NewRun, Store } from '../../src/store/store.ts';
import { commitStatusSender } from '../../src/triggers/commit-status.ts';
import { deploymentRecord, newRun } from '../support/records.ts';

const AT = '2024-05-01T10:00:00.000Z';
const DIGEST = 'sha256:9b2f6c8d1e4a7b3c5d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c';
const POLICY: ApprovalPolicy = { rules: [{ roles: ['deployer'], users: [], count: 1 }], expiresMs: 3_600_000, selfApproval: false, keepOlder: false };

const notifications = Notifications.parse({
  channels: [
    { name: 'everything', type: 'webhook', url: 'http://127.0.0.1:9/everything', secret: 's' },
    { name: 'production', type: 'slack', url: 'http://127.0.0.1:9/production', environments: ['production'] },
    { name: 'payment-failures', type: 'email', smtp: 'smtp://127.0.0.1:9', from: 'ci@example.com', events: ['run.failed'], services: ['payment'] },
  ],
});

describe('NotificationDispatcher', () => {
  let store: Store;
  let bus: MemoryEventBus;
  let dispatcher: NotificationDispatcher;
  let logged: string[];

  beforeEach(async () => {
    store = await openSqliteStore(':memory:');
    bus = new MemoryEventBus();
    logged = [];
    dispatcher = dispatcherOn(store);
    dispatcher.start();
  });
  afterEach(async () => {
    await dispatcher.stop();
    await store.close();
  });

  /** A dispatcher writing to an outbox that is not started: what it stores stays there to be read. */
  function dispatcherOn(outboxStore: Store, channels = notifications): NotificationDispatcher {
    const outbox = new Outbox({ store: outboxStore, senders: { notification: notificationSender(channels.channels), commit_status: commitStatusSender(() => null) } });
    return new NotificationDispatcher({
      bus,
      store,
      outbox,
      config: { notifications: channels, environments: { production: { approval: POLICY }, staging: {} } },
      publicUrl: () => 'https://ci.example.com/',
      log: (message) => logged.push(message),
    });
  }

  /** What was stored for each channel, in order: [channel, notification]. */
  async function stored(): Promise<Array<[string, Notification]>> {
    await dispatcher.idle();
    const items = await store.outbox.list({ topic: 'notification' });
    return items.reverse().map((item) => [item.destination, item.payload as Notification]);
  }

  async function events(): Promise<Array<[string, string]>> {
    return (await stored()).map(([channel, notification]) => [channel, notification.event]);
  }

  async function finishedRun(status: Run['status'], overrides: Partial<NewRun> = {}, failedStage: string | null = null): Promise<Run> {
    const { run, stages } = await store.runs.create(newRun(overrides.service ?? 'payment', overrides), [
      { position: 0, name: 'checkout', kind: 'checkout', command: null, environment: null, timeoutMs: 60_000 },
      { position: 1, name: 'test', kind: 'command', command: 'make test', environment: null, timeoutMs: 60_000 },
    ]);
    for (const stage of stages) await store.stages.update(stage.id, { status: stage.name === failedStage ? 'failed' : 'succeeded' });
    return (await store.runs.update(run.id, { status, finishedAt: AT, reason: failedStage ? `stage ${failedStage} exited with code 1` : null }))!;
  }

  async function release(run: Run) {
    return store.releases.create({ service: run.service, commitSha: run.commitSha, image: `127.0.0.1:5000/${run.service}:x`, digest: DIGEST, tag: null, lane: run.lane, runId: run.id });
  }

  async function user(name: string, role: Role, email: string | null) {
    await store.users.create({ name, role, passwordHash: null, email });
  }

  function deployment(overrides: Partial<Deployment>): Deployment {
    return deploymentRecord(1, 1, AT, { url: 'http://127.0.0.1:41000', ...overrides });
  }

  test('a failed run goes to the channels taking run.failed for its service, with the stage it failed at', async () => {
    const run = await finishedRun('failed', {}, 'test');
    bus.publish({ type: 'run', data: run });
    const items = await stored();
    assert.deepEqual(items.map(([channel]) => channel), ['everything', 'payment-failures'], 'a channel for one environment hears of no run failure');
    const [, notification] = items[0]!;
    assert.equal(notification.title, `payment #${run.id} failed at stage test`);
    assert.equal(notification.link, `https://ci.example.com/runs/${run.id}`);
    assert.equal(notification.at, AT);
    assert.deepEqual(items[1]![1], notification);

    bus.publish({ type: 'run', data: await finishedRun('failed', { service: 'billing' }, 'test') });
    assert.deepEqual((await events()).slice(2), [['everything', 'run.failed']], 'billing is not payment-failures\' service');
  });

  test('runs on their way, cancelled or rejected notify nobody', async () => {
    for (const status of ['pending', 'running', 'waiting', 'cancelled', 'rejected'] as const) {
      bus.publish({ type: 'run', data: await finishedRun(status) });
    }
    assert.deepEqual(await stored(), []);
  });

  test('a success after a failure in the same lane is run.fixed; after a success, or another lane\'s failure, it is nothing', async () => {
    const failed = await finishedRun('failed', {}, 'test');
    await finishedRun('cancelled');
    const fixed = await finishedRun('succeeded');
    bus.publish({ type: 'run', data: fixed });
    bus.publish({ type: 'run', data: await finishedRun('succeeded') });
    await finishedRun('failed', { lane: 'feature' }, 'test');
    bus.publish({ type: 'run', data: await finishedRun('succeeded') });
    const items = await stored();
    assert.deepEqual(items.map(([channel, notification]) => [channel, notification.event, notification.runId]), [['everything', 'run.fixed', fixed.id]]);
    assert.match(items[0]![1].text, new RegExp(`the run before it, #${failed.id}, had failed`));
  });

  test('an approval request goes to the approvers that may approve, with a link to approve', async () => {
    const run = await finishedRun('waiting', { trigger: { kind: 'manual', by: 'dave' } });
    const built = await release(run);
    await user('alice', 'deployer', 'alice@example.com');
    await user('bob', 'developer', 'bob@example.com');
    await user('carol', 'admin', null);
    await user('dave', 'deployer', 'dave@example.com');
    bus.publish({
      type: 'approval',
      data: { runId: run.id, stageId: 1, service: 'payment', environment: 'production', releaseId: built.id, detail: '1 approval from role deployer or above (none given yet)', expiresAt: '2024-05-01T11:00:00.000Z', requestedAt: AT },
    });
    const items = await stored();
    assert.deepEqual(items.map(([channel]) => channel), ['everything', 'production']);
    const [, notification] = items[0]!;
    assert.equal(notification.event, 'approval.waiting');
    assert.deepEqual(notification.recipients, ['alice@example.com'], 'bob may not, carol has no address, dave started the run');
    assert.equal(notification.link, `https://ci.example.com/runs/${run.id}/approval`);
    assert.equal(notification.at, AT);
    assert.match(notification.text, /waiting for 1 approval from role deployer or above/);
  });

  test('an expired run says which approval lapsed, from its request in the event log', async () => {
    const run = await finishedRun('expired');
    const built = await release(run);
    await store.events.append({ type: 'approval.requested', runId: run.id, service: run.service, environment: 'production', data: { releaseId: built.id, waitingFor: '1 approval from role deployer or above (none given yet)' } });
    bus.publish({ type: 'run', data: run });
    const items = await stored();
    assert.deepEqual(items.map(([channel, notification]) => [channel, notification.event]), [
      ['everything', 'approval.expired'],
      ['production', 'approval.expired'],
    ]);
    assert.equal(items[0]![1].title, `payment #${run.id}: the approval to enter production expired`);
    assert.match(items[0]![1].text, new RegExp(`release #${built.id} was not approved in time`));
  });

  test('a deployment that succeeded is deployed; a rollback is rolled_back with who and why; one in progress is nothing', async () => {
    const run = await finishedRun('succeeded');
    const built = await release(run);
    bus.publish({ type: 'deployment', data: deployment({ releaseId: built.id, runId: run.id, status: 'in_progress', finishedAt: null }) });
    bus.publish({ type: 'deployment', data: deployment({ releaseId: built.id, runId: run.id }) });
    bus.publish({ type: 'deployment', data: deployment({ releaseId: built.id, runId: run.id, environment: 'production' }) });
    bus.publish({ type: 'deployment', data: deployment({ releaseId: 3, previousReleaseId: 4, runId: null, environment: 'production', kind: 'rollback', actor: 'alice', note: 'checkout is broken' }) });
    const items = await stored();
    assert.deepEqual(items.map(([channel, notification]) => [channel, notification.event, notification.environment]), [
      ['everything', 'deployed', 'staging'],
      ['everything', 'deployed', 'production'],
      ['production', 'deployed', 'production'],
      ['everything', 'rolled_back', 'production'],
      ['production', 'rolled_back', 'production'],
    ]);
    assert.equal(items[0]![1].title, `payment release #${built.id} is live in staging`);
    assert.equal(items[3]![1].title, 'payment in production was rolled back from release #4 to #3');
    assert.equal(items[3]![1].text, 'by alice: checkout is broken');
    assert.equal(items[3]![1].link, null, 'no run made it');
  });

  test('a deployment the engine rolled back (its bake or smoke test failed) is rolled_back automatically, with why', async () => {
    const run = await finishedRun('failed');
    const reason = 'the post-deploy command "./smoke-test" exited with code 1';
    bus.publish({ type: 'deployment', data: deployment({ releaseId: 5, previousReleaseId: 4, runId: run.id, environment: 'production', status: 'rolled_back', reason }) });
    // A first deploy has nothing to go back to: it fails instead, and a rolled_back without a previous release says nothing.
    bus.publish({ type: 'deployment', data: deployment({ releaseId: 6, previousReleaseId: null, runId: run.id, environment: 'production', status: 'rolled_back', reason }) });
    const items = await stored();
    assert.deepEqual(items.map(([channel, notification]) => [channel, notification.event, notification.environment]), [
      ['everything', 'rolled_back', 'production'],
      ['production', 'rolled_back', 'production'],
    ]);
    const [, notification] = items[0]!;
    assert.equal(notification.title, 'payment in production was rolled back from release #5 to #4');
    assert.equal(notification.text, `automatically: ${reason}`);
    assert.equal(notification.link, `https://ci.example.com/runs/${run.id}`);
  });

  test('the same notification heard twice before it is sent is stored once per channel', async () => {
    const run = await finishedRun('failed', {}, 'test');
    bus.publish({ type: 'run', data: run });
    bus.publish({ type: 'run', data: run });
    assert.deepEqual(await events(), [
      ['everything', 'run.failed'],
      ['payment-failures', 'run.failed'],
    ]);
  });

  test('a store that fails is logged, never thrown into publish', async () => {
    const broken = await openSqliteStore(':memory:');
    await broken.close();
    await dispatcher.stop();
    dispatcher = dispatcherOn(broken);
    dispatcher.start();
    const run = await finishedRun('failed', {}, 'test');
    bus.publish({ type: 'run', data: run });
    await dispatcher.idle();
    assert.equal(logged.length, 1);
    assert.match(logged[0]!, /^notifications: run event: /);
  });

  test('without channels nothing listens', async () => {
    await dispatcher.stop();
    dispatcher = dispatcherOn(store, Notifications.parse({}));
    dispatcher.start();
    bus.publish({ type: 'run', data: await finishedRun('failed', {}, 'test') });
    assert.deepEqual(await stored(), []);
  });
});
