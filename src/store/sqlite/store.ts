// The default Store: one SQLite file (or memory), through Kysely so the queries below stay
// dialect-neutral and a Postgres store can share them.
//
// Kysely's SQLite driver holds one connection behind a mutex, so a transaction excludes
// every other query of this store until it ends: the "read max seq, then insert" of
// logs.append cannot interleave with another append.

import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import { Kysely, Migrator, SqliteDialect, type SqliteDatabase as SqliteDialectDatabase, type Transaction } from 'kysely';
import { describeError } from '../../core/errors.ts';
import type { Delivery, LogLine } from '../../core/types.ts';
import type {
  CursorRepository,
  DeliveryRepository,
  DeploymentRepository,
  EventRepository,
  LogRepository,
  ReleaseRepository,
  RunRepository,
  StageRepository,
  Store,
  WebhookSecretRepository,
} from '../store.ts';
import { startCheckpointer } from './checkpointer.ts';
import { migrationProvider } from './migrations.ts';
import {
  deliveryPatchToRow,
  deliveryToRow,
  deploymentPatchToRow,
  deploymentToRow,
  eventToRow,
  logLineToRow,
  releaseToRow,
  rowToDelivery,
  rowToDeployment,
  rowToEvent,
  rowToLogLine,
  rowToRelease,
  rowToRun,
  rowToStage,
  runPatchToRow,
  runToRow,
  stagePatchToRow,
  stageToRow,
  type Database,
} from './schema.ts';

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

/** Runs fn atomically: in a new transaction, or in the one the store is already bound to. */
type Atomic = <T>(fn: (db: Kysely<Database>) => Promise<T>) => Promise<T>;

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
  };
}

function runRepository(db: Kysely<Database>, atomic: Atomic): RunRepository {
  const get = async (id: number) => {
    const row = await db.selectFrom('runs').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? rowToRun(row) : null;
  };
  return {
    create: (run, stages) =>
      atomic(async (tx) => {
        const row = await tx
          .insertInto('runs')
          .values(runToRow(run, run.createdAt ?? now()))
          .returningAll()
          .executeTakeFirstOrThrow();
        const stageRows =
          stages.length === 0
            ? []
            : await tx
                .insertInto('stages')
                .values(stages.map((stage) => stageToRow(stage, row.id)))
                .returningAll()
                .execute();
        // RETURNING gives rows in no particular order.
        const created = stageRows.map(rowToStage).sort((a, b) => a.position - b.position);
        return { run: rowToRun(row), stages: created };
      }),

    get,

    async list(filter = {}) {
      if (filter.statuses?.length === 0) return [];
      let query = db.selectFrom('runs').selectAll().orderBy('id', 'desc');
      if (filter.service !== undefined) query = query.where('service', '=', filter.service);
      if (filter.lane !== undefined) query = query.where('lane', '=', filter.lane);
      if (filter.statuses !== undefined) query = query.where('status', 'in', filter.statuses);
      if (filter.beforeId !== undefined) query = query.where('id', '<', filter.beforeId);
      if (filter.limit !== undefined) query = query.limit(filter.limit);
      return (await query.execute()).map(rowToRun);
    },

    async update(id, patch) {
      const changes = runPatchToRow(patch);
      if (isEmpty(changes)) return get(id);
      const row = await db.updateTable('runs').set(changes).where('id', '=', id).returningAll().executeTakeFirst();
      return row ? rowToRun(row) : null;
    },

    async latestPerService() {
      const rows = await db
        .selectFrom('runs')
        .selectAll()
        .where('id', 'in', (eb) => eb.selectFrom('runs').select((inner) => inner.fn.max('id').as('id')).groupBy('service'))
        .orderBy('service')
        .execute();
      return rows.map(rowToRun);
    },
  };
}

function stageRepository(db: Kysely<Database>): StageRepository {
  const get = async (id: number) => {
    const row = await db.selectFrom('stages').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? rowToStage(row) : null;
  };
  return {
    async listByRun(runId) {
      const rows = await db.selectFrom('stages').selectAll().where('run_id', '=', runId).orderBy('position').execute();
      return rows.map(rowToStage);
    },

    get,

    async update(id, patch) {
      const changes = stagePatchToRow(patch);
      if (isEmpty(changes)) return get(id);
      const row = await db.updateTable('stages').set(changes).where('id', '=', id).returningAll().executeTakeFirst();
      return row ? rowToStage(row) : null;
    },
  };
}

// 500 lines bind 3000 variables, far below SQLite's limit (32766) and Postgres's (65535);
// larger statements measured no faster, as parsing them grows with their size.
const LOG_LINES_PER_INSERT = 500;

