// Who may use the API: users and their API tokens, over Kysely. Only hashes of passwords and
// tokens are stored; neither leaves this file except to the code that checks them.

import type { Kysely } from 'kysely';
import type { ApiTokenRepository, UserRepository } from '../store.ts';
import { rowToApiToken, rowToUser } from './schema-intake.ts';
import type { Database } from './schema.ts';
import { isEmpty, now } from './shared.ts';

export function userRepository(db: Kysely<Database>): UserRepository {
  const get = async (id: number) => {
    const row = await db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? rowToUser(row) : null;
  };
  return {
    async create(user) {
      const row = await db
        .insertInto('users')
        .values({ name: user.name, role: user.role, password_hash: user.passwordHash, email: user.email ?? null, created_at: now() })
        .onConflict((conflict) => conflict.column('name').doNothing())
        .returningAll()
        .executeTakeFirst();
      return row ? rowToUser(row) : null;
    },

    get,

    async byName(name) {
      const row = await db.selectFrom('users').selectAll().where('name', '=', name).executeTakeFirst();
      return row ? rowToUser(row) : null;
    },

    async list() {
      return (await db.selectFrom('users').selectAll().orderBy('name').execute()).map(rowToUser);
    },

    async update(id, patch) {
      const changes = { role: patch.role, password_hash: patch.passwordHash, email: patch.email };
      if (isEmpty(changes)) return get(id);
      const row = await db.updateTable('users').set(changes).where('id', '=', id).returningAll().executeTakeFirst();
      return row ? rowToUser(row) : null;
    },

    async delete(id) {
      // The tokens go with the user (ON DELETE CASCADE).
      const result = await db.deleteFrom('users').where('id', '=', id).executeTakeFirst();
      return Number(result.numDeletedRows) > 0;
    },

    async passwordHash(id) {
      const row = await db.selectFrom('users').select('password_hash').where('id', '=', id).executeTakeFirst();
      return row?.password_hash ?? null;
    },

    async count() {
      const row = await db
        .selectFrom('users')
        .select((eb) => eb.fn.countAll().as('users'))
        .executeTakeFirstOrThrow();
      return Number(row.users);
    },
  };
}

export function apiTokenRepository(db: Kysely<Database>): ApiTokenRepository {
  return {
    async create(token) {
      const row = await db
        .insertInto('api_tokens')
        .values({ user_id: token.userId, name: token.name, token_hash: token.hash, created_at: now(), last_used_at: null })
        .returningAll()
        .executeTakeFirstOrThrow();
      return rowToApiToken(row);
    },

    async byHash(hash) {
      const row = await db
        .selectFrom('api_tokens')
        .innerJoin('users', 'users.id', 'api_tokens.user_id')
        .select([
          'api_tokens.id as id',
          'api_tokens.user_id as user_id',
          'api_tokens.name as name',
          'api_tokens.token_hash as token_hash',
          'api_tokens.created_at as created_at',
          'api_tokens.last_used_at as last_used_at',
          'users.name as user_name',
          'users.role as user_role',
          'users.password_hash as user_password_hash',
          'users.email as user_email',
          'users.created_at as user_created_at',
        ])
        .where('api_tokens.token_hash', '=', hash)
        .executeTakeFirst();
      if (!row) return null;
      return {
        token: rowToApiToken(row),
        user: rowToUser({ id: row.user_id, name: row.user_name, role: row.user_role, password_hash: row.user_password_hash, email: row.user_email, created_at: row.user_created_at }),
      };
    },

    async list(filter = {}) {
      let query = db.selectFrom('api_tokens').selectAll().orderBy('id');
      if (filter.userId !== undefined) query = query.where('user_id', '=', filter.userId);
      return (await query.execute()).map(rowToApiToken);
    },

    async get(id) {
      const row = await db.selectFrom('api_tokens').selectAll().where('id', '=', id).executeTakeFirst();
      return row ? rowToApiToken(row) : null;
    },

    async delete(id) {
      const result = await db.deleteFrom('api_tokens').where('id', '=', id).executeTakeFirst();
      return Number(result.numDeletedRows) > 0;
    },

    async touch(id, at, notBefore) {
      const result = await db
        .updateTable('api_tokens')
        .set({ last_used_at: at })
        .where('id', '=', id)
        .where((eb) => eb.or([eb('last_used_at', 'is', null), eb('last_used_at', '<', notBefore)]))
        .executeTakeFirst();
      return Number(result.numUpdatedRows) > 0;
    },
  };
}
