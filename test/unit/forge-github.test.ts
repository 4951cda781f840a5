// The GitHub adapter on real payloads: the examples Octokit publishes in
// @octokit/webhooks-examples, serialised and signed here the way GitHub signs them. The package
// has no plain push, forced push, branch deletion or push without commits; those are the real
// branch-creation push with the fields GitHub sets for that case changed (see `derived` below).

import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { createRequire } from 'node:module';
import { describe, test } from 'node:test';
import type { WebhookDefinition } from '@octokit/webhooks-examples';
import type { RepositoryRef, WebhookResult } from '../../src/forges/forge.ts';
import { GitHubForge } from '../../src/forges/github/forge.ts';
import { forgeConformance, type Delivery } from './forge-conformance.ts';

const SECRET = 'github-test-secret';
const ZERO_SHA = '0'.repeat(40);

// The package's JSON is its main entry; an import attribute would type it as a module, not the list.
const definitions = createRequire(import.meta.url)('@octokit/webhooks-examples') as WebhookDefinition[];

function examplesOf<N extends WebhookDefinition['name']>(name: N): WebhookDefinition<N>['examples'] {
  const definition = definitions.find((candidate) => candidate.name === name);
  assert.ok(definition, `@octokit/webhooks-examples has ${name} examples`);
  return (definition as WebhookDefinition<N>).examples;
}

function first<T, S extends T>(examples: T[], what: string, matches: (example: T) => example is S): S;
function first<T>(examples: T[], what: string, matches: (example: T) => boolean): T;
function first<T>(examples: T[], what: string, matches: (example: T) => boolean): T {
  const found = examples.find(matches);
  assert.ok(found, `@octokit/webhooks-examples has ${what}`);
  return found;
}

const pushes = examplesOf('push');
const pullRequests = examplesOf('pull_request');
const branchCreated = first(pushes, 'a branch creation', (push) => push.ref === 'refs/heads/master' && push.created);
const tagCreated = first(pushes, 'a tag creation', (push) => push.ref === 'refs/tags/simple-tag' && push.created);
const tagDeleted = first(pushes, 'a tag deletion', (push) => push.ref === 'refs/tags/simple-tag' && push.deleted);
const opened = first(pullRequests, 'a pull request opened', (event) => event.action === 'opened');
const reopened = first(pullRequests, 'a pull request reopened', (event) => event.action === 'reopened');
type PullRequestExample = WebhookDefinition<'pull_request'>['examples'][number];
const synchronize = first(
  pullRequests,
  'a pull request synchronize',
  (event): event is Extract<PullRequestExample, { action: 'synchronize' }> => event.action === 'synchronize',
);
const closed = first(pullRequests, 'a pull request closed', (event) => event.action === 'closed');
const ping = first(examplesOf('ping'), 'a repository ping', (event) => event.repository !== undefined);
const organizationPing = first(examplesOf('ping'), 'an organization ping', (event) => event.repository === undefined);
const issueOpened = first(examplesOf('issues'), 'an issue opened', (event) => event.action === 'opened');

/** What GitHub sends for the cases the package has no example of, built from the real branch creation. */
const derived = {
  push: { ...branchCreated, created: false, before: synchronize.before },
  forcedPush: { ...branchCreated, created: false, before: synchronize.before, forced: true },
  branchDeleted: { ...branchCreated, created: false, deleted: true, before: branchCreated.after, after: ZERO_SHA, commits: [], head_commit: null },
  // A branch created at a commit the repository already has carries no commits.
  emptyPush: { ...branchCreated, ref: 'refs/heads/feature', commits: [] },
  incomplete: { ...branchCreated, after: undefined },
};

