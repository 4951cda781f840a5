// GitHub webhooks. The event is named by X-GitHub-Event; X-Hub-Signature-256 is "sha256=" and
// the hex HMAC-SHA256 of the raw body under the hook's secret; X-GitHub-Delivery stays the
// same when GitHub redelivers.

import { z } from 'zod';
import { isApiUrl, unbound, type Binding, type Names } from '../binding.ts';
import type { Forge, ForgeEvent, ForgeOrigin, RepositoryRef, WebhookHeaders, WebhookResult } from '../forge.ts';
import { badSignature, bodyDigest, fromRefUpdate, header, hmacSha256Hex, ignored, invalid, isFork, locate, malformed, sameSecret, Sha, type Delivered } from '../webhook.ts';
import { isZeroSha } from '../../core/sha.ts';

type PullRequestAction = Extract<ForgeEvent, { kind: 'pull_request' }>['action'];

const Sender = z.object({ login: z.string().min(1) });

const Repository = z.object({
  full_name: z.string().min(1),
  clone_url: z.string().nullish(),
  ssh_url: z.string().nullish(),
  git_url: z.string().nullish(),
  html_url: z.string().nullish(),
  url: z.string().nullish(),
});
const Named = z.object({ repository: Repository });

/** Where a repository object names its repository; the owner is `name` in push payloads where `login` is missing. */
const REPOSITORY_NAMES: Names = {
  full_name: 'full name',
  name: 'name',
  'owner.login|owner.name': 'owner',
  clone_url: 'url',
  ssh_url: 'url',
  git_url: 'url',
  html_url: 'url',
  svn_url: 'url',
  url: 'web or api url',
  id: 'id',
};
/** Every event names the repository; those about a pull request name it again as the base. */
const BINDING: Binding = {
  fullName: 'repository.full_name',
  id: 'repository.id',
  places: { repository: REPOSITORY_NAMES, 'pull_request.base.repo': REPOSITORY_NAMES },
};

const Ping = z.object({ sender: Sender });

const Push = z.object({
  ref: z.string().min(1),
  before: Sha,
  after: Sha,
  deleted: z.boolean().default(false),
  forced: z.boolean().default(false),
  commits: z.array(z.unknown()),
  head_commit: z.object({ id: Sha }).nullish(),
  sender: Sender,
});

const PullRequestActionOnly = z.object({ action: z.string() });
const PullRequest = z.object({
  number: z.number().int().positive(),
  pull_request: z.object({
    head: z.object({
      sha: Sha,
      ref: z.string().min(1),
      // Null once the fork the pull request came from is deleted.
      repo: z.object({ id: z.number().nullish(), full_name: z.string().nullish(), clone_url: z.string().min(1) }).nullable(),
    }),
    base: z.object({ ref: z.string().min(1) }),
    merged: z.boolean().nullish(),
  }),
  repository: z.object({ id: z.number().nullish(), full_name: z.string() }),
  sender: Sender,
});

const ACTIONABLE = new Map<string, PullRequestAction>([
  ['opened', 'opened'],
  ['reopened', 'reopened'],
  ['synchronize', 'updated'],
  ['closed', 'closed'],
]);

export class GitHubForge implements Forge {
  readonly name = 'github' as const;

  parseWebhook(headers: WebhookHeaders, rawBody: Buffer, secretFor: (repository: RepositoryRef) => string | null, origin?: ForgeOrigin): WebhookResult {
    // Organization and app hooks also deliver events about no repository (an organization
    // hook's ping, installations): there is no repository to take a secret from.
    const located = locate(rawBody, Named, 'repository', (named) => repositoryRef(named.repository), secretFor);
    if ('rejected' in located) return located.rejected;
    const { body, repository, secret } = located;
    const signature = header(headers, 'x-hub-signature-256');
    if (signature === undefined) return badSignature('the X-Hub-Signature-256 header is missing');
    if (!signatureMatches(signature, rawBody, secret)) {
      return badSignature(`X-Hub-Signature-256 does not match the body under the secret for ${repository.fullName}`);
    }
    const mismatch = unbound(body, BINDING, origin);
    if (mismatch) return mismatch;

    const event = header(headers, 'x-github-event');
    if (event === undefined) return malformed('the X-GitHub-Event header is missing');
    const delivered = { deliveryId: header(headers, 'x-github-delivery') ?? bodyDigest(rawBody), repository };
    switch (event) {
      case 'ping':
        return fromPing(body, delivered);
      case 'push':
        return fromPush(body, delivered);
      case 'pull_request':
        return fromPullRequest(body, delivered);
      case 'create':
      case 'delete':
        return ignored(delivered, `${event} event (the push event for the same ref is the one acted on)`);
      default:
        return ignored(delivered, `${event} event`);
    }
  }
}

function fromPing(body: unknown, delivered: Delivered): WebhookResult {
  const ping = Ping.safeParse(body);
  if (!ping.success) return invalid('ping event', ping.error);
  return { kind: 'event', event: { kind: 'ping', ...delivered, sender: ping.data.sender.login } };
}

function fromPush(body: unknown, delivered: Delivered): WebhookResult {
  const parsed = Push.safeParse(body);
  if (!parsed.success) return invalid('push event', parsed.error);
  const push = parsed.data;
  const deleted = push.deleted || isZeroSha(push.after);
  // `after` is the tag object for an annotated tag; head_commit is the commit it names.
  const tagCommit = deleted ? push.before : (push.head_commit?.id ?? push.after);
  const { ref, before, after, forced } = push;
  return fromRefUpdate(delivered, { ref, before, after, deleted, forced, commitCount: push.commits.length, tagCommit, sender: push.sender.login }, 'push to');
}

function fromPullRequest(body: unknown, delivered: Delivered): WebhookResult {
  const actionOnly = PullRequestActionOnly.safeParse(body);
  if (!actionOnly.success) return invalid('pull_request event', actionOnly.error);
  const action = ACTIONABLE.get(actionOnly.data.action);
  if (action === undefined) return ignored(delivered, `pull_request ${actionOnly.data.action}`);

  const parsed = PullRequest.safeParse(body);
  if (!parsed.success) return invalid(`pull_request ${actionOnly.data.action} event`, parsed.error);
  const { number, pull_request: pullRequest, repository, sender } = parsed.data;
  const head = pullRequest.head.repo;
  return {
    kind: 'event',
    event: {
      kind: 'pull_request',
      ...delivered,
      sender: sender.login,
      number,
      action: action === 'closed' && pullRequest.merged ? 'merged' : action,
      headSha: pullRequest.head.sha,
      headBranch: pullRequest.head.ref,
      baseBranch: pullRequest.base.ref,
      headRepositoryUrl: head?.clone_url ?? null,
      fromFork: isFork(head && { id: head.id, fullName: head.full_name }, { id: repository.id, fullName: repository.full_name }),
    },
  };
}

function repositoryRef(repository: z.infer<typeof Repository>): RepositoryRef {
  // `url` is the web page in push payloads but the REST API address in every other event.
  const webUrl = repository.url && !isApiUrl(repository.url) ? repository.url : undefined;
  const urls = [repository.clone_url, repository.ssh_url, repository.git_url, repository.html_url, webUrl];
  return { fullName: repository.full_name, urls: [...new Set(urls.filter((url): url is string => !!url))] };
}

function signatureMatches(signature: string, rawBody: Buffer, secret: string): boolean {
  return sameSecret(signature, `sha256=${hmacSha256Hex(secret, rawBody)}`);
}
