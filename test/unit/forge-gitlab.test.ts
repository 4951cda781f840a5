// The GitLab adapter on the payloads GitLab documents (test/fixtures/gitlab, README there says
// where each comes from). Verbatim fixtures are sent as their file's bytes; the cases GitLab
// documents in prose but not as a payload are the documented payload with the fields GitLab
// sets for that case changed.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import type { RepositoryRef, WebhookHeaders, WebhookResult } from '../../src/forges/forge.ts';
import { GitLabForge } from '../../src/forges/gitlab/forge.ts';
import { forgeConformance, type Delivery } from './forge-conformance.ts';

const SECRET = 'gitlab-test-token';
const ZERO_SHA = '0'.repeat(40);

const fixtureText = (name: string) => readFileSync(new URL(`../fixtures/gitlab/${name}.json`, import.meta.url), 'utf8');
const fixture = (name: string) => JSON.parse(fixtureText(name)) as Record<string, unknown>;

const push = fixture('push');
const documentedMergeRequest = fixture('merge-request');
const documentedAttributes = documentedMergeRequest.object_attributes as Record<string, unknown>;
/**
 * The documented merge request is about project gitlabhq/gitlab-test (id 1), but names
 * awesome_space/awesome_project (id 14) as its target. GitLab fires a merge request's hooks
 * on its target project and sends that project as `project`, so a real one names the same
 * project in both: here the target is the project, and so is the source (a merge request
 * between two branches of the project). The documented source is kept for the fork's case.
 */
const project = documentedMergeRequest.project as Record<string, unknown> & { id: number };
const { id: _projectId, ...projectAsTarget } = project;
const mergeRequest = {
  ...documentedMergeRequest,
  object_attributes: { ...documentedAttributes, source_project_id: project.id, target_project_id: project.id, source: projectAsTarget, target: projectAsTarget },
};
const mergeRequestAttributes = mergeRequest.object_attributes;
/** The merge request with its action changed, as GitLab sends it for that action. */
const mergeRequestWith = (attributes: Record<string, unknown>) => ({
  ...mergeRequest,
  object_attributes: { ...mergeRequestAttributes, ...attributes },
});

const derived = {
  branchCreated: { ...push, before: ZERO_SHA },
  // GitLab's deletion push: after is zeros, checkout_sha null, no commits.
  branchDeleted: { ...push, after: ZERO_SHA, checkout_sha: null, commits: [], total_commits_count: 0 },
  // "If you create and push a branch without any new commits, the commits attribute in the payload is empty."
  emptyPush: { ...push, ref: 'refs/heads/feature', before: ZERO_SHA, commits: [], total_commits_count: 0 },
  // oldrev "is only available when there are actual code changes, like new code is pushed".
  mergeRequestUpdated: mergeRequestWith({ action: 'update', oldrev: 'b6568db1bc1dcd7f8b4d5a946b0b91f9dacd7327' }),
  mergeRequestEdited: mergeRequestWith({ action: 'update' }),
  // From awesome_space/awesome_project, a fork of the project: the documented source.
  mergeRequestFromFork: mergeRequestWith({ source_project_id: documentedAttributes.source_project_id, source: documentedAttributes.source }),
  incomplete: { ...push, after: undefined },
};

let attempt = 0;

function headersFor(hook: string, token: string, idempotencyKey: string | null): WebhookHeaders {
  attempt++;
  return {
    'content-type': 'application/json',
    'user-agent': 'GitLab/17.6.0',
    'x-gitlab-event': hook,
    'x-gitlab-token': token,
    'x-gitlab-instance': 'http://example.com',
    'x-gitlab-webhook-uuid': `webhook-uuid-of-attempt-${attempt}`,
    'x-gitlab-event-uuid': 'event-uuid-shared-by-every-hook-of-one-request',
    ...(idempotencyKey === null ? {} : { 'idempotency-key': idempotencyKey }),
  };
}

