// GET /api/metrics: DORA's four measures per service and for the fleet, and the trends of runs,
// over a period, from the store's records (delivery/dora.ts computes them; docs/metrics.md
// defines them). Any user may read it. A fixed number of queries, however many records.

import { Hono } from 'hono';
import { z } from 'zod';
import type { MetricsReport } from '../client/metrics-api.ts';
import type { Config } from '../config/model.ts';
import { SlipwayError } from '../core/errors.ts';
import { chainFor } from '../delivery/chain.ts';
import { deliveryMetrics } from '../delivery/dora.ts';
import type { Store } from '../store/store.ts';
import type { ApiEnv } from './auth.ts';
import { parse } from './validation.ts';

const DAY_MS = 24 * 60 * 60 * 1000;
/** The period when none is asked for: the last 30 days. */
export const DEFAULT_METRICS_DAYS = 30;
/** The longest period one request may ask for. */
export const MAX_METRICS_DAYS = 366;

const Instant = z
  .union([z.iso.datetime({ offset: true }), z.iso.date()], { error: 'expected an ISO date-time such as 2026-03-01T00:00:00Z, or a date such as 2026-03-01' })
  .optional();
const MetricsQuery = z.object({ from: Instant, to: Instant, service: z.string().min(1).optional() }).strict();

export interface MetricsRouteDeps {
  store: Store;
  /** The configuration in force: which services there are, and each one's chain. */
  config: () => Config;
  /** The clock the default period ends at. */
  now?: () => Date;
}

export function metricsRoutes({ store, config, now = () => new Date() }: MetricsRouteDeps): Hono<ApiEnv> {
  const routes = new Hono<ApiEnv>();

  routes.get('/metrics', async (c) => {
    const query = parse(MetricsQuery, c.req.query(), 'query');
    const { from, to } = periodOf(query, now());
    const current = config();
    if (query.service !== undefined && !current.services[query.service]) {
      const known = Object.keys(current.services).join(', ') || 'none';
      throw new SlipwayError('SERVICE_NOT_FOUND', `unknown service ${query.service} (known services: ${known})`);
    }
    const services = query.service !== undefined ? [query.service] : Object.keys(current.services);
    const production = services.map((service) => ({ service, environment: chainFor(current, service).at(-1)?.environment ?? null }));
    const environments = [...new Set(production.flatMap((entry) => (entry.environment === null ? [] : [entry.environment])))];

    // What followed the period counts (a later rollback, a later restore), so no upper bound.
    const deployments = await store.deployments.finished({ environments, from, service: query.service });
    const placedInPeriod = deployments.filter((deployment) => deployment.status === 'succeeded' && Date.parse(deployment.finishedAt!) < Date.parse(to));
    const firstInProduction = await store.deployments.firstSucceeded({ releaseIds: [...new Set(placedInPeriod.map((deployment) => deployment.releaseId))], environments });
    const commits = await store.releases.commitTimes([...new Set(firstInProduction.map((deployment) => deployment.releaseId))]);
    const runs = await store.runs.timings({ from, to, service: query.service });

    const report: MetricsReport = deliveryMetrics({ from, to, service: query.service ?? null, production, deployments, firstInProduction, commits, runs });
    return c.json(report);
  });

  return routes;
}

/** [from, to) as toISOString writes them: the last 30 days by default; BAD_REQUEST naming the parameter for a period backwards or too long. */
function periodOf(query: { from?: string; to?: string }, now: Date): { from: string; to: string } {
  const to = query.to !== undefined ? Date.parse(query.to) : now.getTime();
  const from = query.from !== undefined ? Date.parse(query.from) : to - DEFAULT_METRICS_DAYS * DAY_MS;
  const named = query.from !== undefined ? 'from' : 'to';
  if (from >= to) throw new SlipwayError('BAD_REQUEST', `query.${named}: the period must start before it ends (from ${iso(from)} to ${iso(to)})`);
  if (to - from > MAX_METRICS_DAYS * DAY_MS) {
    throw new SlipwayError('BAD_REQUEST', `query.${named}: the period may be at most ${MAX_METRICS_DAYS} days (from ${iso(from)} to ${iso(to)} is ${Math.ceil((to - from) / DAY_MS)})`);
  }
  return { from: iso(from), to: iso(to) };
}

function iso(at: number): string {
  return new Date(at).toISOString();
}
