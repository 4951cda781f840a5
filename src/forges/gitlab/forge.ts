// GitLab webhooks. GitLab does not sign the body: X-Gitlab-Token carries the hook's secret
// token itself, so the token proves the sender but not that the body is unmodified (TLS has to).
// The kind of event is read from the body (`object_kind`, or `event_name` in system hooks),
// because system hooks send every kind under the one header "X-Gitlab-Event: System Hook".

import { z } from 'zod';
import { unbound, type Binding, type Names } from '../binding.ts';
import type { Forge, ForgeEvent, ForgeOrigin, RepositoryRef, WebhookHeaders, WebhookResult } from '../forge.ts';
import { badSignature, bodyDigest, fromRefUpdate, header, ignored, invalid, isFork, locate, malformed, sameSecret, Sha, type Delivered } from '../webhook.ts';
import { isZeroSha } from '../../core/sha.ts';

type PullRequestAction = Extract<ForgeEvent, { kind: 'pull_request' }>['action'];

const Project = z.object({
  path_with_namespace: z.string().min(1),
  git_http_url: z.string().nullish(),
  git_ssh_url: z.string().nullish(),
  web_url: z.string().nullish(),
  http_url: z.string().nullish(),
  ssh_url: z.string().nullish(),
});
const Named = z.object({ project: Project });

/** Where a project object names its project (`name` and `namespace` are display names, not paths). */
const PROJECT_NAMES: Names = {
  path_with_namespace: 'full name',
  git_http_url: 'url',
  git_ssh_url: 'url',
  web_url: 'url',
  http_url: 'url',
  ssh_url: 'url',
  url: 'url',
  homepage: 'url',
  id: 'id',
};
/** Every event names its project, most also in the deprecated `repository` object (whose `name` is a display name). */
const BINDING: Binding = {
  fullName: 'project.path_with_namespace',
  id: 'project.id',
  places: { project: PROJECT_NAMES, repository: { url: 'url', homepage: 'url', git_http_url: 'url', git_ssh_url: 'url' } },
};
/** A merge request names the project again as its target (its source is the head, a fork maybe). */
const MERGE_REQUEST_BINDING: Binding = {
  ...BINDING,
  places: { ...BINDING.places, 'object_attributes.target': PROJECT_NAMES, object_attributes: { target_project_id: 'id' } },
};

const Kind = z.object({ object_kind: z.string().optional(), event_name: z.string().optional() });

const Push = z.object({
  ref: z.string().min(1),
  before: Sha,
  after: Sha,
  checkout_sha: Sha.nullish(),
  total_commits_count: z.number().int().nonnegative(),
  // The documented tag push payload has no user_username.
  user_username: z.string().min(1).optional(),
  user_name: z.string().min(1),
});

const MergeRequestAction = z.object({
  object_attributes: z.object({ action: z.string(), oldrev: z.string().nullish() }),
});
const MergeRequest = z.object({
  user: z.object({ username: z.string().min(1) }),
  project: z.object({ id: z.number().nullish(), path_with_namespace: z.string() }),
  object_attributes: z.object({
    iid: z.number().int().positive(),
    source_branch: z.string().min(1),
    target_branch: z.string().min(1),
    last_commit: z.object({ id: Sha }),
    source_project_id: z.number().nullish(),
    target_project_id: z.number().nullish(),
    // Null once the fork the merge request came from is deleted.
    source: z.object({ git_http_url: z.string().min(1), path_with_namespace: z.string().nullish() }).nullable(),
  }),
});

export class GitLabForge implements Forge {
  readonly name = 'gitlab' as const;