/** A documented payload sent byte for byte as the docs print it. */
function deliverFile(hook: string, name: string, idempotencyKey: string): (secret: string) => Delivery {
  const body = Buffer.from(fixtureText(name));
  return (secret) => ({ headers: headersFor(hook, secret, idempotencyKey), body });
}

function deliver(hook: string, payload: object, idempotencyKey: string | null): (secret: string) => Delivery {
  const body = Buffer.from(JSON.stringify(payload));
  return (secret) => ({ headers: headersFor(hook, secret, idempotencyKey), body });
}

const diaspora: RepositoryRef = {
  fullName: 'mike/diaspora',
  urls: ['http://example.com/mike/diaspora.git', 'git@example.com:mike/diaspora.git', 'http://example.com/mike/diaspora'],
};
const example: RepositoryRef = {
  fullName: 'jsmith/example',
  urls: ['http://example.com/jsmith/example.git', 'git@example.com:jsmith/example.git', 'http://example.com/jsmith/example'],
};
const gitlabTest: RepositoryRef = {
  fullName: 'gitlabhq/gitlab-test',
  urls: ['http://example.com/gitlabhq/gitlab-test.git', 'git@example.com:gitlabhq/gitlab-test.git', 'http://example.com/gitlabhq/gitlab-test'],
};
const pushFields = {
  repository: diaspora,
  sender: 'jsmith',
  branch: 'master',
  before: '95790bf891e76fee5e1747ab589903a6a1f80f22',
  after: 'da1560886d4f094c3e6c9ef40349f7d38b5d27d7',
  created: false,
  deleted: false,
  forced: false,
  commitCount: 4,
} as const;
const mergeRequestFields = {
  repository: gitlabTest,
  sender: 'root',
  number: 1,
  headSha: 'da1560886d4f094c3e6c9ef40349f7d38b5d27d7',
  headBranch: 'ms-viewport',
  baseBranch: 'master',
  headRepositoryUrl: 'http://example.com/gitlabhq/gitlab-test.git',
  fromFork: false,
} as const;

const forge = new GitLabForge();
/** The documented payloads' GitLab is at example.com. */
const GITLAB = { webUrl: 'http://example.com' };

const PROJECT_URLS = { git_http_url: '.git', git_ssh_url: '.git', web_url: '', http_url: '.git', ssh_url: '.git', url: '.git', homepage: '' };

