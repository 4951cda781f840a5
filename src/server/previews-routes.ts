// /api routes for pull requests' previews: any user lists and reads them; removing one by hand
// needs a developer (a preview holds no production data and comes back with the next commit).

import { Hono } from 'hono';
import { z } from 'zod';
import { SlipwayError } from '../core/errors.ts';
import { LIVE_PREVIEW_STATUSES } from '../core/previews.ts';
import type { PreviewEnvironments } from '../previews/previews.ts';
import type { Store } from '../store/store.ts';
import { allow, principalOf, type ApiEnv, type Refusals } from './auth.ts';
import { Id, parse, readOptionalJson } from './validation.ts';

const ListQuery = z.object({ all: z.enum(['0', '1']).optional(), service: z.string().min(1).optional() }).strict();
const RemoveBody = z.object({ reason: z.string().trim().min(1).max(2000).optional() }).strict();

export function previewsRoutes(store: Store, previews: PreviewEnvironments | null, refusals: Refusals): Hono<ApiEnv> {
  const routes = new Hono<ApiEnv>();
  const developer = allow('developer', refusals);

  routes.get('/previews', async (c) => {
    const query = parse(ListQuery, c.req.query(), 'query');
    return c.json(await store.previews.list({ statuses: query.all === '1' ? undefined : LIVE_PREVIEW_STATUSES, service: query.service }));
  });

  routes.get('/previews/:id', async (c) => {
    const id = parse(Id, c.req.param('id'), 'preview id');
    const preview = await store.previews.get(id);
    if (!preview) throw new SlipwayError('PREVIEW_NOT_FOUND', `preview ${id} does not exist`);
    return c.json(preview);
  });

  routes.delete('/previews/:id', developer, async (c) => {
    const id = parse(Id, c.req.param('id'), 'preview id');
    const body = parse(RemoveBody, await readOptionalJson(c), 'body');
    if (!previews) throw new SlipwayError('PREVIEWS_UNAVAILABLE', 'this server has no container engine and proxy, so it has no previews to remove');
    const preview = await store.previews.get(id);
    if (!preview) throw new SlipwayError('PREVIEW_NOT_FOUND', `preview ${id} does not exist`);
    const removed = await previews.remove(id, body.reason ?? `removed by ${principalOf(c).user.name}`);
    if (!removed) throw new SlipwayError('PREVIEW_NOT_LIVE', `preview ${id} (${preview.environment}) is ${preview.status}`);
    return c.json(removed);
  });

  return routes;
}
