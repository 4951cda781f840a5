// Versioned schema migrations for Kysely's Migrator. A migration, once released, never
// changes: later schema changes are new entries. Migrations take Kysely<any> on purpose, so
// they describe the schema as it was then, not as schema.ts describes it now.

import { createHash } from 'node:crypto';
import { sql, type Kysely, type Migration, type MigrationProvider } from 'kysely';

const initial: Migration = {
  async up(db: Kysely<any>): Promise<void> {
    // AUTOINCREMENT keeps ids from being reused, so a run's URL never points at another run
    // once old rows are pruned.
    await db.schema
      .createTable('runs')
      .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
      .addColumn('service', 'text', (c) => c.notNull())
      .addColumn('ref', 'text', (c) => c.notNull())
      .addColumn('commit_sha', 'text', (c) => c.notNull())
      .addColumn('trigger_kind', 'text', (c) => c.notNull())
      .addColumn('trigger_by', 'text', (c) => c.notNull())
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('reason', 'text')
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('started_at', 'text')
      .addColumn('finished_at', 'text')
      .execute();
    await db.schema.createIndex('runs_service_id').on('runs').columns(['service', 'id desc']).execute();
    await db.schema.createIndex('runs_status').on('runs').column('status').execute();

    await db.schema
      .createTable('stages')
      .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
      .addColumn('run_id', 'integer', (c) => c.notNull().references('runs.id').onDelete('cascade'))
      .addColumn('position', 'integer', (c) => c.notNull())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('kind', 'text', (c) => c.notNull())
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('command', 'text')
      .addColumn('environment', 'text')
      .addColumn('timeout_ms', 'integer', (c) => c.notNull())
      .addColumn('exit_code', 'integer')
      .addColumn('reason', 'text')
      .addColumn('handle', 'text')
      .addColumn('started_at', 'text')
      .addColumn('finished_at', 'text')
      .execute();
    await db.schema.createIndex('stages_run_position').unique().on('stages').columns(['run_id', 'position']).execute();

    await db.schema
      .createTable('log_lines')
      .addColumn('run_id', 'integer', (c) => c.notNull().references('runs.id').onDelete('cascade'))
      .addColumn('stage_id', 'integer', (c) => c.notNull().references('stages.id').onDelete('cascade'))
      .addColumn('seq', 'integer', (c) => c.notNull())
      .addColumn('stream', 'text', (c) => c.notNull())
      .addColumn('text', 'text', (c) => c.notNull())
      .addColumn('at', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('log_lines_pk', ['run_id', 'seq'])
      .execute();
    // (stage_id, seq) serves both a stage's log in order and the per-stage counts.
    await db.schema.createIndex('log_lines_stage_seq').on('log_lines').columns(['stage_id', 'seq']).execute();

    await db.schema
      .createTable('releases')
      .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
      .addColumn('service', 'text', (c) => c.notNull())
      .addColumn('commit_sha', 'text', (c) => c.notNull())
      .addColumn('image', 'text', (c) => c.notNull())
      .addColumn('digest', 'text', (c) => c.notNull())
      .addColumn('run_id', 'integer', (c) => c.notNull().references('runs.id'))
      .addColumn('created_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('releases_service_id').on('releases').columns(['service', 'id desc']).execute();

    await db.schema
      .createTable('deployments')
      .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
      .addColumn('service', 'text', (c) => c.notNull())
      .addColumn('environment', 'text', (c) => c.notNull())
      .addColumn('release_id', 'integer', (c) => c.notNull().references('releases.id'))
      .addColumn('run_id', 'integer', (c) => c.references('runs.id'))
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('previous_release_id', 'integer', (c) => c.references('releases.id'))
      .addColumn('url', 'text')
      .addColumn('reason', 'text')
      .addColumn('started_at', 'text', (c) => c.notNull())
      .addColumn('finished_at', 'text')
      .execute();
    await db.schema
      .createIndex('deployments_service_environment_status')
      .on('deployments')
      .columns(['service', 'environment', 'status', 'id desc'])
      .execute();

    // The audit log outlives what it mentions, so run_id is deliberately not a foreign key.
    await db.schema
      .createTable('events')
      .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
      .addColumn('at', 'text', (c) => c.notNull())
      .addColumn('type', 'text', (c) => c.notNull())
      .addColumn('run_id', 'integer')
      .addColumn('service', 'text')
      .addColumn('data', 'text', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('events_run_id').on('events').columns(['run_id', 'id']).execute();
  },
};

const triggers: Migration = {
  async up(db: Kysely<any>): Promise<void> {
    // Runs from before lanes existed ran one per service in order: their branch lane, queued.
    await db.schema.alterTable('runs').addColumn('lane', 'text', (c) => c.notNull().defaultTo('')).execute();
    await db.updateTable('runs').set({ lane: sql`ref` }).execute();
    await db.schema.alterTable('runs').addColumn('concurrency', 'text', (c) => c.notNull().defaultTo('queue')).execute();
    await db.schema.alterTable('runs').addColumn('partial', 'integer', (c) => c.notNull().defaultTo(0)).execute();
    await db.schema.alterTable('runs').addColumn('tag', 'text').execute();
    await db.schema.alterTable('runs').addColumn('variables', 'text', (c) => c.notNull().defaultTo('{}')).execute();
    await db.schema.alterTable('runs').addColumn('origin_run_id', 'integer').execute();
    await db.schema.createIndex('runs_service_lane_id').on('runs').columns(['service', 'lane', 'id desc']).execute();
    await db.schema.alterTable('releases').addColumn('tag', 'text').execute();

    await db.schema
      .createTable('deliveries')
      .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
      .addColumn('forge', 'text', (c) => c.notNull())
      .addColumn('delivery_id', 'text', (c) => c.notNull())
      .addColumn('repository', 'text', (c) => c.notNull())
      .addColumn('event', 'text', (c) => c.notNull())
      .addColumn('parsed', 'text', (c) => c.notNull())
      .addColumn('headers', 'text', (c) => c.notNull())
      .addColumn('body', 'blob', (c) => c.notNull())
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('outcome', 'text')
      .addColumn('received_at', 'text', (c) => c.notNull())
      .addColumn('processed_at', 'text')
      .execute();
    await db.schema.createIndex('deliveries_forge_delivery_id').unique().on('deliveries').columns(['forge', 'delivery_id']).execute();
    await db.schema.createIndex('deliveries_status').on('deliveries').columns(['status', 'id']).execute();

    await db.schema
      .createTable('webhook_secrets')
      .addColumn('forge', 'text', (c) => c.notNull())
      .addColumn('repository', 'text', (c) => c.notNull())
      .addColumn('sealed', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('webhook_secrets_pk', ['forge', 'repository'])
      .execute();

    await db.schema
      .createTable('cursors')
      .addColumn('key', 'text', (c) => c.primaryKey())
      .addColumn('value', 'text', (c) => c.notNull())
      .execute();
  },
};

/** Headers that sign or authenticate a delivery, as stored (lower-case). */
const SIGNATURE_HEADERS = new Set([
  'x-hub-signature',
  'x-hub-signature-256',
  'x-gitea-signature',
  'x-forgejo-signature',
  'x-gogs-signature',
  'x-gitlab-token',
  'x-slipway-token',
  'authorization',
  'cookie',
  'proxy-authorization',
]);

const trust: Migration = {
  async up(db: Kysely<any>): Promise<void> {
    await db.schema.alterTable('runs').addColumn('untrusted', 'integer', (c) => c.notNull().defaultTo(0)).execute();

    // Releases say where they came from (their lane; the origin is read off it and the tag);
    // those built before take their run's.
    await db.schema.alterTable('releases').addColumn('lane', 'text', (c) => c.notNull().defaultTo('')).execute();
    await db
      .updateTable('releases')
      .set({ lane: sql`(select lane from runs where runs.id = releases.run_id)` })
      .execute();

    await db.schema.alterTable('events').addColumn('actor', 'text').execute();

    // A body seen before is a replay whatever its delivery id. Bodies stored twice before this
    // migration keep their first digest; the later copies get theirs made unique. Signatures
    // kept with older deliveries go: with the body they would make a replayable request.
    await db.schema.alterTable('deliveries').addColumn('body_digest', 'text').execute();
    const seen = new Set<string>();
    for (const row of await db.selectFrom('deliveries').select(['id', 'forge', 'body', 'headers']).orderBy('id').execute()) {
      const digest = `sha256:${createHash('sha256').update(row.body as Buffer).digest('hex')}`;
      const key = `${row.forge as string}\u0000${digest}`;
      const headers = Object.fromEntries(Object.entries(JSON.parse(row.headers as string) as Record<string, string>).filter(([name]) => !SIGNATURE_HEADERS.has(name)));
      await db
        .updateTable('deliveries')
        .set({ body_digest: seen.has(key) ? `${digest}#${row.id as number}` : digest, headers: JSON.stringify(headers) })
        .where('id', '=', row.id)
        .execute();
      seen.add(key);
    }
    await db.schema.createIndex('deliveries_forge_body_digest').unique().on('deliveries').columns(['forge', 'body_digest']).execute();

    await db.schema
      .createTable('users')
      .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
      .addColumn('name', 'text', (c) => c.notNull().unique())
      .addColumn('role', 'text', (c) => c.notNull())
      .addColumn('password_hash', 'text')
      .addColumn('created_at', 'text', (c) => c.notNull())
      .execute();

    // Only a hash of each token is kept: the value is shown once, when it is made.
    await db.schema
      .createTable('api_tokens')
      .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
      .addColumn('user_id', 'integer', (c) => c.notNull().references('users.id').onDelete('cascade'))
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('token_hash', 'text', (c) => c.notNull().unique())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('last_used_at', 'text')
      .execute();
    await db.schema.createIndex('api_tokens_user_id').on('api_tokens').columns(['user_id', 'id']).execute();
  },
};

const delivery: Migration = {
  async up(db: Kysely<any>): Promise<void> {
    await db.schema.alterTable('runs').addColumn('release_id', 'integer', (c) => c.references('releases.id')).execute();
    await db.schema.alterTable('runs').addColumn('commit_author', 'text').execute();
    await db.schema.alterTable('runs').addColumn('forced', 'integer', (c) => c.notNull().defaultTo(0)).execute();
    await db.schema.alterTable('runs').addColumn('note', 'text').execute();

    // A waiting stage's wait; wake_at (its `until`) is indexed for the waker's "what is due".
    await db.schema.alterTable('stages').addColumn('wait', 'text').execute();
    await db.schema.alterTable('stages').addColumn('wake_at', 'text').execute();
    await db.updateTable('stages').set({ status: 'waiting' }).where('status', '=', 'awaiting_approval').execute();
    await db.schema.createIndex('stages_waiting').on('stages').columns(['status', 'wake_at']).execute();

    await db.schema.alterTable('deployments').addColumn('kind', 'text', (c) => c.notNull().defaultTo('deploy')).execute();
    await db.schema.alterTable('deployments').addColumn('actor', 'text').execute();
    await db.schema.alterTable('deployments').addColumn('note', 'text').execute();
    await db.schema.alterTable('deployments').addColumn('forced', 'integer', (c) => c.notNull().defaultTo(0)).execute();
    await db.schema.createIndex('deployments_service_environment').on('deployments').columns(['service', 'environment', 'id desc']).execute();

    await db.schema.alterTable('events').addColumn('environment', 'text').execute();
    await db.schema.createIndex('events_service_id').on('events').columns(['service', 'id']).execute();
    await db.schema.createIndex('events_actor_id').on('events').columns(['actor', 'id']).execute();

    await db.schema.alterTable('users').addColumn('email', 'text').execute();

    await db.schema
      .createTable('approvals')
      .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
      .addColumn('run_id', 'integer', (c) => c.notNull().references('runs.id').onDelete('cascade'))
      .addColumn('stage_id', 'integer', (c) => c.notNull().references('stages.id').onDelete('cascade'))
      .addColumn('service', 'text', (c) => c.notNull())
      .addColumn('environment', 'text', (c) => c.notNull())
      .addColumn('release_id', 'integer', (c) => c.notNull().references('releases.id'))
      .addColumn('digest', 'text', (c) => c.notNull())
      .addColumn('user_name', 'text', (c) => c.notNull())
      .addColumn('role', 'text', (c) => c.notNull())
      .addColumn('decision', 'text', (c) => c.notNull())
      .addColumn('comment', 'text')
      .addColumn('at', 'text', (c) => c.notNull())
      .execute();
    // One decision per person at one gate: a second approval by the same user counts nothing.
    await db.schema.createIndex('approvals_stage_user').unique().on('approvals').columns(['stage_id', 'user_name']).execute();

    await db.schema
      .createTable('environment_locks')
      .addColumn('environment', 'text', (c) => c.notNull())
      .addColumn('service', 'text', (c) => c.notNull())
      .addColumn('reason', 'text', (c) => c.notNull())
      .addColumn('actor', 'text', (c) => c.notNull())
      .addColumn('at', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('environment_locks_pk', ['environment', 'service'])
      .execute();

    await db.schema
      .createTable('secrets')
      .addColumn('environment', 'text', (c) => c.notNull())
      .addColumn('service', 'text', (c) => c.notNull())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('sealed', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .addColumn('updated_by', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('secrets_pk', ['environment', 'service', 'name'])
      .execute();

    await db.schema
      .createTable('outbox')
      .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
      .addColumn('topic', 'text', (c) => c.notNull())
      .addColumn('destination', 'text', (c) => c.notNull())
      .addColumn('key', 'text')
      .addColumn('payload', 'text', (c) => c.notNull())
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('attempts', 'integer', (c) => c.notNull())
      .addColumn('next_attempt_at', 'text', (c) => c.notNull())
      .addColumn('lease_until', 'text')
      .addColumn('last_error', 'text')
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('done_at', 'text')
      .execute();
    await db.schema.createIndex('outbox_due').on('outbox').columns(['status', 'next_attempt_at']).execute();
    await db.schema.createIndex('outbox_key').on('outbox').columns(['topic', 'key', 'status']).execute();
  },
};

/** 0005: each service's stable port on the proxy, per environment. */
const runtime: Migration = {
  async up(db) {
    await db.schema
      .createTable('routes')
      .addColumn('service', 'text', (c) => c.notNull())
      .addColumn('environment', 'text', (c) => c.notNull())
      .addColumn('port', 'integer', (c) => c.notNull().unique())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('routes_pk', ['service', 'environment'])
      .execute();
  },
};

/** 0006: pull requests' preview environments; at most one live per environment. */
const previews: Migration = {
  async up(db) {
    await db.schema
      .createTable('previews')
      .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
      .addColumn('service', 'text', (c) => c.notNull())
      .addColumn('pull_request', 'integer', (c) => c.notNull())
      .addColumn('environment', 'text', (c) => c.notNull())
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('generation', 'integer', (c) => c.notNull())
      .addColumn('sandbox_id', 'text')
      .addColumn('members', 'text', (c) => c.notNull())
      .addColumn('release_id', 'integer')
      .addColumn('commit_sha', 'text', (c) => c.notNull())
      .addColumn('run_id', 'integer', (c) => c.notNull())
      .addColumn('url', 'text')
      .addColumn('reason', 'text')
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .addColumn('expires_at', 'text', (c) => c.notNull())
      .addColumn('removed_at', 'text')
      .execute();
    await db.schema.createIndex('previews_live').on('previews').column('environment').unique().where(sql.ref('status'), '!=', 'removed').execute();
  },
};

/** 0007: a run's commit title and committer date, read at checkout beside its author. */
const commits: Migration = {
  async up(db) {
    await db.schema.alterTable('runs').addColumn('commit_title', 'text').execute();
    await db.schema.alterTable('runs').addColumn('committed_at', 'text').execute();
  },
};

export const migrations: Record<string, Migration> = {
  '0001_initial': initial,
  '0002_triggers': triggers,
  '0003_trust': trust,
  '0004_delivery': delivery,
  '0005_runtime': runtime,
  '0006_previews': previews,
  '0007_commits': commits,
};

export const migrationProvider: MigrationProvider = {
  getMigrations: async () => migrations,
};
