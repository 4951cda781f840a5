// The fleet at a glance: every service in every environment, assembled from records read in a
// fixed number of queries (fleet-routes.ts reads them; this is pure).

import type { Fleet, FleetCell, FleetHealth, FleetRelease, FleetService } from '../client/fleet-api.ts';
import type { Config } from '../config/model.ts';
import type { Deployment, EnvironmentLock, Release, Run, Stage } from '../core/types.ts';
import type { PlacedInstance } from '../deployers/deployer.ts';
import { chainFor } from '../delivery/chain.ts';

export interface FleetRecords {
  config: Config;
  /** The newest succeeded deployment per service and environment. */
  serving: Deployment[];
  /** The newest deployment per service and environment, whatever its status. */
  latest: Deployment[];
  /** Every release any of the above names, and the releases of the waiting runs. */
  releases: Release[];
  /** The runs that built those releases (their commits), the newest run of each service, the waiting runs. */
  runs: Run[];
  latestRuns: Run[];
  waiting: Array<{ run: Run; stage: Stage }>;
  /** The release each waiting run would deploy, by run id. */
  waitingReleases: Map<number, number>;
  locks: EnvironmentLock[];
  /** Per environment, the instances its target placed; null where the target does not say. */
  instances: Map<string, PlacedInstance[] | null>;
}

/** The environments in the order the pipeline's deploy stages name them; those no stage names last. */
export function environmentOrder(config: Config): string[] {
  const staged = config.pipeline.flatMap((stage) => (stage.kind === 'deploy' && stage.environment !== null ? [stage.environment] : []));
  return [...new Set([...staged, ...Object.keys(config.environments)])];
}

export function fleetView(records: FleetRecords): Fleet {
  const environments = environmentOrder(records.config);
  const key = (service: string, environment: string) => `${service}\u0000${environment}`;
  const serving = new Map(records.serving.map((deployment) => [key(deployment.service, deployment.environment), deployment]));
  const latest = new Map(records.latest.map((deployment) => [key(deployment.service, deployment.environment), deployment]));
  const releases = new Map(records.releases.map((release) => [release.id, release]));
  const runs = new Map(records.runs.map((run) => [run.id, run]));
  const lastRuns = new Map(records.latestRuns.map((run) => [run.service, run]));

  const releaseOf = (id: number): FleetRelease | null => {
    const release = releases.get(id);
    if (!release) return null;
    const run = runs.get(release.runId);
    return { id, commitSha: release.commitSha, commitTitle: run?.commitTitle ?? null, commitAuthor: run?.commitAuthor ?? null, digest: release.digest, tag: release.tag };
  };

  const services: FleetService[] = Object.keys(records.config.services)
    .sort()
    .map((name) => {
      const chain = chainFor(records.config, name).map((link) => link.environment);
      const cells = environments.map((environment): FleetCell => {
        const deploys = chain.includes(environment);
        const current = serving.get(key(name, environment)) ?? null;
        const newest = latest.get(key(name, environment)) ?? null;
        const release = current ? releaseOf(current.releaseId) : null;
        const instances = records.instances.get(environment);
        const placed = current && instances ? instances.filter((instance) => instance.service === name && instance.deploymentId === current.id) : null;
        const before = chain[chain.indexOf(environment) - 1];
        const previous = before === undefined ? undefined : serving.get(key(name, before));
        const previousDigest = previous ? releases.get(previous.releaseId)?.digest : undefined;
        const lock =
          records.locks.find((candidate) => candidate.environment === environment && candidate.service === name) ??
          records.locks.find((candidate) => candidate.environment === environment && candidate.service === null) ??
          null;
        return {
          environment,
          deploys,
          serving: current && release ? { ...release, deploymentId: current.id, kind: current.kind, since: current.finishedAt } : null,
          health: healthOf(current !== null, placed),
          instances: placed ? { running: placed.filter((instance) => instance.running).length, placed: placed.length } : null,
          latest:
            newest && newest.id !== current?.id
              ? { id: newest.id, status: newest.status, kind: newest.kind, releaseId: newest.releaseId, reason: newest.reason, startedAt: newest.startedAt }
              : null,
          waiting: records.waiting
            .filter(({ run, stage }) => run.service === name && stage.environment === environment && stage.wait !== null)
            .map(({ run, stage }) => ({ runId: run.id, releaseId: records.waitingReleases.get(run.id) ?? null, wait: stage.wait! })),
          lock: deploys ? lock : null,
          drift: previous && previousDigest !== undefined && previousDigest !== release?.digest ? { from: before!, releaseId: previous.releaseId } : null,
        };
      });
      const run = lastRuns.get(name);
      return {
        name,
        lastRun: run ? { id: run.id, status: run.status, lane: run.lane, commitSha: run.commitSha, createdAt: run.createdAt, finishedAt: run.finishedAt } : null,
        cells,
      };
    });
  return { environments, services };
}

/** `placed`: the serving deployment's instances, or null when the target does not list them. */
function healthOf(serves: boolean, placed: PlacedInstance[] | null): FleetHealth {
  if (!serves || placed === null) return 'unknown';
  const running = placed.filter((instance) => instance.running).length;
  if (running === 0) return 'down';
  return running === placed.length ? 'healthy' : 'degraded';
}
