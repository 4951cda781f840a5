// The Store conformance suite on SQLite, in memory and on disk (WAL and on-disk migrations),
// plus what only a file store has: reopening, idempotent migrations, enforced foreign keys.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, it } from 'node:test';
import SqliteDatabase from 'better-sqlite3';
import { Kysely, Migrator, SqliteDialect } from 'kysely';
import { migrationProvider, migrations } from '../../src/store/sqlite/migrations.ts';
import { openSqliteStore } from '../../src/store/sqlite/store.ts';
import { newRun } from '../support/records.ts';
import { storeConformance } from './store-conformance.ts';
import { storeDeliveryConformance } from './store-delivery-conformance.ts';
import { storeOutboxConformance } from './store-outbox-conformance.ts';
import { storeRuntimeConformance } from './store-runtime-conformance.ts';

const root = mkdtempSync(join(tmpdir(), 'slipway-store-'));
after(() => rmSync(root, { recursive: true, force: true }));

let databases = 0;
/** A fresh database file in a directory that does not exist yet. */
function freshPath(): string {
  databases += 1;
  return join(root, `db-${databases}`, 'nested', 'slipway.db');
}

storeConformance('sqlite in memory', () => openSqliteStore(':memory:'));
storeConformance('sqlite file', () => openSqliteStore(freshPath()));
storeDeliveryConformance('sqlite in memory', () => openSqliteStore(':memory:'));
storeDeliveryConformance('sqlite file', () => openSqliteStore(freshPath()));
storeOutboxConformance('sqlite in memory', () => openSqliteStore(':memory:'));
storeOutboxConformance('sqlite file', () => openSqliteStore(freshPath()));
storeRuntimeConformance('sqlite in memory', () => openSqliteStore(':memory:'));
storeRuntimeConformance('sqlite file', () => openSqliteStore(freshPath()));

