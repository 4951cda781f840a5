// Runs, their stages and logs, releases, deployments and the event log, over Kysely.

import { sql, type Kysely, type SqlBool } from 'kysely';
import type { LogLine } from '../../core/types.ts';
import type { DeploymentRepository, EventRepository, LogRepository, ReleaseRepository, RunRepository, RunTimings, StageRepository } from '../store.ts';
import {
  deploymentPatchToRow,
  deploymentToRow,
  eventToRow,
  logLineToRow,
  releaseToRow,
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
import { isEmpty, now, type Atomic } from './shared.ts';

export function runRepository(db: Kysely<Database>, atomic: Atomic): RunRepository {
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
      let query = db.selectFrom('runs').selectAll().orderBy('id', filter.order === 'oldest' ? 'asc' : 'desc');
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

    async updateIf(id, from, patch) {
      if (from.length === 0) return null;
      const changes = runPatchToRow(patch);
      if (isEmpty(changes)) {
        const row = await db.selectFrom('runs').selectAll().where('id', '=', id).where('status', 'in', from).executeTakeFirst();
        return row ? rowToRun(row) : null;
      }
      const row = await db.updateTable('runs').set(changes).where('id', '=', id).where('status', 'in', from).returningAll().executeTakeFirst();
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

    async byIds(ids) {
      if (ids.length === 0) return [];
      const rows = await db.selectFrom('runs').selectAll().where(inIds('id', ids)).orderBy('id').execute();
      return rows.map(rowToRun);
    },

    async timings(filter) {
      let runs = db.selectFrom('runs').where('created_at', '>=', filter.from).where('created_at', '<', filter.to);
      if (filter.service !== undefined) runs = runs.where('service', '=', filter.service);
      const runRows = await runs.select(['id', 'service', 'status', 'created_at', 'started_at', 'finished_at']).orderBy('id').execute();
      if (runRows.length === 0) return [];
      const stageRows = await db
        .selectFrom('stages')
        .select(['run_id', 'name', 'position', 'status', 'started_at', 'finished_at'])
        .where('run_id', 'in', runs.select('id'))
        .orderBy('run_id')
        .orderBy('position')
        .execute();
      const byRun = new Map<number, RunTimings['stages']>();
      for (const row of stageRows) {
        const stages = byRun.get(row.run_id) ?? [];
        stages.push({ name: row.name, position: row.position, status: row.status, startedAt: row.started_at, finishedAt: row.finished_at });
        byRun.set(row.run_id, stages);
      }
      return runRows.map((row) => ({
        run: { id: row.id, service: row.service, status: row.status, createdAt: row.created_at, startedAt: row.started_at, finishedAt: row.finished_at },
        stages: byRun.get(row.id) ?? [],
      }));
    },
  };
}

/**
 * `column IN (ids)` bound as one JSON parameter: any number of ids in one statement, far past
 * the limit on bound variables.
 */
function inIds(column: string, ids: readonly number[]) {
  return sql<SqlBool>`${sql.ref(column)} in (select value from json_each(${JSON.stringify(ids)}))`;
}

export function stageRepository(db: Kysely<Database>): StageRepository {
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

    async waiting(filter = {}) {
      let query = db
        .selectFrom('stages')
        .innerJoin('runs', 'runs.id', 'stages.run_id')
        .selectAll('stages')
        .where('stages.status', '=', 'waiting')
        .orderBy('stages.id');
      if (filter.service !== undefined) query = query.where('runs.service', '=', filter.service);
      if (filter.environment !== undefined) query = query.where('stages.environment', '=', filter.environment);
      if (filter.dueBy !== undefined) query = query.where('stages.wake_at', '<=', filter.dueBy);
      const stages = (await query.execute()).map(rowToStage);
      if (stages.length === 0) return [];
      const runs = await db.selectFrom('runs').selectAll().where('id', 'in', [...new Set(stages.map((stage) => stage.runId))]).execute();
      const byId = new Map(runs.map((row) => [row.id, rowToRun(row)]));
      return stages.map((stage) => ({ run: byId.get(stage.runId)!, stage }));
    },
  };
}

// 500 lines bind 3000 variables, far below SQLite's limit (32766) and Postgres's (65535);
// larger statements measured no faster, as parsing them grows with their size.
const LOG_LINES_PER_INSERT = 500;

