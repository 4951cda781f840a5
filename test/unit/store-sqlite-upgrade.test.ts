// The SQLite store's own check that a database made before delivery (at migration 0003) opens
// at 0004 with the new fields' defaults, and an old approval gate as a waiting stage; and that
// one made before runs kept their commit's title and date (0006) opens with them empty.

import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, it } from 'node:test';
import SqliteDatabase from 'better-sqlite3';
import { Kysely, Migrator, SqliteDialect } from 'kysely';
import { migrations } from '../../src/store/sqlite/migrations.ts';
import { openSqliteStore } from '../../src/store/sqlite/store.ts';

const root = mkdtempSync(join(tmpdir(), 'slipway-upgrade-'));
after(() => rmSync(root, { recursive: true, force: true }));
const freshPath = () => join(root, 'nested', 'slipway.db');

  describe('sqlite store: migration 0004 (delivery)', () => {
    it('upgrades a database created at 0003', async () => {
      const path = freshPath();
      mkdirSync(dirname(path), { recursive: true });
      const db = new Kysely<any>({ dialect: new SqliteDialect({ database: new SqliteDatabase(path) }) });
      const before = Object.fromEntries(Object.entries(migrations).filter(([name]) => name < '0004'));
      assert.deepEqual(Object.keys(before).sort(), ['0001_initial', '0002_triggers', '0003_trust']);
      const { error } = await new Migrator({ db, provider: { getMigrations: async () => before } }).migrateToLatest();
      assert.equal(error, undefined);
      const at = '2025-01-01T00:00:00.000Z';
      const run = await db.insertInto('runs').values({ service: 'payment', ref: 'main', commit_sha: 'a'.repeat(40), trigger_kind: 'push', trigger_by: 'x', status: 'running', created_at: at, lane: 'main' }).returning('id').executeTakeFirstOrThrow();
      const stage = (position: number, status: string) => ({ run_id: run.id, position, name: `deploy-${position}`, kind: 'deploy', status, environment: 'production', timeout_ms: 1000 });
      const stages = await db.insertInto('stages').values([stage(0, 'succeeded'), stage(1, 'awaiting_approval')]).returning('id').execute();
      const release = await db.insertInto('releases').values({ service: 'payment', commit_sha: 'a'.repeat(40), image: 'r/p:a', digest: 'sha256:x', run_id: run.id, created_at: at, lane: 'main' }).returning('id').executeTakeFirstOrThrow();
      const deployment = await db.insertInto('deployments').values({ service: 'payment', environment: 'staging', release_id: release.id, run_id: run.id, status: 'succeeded', started_at: at }).returning('id').executeTakeFirstOrThrow();
      const event = await db.insertInto('events').values({ at, type: 'run.started', run_id: run.id, service: 'payment', actor: 'ada', data: '{}' }).returning('id').executeTakeFirstOrThrow();
      const user = await db.insertInto('users').values({ name: 'ada', role: 'admin', password_hash: null, created_at: at }).returning('id').executeTakeFirstOrThrow();
      await db.destroy();

      const store = await openSqliteStore(path);
      try {
        const migrated = (await store.runs.get(run.id))!;
        assert.deepEqual([migrated.status, migrated.releaseId, migrated.commitAuthor, migrated.forced, migrated.note], ['running', null, null, false, null]);
        const [done, gated] = await store.stages.listByRun(run.id);
        assert.deepEqual([done!.status, done!.wait, gated!.status, gated!.wait], ['succeeded', null, 'waiting', null], 'awaiting_approval became waiting');
        assert.deepEqual((await store.stages.waiting()).map(({ stage: s }) => s.id), [stages[1]!.id]);
        assert.deepEqual(await store.stages.waiting({ dueBy: '2099-01-01T00:00:00.000Z' }), [], 'no wake-up time');
        const d = (await store.deployments.get(deployment.id))!;
        assert.deepEqual([d.kind, d.actor, d.note, d.forced, d.status], ['deploy', null, null, false, 'succeeded']);
        assert.deepEqual((await store.events.list({ actor: 'ada' })).map((e) => [e.id, e.environment]), [[event.id, null]]);
        assert.equal((await store.users.get(user.id))!.email, null);
        const approval = await store.approvals.record({ runId: run.id, stageId: stages[1]!.id, service: 'payment', environment: 'production', releaseId: release.id, digest: 'sha256:x', user: 'ada', role: 'admin', decision: 'approve', comment: null, at });
        assert.ok(approval, 'the new tables are there');
        assert.deepEqual([await store.locks.list(), await store.secrets.list(), await store.outbox.list()], [[], [], []]);
      } finally {
        await store.close();
      }
      const raw = new SqliteDatabase(path, { readonly: true });
      try {
        assert.deepEqual(raw.prepare('select name from kysely_migration order by name').pluck().all(), Object.keys(migrations).sort());
      } finally {
        raw.close();
      }
    });
  });

  describe('sqlite store: migration 0007 (commits)', () => {
    it("upgrades a database created at 0006: runs keep their commit's author and have no title or date yet", async () => {
      const path = join(root, 'at-0006', 'slipway.db');
      mkdirSync(dirname(path), { recursive: true });
      const db = new Kysely<any>({ dialect: new SqliteDialect({ database: new SqliteDatabase(path) }) });
      const before = Object.fromEntries(Object.entries(migrations).filter(([name]) => name < '0007'));
      const { error } = await new Migrator({ db, provider: { getMigrations: async () => before } }).migrateToLatest();
      assert.equal(error, undefined);
      const author = { name: 'Zoë Åström', email: 'zoe@example.test' };
      const run = await db
        .insertInto('runs')
        .values({ service: 'payment', ref: 'main', commit_sha: 'a'.repeat(40), trigger_kind: 'push', trigger_by: 'x', status: 'succeeded', created_at: '2025-01-01T00:00:00.000Z', lane: 'main', commit_author: JSON.stringify(author) })
        .returning('id')
        .executeTakeFirstOrThrow();
      await db.destroy();

      const store = await openSqliteStore(path);
      try {
        const migrated = (await store.runs.get(run.id))!;
        assert.deepEqual([migrated.commitAuthor, migrated.commitTitle, migrated.committedAt], [author, null, null]);
        const read = { commitTitle: 'Read at the next checkout', committedAt: '2024-12-31T23:00:00.000Z' };
        assert.deepEqual(await store.runs.update(run.id, read), { ...migrated, ...read });
      } finally {
        await store.close();
      }
    });
  });
