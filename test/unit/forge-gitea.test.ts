// The Gitea adapter (also Forgejo's) on Gitea payloads (test/fixtures/gitea, README there says
// which are Gitea's documented example and which are reconstructed). The push is sent as its
// file's bytes; the other push cases are that push with the fields Gitea sets for them changed.

import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import type { RepositoryRef, WebhookHeaders, WebhookResult } from '../../src/forges/forge.ts';
import { GiteaForge } from '../../src/forges/gitea/forge.ts';
import { forgeConformance, type Delivery } from './forge-conformance.ts';

const SECRET = 'gitea-test-secret';
const ZERO_SHA = '0'.repeat(40);
const PUSHED = 'bffeb74224043ba2feb48d137756c8a9331c449a';
const PARENT = '28e1879d029cb852e4844d9c718537df08844e03';
const SYNCHRONIZED_HEAD = '4a3c4d1e9d0c2bd6e4f1a7b9c8d2e5f6a7b8c9d0';

const fixtureText = (name: string) => readFileSync(new URL(`../fixtures/gitea/${name}.json`, import.meta.url), 'utf8');
const fixture = (name: string) => JSON.parse(fixtureText(name)) as Record<string, unknown>;

const push = fixture('push');
const pullRequestOpened = fixture('pull-request-opened');
const pullRequest = pullRequestOpened.pull_request as Record<string, unknown>;
const head = pullRequest.head as Record<string, unknown>;
const headCommit = (push.commits as unknown[])[0];
/** The reconstructed pull request with its action (and head) changed, as Gitea sends it for that action. */
const pullRequestWith = (action: string, headChanges: Record<string, unknown> = {}) => ({
  ...pullRequestOpened,
  action,
  pull_request: { ...pullRequest, head: { ...head, ...headChanges } },
});

const derived = {
  branchCreated: { ...push, before: ZERO_SHA },
  // A branch moved back to its parent: nothing new to list.
  emptyPush: { ...push, before: PUSHED, after: PARENT, commits: [], total_commits: 0, head_commit: null },
  // Gitea sends a created tag as a push with no commits and head_commit the tagged commit.
  tag: { ...push, ref: 'refs/tags/v1.0.0', before: ZERO_SHA, commits: [], head_commit: headCommit },
  pullRequestSynchronized: pullRequestWith('synchronized', { sha: SYNCHRONIZED_HEAD }),
  incomplete: { ...push, after: undefined },
};

function signature(body: Buffer, secret: string): string {
  return createHmac('sha256', secret).update(body).digest('hex');
}

/** Gitea names the event three ways for the clients it imitates; Forgejo adds its own names. */
function headersFor(event: string, deliveryId: string, body: Buffer, secret: string): WebhookHeaders {
  return {
    'content-type': 'application/json',
    'x-github-event': event,
    'x-github-delivery': deliveryId,
    'x-gogs-event': event,
    'x-gogs-delivery': deliveryId,
    'x-gitea-event': event,
    'x-gitea-delivery': deliveryId,
    'x-gitea-signature': signature(body, secret),
  };
}

function deliverBody(event: string, deliveryId: string, body: Buffer): (secret: string) => Delivery {
  return (secret) => ({ headers: headersFor(event, deliveryId, body, secret), body });
}

const deliverFile = (event: string, deliveryId: string, name: string) => deliverBody(event, deliveryId, Buffer.from(fixtureText(name)));
const deliver = (event: string, deliveryId: string, payload: object) => deliverBody(event, deliveryId, Buffer.from(JSON.stringify(payload)));

const webhooks: RepositoryRef = {
  fullName: 'gitea/webhooks',
  urls: ['http://localhost:3000/gitea/webhooks.git', 'ssh://gitea@localhost:2222/gitea/webhooks.git', 'http://localhost:3000/gitea/webhooks'],
};
const pushFields = {
  repository: webhooks,
  sender: 'gitea',
  branch: 'develop',
  before: PARENT,
  after: PUSHED,
  created: false,
  deleted: false,
  forced: false,
  commitCount: 1,
} as const;
const pullRequestFields = {
  repository: webhooks,
  sender: 'contributor',
  number: 7,
  headSha: PUSHED,
  headBranch: 'retry-deliveries',
  baseBranch: 'main',
  headRepositoryUrl: 'http://localhost:3000/contributor/webhooks.git',
} as const;

const forge = new GiteaForge();