export function logRepository(db: Kysely<Database>, atomic: Atomic): LogRepository {
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

export function releaseRepository(db: Kysely<Database>): ReleaseRepository {
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
      if (filter.runIds !== undefined) query = query.where(inIds('run_id', filter.runIds));
      if (filter.limit !== undefined) query = query.limit(filter.limit);
      return (await query.execute()).map(rowToRelease);
    },

    async byIds(ids) {
      if (ids.length === 0) return [];
      return (await db.selectFrom('releases').selectAll().where(inIds('id', ids)).orderBy('id').execute()).map(rowToRelease);
    },

    async commitTimes(releaseIds) {
      if (releaseIds.length === 0) return [];
      const rows = await db
        .selectFrom('releases')
        .innerJoin('runs', 'runs.id', 'releases.run_id')
        .select(['releases.id as release_id', 'runs.committed_at', 'runs.created_at'])
        .where(inIds('releases.id', releaseIds))
        .orderBy('releases.id')
        .execute();
      return rows.map((row) => ({ releaseId: row.release_id, committedAt: row.committed_at, runCreatedAt: row.created_at }));
    },
  };
}

export function deploymentRepository(db: Kysely<Database>): DeploymentRepository {
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
      let query = db.selectFrom('deployments').selectAll().orderBy('id', filter.order === 'oldest' ? 'asc' : 'desc');
      if (filter.service !== undefined) query = query.where('service', '=', filter.service);
      if (filter.environment !== undefined) query = query.where('environment', '=', filter.environment);
      if (filter.releaseId !== undefined) query = query.where('release_id', '=', filter.releaseId);
      if (filter.afterId !== undefined) query = query.where('id', '>', filter.afterId);
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

    async latestPerTarget(filter = {}) {
      const statuses = filter.statuses;
      if (statuses?.length === 0) return [];
      const rows = await db
        .selectFrom('deployments')
        .selectAll()
        .where('id', 'in', (eb) => {
          let newest = eb.selectFrom('deployments').select((inner) => inner.fn.max('id').as('id'));
          if (statuses) newest = newest.where('status', 'in', statuses);
          return newest.groupBy(['service', 'environment']);
        })
        .orderBy('id')
        .execute();
      return rows.map(rowToDeployment);
    },

    async finished(filter) {
      if (filter.environments.length === 0) return [];
      let query = db
        .selectFrom('deployments')
        .selectAll()
        .where('environment', 'in', [...filter.environments])
        .where('status', '!=', 'in_progress')
        .where('finished_at', '>=', filter.from)
        .orderBy('id');
      if (filter.to !== undefined) query = query.where('finished_at', '<', filter.to);
      if (filter.service !== undefined) query = query.where('service', '=', filter.service);
      return (await query.execute()).map(rowToDeployment);
    },

    async firstSucceeded(filter) {
      if (filter.releaseIds.length === 0 || filter.environments.length === 0) return [];
      const rows = await db
        .selectFrom('deployments')
        .selectAll()
        .where('id', 'in', (eb) =>
          eb
            .selectFrom('deployments')
            .select((inner) => inner.fn.min('id').as('id'))
            .where('status', '=', 'succeeded')
            .where('environment', 'in', [...filter.environments])
            .where(inIds('release_id', filter.releaseIds))
            .groupBy(['release_id', 'environment']),
        )
        .orderBy('id')
        .execute();
      return rows.map(rowToDeployment);
    },
  };
}

export function eventRepository(db: Kysely<Database>): EventRepository {
  return {
    async append(event) {
      const row = await db.insertInto('events').values(eventToRow(event, event.at ?? now())).returningAll().executeTakeFirstOrThrow();
      return rowToEvent(row);
    },

    async list(filter = {}) {
      let query = db.selectFrom('events').selectAll().orderBy('id', filter.order === 'newest' ? 'desc' : 'asc');
      if (filter.afterId !== undefined) query = query.where('id', '>', filter.afterId);
      if (filter.beforeId !== undefined) query = query.where('id', '<', filter.beforeId);
      if (filter.runId !== undefined) query = query.where('run_id', '=', filter.runId);
      if (filter.actor !== undefined) query = query.where('actor', '=', filter.actor);
      if (filter.byPeople) query = query.where('actor', 'is not', null);
      if (filter.service !== undefined) query = query.where('service', '=', filter.service);
      if (filter.environment !== undefined) query = query.where('environment', '=', filter.environment);
      if (filter.since !== undefined) query = query.where('at', '>=', filter.since);
      if (filter.until !== undefined) query = query.where('at', '<=', filter.until);
      const types = filter.types;
      if (types !== undefined) {
        if (types.length === 0) return [];
        query = query.where((eb) =>
          // A prefix by substr, not LIKE: LIKE would read '_' and '%' in a type as wildcards.
          eb.or(types.map((type) => (type.endsWith('.') ? sql<SqlBool>`substr(type, 1, length(${type})) = ${type}` : eb('type', '=', type)))),
        );
      }
      if (filter.limit !== undefined) query = query.limit(filter.limit);
      return (await query.execute()).map(rowToEvent);
    },
  };
}
