// The default Store: one SQLite file (or memory), through Kysely so the queries stay
// dialect-neutral and a Postgres store can share them. The queries live by concern in
// runs.ts, triggers.ts, access.ts and delivery.ts; this file opens the database and wires them.
//
// Kysely's SQLite driver holds one connection behind a mutex, so a transaction excludes
// every other query of this store until it ends: the "read max seq, then insert" of
// logs.append cannot interleave with another append.

import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import { Kysely, Migrator, SqliteDialect, type SqliteDatabase as SqliteDialectDatabase, type Transaction } from 'kysely';
import { describeError } from '../../core/errors.ts';
import type { Store } from '../store.ts';
import { apiTokenRepository, userRepository } from './access.ts';
import { startCheckpointer } from './checkpointer.ts';
import { approvalRepository, lockRepository, outboxRepository, secretRepository } from './delivery.ts';
import { previewRepository } from './previews.ts';
import { routeRepository } from './routes.ts';
import { migrationProvider } from './migrations.ts';
import { deploymentRepository, eventRepository, logRepository, releaseRepository, runRepository, stageRepository } from './runs.ts';
import type { Database } from './schema.ts';
import type { Atomic } from './shared.ts';
import { cursorRepository, deliveryRepository, webhookSecretRepository } from './triggers.ts';

/** Opens (creating if needed) the database at `path`, or ':memory:', migrated to the latest schema. */
export async function openSqliteStore(path: string): Promise<Store> {
  const memory = path === ':memory:';
  const location = memory ? path : resolve(path);
  if (!memory) mkdirSync(dirname(location), { recursive: true });

  const sqlite = new SqliteDatabase(location);
  // WAL lets readers (the dashboard, the CLI) proceed while the engine writes. Under WAL,
  // NORMAL loses nothing when the process crashes (only the last commits on power loss) and
  // spares an fsync per commit, which the frequent log appends would otherwise pay.
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = NORMAL');
  sqlite.pragma('foreign_keys = ON');
  sqlite.pragma('busy_timeout = 5000');
  // The checkpointer does the checkpoints; this threshold (64 MB of WAL) is the backstop.
  const checkpointer = memory ? null : startCheckpointer(location);
  if (checkpointer) sqlite.pragma('wal_autocheckpoint = 16384');

  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: withStatementCache(sqlite) }) });
  const { error } = await new Migrator({ db, provider: migrationProvider }).migrateToLatest();
  if (error !== undefined) {
    await db.destroy();
    await checkpointer?.stop();
    throw new Error(`cannot migrate ${location}: ${describeError(error)}`, { cause: error });
  }
  return rootStore(db, `sqlite (${location})`, async () => {
    await db.destroy();
    await checkpointer?.stop();
  });
}

/** Statements kept prepared; the hot paths (webhooks, log lines, transitions) repeat a few dozen. */
const PREPARED_STATEMENTS = 256;

/**
 * better-sqlite3 compiles a statement on every prepare(), and Kysely prepares each query anew:
 * reusing the compiled statement for the same SQL text spares that on every query.
 */
function withStatementCache(sqlite: SqliteDatabase.Database): SqliteDialectDatabase {
  const statements = new Map<string, SqliteDatabase.Statement>();
  return {
    close: () => sqlite.close(),
    prepare(text: string) {
      let statement = statements.get(text);
      if (statement) {
        // Map order is insertion order: re-inserting keeps the most used at the end.
        statements.delete(text);
      } else {
        statement = sqlite.prepare(text);
        if (statements.size >= PREPARED_STATEMENTS) statements.delete(statements.keys().next().value!);
      }
      statements.set(text, statement);
      return statement;
    },
  };
}

type Repositories = Omit<Store, 'description' | 'transaction' | 'close'>;

function rootStore(db: Kysely<Database>, description: string, close: () => Promise<void>): Store {
  return {
    description,
    ...repositories(db, (fn) => db.transaction().execute(fn)),
    transaction: (fn) => db.transaction().execute((trx) => fn(boundStore(trx, description))),
    close,
  };
}

function boundStore(trx: Transaction<Database>, description: string): Store {
  const store: Store = {
    description,
    ...repositories(trx, (fn) => fn(trx)),
    // Already inside a transaction: nesting joins it, so the outer one stays all or nothing.
    transaction: (fn) => fn(store),
    close: () => Promise.reject(new Error('close() belongs to the store, not to a transaction')),
  };
  return store;
}

function repositories(db: Kysely<Database>, atomic: Atomic): Repositories {
  return {
    runs: runRepository(db, atomic),
    stages: stageRepository(db),
    logs: logRepository(db, atomic),
    releases: releaseRepository(db),
    deployments: deploymentRepository(db),
    events: eventRepository(db),
    deliveries: deliveryRepository(db, atomic),
    webhookSecrets: webhookSecretRepository(db),
    cursors: cursorRepository(db),
    users: userRepository(db),
    tokens: apiTokenRepository(db),
    approvals: approvalRepository(db),
    locks: lockRepository(db),
    secrets: secretRepository(db, atomic),
    outbox: outboxRepository(db, atomic),
    routes: routeRepository(db),
    previews: previewRepository(db),
  };
}
