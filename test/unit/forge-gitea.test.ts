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
/** The reconstructed pull request comes from the fork contributor/webhooks (id 141). */
const forkPullRequest = fixture('pull-request-opened');
const pullRequest = forkPullRequest.pull_request as Record<string, unknown>;
const base = pullRequest.base as Record<string, unknown>;
/** Its head moved to a branch of the repository itself (the base's repository, id 140). */
const head = { ...(pullRequest.head as Record<string, unknown>), repo_id: base.repo_id, repo: base.repo };
const headCommit = (push.commits as unknown[])[0];
/** The pull request within the repository with its action (and head) changed, as Gitea sends it for that action. */
const pullRequestWith = (action: string, headChanges: Record<string, unknown> = {}) => ({
  ...forkPullRequest,
  action,
  pull_request: { ...pullRequest, head: { ...head, ...headChanges } },
});

const derived = {
  branchCreated: { ...push, before: ZERO_SHA },
  // A branch moved back to its parent: nothing new to list.
  emptyPush: { ...push, before: PUSHED, after: PARENT, commits: [], total_commits: 0, head_commit: null },
  // Gitea sends a created tag as a push with no commits and head_commit the tagged commit.
  tag: { ...push, ref: 'refs/tags/v1.0.0', before: ZERO_SHA, commits: [], head_commit: headCommit },
  pullRequestOpened: pullRequestWith('opened'),
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
  headRepositoryUrl: 'http://localhost:3000/gitea/webhooks.git',
  fromFork: false,
} as const;

const forge = new GiteaForge();
/** The documented payloads' Gitea is at localhost:3000 (its ssh at port 2222 of the same host). */
const GITEA = { webUrl: 'http://localhost:3000' };

forgeConformance('gitea', forge, {
  webUrl: GITEA.webUrl,
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
    deliver: deliver('pull_request', 'delivery-opened', derived.pullRequestOpened),
    event: { kind: 'pull_request', deliveryId: 'delivery-opened', ...pullRequestFields, action: 'opened' },
  },
  pullRequestUpdated: {
    deliver: deliver('pull_request', 'delivery-synchronized', derived.pullRequestSynchronized),
    event: { kind: 'pull_request', deliveryId: 'delivery-synchronized', ...pullRequestFields, headSha: SYNCHRONIZED_HEAD, action: 'updated' },
  },
  pullRequestFromFork: {
    deliver: deliverFile('pull_request', 'delivery-fork', 'pull-request-opened'),
    event: {
      kind: 'pull_request',
      deliveryId: 'delivery-fork',
      ...pullRequestFields,
      action: 'opened',
      headRepositoryUrl: 'http://localhost:3000/contributor/webhooks.git',
      fromFork: true,
    },
  },
  retargets: [
    ...Object.entries({
      full_name: 'gitea/other',
      name: 'other',
      'owner.login': 'someone',
      'owner.username': 'someone',
      clone_url: 'http://localhost:3000/gitea/other.git',
      ssh_url: 'ssh://gitea@localhost:2222/gitea/other.git',
      html_url: 'http://localhost:3000/gitea/other',
    }).map(([field, value]) => ({ of: 'push' as const, field: `repository.${field}`, value })),
    // The same repository on another host.
    { of: 'push', field: 'repository.ssh_url', value: 'ssh://gitea@git.evil.example:2222/gitea/webhooks.git' },
    // A pull request names the repository again as its base.
    { of: 'pullRequestFromFork', field: 'pull_request.base.repo.full_name', value: 'gitea/other' },
    { of: 'pullRequestFromFork', field: 'pull_request.base.repo.clone_url', value: 'http://localhost:3000/gitea/other.git' },
    { of: 'pullRequestFromFork', field: 'pull_request.base.repo.id', value: 141 },
    { of: 'pullRequestFromFork', field: 'pull_request.base.repo_id', value: 141 },
  ],
  ignored: { deliver: deliverFile('create', 'delivery-create', 'create-branch'), repository: webhooks },
  incomplete: deliver('push', 'delivery-incomplete', derived.incomplete),
});

describe('Gitea forge', () => {
  const parse = (delivery: Delivery): WebhookResult => forge.parseWebhook(delivery.headers, delivery.body, () => SECRET, GITEA);
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

  test('a pull request reopened, closed or merged is acted on (closed with merged: true is a merge); relabelled is ignored', () => {
    const reopened = eventOf(parse(deliver('pull_request', 'delivery-reopened', pullRequestWith('reopened'))(SECRET)));
    assert.equal(reopened.kind === 'pull_request' && reopened.action, 'reopened');
    const closed = eventOf(parse(deliver('pull_request', 'delivery-closed', pullRequestWith('closed'))(SECRET)));
    assert.equal(closed.kind === 'pull_request' && closed.action, 'closed');
    const mergedBody = { ...pullRequestWith('closed'), pull_request: { ...pullRequestWith('closed').pull_request, merged: true } };
    const merged = eventOf(parse(deliver('pull_request', 'delivery-merged', mergedBody)(SECRET)));
    assert.equal(merged.kind === 'pull_request' && merged.action, 'merged');
    for (const action of ['label_updated']) {
      const result = parse(deliver('pull_request', `delivery-${action}`, pullRequestWith(action))(SECRET));
      assert.equal(result.kind, 'ignored', action);
      assert.equal(result.reason, `pull_request ${action}`);
    }
  });

  test('a pull request whose head.repo is left out: the base repository when repo_id says so, else a fork', () => {
    const fromBase = pullRequestWith('opened', { repo: undefined, repo_id: 140 });
    const event = eventOf(parse(deliver('pull_request', 'delivery-same-repo', fromBase)(SECRET)));
    assert.ok(event.kind === 'pull_request');
    assert.deepEqual([event.fromFork, event.headRepositoryUrl], [false, 'http://localhost:3000/gitea/webhooks.git']);

    for (const [what, changes] of [['another repo_id', { repo: undefined, repo_id: 141 }], ['no repo_id', { repo: undefined, repo_id: undefined }]] as const) {
      const fork = eventOf(parse(deliver('pull_request', 'delivery-fork', pullRequestWith('opened', changes))(SECRET)));
      assert.ok(fork.kind === 'pull_request');
      assert.deepEqual([fork.fromFork, fork.headRepositoryUrl], [true, null], what);
    }
  });

  test('a Gitea under a path of its host names its repositories under that path, and ssh URLs at the root', () => {
    const underPath = JSON.parse(fixtureText('push').replaceAll('http://localhost:3000/', 'http://localhost:3000/gitea/')) as object;
    const delivery = deliver('push', 'delivery-under-path', underPath)(SECRET);
    assert.equal(forge.parseWebhook(delivery.headers, delivery.body, () => SECRET, { webUrl: 'http://localhost:3000/gitea/' }).kind, 'event');
    const result = parse(delivery);
    assert.equal(result.kind === 'rejected' && result.reason, 'repository_mismatch');
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
