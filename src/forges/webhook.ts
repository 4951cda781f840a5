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
