// Every /api call says who makes it: `Authorization: Bearer <token>`. This middleware finds the
// caller (401 when it cannot), `allow(role)` guards each route (403), and refusals are counted by
// reason, never kept with the token that was sent. POST /api/login is the one call without a
// token: it is how a password becomes one.

import type { Context, MiddlewareHandler } from 'hono';
import type { AccessService, Principal, RefusalReason } from '../auth/access.ts';
import { SlipwayError } from '../core/errors.ts';
import { allows } from '../core/roles.ts';
import type { Role } from '../core/types.ts';

export type ApiEnv = { Variables: { principal: Principal } };

/** Paths under /api that take no token. */
const OPEN_PATHS = new Set(['/api/login']);

/** Refused API calls since the server started, by reason. */
export class Refusals {
  private readonly counts = new Map<RefusalReason, number>();

  count(reason: RefusalReason): void {
    this.counts.set(reason, (this.counts.get(reason) ?? 0) + 1);
  }

  snapshot(): Partial<Record<RefusalReason, number>> {
    return Object.fromEntries(this.counts);
  }
}

export function authenticate(access: AccessService, refusals: Refusals): MiddlewareHandler<ApiEnv> {
  return async (c, next) => {
    if (OPEN_PATHS.has(c.req.path)) return next();
    const result = await access.authenticate(c.req.header('authorization'));
    if (!result.ok) {
      refusals.count(result.reason);
      throw result.error;
    }
    c.set('principal', result.principal);
    return next();
  };
}

/** Lets the call through when the caller's role is `role` or above. */
export function allow(role: Role, refusals: Refusals): MiddlewareHandler<ApiEnv> {
  return async (c, next) => {
    const { user } = c.get('principal');
    if (!allows(user.role, role)) {
      refusals.count('forbidden');
      throw new SlipwayError('FORBIDDEN', `${c.req.method} ${c.req.path} needs role ${role} or above; ${user.name} is ${user.role}`);
    }
    return next();
  };
}

export function principalOf(c: Context<ApiEnv>): Principal {
  return c.get('principal');
}
