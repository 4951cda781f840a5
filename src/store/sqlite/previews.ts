// Preview environments over Kysely. A partial unique index (previews_live) keeps one live
// preview per environment, so two runs racing to make one get one row; every update is a
// guarded UPDATE on the statuses (and generation) the caller saw.

import type { Kysely } from 'kysely';
import { PREVIEW_STATUSES, type Preview, type PreviewMember, type PreviewStatus } from '../../core/previews.ts';
import type { PreviewPatch, PreviewRepository } from '../store.ts';
import type { Database, PreviewTable } from './schema.ts';

type PreviewRow = Omit<PreviewTable, 'id'> & { id: number };

export function previewRepository(db: Kysely<Database>): PreviewRepository {
  return {
    async create(preview) {
      const row = await db
        .insertInto('previews')
        .values({
          service: preview.service,
          pull_request: preview.pullRequest,
          environment: preview.environment,
          status: 'starting',
          generation: 1,
          sandbox_id: null,
          members: '[]',
          release_id: null,
          commit_sha: preview.commitSha,
          run_id: preview.runId,
          url: null,
          reason: null,
          created_at: preview.createdAt,
          updated_at: preview.createdAt,
          expires_at: preview.expiresAt,
          removed_at: null,
        })
        .onConflict((conflict) => conflict.doNothing())
        .returningAll()
        .executeTakeFirst();
      return row ? rowToPreview(row) : null;
    },

    async get(id) {
      const row = await db.selectFrom('previews').selectAll().where('id', '=', id).executeTakeFirst();
      return row ? rowToPreview(row) : null;
    },

    async live(environment) {
      const row = await db.selectFrom('previews').selectAll().where('environment', '=', environment).where('status', '!=', 'removed').executeTakeFirst();
      return row ? rowToPreview(row) : null;
    },

    async list(filter = {}) {
      let query = db.selectFrom('previews').selectAll().orderBy('id');
      if (filter.statuses) query = query.where('status', 'in', filter.statuses.length > 0 ? [...filter.statuses] : ['']);
      if (filter.service !== undefined) query = query.where('service', '=', filter.service);
      if (filter.limit !== undefined) query = query.limit(filter.limit);
      return (await query.execute()).map(rowToPreview);
    },

    async update(id, expected, patch) {
      let query = db
        .updateTable('previews')
        .set(patchToRow(patch))
        .where('id', '=', id)
        .where('status', 'in', expected.statuses.length > 0 ? [...expected.statuses] : ['']);
      if (expected.generation !== undefined) query = query.where('generation', '=', expected.generation);
      const row = await query.returningAll().executeTakeFirst();
      return row ? rowToPreview(row) : null;
    },
  };
}

function patchToRow(patch: PreviewPatch): Partial<Omit<PreviewTable, 'id'>> {
  const row: Partial<Omit<PreviewTable, 'id'>> = {};
  if (patch.status !== undefined) row.status = patch.status;
  if (patch.generation !== undefined) row.generation = patch.generation;
  if (patch.sandboxId !== undefined) row.sandbox_id = patch.sandboxId;
  if (patch.members !== undefined) row.members = JSON.stringify(patch.members);
  if (patch.releaseId !== undefined) row.release_id = patch.releaseId;
  if (patch.commitSha !== undefined) row.commit_sha = patch.commitSha;
  if (patch.runId !== undefined) row.run_id = patch.runId;
  if (patch.url !== undefined) row.url = patch.url;
  if (patch.reason !== undefined) row.reason = patch.reason;
  if (patch.updatedAt !== undefined) row.updated_at = patch.updatedAt;
  if (patch.expiresAt !== undefined) row.expires_at = patch.expiresAt;
  if (patch.removedAt !== undefined) row.removed_at = patch.removedAt;
  return row;
}

function rowToPreview(row: PreviewRow): Preview {
  if (!(PREVIEW_STATUSES as readonly string[]).includes(row.status)) throw new Error(`preview ${row.id} has an unknown status ${row.status}`);
  return {
    id: row.id,
    service: row.service,
    pullRequest: row.pull_request,
    environment: row.environment,
    status: row.status as PreviewStatus,
    generation: row.generation,
    sandboxId: row.sandbox_id,
    members: JSON.parse(row.members) as PreviewMember[],
    releaseId: row.release_id,
    commitSha: row.commit_sha,
    runId: row.run_id,
    url: row.url,
    reason: row.reason,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    expiresAt: row.expires_at,
    removedAt: row.removed_at,
  };
}