function logRepository(db: Kysely<Database>, atomic: Atomic): LogRepository {
  return {
    async append(lines) {
      if (lines.length === 0) return [];
      return atomic(async (tx) => {
        const lastSeq = new Map<number, number>();
        const stored: LogLine[] = [];
        for (const { runId, stageId, stream, text, at } of lines) {
          const seq = (lastSeq.get(runId) ?? (await maxSeq(tx, runId))) + 1;
          lastSeq.set(runId, seq);
          stored.push({ runId, stageId, seq, stream, text, at });
        }
        for (let start = 0; start < stored.length; start += LOG_LINES_PER_INSERT) {
          const chunk = stored.slice(start, start + LOG_LINES_PER_INSERT);
          await tx.insertInto('log_lines').values(chunk.map(logLineToRow)).execute();
        }
        return stored;
      });
    },

    async list(runId, filter = {}) {
      let query = db.selectFrom('log_lines').selectAll().where('run_id', '=', runId).orderBy('seq');
      if (filter.afterSeq !== undefined) query = query.where('seq', '>', filter.afterSeq);
      if (filter.stageId !== undefined) query = query.where('stage_id', '=', filter.stageId);
      if (filter.limit !== undefined) query = query.limit(filter.limit);
      return (await query.execute()).map(rowToLogLine);
    },

    async count(stageId, stream) {
      const row = await db
        .selectFrom('log_lines')
        .select((eb) => eb.fn.countAll().as('lines'))
        .where('stage_id', '=', stageId)
        .where('stream', '=', stream)
        .executeTakeFirstOrThrow();
      // Postgres returns counts as strings.
      return Number(row.lines);
    },
  };
}

async function maxSeq(db: Kysely<Database>, runId: number): Promise<number> {
  const row = await db
    .selectFrom('log_lines')
    .select((eb) => eb.fn.max('seq').as('seq'))
    .where('run_id', '=', runId)
    .executeTakeFirst();
  // max() over no rows is NULL.
  return Number(row?.seq ?? 0);
}

function releaseRepository(db: Kysely<Database>): ReleaseRepository {
  return {
    async create(release) {
      const row = await db.insertInto('releases').values(releaseToRow(release, now())).returningAll().executeTakeFirstOrThrow();
      return rowToRelease(row);
    },

    async get(id) {
      const row = await db.selectFrom('releases').selectAll().where('id', '=', id).executeTakeFirst();
      return row ? rowToRelease(row) : null;
    },

    async list(filter = {}) {
      let query = db.selectFrom('releases').selectAll().orderBy('id', 'desc');
      if (filter.service !== undefined) query = query.where('service', '=', filter.service);
      if (filter.runId !== undefined) query = query.where('run_id', '=', filter.runId);
      if (filter.limit !== undefined) query = query.limit(filter.limit);
      return (await query.execute()).map(rowToRelease);
    },
  };
}

function deploymentRepository(db: Kysely<Database>): DeploymentRepository {
  const get = async (id: number) => {
    const row = await db.selectFrom('deployments').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? rowToDeployment(row) : null;
  };
  return {
    async create(deployment) {
      const row = await db.insertInto('deployments').values(deploymentToRow(deployment)).returningAll().executeTakeFirstOrThrow();
      return rowToDeployment(row);
    },

    get,

    async update(id, patch) {
      const changes = deploymentPatchToRow(patch);
      if (isEmpty(changes)) return get(id);
      const row = await db.updateTable('deployments').set(changes).where('id', '=', id).returningAll().executeTakeFirst();
      return row ? rowToDeployment(row) : null;
    },

    async list(filter = {}) {
      if (filter.statuses?.length === 0) return [];
      let query = db.selectFrom('deployments').selectAll().orderBy('id', 'desc');
      if (filter.service !== undefined) query = query.where('service', '=', filter.service);
      if (filter.environment !== undefined) query = query.where('environment', '=', filter.environment);
      if (filter.statuses !== undefined) query = query.where('status', 'in', filter.statuses);
      if (filter.limit !== undefined) query = query.limit(filter.limit);
      return (await query.execute()).map(rowToDeployment);
    },

    async current(service, environment) {
      const row = await db
        .selectFrom('deployments')
        .selectAll()
        .where('service', '=', service)
        .where('environment', '=', environment)
        .where('status', '=', 'succeeded')
        .orderBy('id', 'desc')
        .limit(1)
        .executeTakeFirst();
      return row ? rowToDeployment(row) : null;
    },
  };
}