forgeConformance('gitlab', forge, {
  webUrl: GITLAB.webUrl,
  signatureHeader: 'x-gitlab-token',
  signsBody: false,
  resign: ({ headers }, body, secret) => ({ headers: { ...headers, 'x-gitlab-token': secret }, body }),
  push: {
    deliver: deliverFile('Push Hook', 'push', 'key-push'),
    event: { kind: 'push', deliveryId: 'key-push', ...pushFields },
  },
  branchCreated: {
    deliver: deliver('Push Hook', derived.branchCreated, 'key-created'),
    event: { kind: 'push', deliveryId: 'key-created', ...pushFields, before: ZERO_SHA, created: true },
  },
  branchDeleted: {
    deliver: deliver('Push Hook', derived.branchDeleted, 'key-deleted'),
    event: { kind: 'push', deliveryId: 'key-deleted', ...pushFields, after: ZERO_SHA, deleted: true, commitCount: 0 },
  },
  forcedPush: null,
  emptyPush: {
    deliver: deliver('Push Hook', derived.emptyPush, 'key-empty'),
    event: { kind: 'push', deliveryId: 'key-empty', ...pushFields, branch: 'feature', before: ZERO_SHA, created: true, commitCount: 0 },
  },
  tag: {
    deliver: deliverFile('Tag Push Hook', 'tag-push', 'key-tag'),
    event: {
      kind: 'tag',
      deliveryId: 'key-tag',
      repository: example,
      // The documented tag push has user_name but no user_username.
      sender: 'John Smith',
      tag: 'v1.0.0',
      sha: '82b3d5ae55f7080f1e6022629cdb57bfae7cccc7',
      deleted: false,
    },
  },
  pullRequestOpened: {
    deliver: deliver('Merge Request Hook', mergeRequest, 'key-opened'),
    event: { kind: 'pull_request', deliveryId: 'key-opened', ...mergeRequestFields, action: 'opened' },
  },
  pullRequestUpdated: {
    deliver: deliver('Merge Request Hook', derived.mergeRequestUpdated, 'key-updated'),
    event: { kind: 'pull_request', deliveryId: 'key-updated', ...mergeRequestFields, action: 'updated' },
  },
  pullRequestFromFork: {
    deliver: deliver('Merge Request Hook', derived.mergeRequestFromFork, 'key-fork'),
    event: {
      kind: 'pull_request',
      deliveryId: 'key-fork',
      ...mergeRequestFields,
      action: 'opened',
      headRepositoryUrl: 'http://example.com/awesome_space/awesome_project.git',
      fromFork: true,
    },
  },
  retargets: [
    ...Object.entries(PROJECT_URLS).map(([field, suffix]) => {
      const value = `http://example.com/mike/other${suffix}`;
      return { of: 'push' as const, field: `project.${field}`, value: field.includes('ssh') || field === 'url' ? 'git@example.com:mike/other.git' : value };
    }),
    { of: 'push', field: 'project.path_with_namespace', value: 'mike/other' },
    // The deprecated repository object names it too (its `name` is a display name).
    ...['url', 'homepage', 'git_http_url', 'git_ssh_url'].map((field) => ({ of: 'push' as const, field: `repository.${field}`, value: 'http://example.com/mike/other' })),
    // The same project on another host, or at another path of the host.
    { of: 'push', field: 'project.git_ssh_url', value: 'git@gitlab.evil.example:mike/diaspora.git' },
    { of: 'push', field: 'project.web_url', value: 'http://example.com/evil/mike/diaspora' },
    // A merge request names its project again as the target, by path, URLs and id.
    { of: 'pullRequestOpened', field: 'object_attributes.target.path_with_namespace', value: 'gitlabhq/other' },
    ...Object.keys(PROJECT_URLS).map((field) => ({ of: 'pullRequestOpened' as const, field: `object_attributes.target.${field}`, value: 'http://example.com/gitlabhq/other.git' })),
    { of: 'pullRequestOpened', field: 'object_attributes.target_project_id', value: 14 },
  ],
  ignored: { deliver: deliverFile('Issue Hook', 'issue', 'key-issue'), repository: gitlabTest },
  incomplete: deliver('Push Hook', derived.incomplete, 'key-incomplete'),
});

