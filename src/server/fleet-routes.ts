// GET /api/fleet: every service in every environment, for any user. The records come in a fixed
// number of queries and one listing of the placed instances, whatever the size of the fleet.

import { Hono } from 'hono';
import type { Fleet } from '../client/fleet-api.ts';
import type { PlacedInstance } from '../deployers/deployer.ts';
import { fleetView } from '../deployments/fleet.ts';
import type { Engine } from '../engine/engine.ts';
import type { Store } from '../store/store.ts';
import type { ApiEnv } from './auth.ts';

export function fleetRoutes(engine: Engine, store: Store, log: (message: string) => void): Hono<ApiEnv> {
  const routes = new Hono<ApiEnv>();
  // Each run or deployment event has every open dashboard read the fleet again at once: the
  // requests that arrive while the container engine is being asked share its one answer.
  let listing: Promise<Map<string, PlacedInstance[] | null>> | null = null;
  const placedInstances = () =>
    (listing ??= engine
      .placedInstances()
      .catch((error: unknown) => {
        // The fleet still shows what the store knows; health reads unknown meanwhile.
        log(`fleet: cannot list the placed instances: ${String(error)}`);
        return new Map<string, PlacedInstance[] | null>();
      })
      .finally(() => (listing = null)));

  routes.get('/fleet', async (c) => {
    const [serving, latest, latestRuns, waiting, locks, instances] = await Promise.all([
      store.deployments.latestPerTarget({ statuses: ['succeeded'] }),
      store.deployments.latestPerTarget(),
      store.runs.latestPerService(),
      store.stages.waiting(),
      store.locks.list(),
      placedInstances(),
    ]);
    const waitingRunIds = waiting.map(({ run }) => run.id);
    const builtByWaiting = waitingRunIds.length > 0 ? await store.releases.list({ runIds: waitingRunIds }) : [];
    const waitingReleases = new Map<number, number>(builtByWaiting.map((release) => [release.runId, release.id]));
    for (const { run } of waiting) if (run.releaseId !== null) waitingReleases.set(run.id, run.releaseId);
    const releases = await store.releases.byIds([...new Set([...serving, ...latest].map((deployment) => deployment.releaseId).concat([...waitingReleases.values()]))]);
    const runs = await store.runs.byIds([...new Set(releases.map((release) => release.runId))]);
    const fleet: Fleet = fleetView({ config: engine.config, serving, latest, releases, runs, latestRuns, waiting, waitingReleases, locks, instances });
    return c.json(fleet);
  });

  return routes;
}