function eventRepository(db: Kysely<Database>): EventRepository {
  return {
    async append(event) {
      const row = await db.insertInto('events').values(eventToRow(event, event.at ?? now())).returningAll().executeTakeFirstOrThrow();
      return rowToEvent(row);
    },

    async list(filter = {}) {
      let query = db.selectFrom('events').selectAll().orderBy('id');
      if (filter.afterId !== undefined) query = query.where('id', '>', filter.afterId);
      if (filter.runId !== undefined) query = query.where('run_id', '=', filter.runId);
      if (filter.limit !== undefined) query = query.limit(filter.limit);
      return (await query.execute()).map(rowToEvent);
    },
  };
}

/** 12 columns a row: well under SQLite's limit of 32,766 parameters a statement. */
const DELIVERIES_PER_INSERT = 500;

function deliveryRepository(db: Kysely<Database>, atomic: Atomic): DeliveryRepository {
  const get = async (id: number) => {
    const row = await db.selectFrom('deliveries').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? rowToDelivery(row) : null;
  };
  return {
    record: (deliveries) =>
      atomic(async (tx) => {
        const stored: Array<Delivery | null> = deliveries.map(() => null);
        for (let start = 0; start < deliveries.length; start += DELIVERIES_PER_INSERT) {
          const chunk = deliveries.slice(start, start + DELIVERIES_PER_INSERT);
          // One statement per chunk; the unique (forge, delivery_id) index decides what is a
          // repeat. Only ids come back: the record is what was written (the body is large).
          const inserted = await tx
            .insertInto('deliveries')
            .values(chunk.map(deliveryToRow))
            .onConflict((conflict) => conflict.columns(['forge', 'delivery_id']).doNothing())
            .returning(['id', 'forge', 'delivery_id'])
            .execute();
          const ids = new Map(inserted.map((row) => [`${row.forge}\u0000${row.delivery_id}`, row.id]));
          chunk.forEach((delivery, index) => {
            const key = `${delivery.forge}\u0000${delivery.deliveryId}`;
            const id = ids.get(key);
            if (id === undefined) return;
            // A repeat within the chunk: the first one is the stored one.
            ids.delete(key);
            const { outcome, ...rest } = delivery;
            stored[start + index] =
              outcome === undefined
                ? { ...rest, id, status: 'received', outcome: null, processedAt: null }
                : { ...rest, id, status: 'processed', outcome, processedAt: delivery.receivedAt };
          });
        }
        return stored;
      }),

    get,

    async list(filter = {}) {
      if (filter.statuses?.length === 0) return [];
      let query = db.selectFrom('deliveries').selectAll().orderBy('id', 'desc');
      if (filter.statuses !== undefined) query = query.where('status', 'in', filter.statuses);
      if (filter.beforeId !== undefined) query = query.where('id', '<', filter.beforeId);
      if (filter.limit !== undefined) query = query.limit(filter.limit);
      return (await query.execute()).map(rowToDelivery);
    },

    updateMany: (updates) =>
      atomic(async (tx) => {
        for (const { id, patch } of updates) {
          const changes = deliveryPatchToRow(patch);
          if (!isEmpty(changes)) await tx.updateTable('deliveries').set(changes).where('id', '=', id).execute();
        }
      }),
  };
}

function webhookSecretRepository(db: Kysely<Database>): WebhookSecretRepository {
  return {
    async get(forge, repository) {
      const row = await db
        .selectFrom('webhook_secrets')
        .select('sealed')
        .where('forge', '=', forge)
        .where('repository', '=', repository)
        .executeTakeFirst();
      return row?.sealed ?? null;
    },

    async set(forge, repository, sealed) {
      await db
        .insertInto('webhook_secrets')
        .values({ forge, repository, sealed })
        .onConflict((conflict) => conflict.columns(['forge', 'repository']).doUpdateSet({ sealed }))
        .execute();
    },

    async delete(forge, repository) {
      const result = await db.deleteFrom('webhook_secrets').where('forge', '=', forge).where('repository', '=', repository).executeTakeFirst();
      return Number(result.numDeletedRows) > 0;
    },

    async list() {
      return db.selectFrom('webhook_secrets').selectAll().orderBy('forge').orderBy('repository').execute();
    },
  };
}

function cursorRepository(db: Kysely<Database>): CursorRepository {
  return {
    async get(key) {
      const row = await db.selectFrom('cursors').select('value').where('key', '=', key).executeTakeFirst();
      return row?.value ?? null;
    },

    async set(key, value) {
      await db
        .insertInto('cursors')
        .values({ key, value })
        .onConflict((conflict) => conflict.column('key').doUpdateSet({ value }))
        .execute();
    },
  };
}

/** A patch whose every field is absent changes nothing (and would be an empty SET). */
function isEmpty(changes: object): boolean {
  return Object.values(changes).every((value) => value === undefined);
}

function now(): string {
  return new Date().toISOString();
}
