// The HTTP API. Routes are thin: they validate input, call the engine or the store, and
// answer JSON. Every error leaves through one handler that maps it to the catalogue in
// core/errors.ts; nothing else ever reaches a client.

import { getRequestListener } from '@hono/node-server';
import { Hono, type Context } from 'hono';
import { z } from 'zod';
import { randomBytes } from 'node:crypto';
import type { EnvironmentState, GitHookRegistration, RunDetail, RunSummary, ServerInfo, ServiceOverview } from '../client/api.ts';
import { describeError, SlipwayError } from '../core/errors.ts';
import { RUN_STATUSES, type Run } from '../core/types.ts';
import { queuePosition } from '../engine/concurrency.ts';
import type { Engine } from '../engine/engine.ts';
import { FORGE_NAMES } from '../forges/forge.ts';
import { servicesOf } from '../triggers/repositories.ts';
import type { ScheduleRunner } from '../triggers/schedules.ts';
import type { WebhookSecrets } from '../triggers/secrets.ts';
import type { WebhookReceiver } from '../triggers/webhooks.ts';
import type { EventBus } from '../events/bus.ts';
import type { Store } from '../store/store.ts';
import type { RequestListener } from 'node:http';
import { eventStream } from './events.ts';
import { HOOKS_PREFIX, webhookListener } from './hooks.ts';
import { Id, parse } from './validation.ts';

export interface AppDeps {
  engine: Engine;
  store: Store;
  bus: EventBus;
  info: ServerInfo;
  webhooks: { receiver: WebhookReceiver; secrets: WebhookSecrets; maxBytes?: number };
  schedules: Pick<ScheduleRunner, 'describe'>;
  /** Where people reach this server; links and the git hook's URL start with it. */
  publicUrl: () => string;
  log?: (message: string) => void;
}

const VARIABLE_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const StartRunBody = z
  .object({
    service: z.string().min(1),
    ref: z.string().min(1).optional(),
    variables: z
      .record(z.string(), z.string())
      .superRefine((variables, ctx) => {
        for (const name of Object.keys(variables).filter((key) => !VARIABLE_NAME.test(key))) {
          ctx.addIssue({ code: 'custom', path: [name], message: `"${name}" is not a variable name (letters, digits and _, not starting with a digit)` });
        }
      })
      .optional(),
  })
  .strict();
const ForgeName = z.enum(FORGE_NAMES, { error: `expected one of ${FORGE_NAMES.join(', ')}` });
const SecretBody = z.object({ forge: ForgeName, repository: z.string().min(1), secret: z.string().min(8, 'expected at least 8 characters') }).strict();
const SecretKey = z.object({ forge: ForgeName, repository: z.string().min(1) }).strict();
const GitHookBody = z.object({ repository: z.string().min(1) }).strict();
const Limit = z.coerce.number().int().min(1).max(1000).optional();
/** "pending" or "pending,running". */
const Statuses = z.string().transform((text) => text.split(',')).pipe(z.array(z.enum(RUN_STATUSES)));


/** The server's one request listener: webhooks to their own node:http listener, the rest to the API. */
export function createListener(deps: AppDeps): RequestListener {
  const api = getRequestListener(createApp(deps).fetch);
  const hooks = webhookListener(deps.webhooks.receiver, deps.webhooks.maxBytes, deps.log);
  return (request, response) => {
    if (request.url?.startsWith(HOOKS_PREFIX)) hooks(request, response);
    else void api(request, response);
  };
}

