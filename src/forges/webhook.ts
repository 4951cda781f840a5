// What every forge adapter needs to read a delivery: headers, JSON, shas, refs, the
// constant-time secret comparison, and the result shapes of the Forge contract.

import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { isZeroSha } from '../core/sha.ts';
import type { RepositoryRef, WebhookHeaders, WebhookResult } from './forge.ts';

export const Sha = z.string().regex(/^([0-9a-f]{40}|[0-9a-f]{64})$/, 'expected a commit sha');

export type Delivered = { deliveryId: string; repository: RepositoryRef };

/** Constant-time equality of a given signature or token and the expected one. */
export function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Node joins repeated headers, except when a caller hands over an array: the first one counts. */
export function header(headers: WebhookHeaders, name: string): string | undefined {
  const value = headers[name];
  const first: unknown = Array.isArray(value) ? value[0] : value;
  return typeof first === 'string' && first !== '' ? first : undefined;
}

export function parseJson(rawBody: Buffer): unknown {
  try {
    return JSON.parse(rawBody.toString('utf8'));
  } catch {
    return undefined;
  }
}

/** The hex HMAC-SHA256 of the raw body under the secret, as GitHub and Gitea sign. */
export function hmacSha256Hex(secret: string, rawBody: Buffer): string {
  return createHmac('sha256', secret).update(rawBody).digest('hex');
}

export type Located<N> = { body: unknown; named: N; repository: RepositoryRef; secret: string } | { rejected: WebhookResult };

/**
 * The first steps of every adapter, in the contract's order of precedence: read the JSON, find
 * the repository it names (not trusted yet: the signature is checked with its secret next), and
 * ask for that repository's secret. `what` names the field in messages ("repository", "project").
 */
export function locate<N>(
  rawBody: Buffer,
  schema: z.ZodType<N>,
  what: string,
  refOf: (named: N) => RepositoryRef,
  secretFor: (repository: RepositoryRef) => string | null,
  secretName = 'webhook secret',
): Located<N> {
  const body = parseJson(rawBody);
  if (body === undefined) return { rejected: malformed('the body is not JSON') };
  const named = schema.safeParse(body);
  if (!named.success) return { rejected: invalid(`the body names no ${what}`, named.error) };
  const repository = refOf(named.data);
  const secret = secretFor(repository);
  if (secret === null) {
    return { rejected: { kind: 'rejected', reason: 'unknown_repository', message: `no ${secretName} is known for ${repository.fullName}` } };
  }
  return { body, named: named.data, repository, secret };
}

export function bodyDigest(rawBody: Buffer): string {
  return `sha256:${createHash('sha256').update(rawBody).digest('hex')}`;
}

export function withoutPrefix(ref: string, prefix: string): string | undefined {
  return ref.startsWith(prefix) && ref.length > prefix.length ? ref.slice(prefix.length) : undefined;
}

/** One ref update as a forge reports it, read out of its payload. */
export type RefUpdate = {
  ref: string;
  before: string;
  after: string;
  deleted: boolean;
  forced: boolean;
  commitCount: number;
  /** The commit a tag names (not an annotated tag's object); for a deleted tag, the one it named. */
  tagCommit: string;
  sender: string;
};

/**
 * The push event for an update of refs/heads/*, the tag event for refs/tags/*, and for any
 * other ref an ignored result whose reason starts with `what` ("push to", "update of").
 */
export function fromRefUpdate(delivered: Delivered, update: RefUpdate, what: string): WebhookResult {
  const { ref, before, after, deleted, sender } = update;
  const branch = withoutPrefix(ref, 'refs/heads/');
  if (branch !== undefined) {
    return {
      kind: 'event',
      event: {
        kind: 'push',
        ...delivered,
        sender,
        branch,
        before,
        after,
        created: isZeroSha(before),
        deleted,
        forced: update.forced,
        commitCount: update.commitCount,
      },
    };
  }
  const tag = withoutPrefix(ref, 'refs/tags/');
  if (tag !== undefined) {
    return { kind: 'event', event: { kind: 'tag', ...delivered, sender, tag, sha: update.tagCommit, deleted } };
  }
  return ignored(delivered, `${what} ${ref}, which is neither a branch nor a tag`);
}

/** What a pull request's payload says of one of its repositories. */
export type RepositoryIdentity = { id?: number | null; fullName?: string | null };

/**
 * Whether a pull request's head is another repository than its base. Where the forge gives
 * both ids they must be equal, and where it gives the head's full name it must be the base's;
 * a head it says nothing of (a deleted fork: GitHub's head.repo is null) is a fork.
 */
export function isFork(head: RepositoryIdentity | null | undefined, base: RepositoryIdentity): boolean {
  if (!head) return true;
  let known = false;
  if (typeof head.id === 'number' && typeof base.id === 'number') {
    if (head.id !== base.id) return true;
    known = true;
  }
  if (head.fullName && base.fullName) {
    if (head.fullName.toLowerCase() !== base.fullName.toLowerCase()) return true;
    known = true;
  }
  return !known;
}

export function ignored(delivered: Delivered, reason: string): WebhookResult {
  return { kind: 'ignored', ...delivered, reason };
}

export function badSignature(message: string): WebhookResult {
  return { kind: 'rejected', reason: 'bad_signature', message };
}

export function malformed(message: string): WebhookResult {
  return { kind: 'rejected', reason: 'malformed', message };
}

export function invalid(what: string, error: z.ZodError): WebhookResult {
  const issue = error.issues[0];
  const where = issue?.path.length ? ` at ${issue.path.map(String).join('.')}` : '';
  return malformed(`${what}${where}: ${issue?.message ?? 'invalid'}`);
}
