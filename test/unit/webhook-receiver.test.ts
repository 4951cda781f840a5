// The webhook receiver, its delivery inbox and the webhook secrets, on an in-memory store and
// real GitHub payloads (@octokit/webhooks-examples), signed here the way GitHub signs them.

import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, it } from 'node:test';
import type { WebhookDefinition } from '@octokit/webhooks-examples';
import type { Config } from '../../src/config/model.ts';
import type { Delivery } from '../../src/core/types.ts';
import type { Engine } from '../../src/engine/engine.ts';
import type { RepositoryRef, WebhookHeaders } from '../../src/forges/forge.ts';
import { GitHubForge } from '../../src/forges/github/forge.ts';
import { SecretBox } from '../../src/secrets/box.ts';
import { FakeSource } from '../../src/source/fake/source.ts';
import { openSqliteStore } from '../../src/store/sqlite/store.ts';
import type { NewDelivery, Store } from '../../src/store/store.ts';
import { DeliveryInbox, type DeliveryHandler } from '../../src/triggers/inbox.ts';
import { WebhookSecrets } from '../../src/triggers/secrets.ts';
import { TriggerService } from '../../src/triggers/trigger.ts';
import { deliveryHandler, deliveryTriage, WebhookReceiver } from '../../src/triggers/webhooks.ts';
import { parsedConfig } from '../support/config.ts';

const SECRET = 'forge-wide-secret';

// The package's JSON is its main entry; an import attribute would type it as a module, not the list.
const definitions = createRequire(import.meta.url)('@octokit/webhooks-examples') as WebhookDefinition[];

function example<N extends WebhookDefinition['name']>(name: N, matches: (example: WebhookDefinition<N>['examples'][number]) => boolean) {
  const definition = definitions.find((candidate) => candidate.name === name) as WebhookDefinition<N> | undefined;
  const found = definition?.examples.find(matches);
  assert.ok(found, `@octokit/webhooks-examples has a matching ${name} example`);
  return found;
}

/** A branch creation on Codertocat/Hello-World, and a ping from Octocoders/Hello-World. */
const branchCreated = example('push', (push) => push.ref === 'refs/heads/master' && push.created);
const ping = example('ping', (event) => event.repository !== undefined);
const issueOpened = example('issues', (event) => event.action === 'opened' && event.repository.full_name === 'Codertocat/Hello-World');

const HELLO: RepositoryRef = { fullName: 'Codertocat/Hello-World', urls: ['https://github.com/Codertocat/Hello-World.git'] };
const OCTO: RepositoryRef = { fullName: 'Octocoders/Hello-World', urls: ['git@github.com:Octocoders/Hello-World.git'] };

const CONFIG = `
pipeline:
  - stage: test
    run: make test
forges:
  github:
    secret: ${SECRET}
services:
  hello:
    repo: https://github.com/codertocat/hello-world
  octo:
    repo: git@github.com:Octocoders/Hello-World.git
  tools:
    repo: /srv/git/tools.git
`;

const config = (text = CONFIG): Config => parsedConfig(text);

/** A delivery as GitHub sends it: pretty JSON (so the bytes are not what JSON.stringify would give back), signed. */
function delivery(event: string, deliveryId: string, payload: object, secret = SECRET, extraHeaders: WebhookHeaders = {}) {
  const body = Buffer.from(`${JSON.stringify(payload, null, 2)}\n`);
  const headers: WebhookHeaders = {
    'content-type': 'application/json',
    'user-agent': 'GitHub-Hookshot/0e1b2d3',
    'x-github-event': event,
    'x-github-delivery': deliveryId,
    'x-hub-signature-256': `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`,
    ...extraHeaders,
  };
  return { headers, body };
}

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'slipway-webhooks-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function memoryStore(): Promise<Store> {
  const store = await openSqliteStore(':memory:');
  cleanups.push(() => store.close());
  return store;
}

interface Harness {
  receiver: WebhookReceiver;
  inbox: DeliveryInbox;
  secrets: WebhookSecrets;
  store: Store;
  box: SecretBox;
  handled: Delivery[];
}