/** The API under /api; webhooks are createListener's. */
export function createApp({ engine, store, bus, info, webhooks, schedules, publicUrl, log = () => {} }: AppDeps): Hono {
  const app = new Hono();

  app.onError((error, c) => {
    if (error instanceof SlipwayError) return c.json({ error: error.toJSON() }, error.status as 400);
    log(`internal error on ${c.req.method} ${c.req.path}: ${error.stack ?? describeError(error)}`);
    return c.json({ error: { code: 'INTERNAL', message: 'internal error; the server log has the details' } }, 500);
  });
  app.notFound((c) => c.json({ error: { code: 'NOT_FOUND', message: `no route ${c.req.method} ${c.req.path}` } }, 404));

  async function runDetail(id: number): Promise<RunDetail> {
    const run = await store.runs.get(id);
    if (!run) throw new SlipwayError('RUN_NOT_FOUND', `run ${id} does not exist`);
    const [summary] = await withQueuePositions([run]);
    return { ...summary!, stages: await store.stages.listByRun(id) };
  }

  /** Each run with its place in its lane's line; one read of the pending runs serves them all. */
  async function withQueuePositions(runs: Run[]): Promise<RunSummary[]> {
    const pending = runs.some((run) => run.status === 'pending') ? await store.runs.list({ statuses: ['pending'] }) : [];
    return runs.map((run) => ({ ...run, queuePosition: run.status === 'pending' ? queuePosition(run, pending) : null }));
  }

  async function started(result: Awaited<ReturnType<Engine['startRun']>>): Promise<RunDetail> {
    if (!result.ok) throw result.error;
    const [summary] = await withQueuePositions([result.value.run]);
    return { ...summary!, stages: result.value.stages };
  }

  async function serviceOverview(name: string): Promise<ServiceOverview> {
    const service = engine.config.services[name];
    if (!service) throw new SlipwayError('SERVICE_NOT_FOUND', `unknown service ${name}`);
    const [lastRun] = await store.runs.list({ service: name, limit: 1 });
    const environments: EnvironmentState[] = [];
    for (const environment of Object.keys(engine.config.environments)) {
      const current = await store.deployments.current(name, environment);
      environments.push({ environment, current, release: current ? await store.releases.get(current.releaseId) : null });
    }
    return {
      name,
      repo: service.repo,
      branch: service.branch,
      lastRun: lastRun ? await runDetail(lastRun.id) : null,
      environments,
    };
  }

  const api = new Hono();

  api.get('/info', (c) => c.json(info));

  api.get('/services', async (c) => {
    const services = await Promise.all(Object.keys(engine.config.services).map(serviceOverview));
    return c.json(services);
  });
  api.get('/services/:name', async (c) => c.json(await serviceOverview(c.req.param('name'))));

  api.post('/runs', async (c) => {
    const body = parse(StartRunBody, await readJson(c), 'body');
    const result = await engine.startRun({ service: body.service, ref: body.ref, variables: body.variables, trigger: { kind: 'manual', by: 'api' } });
    return c.json(await started(result), 201);
  });
  api.get('/runs', async (c) => {
    const limit = parse(Limit, c.req.query('limit'), 'limit') ?? 50;
    const service = c.req.query('service');
    const statuses = c.req.query('status') ? parse(Statuses, c.req.query('status'), 'status') : undefined;
    return c.json(await withQueuePositions(await store.runs.list({ service, statuses, limit })));
  });
  api.post('/runs/:id/rerun', async (c) => c.json(await started(await engine.rerun(parse(Id, c.req.param('id'), 'run id'), 'api')), 201));
  api.post('/runs/:id/resume', async (c) => c.json(await started(await engine.resume(parse(Id, c.req.param('id'), 'run id'), 'api')), 201));
  api.get('/runs/:id', async (c) => c.json(await runDetail(parse(Id, c.req.param('id'), 'run id'))));
  api.post('/runs/:id/cancel', async (c) => {
    const cancelled = await engine.cancel(parse(Id, c.req.param('id'), 'run id'));
    if (!cancelled.ok) throw cancelled.error;
    return c.json(cancelled.value);
  });
  api.get('/runs/:id/logs', async (c) => {
    const runId = parse(Id, c.req.param('id'), 'run id');
    if (!(await store.runs.get(runId))) throw new SlipwayError('RUN_NOT_FOUND', `run ${runId} does not exist`);
    const afterSeq = parse(z.coerce.number().int().min(0).optional(), c.req.query('after'), 'after');
    const stageId = c.req.query('stage') ? parse(Id, c.req.query('stage'), 'stage') : undefined;
    const limit = parse(Limit, c.req.query('limit'), 'limit') ?? 1000;
    return c.json(await store.logs.list(runId, { afterSeq, stageId, limit }));
  });

  api.get('/releases', async (c) => {
    const limit = parse(Limit, c.req.query('limit'), 'limit') ?? 50;
    return c.json(await store.releases.list({ service: c.req.query('service'), limit }));
  });
  api.get('/deployments', async (c) => {
    const limit = parse(Limit, c.req.query('limit'), 'limit') ?? 50;
    return c.json(await store.deployments.list({ service: c.req.query('service'), environment: c.req.query('environment'), limit }));
  });

  api.get('/deliveries', async (c) => {
    const limit = parse(Limit, c.req.query('limit'), 'limit') ?? 50;
    const deliveries = await store.deliveries.list({ limit });
    // The raw body stays on the server; people look at what it led to.
    return c.json(deliveries.map(({ body: _body, headers: _headers, parsed: _parsed, ...delivery }) => delivery));
  });
  api.get('/deliveries/:id', async (c) => {
    const id = parse(Id, c.req.param('id'), 'delivery id');
    const delivery = await store.deliveries.get(id);
    if (!delivery) throw new SlipwayError('NOT_FOUND', `delivery ${id} does not exist`);
    return c.json({ ...delivery, body: delivery.body.toString('utf8') });
  });

  api.get('/webhooks', async (c) =>
    c.json({ rejections: webhooks.receiver.counts(), secrets: await webhooks.secrets.list(), url: `${publicUrl()}/hooks/<forge>` }),
  );
  api.put('/webhook-secrets', async (c) => {
    const body = parse(SecretBody, await readJson(c), 'body');
    await webhooks.secrets.set(body.forge, body.repository, body.secret);
    return c.body(null, 204);
  });
  api.delete('/webhook-secrets', async (c) => {
    const body = parse(SecretKey, await readJson(c), 'body');
    if (!(await webhooks.secrets.remove(body.forge, body.repository))) {
      throw new SlipwayError('NOT_FOUND', `no ${body.forge} webhook secret is set for ${body.repository} through the API`);
    }
    return c.body(null, 204);
  });
  /** A plain repository's post-receive hook gets its own token (rotated by registering again). */
  api.post('/git-hooks', async (c) => {
    const { repository } = parse(GitHookBody, await readJson(c), 'body');
    const token = randomBytes(24).toString('base64url');
    await webhooks.secrets.set('git', repository, token);
    const services = servicesOf(engine.config, { fullName: repository, urls: [repository] });
    return c.json({ repository, token, hookUrl: `${publicUrl()}/hooks/git`, services } satisfies GitHookRegistration, 201);
  });

  api.get('/schedules', (c) => c.json(schedules.describe()));

  /** The append-only event log (audit trail), oldest first: `?after=<id>&run=<id>&limit=`. */
  api.get('/event-log', async (c) => {
    const afterId = parse(z.coerce.number().int().min(0).optional(), c.req.query('after'), 'after');
    const runId = c.req.query('run') ? parse(Id, c.req.query('run'), 'run') : undefined;
    const limit = parse(Limit, c.req.query('limit'), 'limit') ?? 100;
    return c.json(await store.events.list({ afterId, runId, limit }));
  });

  api.get('/events', eventStream(bus));

  app.route('/api', api);
  return app;
}

async function readJson(c: Context): Promise<unknown> {
  try {
    return await c.req.json();
  } catch {
    throw new SlipwayError('BAD_REQUEST', 'the request body is not valid JSON');
  }
}
