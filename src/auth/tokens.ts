// API token values. A token is 256 random bits: the store keeps only its SHA-256, which is all a
// lookup needs (a slow hash protects guessable passwords, not random keys) and is useless to
// whoever reads the database.

import { createHash, randomBytes } from 'node:crypto';

/** A prefix that says what the string is, so secret scanners and people can tell. */
const PREFIX = 'slw_';
const TOKEN = /^slw_[A-Za-z0-9_-]{43}$/;

export function newTokenValue(): string {
  return `${PREFIX}${randomBytes(32).toString('base64url')}`;
}

export function tokenHash(value: string): string {
  return createHash('sha256').update(value).digest('hex');
}

/** Whether the string has a token's form; anything else is refused without a lookup. */
export function looksLikeToken(value: string): boolean {
  return TOKEN.test(value);
}
