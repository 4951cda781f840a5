// What the repository modules of the SQLite store share.

import type { Kysely } from 'kysely';
import type { Database } from './schema.ts';

/** Runs fn atomically: in a new transaction, or in the one the store is already bound to. */
export type Atomic = <T>(fn: (db: Kysely<Database>) => Promise<T>) => Promise<T>;

/** A patch whose every field is absent changes nothing (and would be an empty SET). */
export function isEmpty(changes: object): boolean {
  return Object.values(changes).every((value) => value === undefined);
}

export function now(): string {
  return new Date().toISOString();
}
