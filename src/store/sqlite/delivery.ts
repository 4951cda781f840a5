// Delivery's records over Kysely: approvals (one decision per person and stage), environment
// locks, environment secrets (sealed by the caller) and the outbox. Locks, approvals and
// outbox claims are compare-and-set: a unique key or a guarded UPDATE decides who won.

import type { ExpressionBuilder, Kysely } from 'kysely';
import type { ApprovalRepository, LockRepository, OutboxRepository, SecretRepository } from '../store.ts';
import { approvalToRow, EVERY_SERVICE, lockToRow, rowToApproval, rowToLock, rowToOutboxItem, rowToSecret } from './schema-delivery.ts';
import type { Database } from './schema.ts';
import { now, type Atomic } from './shared.ts';

export function approvalRepository(db: Kysely<Database>): ApprovalRepository {
  return {
    async record(approval) {
      const row = await db
        .insertInto('approvals')
        .values(approvalToRow(approval))
        .onConflict((conflict) => conflict.columns(['stage_id', 'user_name']).doNothing())
        .returningAll()
        .executeTakeFirst();
      return row ? rowToApproval(row) : null;
    },

    async list(filter) {
      let query = db.selectFrom('approvals').selectAll().orderBy('id');
      if (filter.runId !== undefined) query = query.where('run_id', '=', filter.runId);
      if (filter.stageId !== undefined) query = query.where('stage_id', '=', filter.stageId);
      return (await query.execute()).map(rowToApproval);
    },
  };
}

export function lockRepository(db: Kysely<Database>): LockRepository {
  return {
    async acquire(lock) {
      const row = await db
        .insertInto('environment_locks')
        .values(lockToRow(lock))
        .onConflict((conflict) => conflict.columns(['environment', 'service']).doNothing())
        .returningAll()
        .executeTakeFirst();
      return row ? rowToLock(row) : null;
    },

    async release(environment, service) {
      const row = await db
        .deleteFrom('environment_locks')
        .where('environment', '=', environment)
        .where('service', '=', service ?? EVERY_SERVICE)
        .returningAll()
        .executeTakeFirst();
      return row ? rowToLock(row) : null;
    },

    async list(filter = {}) {
      let query = db.selectFrom('environment_locks').selectAll().orderBy('environment').orderBy('service');
      if (filter.environment !== undefined) query = query.where('environment', '=', filter.environment);
      return (await query.execute()).map(rowToLock);
    },
  };
}

export function secretRepository(db: Kysely<Database>, atomic: Atomic): SecretRepository {
  return {
    async set(secret) {
      const row = {
        environment: secret.environment,
        service: secret.service ?? EVERY_SERVICE,
        name: secret.name,
        sealed: secret.sealed,
        updated_at: secret.updatedAt,
        updated_by: secret.updatedBy,
      };
      await db
        .insertInto('secrets')
        .values(row)
        .onConflict((conflict) => conflict.columns(['environment', 'service', 'name']).doUpdateSet({ sealed: row.sealed, updated_at: row.updated_at, updated_by: row.updated_by }))
        .execute();
    },

    async delete(environment, service, name) {
      const result = await db
        .deleteFrom('secrets')
        .where('environment', '=', environment)
        .where('service', '=', service ?? EVERY_SERVICE)
        .where('name', '=', name)
        .executeTakeFirst();
      return Number(result.numDeletedRows) > 0;
    },

    async list(filter = {}) {
      let query = db.selectFrom('secrets').selectAll().orderBy('environment').orderBy('service').orderBy('name');
      if (filter.environment !== undefined) query = query.where('environment', '=', filter.environment);
      return (await query.execute()).map(rowToSecret);
    },

    reseal: (updates) =>
      atomic(async (tx) => {
        for (const update of updates) {
          await tx
            .updateTable('secrets')
            .set({ sealed: update.sealed })
            .where('environment', '=', update.environment)
            .where('service', '=', update.service ?? EVERY_SERVICE)
            .where('name', '=', update.name)
            .execute();
        }
      }),
  };
}