function signature(body: Buffer, secret: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

function deliver(event: string, deliveryId: string, payload: object): (secret: string) => Delivery {
  const body = Buffer.from(JSON.stringify(payload));
  return (secret) => ({
    headers: {
      'content-type': 'application/json',
      'user-agent': 'GitHub-Hookshot/0e1b2d3',
      'x-github-event': event,
      'x-github-delivery': deliveryId,
      'x-hub-signature-256': signature(body, secret),
    },
    body,
  });
}

const helloWorld: RepositoryRef = {
  fullName: 'Codertocat/Hello-World',
  urls: [
    'https://github.com/Codertocat/Hello-World.git',
    'git@github.com:Codertocat/Hello-World.git',
    'git://github.com/Codertocat/Hello-World.git',
    'https://github.com/Codertocat/Hello-World',
  ],
};
const pushFields = { repository: helloWorld, sender: 'Codertocat', branch: 'master', forced: false } as const;
const pullRequestFields = {
  repository: helloWorld,
  sender: 'Codertocat',
  number: 2,
  headSha: 'ec26c3e57ca3a959ca5aad62de7213c562f8c821',
  headBranch: 'changes',
  baseBranch: 'master',
  headRepositoryUrl: 'https://github.com/Codertocat/Hello-World.git',
} as const;

const forge = new GitHubForge();

forgeConformance('github', forge, {
  signatureHeader: 'x-hub-signature-256',
  signsBody: true,
  resign: ({ headers }, body, secret) => ({ headers: { ...headers, 'x-hub-signature-256': signature(body, secret) }, body }),
  push: {
    deliver: deliver('push', 'delivery-push', derived.push),
    event: {
      kind: 'push',
      deliveryId: 'delivery-push',
      ...pushFields,
      before: synchronize.before,
      after: branchCreated.after,
      created: false,
      deleted: false,
      commitCount: 1,
    },
  },
  branchCreated: {
    deliver: deliver('push', 'delivery-created', branchCreated),
    event: {
      kind: 'push',
      deliveryId: 'delivery-created',
      ...pushFields,
      before: ZERO_SHA,
      after: '6113728f27ae82c7b1a177c8d03f9e96e0adf246',
      created: true,
      deleted: false,
      commitCount: 1,
    },
  },
  branchDeleted: {
    deliver: deliver('push', 'delivery-deleted', derived.branchDeleted),
    event: {
      kind: 'push',
      deliveryId: 'delivery-deleted',
      ...pushFields,
      before: '6113728f27ae82c7b1a177c8d03f9e96e0adf246',
      after: ZERO_SHA,
      created: false,
      deleted: true,
      commitCount: 0,
    },
  },
  forcedPush: {
    deliver: deliver('push', 'delivery-forced', derived.forcedPush),
    event: {
      kind: 'push',
      deliveryId: 'delivery-forced',
      ...pushFields,
      forced: true,
      before: synchronize.before,
      after: branchCreated.after,
      created: false,
      deleted: false,
      commitCount: 1,
    },
  },
  emptyPush: {
    deliver: deliver('push', 'delivery-empty', derived.emptyPush),
    event: {
      kind: 'push',
      deliveryId: 'delivery-empty',
      ...pushFields,
      branch: 'feature',
      before: ZERO_SHA,
      after: branchCreated.after,
      created: true,
      deleted: false,
      commitCount: 0,
    },
  },
  tag: {
    deliver: deliver('push', 'delivery-tag', tagCreated),
    event: {
      kind: 'tag',
      deliveryId: 'delivery-tag',
      repository: helloWorld,
      sender: 'Codertocat',
      tag: 'simple-tag',
      sha: '6113728f27ae82c7b1a177c8d03f9e96e0adf246',
      deleted: false,
    },
  },
  pullRequestOpened: {
    deliver: deliver('pull_request', 'delivery-opened', opened),
    event: { kind: 'pull_request', deliveryId: 'delivery-opened', ...pullRequestFields, action: 'opened' },
  },
  pullRequestUpdated: {
    deliver: deliver('pull_request', 'delivery-synchronize', synchronize),
    event: { kind: 'pull_request', deliveryId: 'delivery-synchronize', ...pullRequestFields, action: 'updated' },
  },
  ignored: { deliver: deliver('issues', 'delivery-issue', issueOpened), repository: helloWorld },
  incomplete: deliver('push', 'delivery-incomplete', derived.incomplete),
});

describe('GitHub forge', () => {
  const parse = (delivery: Delivery): WebhookResult => forge.parseWebhook(delivery.headers, delivery.body, () => SECRET);

  test('a ping is answered', () => {
    assert.deepEqual(parse(deliver('ping', 'delivery-ping', ping)(SECRET)), {
      kind: 'event',
      event: {
        kind: 'ping',
        deliveryId: 'delivery-ping',
        sender: 'Codertocat',
        repository: {
          fullName: 'Octocoders/Hello-World',
          urls: [
            'https://github.com/Octocoders/Hello-World.git',
            'git@github.com:Octocoders/Hello-World.git',
            'git://github.com/Octocoders/Hello-World.git',
            'https://github.com/Octocoders/Hello-World',
          ],
        },
      },
    });
  });

  test("an organization hook's ping names no repository to take a secret from: malformed", () => {
    const result = parse(deliver('ping', 'delivery-org-ping', organizationPing)(SECRET));
    assert.equal(result.kind, 'rejected');
    assert.equal(result.reason, 'malformed');
    assert.match(result.message, /no repository/);
  });

  test('a pull request reopened is acted on; closed is ignored', () => {
    const reopenedResult = parse(deliver('pull_request', 'delivery-reopened', reopened)(SECRET));
    assert.equal(reopenedResult.kind === 'event' && reopenedResult.event.kind === 'pull_request' && reopenedResult.event.action, 'reopened');
    const closedResult = parse(deliver('pull_request', 'delivery-closed', closed)(SECRET));
    assert.equal(closedResult.kind, 'ignored');
    assert.equal(closedResult.reason, 'pull_request closed');
  });

  test('create and delete events are ignored: the push for the same ref is what Slipway acts on', () => {
    for (const [event, payload] of [['create', examplesOf('create')[0]!], ['delete', examplesOf('delete')[0]!]] as const) {
      const result = parse(deliver(event, `delivery-${event}`, payload)(SECRET));
      assert.equal(result.kind, 'ignored', event);
      assert.match(result.reason, new RegExp(`^${event} event`));
      assert.match(result.reason, /push/);
    }
  });

  test('a tag deletion is a tag event that says deleted, naming what the tag pointed at', () => {
    assert.deepEqual(parse(deliver('push', 'delivery-tag-deleted', tagDeleted)(SECRET)), {
      kind: 'event',
      event: {
        kind: 'tag',
        deliveryId: 'delivery-tag-deleted',
        repository: helloWorld,
        sender: 'Codertocat',
        tag: 'simple-tag',
        sha: '6113728f27ae82c7b1a177c8d03f9e96e0adf246',
        deleted: true,
      },
    });
  });

  test('an annotated tag names its commit (head_commit), not the tag object (after)', () => {
    const tagObject = 'a'.repeat(40);
    const result = parse(deliver('push', 'delivery-annotated', { ...tagCreated, after: tagObject })(SECRET));
    assert.equal(result.kind === 'event' && result.event.kind === 'tag' && result.event.sha, tagCreated.head_commit?.id);
  });

  test('a signature in another format (sha1, bare hex) is bad_signature', () => {
    const { headers, body } = deliver('push', 'delivery-format', branchCreated)(SECRET);
    const hex = createHmac('sha256', SECRET).update(body).digest('hex');
    const sha1 = `sha1=${createHmac('sha1', SECRET).update(body).digest('hex')}`;
    for (const value of [hex, sha1, `sha256=${hex.toUpperCase()}`]) {
      const result = parse({ headers: { ...headers, 'x-hub-signature-256': value }, body });
      assert.equal(result.kind === 'rejected' && result.reason, 'bad_signature', value);
    }
  });

  test('a delivery without X-GitHub-Event is malformed', () => {
    const { headers, body } = deliver('push', 'delivery-no-event', branchCreated)(SECRET);
    const { 'x-github-event': _event, ...withoutEvent } = headers;
    const result = parse({ headers: withoutEvent, body });
    assert.equal(result.kind === 'rejected' && result.reason, 'malformed');
  });

  test('every example in @octokit/webhooks-examples is answered: acted on or ignored if it names a repository, malformed if not', () => {
    let answered = 0;
    for (const definition of definitions) {
      for (const [index, example] of definition.examples.entries()) {
        const result = parse(deliver(definition.name, `delivery-${definition.name}-${index}`, example)(SECRET));
        const what = `${definition.name} #${index}: ${JSON.stringify(result).slice(0, 200)}`;
        if ('repository' in example && example.repository) assert.notEqual(result.kind, 'rejected', what);
        else assert.equal(result.kind === 'rejected' && result.reason, 'malformed', what);
        answered++;
      }
    }
    assert.ok(answered > 300, `${answered} examples`);
  });
});