/** `handle` defaults to recording each delivery and answering with its event. */
async function harness(options: { store?: Store; handle?: DeliveryHandler; config?: Config; triage?: (delivery: NewDelivery) => string | null } = {}): Promise<Harness> {
  const store = options.store ?? (await memoryStore());
  const box = SecretBox.open(join(tempDir(), 'secret.key'));
  const secrets = new WebhookSecrets(options.config ?? config(), store, box);
  await secrets.load();
  const handled: Delivery[] = [];
  const handle: DeliveryHandler =
    options.handle ??
    (async (delivery) => {
      handled.push(delivery);
      return `handled ${delivery.event}`;
    });
  const inbox = new DeliveryInbox(store, handle, { triage: options.triage });
  cleanups.push(() => inbox.stop());
  const receiver = new WebhookReceiver([new GitHubForge()], secrets, inbox, () => new Date('2024-05-01T12:00:00Z'));
  return { receiver, inbox, secrets, store, box, handled };
}

describe('webhook receiver', () => {
  it('stores an authentic delivery as received, then hands it to the handler', async () => {
    const h = await harness();
    const proofs = {
      'x-gitlab-token': 'not-to-keep',
      'X-Slipway-Token': 'not-to-keep-either',
      authorization: 'Bearer nope',
      'x-hub-signature': 'sha1=not-to-keep',
      'x-gitea-signature': 'not-to-keep',
      'x-forgejo-signature': 'not-to-keep',
      'x-gogs-signature': 'not-to-keep',
      cookie: 'session=not-to-keep',
      'proxy-authorization': 'Basic not-to-keep',
    };
    const { headers, body } = delivery('push', 'push-1', branchCreated, SECRET, proofs);
    const reception = await h.receiver.receive('github', headers, body);
    assert.equal(reception.kind, 'accepted');
    assert.ok(reception.kind === 'accepted');

    const stored = await h.store.deliveries.get(reception.delivery.id);
    assert.ok(stored);
    assert.equal(stored.forge, 'github');
    assert.equal(stored.deliveryId, 'push-1');
    assert.equal(stored.repository, 'Codertocat/Hello-World');
    assert.equal(stored.event, 'push');
    assert.equal(stored.receivedAt, '2024-05-01T12:00:00.000Z');
    assert.ok(Buffer.isBuffer(stored.body));
    assert.ok(stored.body.equals(body), 'the stored body is byte for byte what arrived');
    const parsed = stored.parsed as { kind: string; event: Record<string, unknown> };
    assert.equal(parsed.kind, 'event');
    assert.equal(parsed.event.kind, 'push');
    assert.equal(parsed.event.branch, 'master');
    assert.equal(parsed.event.after, branchCreated.after);
    assert.equal(parsed.event.created, true);
    assert.equal(parsed.event.deliveryId, 'push-1');
    assert.equal(stored.headers['x-github-event'], 'push');
    assert.equal(stored.headers['x-github-delivery'], 'push-1');
    // Tokens and signatures are proofs: kept with the body, a signature would let any reader replay it.
    for (const secretHeader of [...Object.keys(proofs).map((name) => name.toLowerCase()), 'x-hub-signature-256']) {
      assert.equal(stored.headers[secretHeader], undefined, secretHeader);
    }
    assert.ok(!JSON.stringify(stored.headers).includes('not-to-keep'));
    assert.ok(!JSON.stringify(stored.headers).includes(String(headers['x-hub-signature-256'])));
    assert.deepEqual(Object.keys(stored.headers).sort(), ['content-type', 'user-agent', 'x-github-delivery', 'x-github-event']);

    await h.inbox.idle();
    assert.deepEqual(h.handled.map((handled) => handled.id), [stored.id]);
    const processed = await h.store.deliveries.get(stored.id);
    assert.equal(processed?.status, 'processed');
    assert.equal(processed?.outcome, 'handled push');
    assert.ok(processed?.processedAt);
  });

  it('answers a repeated delivery without storing or handling it again', async () => {
    const h = await harness();
    const { headers, body } = delivery('push', 'push-1', branchCreated);
    assert.equal((await h.receiver.receive('github', headers, body)).kind, 'accepted');
    await h.inbox.idle();
    const again = await h.receiver.receive('github', headers, body);
    assert.deepEqual(again, { kind: 'repeated', deliveryId: 'push-1' });
    await h.inbox.idle();
    assert.equal((await h.store.deliveries.list()).length, 1);
    assert.equal(h.handled.length, 1);
  });

  it('answers a replayed body under a new delivery id as repeated, without storing or handling it again', async () => {
    const h = await harness();
    const first = delivery('push', 'push-1', branchCreated);
    assert.equal((await h.receiver.receive('github', first.headers, first.body)).kind, 'accepted');
    await h.inbox.idle();
    // The captured bytes and their signature, sent again under an id of the sender's choosing.
    const replayed = await h.receiver.receive('github', { ...first.headers, 'x-github-delivery': 'push-2' }, first.body);
    assert.deepEqual(replayed, { kind: 'repeated', deliveryId: 'push-2' });
    await h.inbox.idle();
    assert.deepEqual((await h.store.deliveries.list()).map((stored) => stored.deliveryId), ['push-1']);
    assert.equal(h.handled.length, 1);
  });

  it('refuses, stores nothing of and counts a delivery that names another repository than the one whose secret verified it', async () => {
    const h = await harness();
    // Signed with the secret Codertocat/Hello-World's deliveries are checked with, naming octo's repository as where to clone.
    const lying = { ...branchCreated, repository: { ...branchCreated.repository, clone_url: 'https://github.com/Octocoders/Hello-World.git' } };
    const { headers, body } = delivery('push', 'push-1', lying);
    const reception = await h.receiver.receive('github', headers, body);
    assert.ok(reception.kind === 'rejected');
    assert.equal(reception.error.code, 'WEBHOOK_REPOSITORY_MISMATCH');
    assert.equal(reception.error.status, 403);
    assert.match(reception.error.message, /^repository\.clone_url names octocoders\/hello-world: .*Codertocat\/Hello-World \(repository\.full_name\)/);
    await h.inbox.idle();
    assert.deepEqual(await h.store.deliveries.list(), []);
    assert.equal(h.handled.length, 0);
    assert.deepEqual(h.receiver.counts(), { 'github repository_mismatch': 1 });
  });

  it("binds deliveries to the forge's configured address", async () => {
    const h = await harness({ config: config(CONFIG.replace('  github:\n', '  github:\n    url: https://github.example.com\n')) });
    const { headers, body } = delivery('push', 'push-1', branchCreated);
    const reception = await h.receiver.receive('github', headers, body);
    assert.ok(reception.kind === 'rejected');
    assert.equal(reception.error.code, 'WEBHOOK_REPOSITORY_MISMATCH');
    assert.match(reception.error.message, /is on host github\.com, not github\.example\.com \(the forge's address is https:\/\/github\.example\.com\)/);
  });

  it('refuses a bad or missing signature, stores nothing, and counts it', async () => {
    const h = await harness();
    const forged = delivery('push', 'push-1', branchCreated, 'not-the-secret');
    const reception = await h.receiver.receive('github', forged.headers, forged.body);
    assert.equal(reception.kind, 'rejected');
    assert.ok(reception.kind === 'rejected');
    assert.equal(reception.error.code, 'SIGNATURE_INVALID');
    assert.equal(reception.error.status, 401);

    const unsigned = delivery('push', 'push-2', branchCreated);
    delete unsigned.headers['x-hub-signature-256'];
    const missing = await h.receiver.receive('github', unsigned.headers, unsigned.body);
    assert.ok(missing.kind === 'rejected');
    assert.equal(missing.error.code, 'SIGNATURE_INVALID');

    // The body was changed after signing.
    const signed = delivery('push', 'push-3', branchCreated);
    const tampered = Buffer.from(signed.body.toString('utf8').replace('"master"', '"main"'));
    const altered = await h.receiver.receive('github', signed.headers, tampered);
    assert.ok(altered.kind === 'rejected');
    assert.equal(altered.error.code, 'SIGNATURE_INVALID');

    await h.inbox.idle();
    assert.deepEqual(await h.store.deliveries.list(), []);
    assert.equal(h.handled.length, 0);
    assert.deepEqual(h.receiver.counts(), { 'github bad_signature': 3 });
  });

  it('refuses a repository no service is built from', async () => {
    const h = await harness();
    const stranger = { ...branchCreated, repository: { ...branchCreated.repository, full_name: 'acme/unknown', clone_url: 'https://github.com/acme/unknown.git', ssh_url: 'git@github.com:acme/unknown.git', git_url: 'git://github.com/acme/unknown.git', html_url: 'https://github.com/acme/unknown', url: 'https://github.com/acme/unknown' } };
    const { headers, body } = delivery('push', 'push-1', stranger);
    const reception = await h.receiver.receive('github', headers, body);
    assert.ok(reception.kind === 'rejected');
    assert.equal(reception.error.code, 'REPOSITORY_NOT_FOUND');
    assert.match(reception.error.message, /acme\/unknown/);
    assert.deepEqual(await h.store.deliveries.list(), []);
    assert.deepEqual(h.receiver.counts(), { 'github unknown_repository': 1 });
  });

  it('refuses a malformed body', async () => {
    const h = await harness();
    const notJson = await h.receiver.receive('github', delivery('push', 'push-1', {}).headers, Buffer.from('{"ref": '));
    assert.ok(notJson.kind === 'rejected');
    assert.equal(notJson.error.code, 'WEBHOOK_MALFORMED');

    // Authentic, but the push lacks the commit it moved to.
    const { after: _after, ...incomplete } = branchCreated;
    const { headers, body } = delivery('push', 'push-2', incomplete);
    const missingField = await h.receiver.receive('github', headers, body);
    assert.ok(missingField.kind === 'rejected');
    assert.equal(missingField.error.code, 'WEBHOOK_MALFORMED');
    assert.deepEqual(await h.store.deliveries.list(), []);
    assert.deepEqual(h.receiver.counts(), { 'github malformed': 2 });
  });

  it('refuses a forge it does not hear from, naming those it does', async () => {
    const h = await harness();
    const { headers, body } = delivery('push', 'push-1', branchCreated);
    const reception = await h.receiver.receive('bitbucket', headers, body);
    assert.ok(reception.kind === 'rejected');
    assert.equal(reception.error.code, 'FORGE_NOT_FOUND');
    assert.equal(reception.error.message, 'no webhook endpoint for bitbucket; Slipway hears from github');
    assert.deepEqual(await h.store.deliveries.list(), []);
  });

  it('stores an authentic event it does not act on as ignored', async () => {
    const h = await harness();
    const { headers, body } = delivery('issues', 'issue-1', issueOpened);
    const reception = await h.receiver.receive('github', headers, body);
    assert.ok(reception.kind === 'accepted');
    assert.equal(reception.delivery.event, 'ignored');
    assert.deepEqual(reception.delivery.parsed, { kind: 'ignored', reason: 'issues event' });
  });

  it('commits a burst of 200 deliveries in a few transactions and handles them in order per repository', async () => {
    const store = await memoryStore();
    const recordCalls: number[] = [];
    const countingRecords = (inner: Store): Store => ({
      ...inner,
      deliveries: {
        ...inner.deliveries,
        record: (deliveries: NewDelivery[]) => {
          recordCalls.push(deliveries.length);
          return inner.deliveries.record(deliveries);
        },
      },
    });
    const counting: Store = { ...countingRecords(store), transaction: (fn) => store.transaction((tx) => fn(countingRecords(tx))) };
    const order = new Map<string, string[]>();
    const busy = new Map<string, number>();
    let overlapped = false;
    const h = await harness({
      store: counting,
      handle: async (stored) => {
        busy.set(stored.repository, (busy.get(stored.repository) ?? 0) + 1);
        if (busy.get(stored.repository)! > 1) overlapped = true;
        // Yield, so deliveries of a repository would overtake each other if nothing kept them in line.
        for (let i = 0; i < (stored.id * 7) % 5; i++) await new Promise((resolve) => setImmediate(resolve));
        order.set(stored.repository, [...(order.get(stored.repository) ?? []), stored.deliveryId]);
        busy.set(stored.repository, busy.get(stored.repository)! - 1);
        return 'ok';
      },
    });

    const sent = Array.from({ length: 200 }, (_, i) =>
      // Bodies differ as real ones do (a repeated body is a replay, whatever its delivery id).
      i % 2 === 0 ? delivery('push', `push-${i}`, { ...branchCreated, hook_sequence: i }) : delivery('ping', `ping-${i}`, { ...ping, hook_sequence: i }),
    );
    const receptions = await Promise.all(sent.map(({ headers, body }) => h.receiver.receive('github', headers, body)));
    assert.ok(receptions.every((reception) => reception.kind === 'accepted'));
    assert.equal(recordCalls.reduce((sum, size) => sum + size, 0), 200);
    assert.ok(recordCalls.length <= 3, `200 deliveries took ${recordCalls.length} transactions (${recordCalls.join(', ')})`);

    await h.inbox.idle();
    assert.equal(overlapped, false, 'two deliveries of one repository were handled at once');
    const ids = (prefix: string) => sent.map((_, i) => `${prefix}-${i}`).filter((_, i) => (prefix === 'push' ? i % 2 === 0 : i % 2 === 1));
    assert.deepEqual(order.get('Codertocat/Hello-World'), ids('push'));
    assert.deepEqual(order.get('Octocoders/Hello-World'), ids('ping'));
    const statuses = new Set((await store.deliveries.list({ limit: 1000 })).map((stored) => stored.status));
    assert.deepEqual([...statuses], ['processed']);
  });

  it('marks a delivery failed, with the reason, when handling it fails', async () => {
    const h = await harness({
      handle: async () => {
        throw new Error('the engine refused: disk full');
      },
    });
    const { headers, body } = delivery('push', 'push-1', branchCreated);
    const reception = await h.receiver.receive('github', headers, body);
    assert.ok(reception.kind === 'accepted');
    await h.inbox.idle();
    const stored = await h.store.deliveries.get(reception.delivery.id);
    assert.equal(stored?.status, 'failed');
    assert.equal(stored?.outcome, 'the engine refused: disk full');
    assert.ok(stored?.processedAt);
  });

  it('hands a delivery through the trigger service and keeps its one-sentence outcome', async () => {
    const store = await memoryStore();
    const c = config();
    const engine: Pick<Engine, 'config' | 'startRun' | 'cancelLane'> = {
      config: c,
      startRun: async () => assert.fail('a ping starts no run'),
      cancelLane: async () => assert.fail('a ping cancels nothing'),
    };
    const triggers = new TriggerService({ engine, store, source: new FakeSource() });
    const h = await harness({ store, handle: deliveryHandler(triggers), config: c });
    const pinged = delivery('ping', 'ping-1', ping);
    const issue = delivery('issues', 'issue-1', issueOpened);
    const receptions = [await h.receiver.receive('github', pinged.headers, pinged.body), await h.receiver.receive('github', issue.headers, issue.body)];
    await h.inbox.idle();
    const outcomes = await Promise.all(receptions.map(async (reception) => (reception.kind === 'accepted' ? (await store.deliveries.get(reception.delivery.id))?.outcome : null)));
    assert.deepEqual(outcomes, ['ping answered', 'ignored: issues event']);
  });

  it('stores a delivery known to start nothing processed at once, with why, and never hands it over', async () => {
    const store = await memoryStore();
    const c = config();
    const engine: Pick<Engine, 'config' | 'startRun' | 'cancelLane'> = {
      config: c,
      startRun: async () => assert.fail('nothing builds master'),
      cancelLane: async () => assert.fail('nothing builds master'),
    };
    const h = await harness({ store, config: c, triage: deliveryTriage(new TriggerService({ engine, store, source: new FakeSource() })) });
    const sent = [delivery('push', 'push-1', branchCreated), delivery('issues', 'issue-1', issueOpened)];
    const receptions = await Promise.all(sent.map(({ headers, body }) => h.receiver.receive('github', headers, body)));
    await h.inbox.idle();
    assert.deepEqual(h.handled, []);
    const stored = await Promise.all(receptions.map(async (reception) => (reception.kind === 'accepted' ? store.deliveries.get(reception.delivery.id) : null)));
    assert.deepEqual(
      stored.map((record) => [record?.status, record?.outcome, record?.processedAt === record?.receivedAt]),
      [
        ['processed', 'no service builds branch master of Codertocat/Hello-World', true],
        ['processed', 'ignored: issues event', true],
      ],
    );
  });
});

describe('delivery inbox: recovery', () => {
  it('hands over the deliveries a stopped server left received, oldest first, and only those', async () => {
    const store = await memoryStore();
    const stored = await store.deliveries.record(
      ['push-1', 'push-2', 'push-3'].map((deliveryId) => ({
        forge: 'github',
        deliveryId,
        repository: 'Codertocat/Hello-World',
        event: 'push',
        parsed: { kind: 'ignored', reason: 'test' },
        headers: {},
        body: Buffer.from('{}'),
        bodyDigest: `sha256:${deliveryId}`,
        receivedAt: '2024-05-01T12:00:00.000Z',
      })),
    );
    await store.deliveries.updateMany([{ id: stored[1]!.id, patch: { status: 'processed', outcome: 'done before the restart', processedAt: '2024-05-01T12:00:01.000Z' } }]);

    const handled: string[] = [];
    const inbox = new DeliveryInbox(store, async (delivery) => {
      handled.push(delivery.deliveryId);
      return 'handled after the restart';
    });
    cleanups.push(() => inbox.stop());
    assert.equal(await inbox.start(), 2);
    await inbox.idle();
    assert.deepEqual(handled, ['push-1', 'push-3']);
    const after = await store.deliveries.list();
    assert.deepEqual(
      after.map((delivery) => [delivery.deliveryId, delivery.status, delivery.outcome]),
      [
        ['push-3', 'processed', 'handled after the restart'],
        ['push-2', 'processed', 'done before the restart'],
        ['push-1', 'processed', 'handled after the restart'],
      ],
    );
    // Nothing is left to hand over a second time.
    assert.equal(await inbox.start(), 0);
  });
});

describe('webhook secrets', () => {
  const PRECEDENCE = `
pipeline:
  - stage: test
    run: make test
forges:
  github:
    secret: forge-wide
    repositories:
      codertocat/hello-world:
        secret: repository-own
services:
  hello:
    repo: https://github.com/Codertocat/Hello-World.git
  octo:
    repo: https://github.com/Octocoders/Hello-World.git
  tools:
    repo: /srv/git/tools.git
  app:
    repo: ssh://git@git.internal/srv/git/app.git
`;

  it("takes a repository's own config secret over an API secret over the forge-wide one", async () => {
    const h = await harness({ config: config(PRECEDENCE) });
    assert.equal(h.secrets.secretFor('github', HELLO), 'repository-own');
    assert.equal(h.secrets.secretFor('github', OCTO), 'forge-wide');

    await h.secrets.set('github', 'Codertocat/Hello-World', 'set-through-api');
    await h.secrets.set('github', 'octocoders/hello-world', 'set-through-api');
    assert.equal(h.secrets.secretFor('github', HELLO), 'repository-own');
    // Forges spell names case-insensitively; so does the lookup.
    assert.equal(h.secrets.secretFor('github', OCTO), 'set-through-api');

    // The receiver checks signatures with that secret, and no longer with the forge-wide one.
    const signedWithApi = delivery('ping', 'ping-1', ping, 'set-through-api');
    assert.equal((await h.receiver.receive('github', signedWithApi.headers, signedWithApi.body)).kind, 'accepted');
    const signedForgeWide = delivery('ping', 'ping-2', ping, 'forge-wide');
    const refused = await h.receiver.receive('github', signedForgeWide.headers, signedForgeWide.body);
    assert.ok(refused.kind === 'rejected');
    assert.equal(refused.error.code, 'SIGNATURE_INVALID');

    assert.equal(await h.secrets.remove('github', 'Octocoders/Hello-World'), true);
    assert.equal(h.secrets.secretFor('github', OCTO), 'forge-wide');
  });

  it('answers null for a repository no service is built from, even with a forge-wide secret', async () => {
    const h = await harness({ config: config(PRECEDENCE) });
    await h.secrets.set('github', 'acme/unknown', 'set-through-api');
    assert.equal(h.secrets.secretFor('github', { fullName: 'acme/unknown', urls: ['https://github.com/acme/unknown.git'] }), null);
  });

  it('answers null for a forge with no secret at all', async () => {
    const h = await harness({ config: config(PRECEDENCE) });
    assert.equal(h.secrets.secretFor('gitea', { fullName: 'Octocoders/Hello-World', urls: OCTO.urls.concat('https://github.com/Octocoders/Hello-World') }), null);
  });

  it('finds a plain git repository by any spelling of its path', async () => {
    const h = await harness({ config: config(PRECEDENCE) });
    const tools: RepositoryRef = { fullName: 'tools', urls: ['file:///srv/git/tools'] };
    assert.equal(h.secrets.secretFor('git', tools), null);
    await h.secrets.set('git', '/srv/git/tools.git/', 'hook-token');
    assert.equal(h.secrets.secretFor('git', tools), 'hook-token');
  });

  it('finds a plain git repository served over ssh by any spelling of its URL, also after a restart', async () => {
    const dir = tempDir();
    const keyFile = join(dir, 'secret.key');
    const path = join(dir, 'slipway.db');
    const c = config(PRECEDENCE);
    const app: RepositoryRef = { fullName: 'app', urls: ['git@git.internal:srv/git/app'] };

    const before = await openSqliteStore(path);
    const secrets = new WebhookSecrets(c, before, SecretBox.open(keyFile));
    await secrets.set('git', 'ssh://git@git.internal/srv/git/app.git', 'hook-token');
    assert.equal(secrets.secretFor('git', app), 'hook-token');
    await before.close();

    const after = await openSqliteStore(path);
    cleanups.push(() => after.close());
    const reopened = new WebhookSecrets(c, after, SecretBox.open(keyFile));
    await reopened.load();
    assert.equal(reopened.secretFor('git', app), 'hook-token');
    assert.equal(await reopened.remove('git', 'git@git.internal:srv/git/app.git'), true);
    assert.equal(reopened.secretFor('git', app), null);
  });

  it('seals API secrets in the store and reads them back after a restart', async () => {
    const dir = tempDir();
    const keyFile = join(dir, 'secret.key');
    const path = join(dir, 'slipway.db');
    const c = config(PRECEDENCE);

    const before = await openSqliteStore(path);
    await new WebhookSecrets(c, before, SecretBox.open(keyFile)).set('github', 'Octocoders/Hello-World', 'plain-text-secret');
    const sealed = await before.webhookSecrets.get('github', 'Octocoders/Hello-World');
    assert.ok(sealed);
    assert.ok(!sealed.includes('plain-text-secret'));
    assert.match(sealed, /^v2\.[0-9a-f]{16}\./);
    await before.close();

    const after = await openSqliteStore(path);
    cleanups.push(() => after.close());
    const reopened = new WebhookSecrets(c, after, SecretBox.open(keyFile));
    assert.equal(reopened.secretFor('github', OCTO), 'forge-wide', 'nothing is read before load()');
    await reopened.load();
    assert.equal(reopened.secretFor('github', OCTO), 'plain-text-secret');
    assert.deepEqual(
      (await reopened.list()).map((entry) => [entry.forge, entry.repository, entry.source]),
      [
        ['github', 'Octocoders/Hello-World', 'api'],
        ['github', 'codertocat/hello-world', 'config'],
        ['github', '*', 'config (forge-wide)'],
      ],
    );

    // Under another data folder's key the secret cannot be unsealed: reported, not used.
    const logged: string[] = [];
    const otherKey = new WebhookSecrets(c, after, SecretBox.open(join(dir, 'other.key')));
    await otherKey.load((message) => logged.push(message));
    assert.equal(otherKey.secretFor('github', OCTO), 'forge-wide');
    assert.equal(logged.length, 1);
    assert.match(logged[0]!, /Octocoders\/Hello-World cannot be unsealed/);
  });

  it('keeps one API secret per repository however its name is cased, across a restart', async () => {
    const dir = tempDir();
    const keyFile = join(dir, 'secret.key');
    const path = join(dir, 'slipway.db');
    const c = config(PRECEDENCE);

    const before = await openSqliteStore(path);
    const secrets = new WebhookSecrets(c, before, SecretBox.open(keyFile));
    await secrets.set('github', 'octocoders/hello-world', 'first');
    await secrets.set('github', 'Octocoders/Hello-World', 'second');
    assert.equal(secrets.secretFor('github', OCTO), 'second');
    assert.equal((await before.webhookSecrets.list()).length, 1);
    await before.close();

    const after = await openSqliteStore(path);
    cleanups.push(() => after.close());
    const reopened = new WebhookSecrets(c, after, SecretBox.open(keyFile));
    await reopened.load();
    assert.equal(reopened.secretFor('github', OCTO), 'second');

    // Removed under any casing, it stays removed after a restart.
    assert.equal(await reopened.remove('github', 'OCTOCODERS/hello-world'), true);
    const again = new WebhookSecrets(c, after, SecretBox.open(keyFile));
    await again.load();
    assert.equal(again.secretFor('github', OCTO), 'forge-wide');
  });
});
