// /api routes for users, API tokens and logging in. Who may do what is the AccessService's to
// decide (an admin manages everyone; each user manages their own tokens and password); these
// routes read the request and answer.

import { Hono } from 'hono';
import { z } from 'zod';
import type { AccessService } from '../auth/access.ts';
import type { ApiTokenListing, IssuedApiToken, Me, RefusalCounts } from '../client/api.ts';
import { ROLES } from '../core/types.ts';
import { allow, principalOf, type ApiEnv, type Refusals } from './auth.ts';
import { Id, parse, readJson } from './validation.ts';

const RoleName = z.enum(ROLES, { error: `expected one of ${ROLES.join(', ')}` });
const LoginBody = z.object({ user: z.string().min(1), password: z.string().min(1), name: z.string().min(1).max(100).optional() }).strict();
const NewUserBody = z.object({ name: z.string().min(1), role: RoleName, password: z.string().optional(), email: z.string().optional() }).strict();
const UserPatchBody = z
  .object({ role: RoleName.optional(), password: z.string().optional(), email: z.string().nullable().optional() })
  .strict()
  .refine((patch) => patch.role !== undefined || patch.password !== undefined || patch.email !== undefined, 'expected "role", "password" or "email"');
const NewTokenBody = z.object({ name: z.string().min(1).max(100), user: z.string().min(1).optional() }).strict();

export function accessRoutes(access: AccessService, refusals: Refusals): Hono<ApiEnv> {
  const routes = new Hono<ApiEnv>();

  routes.post('/login', async (c) => {
    const body = parse(LoginBody, await readJson(c), 'body');
    const result = await access.login(body.user, body.password, body.name ?? `login from ${c.req.header('user-agent')?.slice(0, 60) ?? 'a client'}`);
    if (!result.ok) {
      refusals.count(result.reason);
      throw result.error;
    }
    const { value, token, user } = result.issued;
    return c.json({ ...token, token: value, user: user.name } satisfies IssuedApiToken, 201);
  });

  routes.get('/me', (c) => {
    const { user, token } = principalOf(c);
    return c.json({ user, token } satisfies Me);
  });

  routes.get('/users', async (c) => c.json(await access.listUsers()));
  routes.post('/users', allow('admin', refusals), async (c) => {
    const body = parse(NewUserBody, await readJson(c), 'body');
    return c.json(await access.addUser(principalOf(c), body), 201);
  });
  routes.patch('/users/:name', async (c) => {
    const patch = parse(UserPatchBody, await readJson(c), 'body');
    return c.json(await access.updateUser(principalOf(c), c.req.param('name'), patch));
  });
  routes.delete('/users/:name', allow('admin', refusals), async (c) => {
    await access.removeUser(principalOf(c), c.req.param('name'));
    return c.body(null, 204);
  });

  routes.get('/tokens', async (c) => {
    const all = c.req.query('all') === '1' || c.req.query('all') === 'true';
    const tokens: ApiTokenListing[] = await access.listTokens(principalOf(c), { user: c.req.query('user'), all });
    return c.json(tokens);
  });
  routes.post('/tokens', async (c) => {
    const body = parse(NewTokenBody, await readJson(c), 'body');
    const { value, token, user } = await access.createToken(principalOf(c), body);
    return c.json({ ...token, token: value, user: user.name } satisfies IssuedApiToken, 201);
  });
  routes.delete('/tokens/:id', async (c) => {
    await access.revokeToken(principalOf(c), parse(Id, c.req.param('id'), 'token id'));
    return c.body(null, 204);
  });

  routes.get('/refusals', allow('admin', refusals), (c) => c.json({ api: refusals.snapshot() } satisfies RefusalCounts));

  return routes;
}
