// /api routes for services, runs and their logs, releases, deployments and the event log.
// Reading needs any role; starting, cancelling, rerunning and resuming runs needs developer.

import { Hono } from 'hono';
import { z } from 'zod';
import type { EnvironmentState, RunDetail, RunSummary, ServiceOverview } from '../client/api.ts';
import { serviceParameters } from '../config/parameters.ts';
import { previewEnvironment, pullRequestOfLane } from '../core/previews.ts';
import { SlipwayError } from '../core/errors.ts';
import { redactUrls } from '../core/redact.ts';
import { RUN_STATUSES, type Run } from '../core/types.ts';
import { isVariableName, refusedVariable } from '../core/variables.ts';
import { queuePosition } from '../engine/concurrency.ts';
import type { Engine } from '../engine/engine.ts';
import type { Store } from '../store/store.ts';
import { allow, principalOf, type ApiEnv, type Refusals } from './auth.ts';
import { Id, Limit, parse, readJson } from './validation.ts';

const StartRunBody = z
  .object({
    service: z.string().min(1),
    ref: z.string().min(1).optional(),
    variables: z.record(z.string(), z.string()).optional(),
  })
  .strict();
/** A page of log lines: a long log is read in pages this large at most. */
const LogLimit = z.coerce.number().int().min(1).max(10_000).optional();
/** "pending" or "pending,running". */
const Statuses = z.string().transform((text) => text.split(',')).pipe(z.array(z.enum(RUN_STATUSES)));