  parseWebhook(headers: WebhookHeaders, rawBody: Buffer, secretFor: (repository: RepositoryRef) => string | null, origin?: ForgeOrigin): WebhookResult {
    const located = locate(rawBody, Named, 'project', (named) => repositoryRef(named.project), secretFor);
    if ('rejected' in located) return located.rejected;
    const { body, repository, secret } = located;
    const token = header(headers, 'x-gitlab-token');
    if (token === undefined) return badSignature('the X-Gitlab-Token header is missing');
    if (!sameSecret(token, secret)) return badSignature(`X-Gitlab-Token is not the secret token for ${repository.fullName}`);
    const kind = Kind.safeParse(body);
    const event = kind.success ? (kind.data.object_kind ?? kind.data.event_name) : undefined;
    const mismatch = unbound(body, event === 'merge_request' ? MERGE_REQUEST_BINDING : BINDING, origin);
    if (mismatch) return mismatch;

    // X-Gitlab-Webhook-UUID is new on every attempt and X-Gitlab-Event-UUID is shared by all
    // the hooks one request fires (a push of several branches); only Idempotency-Key (GitLab
    // 17.4 and later) names one delivery and stays the same when GitLab retries it.
    const delivered = { deliveryId: header(headers, 'idempotency-key') ?? bodyDigest(rawBody), repository };
    if (event === undefined) return malformed('the body has no object_kind or event_name');
    switch (event) {
      case 'push':
      case 'tag_push':
        return fromPush(body, delivered);
      case 'merge_request':
        return fromMergeRequest(body, delivered);
      default:
        return ignored(delivered, `${event} event`);
    }
  }
}

function fromPush(body: unknown, delivered: Delivered): WebhookResult {
  const parsed = Push.safeParse(body);
  if (!parsed.success) return invalid('push event', parsed.error);
  const push = parsed.data;
  const deleted = isZeroSha(push.after);
  // `after` is the tag object for an annotated tag; checkout_sha is the commit it names.
  const tagCommit = deleted ? push.before : (push.checkout_sha ?? push.after);
  const { ref, before, after } = push;
  const sender = push.user_username ?? push.user_name;
  // `commits` holds at most 20; total_commits_count is the real number.
  return fromRefUpdate(delivered, { ref, before, after, deleted, forced: false, commitCount: push.total_commits_count, tagCommit, sender }, 'push to');
}

function fromMergeRequest(body: unknown, delivered: Delivered): WebhookResult {
  const actionOnly = MergeRequestAction.safeParse(body);
  if (!actionOnly.success) return invalid('merge_request event', actionOnly.error);
  const { action: gitlabAction, oldrev } = actionOnly.data.object_attributes;
  let action: PullRequestAction;
  switch (gitlabAction) {
    case 'open':
      action = 'opened';
      break;
    case 'reopen':
      action = 'reopened';
      break;
    case 'close':
      action = 'closed';
      break;
    case 'merge':
      action = 'merged';
      break;
    case 'update':
      // GitLab sends `update` for every edit (title, labels, assignees); oldrev is there only
      // when the source branch got new commits.
      if (!oldrev) return ignored(delivered, 'merge request edited without new commits');
      action = 'updated';
      break;
    default:
      return ignored(delivered, `merge request ${gitlabAction}`);
  }

  const parsed = MergeRequest.safeParse(body);
  if (!parsed.success) return invalid(`merge_request ${gitlabAction} event`, parsed.error);
  const { user, project, object_attributes: mergeRequest } = parsed.data;
  const source = mergeRequest.source;
  // The project ids tell a fork where both are given; the source's path where they are not.
  const head = source && { id: mergeRequest.source_project_id, fullName: source.path_with_namespace };
  const base = { id: mergeRequest.target_project_id ?? project.id, fullName: project.path_with_namespace };
  return {
    kind: 'event',
    event: {
      kind: 'pull_request',
      ...delivered,
      sender: user.username,
      number: mergeRequest.iid,
      action,
      headSha: mergeRequest.last_commit.id,
      headBranch: mergeRequest.source_branch,
      baseBranch: mergeRequest.target_branch,
      headRepositoryUrl: source?.git_http_url ?? null,
      fromFork: isFork(head, base),
    },
  };
}

function repositoryRef(project: z.infer<typeof Project>): RepositoryRef {
  const urls = [project.git_http_url, project.git_ssh_url, project.web_url, project.http_url, project.ssh_url];
  return { fullName: project.path_with_namespace, urls: [...new Set(urls.filter((url): url is string => !!url))] };
}

