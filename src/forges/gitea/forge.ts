// Gitea webhooks, which Forgejo (and, for the event header, Gogs) send in the same format.
// X-Gitea-Signature is the hex HMAC-SHA256 of the raw body under the hook's secret.
// Gitea's push payload has no `forced` flag, and a branch deletion arrives as a `delete` event,
// which carries no sha.

import { z } from 'zod';
import { unbound, type Binding, type Names } from '../binding.ts';
import type { Forge, ForgeEvent, ForgeOrigin, RepositoryRef, WebhookHeaders, WebhookResult } from '../forge.ts';
import { badSignature, bodyDigest, fromRefUpdate, header, hmacSha256Hex, ignored, invalid, isFork, locate, malformed, sameSecret, Sha, withoutPrefix, type Delivered } from '../webhook.ts';
import { isZeroSha } from '../../core/sha.ts';

type PullRequestAction = Extract<ForgeEvent, { kind: 'pull_request' }>['action'];

const ZERO_SHA = '0'.repeat(40);

const Sender = z.object({ login: z.string().min(1) });

const Repository = z.object({
  id: z.number().optional(),
  full_name: z.string().min(1),
  clone_url: z.string().nullish(),
  ssh_url: z.string().nullish(),
  html_url: z.string().nullish(),
});
const Named = z.object({ repository: Repository });

/** Where a repository object names its repository (the owner's `login` and `username` are both its user name; `full_name` is a display name). */
const REPOSITORY_NAMES: Names = {
  full_name: 'full name',
  name: 'name',
  'owner.login': 'owner',
  'owner.username': 'owner',
  clone_url: 'url',
  ssh_url: 'url',
  html_url: 'url',
  id: 'id',
};
/** Every event names the repository; a pull request names it again as its base. */
const BINDING: Binding = {
  fullName: 'repository.full_name',
  id: 'repository.id',
  places: { repository: REPOSITORY_NAMES, 'pull_request.base.repo': REPOSITORY_NAMES, 'pull_request.base': { repo_id: 'id' } },
};

const Push = z.object({
  ref: z.string().min(1),
  before: Sha,
  after: Sha,
  // Go marshals an empty list as null.
  commits: z.array(z.unknown()).nullish(),
  // Since Gitea 1.18; `commits` is capped (FeedMaxCommitNum) and this is not.
  total_commits: z.number().int().nonnegative().optional(),
  head_commit: z.object({ id: Sha }).nullish(),
  sender: Sender,
});

const Delete = z.object({ ref: z.string().min(1), ref_type: z.string(), sender: Sender });

const PullRequestActionOnly = z.object({ action: z.string() });
const Branch = z.object({
  ref: z.string().min(1),
  sha: Sha,
  repo_id: z.number().optional(),
  repo: z.object({ id: z.number().nullish(), full_name: z.string().nullish(), clone_url: z.string().min(1) }).nullish(),
});
const PullRequest = z.object({
  number: z.number().int().positive(),
  pull_request: z.object({ head: Branch, base: Branch.pick({ ref: true }), merged: z.boolean().nullish() }),
  sender: Sender,
});

const ACTIONABLE = new Map<string, PullRequestAction>([
  ['opened', 'opened'],
  ['reopened', 'reopened'],
  ['synchronized', 'updated'],
  ['closed', 'closed'],
]);

export class GiteaForge implements Forge {
  readonly name = 'gitea' as const;