export function runsRoutes(engine: Engine, store: Store, refusals: Refusals): Hono<ApiEnv> {
  const routes = new Hono<ApiEnv>();
  const developer = allow('developer', refusals);

  async function runDetail(id: number): Promise<RunDetail> {
    const run = await store.runs.get(id);
    if (!run) throw new SlipwayError('RUN_NOT_FOUND', `run ${id} does not exist`);
    const [summary] = await withQueuePositions([run]);
    const stages = await store.stages.listByRun(id);
    const pullRequest = pullRequestOfLane(run.lane);
    const preview = pullRequest !== null && stages.some((stage) => stage.kind === 'preview') ? await store.previews.live(previewEnvironment(run.service, pullRequest)) : null;
    return { ...summary!, stages, preview };
  }

  /** Each run with its place in its lane's line; one read of the pending runs serves them all. */
  async function withQueuePositions(runs: Run[]): Promise<RunSummary[]> {
    const pending = runs.some((run) => run.status === 'pending') ? await store.runs.list({ statuses: ['pending'] }) : [];
    return runs.map((run) => ({ ...run, queuePosition: run.status === 'pending' ? queuePosition(run, pending) : null }));
  }

  async function started(result: Awaited<ReturnType<Engine['startRun']>>): Promise<RunDetail> {
    if (!result.ok) throw result.error;
    const [summary] = await withQueuePositions([result.value.run]);
    // A run just made has not reached its preview stage.
    return { ...summary!, stages: result.value.stages, preview: null };
  }

  async function serviceOverview(name: string): Promise<ServiceOverview> {
    const service = engine.config.services[name];
    if (!service) throw new SlipwayError('SERVICE_NOT_FOUND', `unknown service ${name}`);
    const [lastRun] = await store.runs.list({ service: name, limit: 1 });
    const environments: EnvironmentState[] = [];
    const locks = await store.locks.list();
    const waiting = await store.stages.waiting({ service: name });
    for (const environment of Object.keys(engine.config.environments)) {
      const current = await store.deployments.current(name, environment);
      environments.push({
        environment,
        address: service.port === undefined ? null : engine.addressOf(name, environment),
        current,
        release: current ? await store.releases.get(current.releaseId) : null,
        locks: locks.filter((lock) => lock.environment === environment && (lock.service === null || lock.service === name)),
        waiting: waiting.filter(({ stage }) => stage.environment === environment && stage.wait).map(({ run, stage }) => ({ runId: run.id, wait: stage.wait! })),
      });
    }
    return {
      name,
      repo: redactUrls(service.repo),
      branch: service.branch,
      lastRun: lastRun ? await runDetail(lastRun.id) : null,
      environments,
      parameters: serviceParameters(service),
    };
  }

  routes.get('/services', async (c) => c.json(await Promise.all(Object.keys(engine.config.services).map(serviceOverview))));
  routes.get('/services/:name', async (c) => c.json(await serviceOverview(c.req.param('name'))));

  routes.post('/runs', developer, async (c) => {
    const body = parse(StartRunBody, await readJson(c), 'body');
    for (const name of Object.keys(body.variables ?? {})) {
      const refused = refusedVariable(name);
      if (refused) throw new SlipwayError(isVariableName(name) ? 'VARIABLE_FORBIDDEN' : 'BAD_REQUEST', `body.variables.${name}: ${refused}`);
    }
    const by = principalOf(c).user.name;
    return c.json(await started(await engine.startRun({ service: body.service, ref: body.ref, variables: body.variables, trigger: { kind: 'manual', by } })), 201);
  });
  routes.get('/runs', async (c) => {
    const limit = parse(Limit, c.req.query('limit'), 'limit') ?? 50;
    const service = c.req.query('service');
    const statuses = c.req.query('status') ? parse(Statuses, c.req.query('status'), 'status') : undefined;
    // The next page of a long history: the runs older than the last one shown.
    const beforeId = c.req.query('before') ? parse(Id, c.req.query('before'), 'before') : undefined;
    return c.json(await withQueuePositions(await store.runs.list({ service, statuses, limit, beforeId })));
  });
  routes.post('/runs/:id/rerun', developer, async (c) =>
    c.json(await started(await engine.rerun(parse(Id, c.req.param('id'), 'run id'), principalOf(c).user.name)), 201),
  );
  routes.post('/runs/:id/resume', developer, async (c) =>
    c.json(await started(await engine.resume(parse(Id, c.req.param('id'), 'run id'), principalOf(c).user.name)), 201),
  );
  routes.get('/runs/:id', async (c) => c.json(await runDetail(parse(Id, c.req.param('id'), 'run id'))));
  routes.post('/runs/:id/cancel', developer, async (c) => {
    const id = parse(Id, c.req.param('id'), 'run id');
    const by = principalOf(c).user.name;
    const cancelled = await engine.cancel(id, `cancelled by ${by}`, by);
    if (!cancelled.ok) throw cancelled.error;
    return c.json(cancelled.value);
  });
  routes.get('/runs/:id/logs', async (c) => {
    const runId = parse(Id, c.req.param('id'), 'run id');
    if (!(await store.runs.get(runId))) throw new SlipwayError('RUN_NOT_FOUND', `run ${runId} does not exist`);
    const afterSeq = parse(z.coerce.number().int().min(0).optional(), c.req.query('after'), 'after');
    const stageId = c.req.query('stage') ? parse(Id, c.req.query('stage'), 'stage') : undefined;
    const limit = parse(LogLimit, c.req.query('limit'), 'limit') ?? 1000;
    return c.json(await store.logs.list(runId, { afterSeq, stageId, limit }));
  });

  routes.get('/releases', async (c) => {
    const limit = parse(Limit, c.req.query('limit'), 'limit') ?? 50;
    return c.json(await store.releases.list({ service: c.req.query('service'), limit }));
  });
  routes.get('/deployments', async (c) => {
    const limit = parse(Limit, c.req.query('limit'), 'limit') ?? 50;
    return c.json(await store.deployments.list({ service: c.req.query('service'), environment: c.req.query('environment'), limit }));
  });

  /** The append-only event log (audit trail), oldest first: `?after=<id>&run=<id>&limit=`. */
  routes.get('/event-log', async (c) => {
    const afterId = parse(z.coerce.number().int().min(0).optional(), c.req.query('after'), 'after');
    const runId = c.req.query('run') ? parse(Id, c.req.query('run'), 'run') : undefined;
    const limit = parse(Limit, c.req.query('limit'), 'limit') ?? 100;
    return c.json(await store.events.list({ afterId, runId, limit }));
  });

  return routes;
}