describe('GitLab forge', () => {
  const parse = (delivery: Delivery): WebhookResult => forge.parseWebhook(delivery.headers, delivery.body, () => SECRET, GITLAB);
  const pullRequestAction = (result: WebhookResult) =>
    result.kind === 'event' && result.event.kind === 'pull_request' ? result.event.action : result;

  test('a merge request edited without new commits (no oldrev) is ignored, saying so', () => {
    const result = parse(deliver('Merge Request Hook', derived.mergeRequestEdited, 'key-edited')(SECRET));
    assert.equal(result.kind, 'ignored');
    assert.equal(result.reason, 'merge request edited without new commits');
  });

  test('a merge request reopened, closed or merged is acted on; approved is ignored', () => {
    assert.equal(pullRequestAction(parse(deliver('Merge Request Hook', mergeRequestWith({ action: 'reopen' }), 'k')(SECRET))), 'reopened');
    assert.equal(pullRequestAction(parse(deliver('Merge Request Hook', mergeRequestWith({ action: 'close' }), 'k-close')(SECRET))), 'closed');
    assert.equal(pullRequestAction(parse(deliver('Merge Request Hook', mergeRequestWith({ action: 'merge' }), 'k-merge')(SECRET))), 'merged');
    for (const action of ['approved']) {
      const result = parse(deliver('Merge Request Hook', mergeRequestWith({ action }), `key-${action}`)(SECRET));
      assert.equal(result.kind, 'ignored', action);
      assert.equal(result.reason, `merge request ${action}`);
    }
  });

  test("a system hook's annotated tag push names the commit (checkout_sha), not the tag object", () => {
    const result = parse(deliverFile('System Hook', 'system-tag-push', 'key-system-tag')(SECRET));
    assert.deepEqual(result, {
      kind: 'event',
      event: {
        kind: 'tag',
        deliveryId: 'key-system-tag',
        repository: example,
        sender: 'John Smith',
        tag: 'v1.0.0',
        sha: '5937ac0a7beb003549fc5fd26fc247adbce4a52e',
        deleted: false,
      },
    });
  });

  test('a tag deletion is a tag event that says deleted, naming what the tag pointed at', () => {
    const tagPush = fixture('tag-push');
    const deletion = { ...tagPush, before: tagPush.after, after: ZERO_SHA, checkout_sha: null };
    const result = parse(deliver('Tag Push Hook', deletion, 'key-tag-deleted')(SECRET));
    assert.equal(result.kind === 'event' && result.event.kind === 'tag' && result.event.deleted, true);
    assert.equal(result.kind === 'event' && result.event.kind === 'tag' && result.event.sha, '82b3d5ae55f7080f1e6022629cdb57bfae7cccc7');
  });

  test('the documented merge request, whose target is another project than the one it is about, is repository_mismatch', () => {
    const result = parse(deliverFile('Merge Request Hook', 'merge-request', 'key-documented')(SECRET));
    assert.equal(result.kind === 'rejected' && result.reason, 'repository_mismatch');
    assert.match(result.kind === 'rejected' ? result.message : '', /^object_attributes\.target\.path_with_namespace names awesome_space\/awesome_project: .* gitlabhq\/gitlab-test \(project\.path_with_namespace\)/);
  });

  test('a merge request whose source project is gone is from a fork, with no head repository URL', () => {
    const result = parse(deliver('Merge Request Hook', mergeRequestWith({ source_project_id: null, source: null }), 'key-gone')(SECRET));
    assert.ok(result.kind === 'event' && result.event.kind === 'pull_request', JSON.stringify(result));
    assert.deepEqual([result.event.fromFork, result.event.headRepositoryUrl], [true, null]);
  });

  test('a GitLab under a path of its host (relative_url_root) names its projects under that path, and ssh URLs at the root', () => {
    const underPath = JSON.parse(JSON.stringify(push).replaceAll('http://example.com/', 'http://example.com/gitlab/')) as object;
    const delivery = deliver('Push Hook', underPath, 'key-under-path')(SECRET);
    assert.equal(forge.parseWebhook(delivery.headers, delivery.body, () => SECRET, { webUrl: 'http://example.com/gitlab' }).kind, 'event');
    // Without the path configured, the web URLs name another project than mike/diaspora.
    const result = parse(delivery);
    assert.match(result.kind === 'rejected' ? result.message : '', /^project\.git_http_url names gitlab\/mike\/diaspora/);
  });

  test('the delivery id is the Idempotency-Key, the same on every retry whatever the per-attempt UUID', () => {
    const send = deliverFile('Push Hook', 'push', 'same-key-on-retry');
    const ids = [send(SECRET), send(SECRET)].map((delivery) => {
      const result = parse(delivery);
      return result.kind === 'event' ? result.event.deliveryId : result;
    });
    assert.deepEqual(ids, ['same-key-on-retry', 'same-key-on-retry']);
  });

  test('without an Idempotency-Key (before GitLab 17.4) the delivery id is a digest of the body', () => {
    const body = Buffer.from(fixtureText('push'));
    const idOf = (delivery: Delivery) => {
      const result = parse(delivery);
      return result.kind === 'event' ? result.event.deliveryId : result;
    };
    const first = idOf({ headers: headersFor('Push Hook', SECRET, null), body });
    const retry = idOf({ headers: headersFor('Push Hook', SECRET, null), body });
    assert.equal(first, `sha256:${createHash('sha256').update(body).digest('hex')}`);
    assert.equal(retry, first);
    assert.notEqual(idOf(deliver('Push Hook', derived.branchCreated, null)(SECRET)), first);
  });
});