export function outboxRepository(db: Kysely<Database>, atomic: Atomic): OutboxRepository {
  return {
    enqueue: (items) =>
      atomic(async (tx) => {
        const stored = [];
        for (const item of items) {
          if (item.key !== null) {
            // An item a sender holds is left to it (settle drops it then); one whose lease ran out is nobody's.
            await tx
              .deleteFrom('outbox')
              .where('topic', '=', item.topic)
              .where('key', '=', item.key)
              .where('status', '=', 'pending')
              .where((eb) => eb.or([eb('lease_until', 'is', null), eb('lease_until', '<', item.at)]))
              .execute();
          }
          const row = await tx
            .insertInto('outbox')
            .values({
              topic: item.topic,
              destination: item.destination,
              key: item.key,
              payload: JSON.stringify(item.payload ?? null),
              status: 'pending',
              attempts: 0,
              next_attempt_at: item.at,
              lease_until: null,
              last_error: null,
              created_at: item.at,
              done_at: null,
            })
            .returningAll()
            .executeTakeFirstOrThrow();
          stored.push(rowToOutboxItem(row));
        }
        return stored;
      }),

    // One statement: a read then a write would let a second server's connection in between
    // (and, on SQLite, make it wait for the lock to upgrade).
    async claim(now, leaseUntil, limit) {
      const free = (eb: ExpressionBuilder<Database, 'outbox'>) => eb.or([eb('lease_until', 'is', null), eb('lease_until', '<', now)]);
      const rows = await db
        .updateTable('outbox')
        .set((eb) => ({ lease_until: leaseUntil, attempts: eb('attempts', '+', 1) }))
        .where('id', 'in', (eb) =>
          eb.selectFrom('outbox').select('id').where('status', '=', 'pending').where('next_attempt_at', '<=', now).where(free).orderBy('next_attempt_at').orderBy('id').limit(limit),
        )
        .where('status', '=', 'pending')
        .where(free)
        .returningAll()
        .execute();
      return rows.map(rowToOutboxItem).sort((a, b) => a.id - b.id);
    },

    settle: (id, outcome) =>
      atomic(async (tx) => {
        let changes =
          outcome.status === 'pending'
            ? { status: outcome.status, next_attempt_at: outcome.nextAttemptAt, last_error: outcome.error, lease_until: null, done_at: null as string | null }
            : { status: outcome.status, done_at: outcome.at, last_error: outcome.error ?? null, lease_until: null };
        if (outcome.status === 'pending') {
          // A newer item with the same key came while this one was out: only the newest state is sent.
          const item = await tx.selectFrom('outbox').select(['topic', 'key']).where('id', '=', id).executeTakeFirst();
          const newer =
            item?.key != null &&
            (await tx.selectFrom('outbox').select('id').where('topic', '=', item.topic).where('key', '=', item.key).where('id', '>', id).where('status', '=', 'pending').executeTakeFirst());
          if (newer) changes = { status: 'failed', done_at: now(), last_error: `replaced by a newer item with its key (${outcome.error})`, lease_until: null };
        }
        const row = await tx.updateTable('outbox').set(changes).where('id', '=', id).where('status', '=', 'pending').returningAll().executeTakeFirst();
        return row ? rowToOutboxItem(row) : null;
      }),

    async nextDue() {
      const row = await db
        .selectFrom('outbox')
        .select((eb) => eb.fn.min('next_attempt_at').as('due'))
        .where('status', '=', 'pending')
        .executeTakeFirst();
      return (row?.due as string | null | undefined) ?? null;
    },

    async list(filter = {}) {
      if (filter.statuses?.length === 0) return [];
      let query = db.selectFrom('outbox').selectAll().orderBy('id', 'desc');
      if (filter.topic !== undefined) query = query.where('topic', '=', filter.topic);
      if (filter.statuses !== undefined) query = query.where('status', 'in', filter.statuses);
      if (filter.limit !== undefined) query = query.limit(filter.limit);
      return (await query.execute()).map(rowToOutboxItem);
    },
  };
}
