// Stable ports of routes: a route keeps the port it was first given; a new one takes the lowest
// free port of the range, inserted with the port unique, so a race loses cleanly and retries.

import type { Kysely } from 'kysely';
import type { RouteRecord, RouteRepository } from '../store.ts';
import type { Database, RouteTable } from './schema.ts';

/** Two servers racing for ports lose at most one insert each per round. */
const ASSIGN_ATTEMPTS = 20;

export function routeRepository(db: Kysely<Database>): RouteRepository {
  const find = async (service: string, environment: string) =>
    db.selectFrom('routes').selectAll().where('service', '=', service).where('environment', '=', environment).executeTakeFirst();
  return {
    async assign(service, environment, range, at) {
      for (let attempt = 0; attempt < ASSIGN_ATTEMPTS; attempt++) {
        const existing = await find(service, environment);
        if (existing) return rowToRoute(existing);
        const taken = await db.selectFrom('routes').select('port').where('port', '>=', range.from).where('port', '<=', range.to).orderBy('port').execute();
        let port = range.from;
        for (const row of taken) {
          if (row.port !== port) break;
          port++;
        }
        if (port > range.to) return null;
        // Any conflict (this route assigned meanwhile, or the port taken) leaves the row as it was.
        const inserted = await db
          .insertInto('routes')
          .values({ service, environment, port, created_at: at })
          .onConflict((conflict) => conflict.doNothing())
          .returningAll()
          .executeTakeFirst();
        if (inserted) return rowToRoute(inserted);
      }
      throw new Error(`could not assign a port to ${service} in ${environment} after ${ASSIGN_ATTEMPTS} attempts`);
    },

    async list() {
      return (await db.selectFrom('routes').selectAll().orderBy('environment').orderBy('service').execute()).map(rowToRoute);
    },

    async release(service, environment) {
      const deleted = await db.deleteFrom('routes').where('service', '=', service).where('environment', '=', environment).executeTakeFirst();
      return deleted.numDeletedRows > 0n;
    },
  };
}

function rowToRoute(row: RouteTable): RouteRecord {
  return { service: row.service, environment: row.environment, port: row.port, createdAt: row.created_at };
}
