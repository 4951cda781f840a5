// Pure decisions about previews: which ones go to make room or because they expired, and which
// of a preview's members the proxy routes to. previews.ts carries them out.

import type { Config } from '../config/model.ts';
import { LIVE_PREVIEW_STATUSES, type Preview } from '../core/previews.ts';
import type { RouteSpec } from '../routers/router.ts';

/** The statuses a preview can be removed from (one being removed already is left to that removal). */
export const REMOVABLE_STATUSES = LIVE_PREVIEW_STATUSES.filter((status) => status !== 'removing');

/**
 * The previews to remove before `environment` gets one, so that no more than `max` exist: the
 * least recently updated first. A preview being removed still counts until it is gone.
 */
export function evictions(live: readonly Preview[], environment: string, max: number): Preview[] {
  const others = live.filter((preview) => preview.environment !== environment);
  const excess = others.length + 1 - max;
  if (excess <= 0) return [];
  return others
    .filter((preview) => preview.status !== 'removing')
    .sort((a, b) => a.updatedAt.localeCompare(b.updatedAt) || a.id - b.id)
    .slice(0, excess);
}

/** Live previews not updated in time. */
export function expired(live: readonly Preview[], now: Date): Preview[] {
  return live.filter((preview) => preview.status !== 'removing' && Date.parse(preview.expiresAt) <= now.getTime());
}

/** The services of a preview the proxy routes to: every one of its members with a port. */
export function routedServices(config: Config, members: ReadonlyArray<{ name: string }>): string[] {
  return members.map((member) => member.name).filter((name) => config.services[name]?.port !== undefined);
}

/** A preview route: reached from outside only (its members call each other on their own network). */
export function previewRoute(config: Config, service: string, environment: string, port: number): RouteSpec {
  const definition = config.services[service]!;
  return { service, environment, port, servicePort: definition.port!, names: [service], network: null, health: definition.health };
}
