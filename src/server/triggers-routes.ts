// /api routes for what starts runs by itself: webhook deliveries, webhook secrets, plain git
// hooks and schedules. Reading needs any role (secrets are never shown); setting secrets and
// registering hooks needs admin, and each change is in the event log with who made it.

import { randomBytes } from 'node:crypto';
import { Hono } from 'hono';
import { z } from 'zod';
import type { GitHookRegistration } from '../client/api.ts';
import { SlipwayError } from '../core/errors.ts';
import type { Config } from '../config/model.ts';
import { FORGE_NAMES } from '../forges/forge.ts';
import type { Store } from '../store/store.ts';
import { servicesOf } from '../triggers/repositories.ts';
import type { ScheduleRunner } from '../triggers/schedules.ts';
import type { WebhookSecrets } from '../triggers/secrets.ts';
import type { WebhookReceiver } from '../triggers/webhooks.ts';
import { allow, principalOf, type ApiEnv, type Refusals } from './auth.ts';
import { Id, Limit, parse, readJson } from './validation.ts';

const ForgeName = z.enum(FORGE_NAMES, { error: `expected one of ${FORGE_NAMES.join(', ')}` });
const SecretBody = z.object({ forge: ForgeName, repository: z.string().min(1), secret: z.string().min(8, 'expected at least 8 characters') }).strict();
const SecretKey = z.object({ forge: ForgeName, repository: z.string().min(1) }).strict();
const GitHookBody = z.object({ repository: z.string().min(1) }).strict();

export interface TriggersRoutesDeps {
  config: Config;
  store: Store;
  webhooks: { receiver: WebhookReceiver; secrets: WebhookSecrets };
  schedules: Pick<ScheduleRunner, 'describe'>;
  publicUrl: () => string;
  refusals: Refusals;
}

export function triggersRoutes({ config, store, webhooks, schedules, publicUrl, refusals }: TriggersRoutesDeps): Hono<ApiEnv> {
  const routes = new Hono<ApiEnv>();
  const admin = allow('admin', refusals);

  routes.get('/deliveries', async (c) => {
    const limit = parse(Limit, c.req.query('limit'), 'limit') ?? 50;
    const deliveries = await store.deliveries.list({ limit });
    // The raw body stays on the server; people look at what it led to.
    return c.json(deliveries.map(({ body: _body, headers: _headers, parsed: _parsed, ...delivery }) => delivery));
  });
  routes.get('/deliveries/:id', async (c) => {
    const id = parse(Id, c.req.param('id'), 'delivery id');
    const delivery = await store.deliveries.get(id);
    if (!delivery) throw new SlipwayError('NOT_FOUND', `delivery ${id} does not exist`);
    return c.json({ ...delivery, body: delivery.body.toString('utf8') });
  });

  routes.get('/webhooks', async (c) =>
    c.json({ rejections: webhooks.receiver.counts(), secrets: await webhooks.secrets.list(), url: `${publicUrl()}/hooks/<forge>` }),
  );
  routes.put('/webhook-secrets', admin, async (c) => {
    const body = parse(SecretBody, await readJson(c), 'body');
    await webhooks.secrets.set(body.forge, body.repository, body.secret);
    await audit(store, principalOf(c).user.name, 'webhook_secret.set', { forge: body.forge, repository: body.repository });
    return c.body(null, 204);
  });
  routes.delete('/webhook-secrets', admin, async (c) => {
    const body = parse(SecretKey, await readJson(c), 'body');
    if (!(await webhooks.secrets.remove(body.forge, body.repository))) {
      throw new SlipwayError('NOT_FOUND', `no ${body.forge} webhook secret is set for ${body.repository} through the API`);
    }
    await audit(store, principalOf(c).user.name, 'webhook_secret.removed', { forge: body.forge, repository: body.repository });
    return c.body(null, 204);
  });
  /** A plain repository's post-receive hook gets its own token (rotated by registering again). */
  routes.post('/git-hooks', admin, async (c) => {
    const { repository } = parse(GitHookBody, await readJson(c), 'body');
    const token = randomBytes(24).toString('base64url');
    await webhooks.secrets.set('git', repository, token);
    await audit(store, principalOf(c).user.name, 'git_hook.registered', { repository });
    const services = servicesOf(config, { fullName: repository, urls: [repository] });
    return c.json({ repository, token, hookUrl: `${publicUrl()}/hooks/git`, services } satisfies GitHookRegistration, 201);
  });

  routes.get('/schedules', (c) => c.json(schedules.describe()));

  return routes;
}

function audit(store: Store, actor: string, type: string, data: Record<string, unknown>): Promise<unknown> {
  return store.events.append({ type, runId: null, service: null, actor, data });
}