  parseWebhook(headers: WebhookHeaders, rawBody: Buffer, secretFor: (repository: RepositoryRef) => string | null, origin?: ForgeOrigin): WebhookResult {
    const located = locate(rawBody, Named, 'repository', (named) => repositoryRef(named.repository), secretFor);
    if ('rejected' in located) return located.rejected;
    const { body, named, repository, secret } = located;
    const signature = header(headers, 'x-gitea-signature') ?? header(headers, 'x-forgejo-signature');
    if (signature === undefined) return badSignature('the X-Gitea-Signature header is missing');
    if (!signatureMatches(signature, rawBody, secret)) {
      return badSignature(`X-Gitea-Signature does not match the body under the secret for ${repository.fullName}`);
    }
    const mismatch = unbound(body, BINDING, origin);
    if (mismatch) return mismatch;

    const event = header(headers, 'x-gitea-event') ?? header(headers, 'x-forgejo-event') ?? header(headers, 'x-gogs-event');
    if (event === undefined) return malformed('the X-Gitea-Event header is missing');
    const deliveryId = header(headers, 'x-gitea-delivery') ?? header(headers, 'x-forgejo-delivery') ?? bodyDigest(rawBody);
    const delivered = { deliveryId, repository };
    switch (event) {
      case 'push':
        return fromPush(body, delivered);
      case 'delete':
        return fromDelete(body, delivered);
      case 'pull_request':
        return fromPullRequest(body, named.repository, delivered);
      case 'create':
        return ignored(delivered, 'create event (the push event for the same ref is the one acted on)');
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
  // `after` is the tag object for an annotated tag; head_commit is the commit it names.
  const tagCommit = deleted ? push.before : (push.head_commit?.id ?? push.after);
  const { ref, before, after } = push;
  const commitCount = push.total_commits ?? push.commits?.length ?? 0;
  return fromRefUpdate(delivered, { ref, before, after, deleted, forced: false, commitCount, tagCommit, sender: push.sender.login }, 'push to');
}

function fromDelete(body: unknown, delivered: Delivered): WebhookResult {
  const parsed = Delete.safeParse(body);
  if (!parsed.success) return invalid('delete event', parsed.error);
  const { ref, ref_type: refType, sender } = parsed.data;
  // A deleted tag also arrives as a push (after = zeros); a deleted branch does not.
  if (refType !== 'branch') return ignored(delivered, `delete event for a ${refType} (the push event for it is the one acted on)`);
  return {
    kind: 'event',
    event: {
      kind: 'push',
      ...delivered,
      sender: sender.login,
      branch: withoutPrefix(ref, 'refs/heads/') ?? ref,
      before: ZERO_SHA,
      after: ZERO_SHA,
      created: false,
      deleted: true,
      forced: false,
      commitCount: 0,
    },
  };
}

function fromPullRequest(body: unknown, repository: z.infer<typeof Repository>, delivered: Delivered): WebhookResult {
  const actionOnly = PullRequestActionOnly.safeParse(body);
  if (!actionOnly.success) return invalid('pull_request event', actionOnly.error);
  const action = ACTIONABLE.get(actionOnly.data.action);
  if (action === undefined) return ignored(delivered, `pull_request ${actionOnly.data.action}`);

  const parsed = PullRequest.safeParse(body);
  if (!parsed.success) return invalid(`pull_request ${actionOnly.data.action} event`, parsed.error);
  const { number, pull_request: pullRequest, sender } = parsed.data;
  const { head } = pullRequest;
  // Some Gitea versions leave out head.repo; head.repo_id still tells the base repository
  // itself from a fork, and a head known by neither counts as a fork.
  const headRepository = head.repo ? { id: head.repo.id ?? head.repo_id, fullName: head.repo.full_name } : head.repo_id !== undefined ? { id: head.repo_id } : null;
  const fromFork = isFork(headRepository, { id: repository.id, fullName: repository.full_name });
  const headRepositoryUrl = head.repo?.clone_url ?? (fromFork ? null : (repository.clone_url ?? null));
  return {
    kind: 'event',
    event: {
      kind: 'pull_request',
      ...delivered,
      sender: sender.login,
      number,
      action: action === 'closed' && pullRequest.merged ? 'merged' : action,
      headSha: head.sha,
      headBranch: head.ref,
      baseBranch: pullRequest.base.ref,
      headRepositoryUrl,
      fromFork,
    },
  };
}

function repositoryRef(repository: z.infer<typeof Repository>): RepositoryRef {
  const urls = [repository.clone_url, repository.ssh_url, repository.html_url];
  return { fullName: repository.full_name, urls: [...new Set(urls.filter((url): url is string => !!url))] };
}

function signatureMatches(signature: string, rawBody: Buffer, secret: string): boolean {
  return sameSecret(signature, hmacSha256Hex(secret, rawBody));
}
