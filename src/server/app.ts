// The HTTP API. Routes are thin: they validate input, call the engine or the store, and
// answer JSON. Every error leaves through one handler that maps it to the catalogue in
// core/errors.ts; nothing else ever reaches a client.

import { Hono, type Context } from 'hono';
import { streamSSE } from 'hono/streaming';
import { z } from 'zod';
import type { EnvironmentState, RunDetail, ServerInfo, ServiceOverview } from '../client/api.ts';
import { describeError, SlipwayError } from '../core/errors.ts';
import type { Engine } from '../engine/engine.ts';
import { runIdOf, type EventBus, type LiveEvent } from '../events/bus.ts';
import type { Store } from '../store/store.ts';

export interface AppDeps {
  engine: Engine;
  store: Store;
  bus: EventBus;
  info: ServerInfo;
  log?: (message: string) => void;
}

const StartRunBody = z.object({ service: z.string().min(1), ref: z.string().min(1).optional() }).strict();
const Id = z.coerce.number().int().positive();
const Limit = z.coerce.number().int().min(1).max(1000).optional();

const SSE_HEARTBEAT_MS = 15_000;

function parse<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const where = issue.path.length ? `${what}.${issue.path.join('.')}` : what;
  throw new SlipwayError('BAD_REQUEST', `${where}: ${issue.message}`);
}

export function createApp({ engine, store, bus, info, log = () => {} }: AppDeps): Hono {
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
    return { ...run, stages: await store.stages.listByRun(id) };
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
    const started = await engine.startRun({ service: body.service, ref: body.ref, trigger: { kind: 'manual', by: 'api' } });
    if (!started.ok) throw started.error;
    return c.json({ ...started.value.run, stages: started.value.stages } satisfies RunDetail, 201);
  });
  api.get('/runs', async (c) => {
    const limit = parse(Limit, c.req.query('limit'), 'limit') ?? 50;
    const service = c.req.query('service');
    return c.json(await store.runs.list({ service, limit }));
  });
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

  /**
   * Live events as server-sent events. `?run=<id>` narrows to one run. Each event's `id` is
   * its kind and record id, so a client can tell repeats apart; the store stays the source
   * of truth for catching up.
   */
  api.get('/events', (c) => {
    const runFilter = c.req.query('run') ? parse(Id, c.req.query('run'), 'run') : null;
    return streamSSE(c, async (stream) => {
      const queue: LiveEvent[] = [];
      let wake: (() => void) | null = null;
      const unsubscribe = bus.subscribe(
        (event) => runFilter === null || runIdOf(event) === runFilter,
        (event) => {
          queue.push(event);
          wake?.();
        },
      );
      stream.onAbort(() => {
        unsubscribe();
        wake?.();
      });
      await stream.writeSSE({ event: 'ready', data: '{}' });
      while (!stream.aborted) {
        const event = queue.shift();
        if (event) {
          await stream.writeSSE({ event: event.type, data: JSON.stringify(event.data) });
          continue;
        }
        await new Promise<void>((resolve) => {
          const heartbeat = setTimeout(resolve, SSE_HEARTBEAT_MS);
          wake = () => {
            clearTimeout(heartbeat);
            wake = null;
            resolve();
          };
        });
        if (queue.length === 0 && !stream.aborted) await stream.write(': keep-alive\n\n');
      }
      unsubscribe();
    });
  });

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
