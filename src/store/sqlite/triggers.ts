// What triggers keep: webhook deliveries, webhook secrets and cursors, over Kysely.

import type { Kysely } from 'kysely';
import type { Delivery } from '../../core/types.ts';
import type { CursorRepository, DeliveryRepository, WebhookSecretRepository } from '../store.ts';
import { deliveryPatchToRow, deliveryToRow, rowToDelivery } from './schema-intake.ts';
import type { Database } from './schema.ts';
import { isEmpty, type Atomic } from './shared.ts';

/** 13 columns a row: well under SQLite's limit of 32,766 parameters a statement. */
const DELIVERIES_PER_INSERT = 500;

export function deliveryRepository(db: Kysely<Database>, atomic: Atomic): DeliveryRepository {
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
          // One statement per chunk; the unique indexes on (forge, delivery_id) and (forge,
          // body_digest) decide what is a repeat. Only ids come back: the record is what was
          // written (the body is large).
          const inserted = await tx
            .insertInto('deliveries')
            .values(chunk.map(deliveryToRow))
            .onConflict((conflict) => conflict.doNothing())
            .returning(['id', 'forge', 'delivery_id', 'body_digest'])
            .execute();
          // Keyed by id and digest both: a replayed body may come with the same delivery id as a new one.
          const keyOf = (forge: string, deliveryId: string, digest: string) => `${forge}\u0000${deliveryId}\u0000${digest}`;
          const ids = new Map(inserted.map((row) => [keyOf(row.forge, row.delivery_id, row.body_digest), row.id]));
          chunk.forEach((delivery, index) => {
            const key = keyOf(delivery.forge, delivery.deliveryId, delivery.bodyDigest);
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

export function webhookSecretRepository(db: Kysely<Database>): WebhookSecretRepository {
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

export function cursorRepository(db: Kysely<Database>): CursorRepository {
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