forgeConformance('gitea', forge, {
  signatureHeader: 'x-gitea-signature',
  signsBody: true,
  resign: ({ headers }, body, secret) => ({ headers: { ...headers, 'x-gitea-signature': signature(body, secret) }, body }),
  push: {
    deliver: deliverFile('push', 'delivery-push', 'push'),
    event: { kind: 'push', deliveryId: 'delivery-push', ...pushFields },
  },
  branchCreated: {
    deliver: deliver('push', 'delivery-created', derived.branchCreated),
    event: { kind: 'push', deliveryId: 'delivery-created', ...pushFields, before: ZERO_SHA, created: true },
  },
  branchDeleted: {
    deliver: deliverFile('delete', 'delivery-deleted', 'delete-branch'),
    event: {
      kind: 'push',
      deliveryId: 'delivery-deleted',
      ...pushFields,
      before: ZERO_SHA,
      after: ZERO_SHA,
      deleted: true,
      commitCount: 0,
    },
  },
  forcedPush: null,
  emptyPush: {
    deliver: deliver('push', 'delivery-empty', derived.emptyPush),
    event: { kind: 'push', deliveryId: 'delivery-empty', ...pushFields, before: PUSHED, after: PARENT, commitCount: 0 },
  },
  tag: {
    deliver: deliver('push', 'delivery-tag', derived.tag),
    event: { kind: 'tag', deliveryId: 'delivery-tag', repository: webhooks, sender: 'gitea', tag: 'v1.0.0', sha: PUSHED, deleted: false },
  },
  pullRequestOpened: {
    deliver: deliverFile('pull_request', 'delivery-opened', 'pull-request-opened'),
    event: { kind: 'pull_request', deliveryId: 'delivery-opened', ...pullRequestFields, action: 'opened' },
  },
  pullRequestUpdated: {
    deliver: deliver('pull_request', 'delivery-synchronized', derived.pullRequestSynchronized),
    event: { kind: 'pull_request', deliveryId: 'delivery-synchronized', ...pullRequestFields, headSha: SYNCHRONIZED_HEAD, action: 'updated' },
  },
  ignored: { deliver: deliverFile('create', 'delivery-create', 'create-branch'), repository: webhooks },
  incomplete: deliver('push', 'delivery-incomplete', derived.incomplete),
});

describe('Gitea forge', () => {
  const parse = (delivery: Delivery): WebhookResult => forge.parseWebhook(delivery.headers, delivery.body, () => SECRET);
  const eventOf = (result: WebhookResult) => (result.kind === 'event' ? result.event : assert.fail(JSON.stringify(result)));

  test("Forgejo's own header names are read", () => {
    const body = Buffer.from(fixtureText('push'));
    const headers = {
      'x-forgejo-event': 'push',
      'x-forgejo-delivery': 'forgejo-delivery',
      'x-forgejo-signature': signature(body, SECRET),
    };
    assert.deepEqual(eventOf(parse({ headers, body })), { kind: 'push', deliveryId: 'forgejo-delivery', ...pushFields });
  });

  test('a pull request reopened is acted on; closed and relabelled are ignored', () => {
    const reopened = eventOf(parse(deliver('pull_request', 'delivery-reopened', pullRequestWith('reopened'))(SECRET)));
    assert.equal(reopened.kind === 'pull_request' && reopened.action, 'reopened');
    for (const action of ['closed', 'label_updated']) {
      const result = parse(deliver('pull_request', `delivery-${action}`, pullRequestWith(action))(SECRET));
      assert.equal(result.kind, 'ignored', action);
      assert.equal(result.reason, `pull_request ${action}`);
    }
  });

  test('a pull request whose head.repo is left out: the base repository when repo_id says so, malformed otherwise', () => {
    const fromBase = pullRequestWith('opened', { repo: undefined, repo_id: 140 });
    const event = eventOf(parse(deliver('pull_request', 'delivery-same-repo', fromBase)(SECRET)));
    assert.equal(event.kind === 'pull_request' && event.headRepositoryUrl, 'http://localhost:3000/gitea/webhooks.git');

    const fromUnknownFork = pullRequestWith('opened', { repo: undefined });
    const result = parse(deliver('pull_request', 'delivery-fork', fromUnknownFork)(SECRET));
    assert.equal(result.kind === 'rejected' && result.reason, 'malformed');
  });

  test('a deleted tag is acted on through its push; the delete event for it is ignored', () => {
    const tagDeletion = { ...push, ref: 'refs/tags/v1.0.0', before: PUSHED, after: ZERO_SHA, commits: [], head_commit: null };
    assert.deepEqual(eventOf(parse(deliver('push', 'delivery-tag-deleted', tagDeletion)(SECRET))), {
      kind: 'tag',
      deliveryId: 'delivery-tag-deleted',
      repository: webhooks,
      sender: 'gitea',
      tag: 'v1.0.0',
      sha: PUSHED,
      deleted: true,
    });
    const deleteEvent = { ...fixture('delete-branch'), ref: 'v1.0.0', ref_type: 'tag' };
    assert.equal(parse(deliver('delete', 'delivery-delete-tag', deleteEvent)(SECRET)).kind, 'ignored');
  });

  test('an annotated tag names its commit (head_commit), not the tag object (after)', () => {
    const annotated = { ...derived.tag, after: 'a'.repeat(40) };
    const event = eventOf(parse(deliver('push', 'delivery-annotated', annotated)(SECRET)));
    assert.equal(event.kind === 'tag' && event.sha, PUSHED);
  });

  test('total_commits (Gitea 1.18+) counts past the capped commits list', () => {
    const event = eventOf(parse(deliver('push', 'delivery-many', { ...push, total_commits: 42 })(SECRET)));
    assert.equal(event.kind === 'push' && event.commitCount, 42);
  });
});
