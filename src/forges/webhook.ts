// What every forge adapter needs to read a delivery: headers, JSON, shas, refs, the
// constant-time secret comparison, and the result shapes of the Forge contract.

import { createHash, timingSafeEqual } from 'node:crypto';
import type { z } from 'zod';
import type { RepositoryRef, WebhookHeaders, WebhookResult } from './forge.ts';

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

export function bodyDigest(rawBody: Buffer): string {
  return `sha256:${createHash('sha256').update(rawBody).digest('hex')}`;
}

export function isZeroSha(sha: string): boolean {
  return /^0+$/.test(sha);
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
