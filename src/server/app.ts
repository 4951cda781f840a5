// The HTTP API. Routes are thin: they validate input, call the engine, the store or the access
// service, and answer JSON. Every error leaves through one handler that maps it to the
// catalogue in core/errors.ts; nothing else ever reaches a client. The routes live by concern
// in runs-routes.ts, triggers-routes.ts, access-routes.ts, delivery-routes.ts, fleet-routes.ts and
// metrics-routes.ts; the live stream in events.ts; the dashboard's files in dashboard.ts.

import { getRequestListener } from '@hono/node-server';
import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { RequestListener } from 'node:http';
import type { AccessService } from '../auth/access.ts';
import type { ServerInfo } from '../client/api.ts';
import { describeError, SlipwayError } from '../core/errors.ts';
import type { Deployments } from '../deployments/service.ts';
import type { Engine } from '../engine/engine.ts';
import type { EventBus } from '../events/bus.ts';
import type { EnvironmentSecrets } from '../secrets/environment.ts';
import type { Store } from '../store/store.ts';
import type { ScheduleRunner } from '../triggers/schedules.ts';
import type { WebhookSecrets } from '../triggers/secrets.ts';
import type { WebhookReceiver } from '../triggers/webhooks.ts';
import { accessRoutes } from './access-routes.ts';
import { approvalPage } from './approval-page.ts';
import { authenticate, Refusals, type ApiEnv } from './auth.ts';
import { mountDashboard } from './dashboard.ts';
import { deliveryRoutes } from './delivery-routes.ts';
import { fleetRoutes } from './fleet-routes.ts';
import { metricsRoutes } from './metrics-routes.ts';
import { notificationsRoutes } from './notifications-routes.ts';
import { previewsRoutes } from './previews-routes.ts';
import type { PreviewEnvironments } from '../previews/previews.ts';
import { eventStream } from './events.ts';
import { HOOKS_PREFIX, webhookListener } from './hooks.ts';
import { runsRoutes } from './runs-routes.ts';
import { triggersRoutes } from './triggers-routes.ts';

export interface AppDeps {
  engine: Engine;
  store: Store;
  bus: EventBus;
  access: AccessService;
  deployments: Deployments;
  secrets: EnvironmentSecrets;
  info: ServerInfo;
  webhooks: { receiver: WebhookReceiver; secrets: WebhookSecrets; maxBytes?: number };
  schedules: Pick<ScheduleRunner, 'describe'>;
  /** Null when this server cannot run previews (no container engine or proxy). */
  previews?: PreviewEnvironments | null;
  /** Where people reach this server; links and the git hook's URL start with it. */
  publicUrl: () => string;
  /** Where the built dashboard is; dist/dashboard when left out. */
  dashboardDir?: string;
  /** Largest /api request body, in bytes. */
  maxApiBodyBytes?: number;
  log?: (message: string) => void;
}

/** Requests carry small JSON documents; nothing the API takes comes near this. */
export const DEFAULT_MAX_API_BODY_BYTES = 1024 * 1024;

/** The server's one request listener: webhooks to their own node:http listener, the rest to the API. */
export function createListener(deps: AppDeps): RequestListener {
  const api = getRequestListener(createApp(deps).fetch);
  const hooks = webhookListener(deps.webhooks.receiver, deps.webhooks.maxBytes, deps.log);
  return (request, response) => {
    if (request.url?.startsWith(HOOKS_PREFIX)) hooks(request, response);
    else void api(request, response);
  };
}

/**
 * The API under /api, every route behind a token (see auth.ts), and /healthz, which says only
 * that the server is alive. Webhooks are createListener's.
 */
export function createApp(deps: AppDeps): Hono {
  const { engine, store, bus, access, info, log = () => {} } = deps;
  const app = new Hono();
  const refusals = new Refusals();
  const maxBodyBytes = deps.maxApiBodyBytes ?? DEFAULT_MAX_API_BODY_BYTES;

  app.onError((error, c) => {
    if (error instanceof SlipwayError) return c.json({ error: error.toJSON() }, error.status as 400);
    log(`internal error on ${c.req.method} ${c.req.path}: ${error.stack ?? describeError(error)}`);
    return c.json({ error: { code: 'INTERNAL', message: 'internal error; the server log has the details' } }, 500);
  });
  app.notFound((c) => c.json({ error: { code: 'NOT_FOUND', message: `no route ${c.req.method} ${c.req.path}` } }, 404));

  app.get('/healthz', (c) => c.json({ status: 'ok' }));
  app.get('/runs/:id/approval', approvalPage());

  const api = new Hono<ApiEnv>();
  api.use('*', authenticate(access, refusals));
  api.use(
    '*',
    bodyLimit({
      maxSize: maxBodyBytes,
      onError: (c) => {
        refusals.count('too_large');
        c.header('connection', 'close');
        throw new SlipwayError('PAYLOAD_TOO_LARGE', `the request body is over the limit of ${maxBodyBytes} bytes`);
      },
    }),
  );
  api.get('/info', (c) => c.json(info));
  api.route('/', runsRoutes(engine, store, refusals));
  api.route('/', triggersRoutes({ config: engine.config, store, webhooks: deps.webhooks, schedules: deps.schedules, publicUrl: deps.publicUrl, refusals }));
  api.route('/', accessRoutes(access, refusals));
  api.route('/', deliveryRoutes({ engine, store, deployments: deps.deployments, secrets: deps.secrets, refusals }));
  api.route('/', previewsRoutes(store, deps.previews ?? null, refusals));
  api.route('/', metricsRoutes({ store, config: () => engine.config }));
  api.route('/', fleetRoutes(engine, store, log));
  api.route('/', notificationsRoutes(() => engine.config, store, refusals));
  api.get('/events', eventStream(bus));

  app.route('/api', api);
  mountDashboard(app, deps.dashboardDir);
  return app;
}
