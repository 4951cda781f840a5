// GET /api/notification-channels through the real app: each channel of slipway.yml with where it
// sends (no secret of its URL or SMTP address), what it listens to, and its recent outcomes from
// the outbox; admins only.

import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { ApiError, type SlipwayClient } from '../../src/client/client.ts';
import type { Store } from '../../src/store/store.ts';
import { storeApp } from '../support/api-app.ts';
import { parsedConfig } from '../support/config.ts';

const CONFIG = parsedConfig(
  [
    'pipeline:',
    '  - stage: test',
    '    run: make test',
    'services:',
    '  api:',
    '    repo: /repos/api.git',
    'notifications:',
    '  channels:',
    '    - name: team',
    '      type: slack',
    '      url: https://hooks.slack.com/services/T000/B000/very-secret-path',
    '      channel: "#deploys"',
    '      events: [run.failed]',
    '    - name: audit',
    '      type: webhook',
    '      url: https://hooks.example.com/in?token=secret-query',
    '      secret: hmac-key-secret',
    '    - name: mail',
    '      type: email',
    '      smtp: smtp://ci:mail-password@mail.example.com:587',
    '      from: ci@example.com',
    '      to: [ops@example.com]',
    '      services: [api]',
    '',
  ].join('\n'),
);

let store: Store;
let admin: SlipwayClient;
let viewer: SlipwayClient;

before(async () => {
  const served = await storeApp(CONFIG);
  ({ store, admin } = served);
  viewer = await served.userClient('vera', 'deployer');
});

describe('GET /api/notification-channels', () => {
  it('lists each channel with where it sends, never a secret', async () => {
    const channels = await admin.notificationChannels();
    assert.deepEqual(
      channels.map(({ name, type, target, services }) => ({ name, type, target, services })),
      [
        { name: 'team', type: 'slack', target: 'Slack via hooks.slack.com to #deploys', services: null },
        { name: 'audit', type: 'webhook', target: 'POST to https://hooks.example.com', services: null },
        { name: 'mail', type: 'email', target: 'e-mail to ops@example.com from ci@example.com via mail.example.com:587', services: ['api'] },
      ],
    );
    assert.deepEqual(channels[0]!.events, ['run.failed']);
    const text = JSON.stringify(channels);
    for (const secret of ['very-secret-path', 'secret-query', 'hmac-key-secret', 'mail-password']) assert.doesNotMatch(text, new RegExp(secret));
  });

  it('counts each channel\'s recent notifications by outcome, with the last error', async () => {
    const at = '2026-01-01T00:00:00.000Z';
    const [sent, failing, pending] = await store.outbox.enqueue([
      { topic: 'notification', destination: 'team', key: null, payload: {}, at },
      { topic: 'notification', destination: 'team', key: null, payload: {}, at },
      { topic: 'notification', destination: 'team', key: null, payload: {}, at },
    ]);
    assert.equal((await store.outbox.claim(at, '2026-01-01T00:01:00.000Z', 10)).length, 3, 'a sender holds all three');
    await store.outbox.settle(sent!.id, { status: 'sent', at: '2026-01-01T00:00:05.000Z' });
    await store.outbox.settle(failing!.id, { status: 'failed', at, error: 'Slack answered 404: no_service' });
    await store.outbox.settle(pending!.id, { status: 'pending', nextAttemptAt: at, error: 'connection reset' });
    const team = (await admin.notificationChannels()).find((channel) => channel.name === 'team')!;
    assert.deepEqual(team.recent, { sent: 1, pending: 1, failed: 1 });
    assert.equal(team.lastSentAt, '2026-01-01T00:00:05.000Z');
    assert.equal(team.lastError, 'connection reset');
  });

  it('is for admins only', async () => {
    await assert.rejects(viewer.notificationChannels(), (error: unknown) => error instanceof ApiError && error.status === 403);
  });
});