describe('sqlite file store', () => {
  const run = newRun('payment', { commitSha: 'abc', trigger: { kind: 'manual', by: 'ada' } });

  it('describes itself by its path and uses WAL', async () => {
    const path = freshPath();
    const store = await openSqliteStore(path);
    try {
      assert.equal(store.description, `sqlite (${path})`);
      const raw = new SqliteDatabase(path, { readonly: true });
      try {
        assert.equal(raw.pragma('journal_mode', { simple: true }), 'wal');
      } finally {
        raw.close();
      }
    } finally {
      await store.close();
    }
  });

  it('checkpoints the WAL into the database file from its own thread, not in a commit', async () => {
    const path = freshPath();
    const store = await openSqliteStore(path);
    try {
      const body = Buffer.alloc(8192, 'x');
      await store.deliveries.record(
        Array.from({ length: 300 }, (_, i) => ({
          forge: 'github',
          deliveryId: `d-${i}`,
          repository: 'acme/payment',
          event: 'push',
          parsed: null,
          headers: {},
          body,
          bodyDigest: `sha256:${i}`,
          receivedAt: '2024-05-01T12:00:00.000Z',
        })),
      );
      // 2.4 MB is far below the store's own automatic threshold: only the checkpointer moves it.
      for (let waited = 0; statSync(path).size < 300 * 8192; waited += 50) {
        assert.ok(waited < 10_000, `the database file is still ${statSync(path).size} bytes`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    } finally {
      await store.close();
    }
  });

  it('keeps data across reopening, and reopening migrates nothing twice', async () => {
    const path = freshPath();
    const first = await openSqliteStore(path);
    const { run: created, stages } = await first.runs.create(run, [
      { position: 0, name: 'test', kind: 'command', command: 'make test', environment: null, timeoutMs: 1000 },
    ]);
    await first.logs.append([{ runId: created.id, stageId: stages[0]!.id, stream: 'stdout', text: 'one', at: created.createdAt }]);
    await first.close();

    for (let reopen = 0; reopen < 2; reopen += 1) {
      const store = await openSqliteStore(path);
      try {
        assert.deepEqual(await store.runs.get(created.id), created);
        assert.deepEqual(await store.stages.listByRun(created.id), stages);
        const appended = await store.logs.append([{ runId: created.id, stageId: stages[0]!.id, stream: 'stdout', text: 'more', at: created.createdAt }]);
        assert.equal(appended[0]!.seq, reopen + 2);
      } finally {
        await store.close();
      }
    }

    const raw = new SqliteDatabase(path, { readonly: true });
    try {
      const applied = raw.prepare('select name from kysely_migration order by name').pluck().all();
      assert.deepEqual(applied, Object.keys(migrations).sort());
    } finally {
      raw.close();
    }
  });

  it('brings a database from before users and replay checks up to date: releases say where they came from, replayed bodies and signatures go', async () => {
    const path = freshPath();
    mkdirSync(dirname(path), { recursive: true });
    const db = new Kysely<any>({ dialect: new SqliteDialect({ database: new SqliteDatabase(path) }) });
    const { error } = await new Migrator({ db, provider: migrationProvider }).migrateTo('0002_triggers');
    assert.equal(error, undefined);
    const at = '2025-01-01T00:00:00.000Z';
    const runRow = (lane: string, tag: string | null) => ({ service: 'payment', ref: 'main', commit_sha: 'a'.repeat(40), trigger_kind: 'push', trigger_by: 'x', status: 'succeeded', created_at: at, lane, tag });
    const runs = await db.insertInto('runs').values([runRow('main', null), runRow('pr/4', null), runRow('tag/v1', 'v1')]).returning(['id', 'tag']).execute();
    // Since 0002 a release carries its run's tag.
    await db
      .insertInto('releases')
      .values(runs.map(({ id, tag }) => ({ service: 'payment', commit_sha: 'a'.repeat(40), image: 'r/payment:a', digest: 'sha256:x', tag, run_id: id, created_at: at })))
      .execute();
    const deliveryRow = (deliveryId: string) => ({
      forge: 'github',
      delivery_id: deliveryId,
      repository: 'acme/payment',
      event: 'push',
      parsed: 'null',
      headers: JSON.stringify({ 'x-github-event': 'push', 'x-hub-signature-256': 'sha256=abc' }),
      body: Buffer.from('{"same":"body"}'),
      status: 'processed',
      received_at: at,
    });
    await db.insertInto('deliveries').values([deliveryRow('first'), deliveryRow('replayed')]).execute();
    await db.destroy();

    const store = await openSqliteStore(path);
    try {
      assert.deepEqual(
        (await store.releases.list()).map((release) => [release.origin, release.lane]).reverse(),
        [['branch', 'main'], ['pull_request', 'pr/4'], ['tag', 'tag/v1']],
      );
      const [replayed, first] = await store.deliveries.list();
      assert.equal(first!.bodyDigest, `sha256:${createHash('sha256').update('{"same":"body"}').digest('hex')}`);
      assert.equal(replayed!.bodyDigest, `${first!.bodyDigest}#${replayed!.id}`);
      assert.deepEqual(first!.headers, { 'x-github-event': 'push' }, 'the signature is not kept');
      assert.equal((await store.runs.get(runs[0]!.id))!.untrusted, false);
    } finally {
      await store.close();
    }
  });

  it('enforces foreign keys', async () => {
    const store = await openSqliteStore(':memory:');
    try {
      await assert.rejects(
        store.deployments.create({ service: 'payment', environment: 'staging', releaseId: 999, runId: null, previousReleaseId: null, startedAt: new Date().toISOString() }),
        /FOREIGN KEY/,
      );
      await assert.rejects(store.logs.append([{ runId: 999, stageId: 999, stream: 'stdout', text: 'orphan', at: new Date().toISOString() }]), /FOREIGN KEY/);
    } finally {
      await store.close();
    }
  });
});
