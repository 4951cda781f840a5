// GET /api/fleet: every service in every environment at a glance, for the dashboard's fleet page.

import type { CommitAuthor, DeploymentKind, DeploymentStatus, EnvironmentLock, GateWait, RunStatus } from '../core/types.ts';

export interface Fleet {
  /** Every environment, in the order of the pipeline's deploy stages. */
  environments: string[];
  /** By name. */
  services: FleetService[];
}

export interface FleetService {
  name: string;
  lastRun: FleetRun | null;
  /** One cell per environment of `Fleet.environments`, in that order. */
  cells: FleetCell[];
}

export interface FleetRun {
  id: number;
  status: RunStatus;
  lane: string;
  commitSha: string;
  createdAt: string;
  finishedAt: string | null;
}

/** A release as the fleet shows it: what it is, and the commit it was built from. */
export interface FleetRelease {
  id: number;
  commitSha: string;
  /** The commit message's first line; null when the run never read it. */
  commitTitle: string | null;
  commitAuthor: CommitAuthor | null;
  digest: string;
  tag: string | null;
}

/**
 * healthy: every instance of the serving release runs; degraded: some do; down: none does;
 * unknown: the environment's target keeps its instances itself (a command target), or nothing serves.
 */
export type FleetHealth = 'healthy' | 'degraded' | 'down' | 'unknown';

export interface FleetCell {
  environment: string;
  /** False where the service skips this environment: the rest of the cell is empty. */
  deploys: boolean;
  /** What serves there now. */
  serving: (FleetRelease & { deploymentId: number; kind: DeploymentKind; since: string | null }) | null;
  health: FleetHealth;
  /** Instances of the serving release that run, of those placed; null when the target does not say. */
  instances: { running: number; placed: number } | null;
  /** The newest deployment when it is not the one serving: one in progress, failed or rolled back. */
  latest: { id: number; status: DeploymentStatus; kind: DeploymentKind; releaseId: number; reason: string | null; startedAt: string } | null;
  /** Runs waiting at this environment's gate, oldest first, with what they wait for. */
  waiting: Array<{ runId: number; releaseId: number | null; wait: GateWait }>;
  /** The lock holding promotions into it for this service (its own, else every service's). */
  lock: EnvironmentLock | null;
  /**
   * Set when the environment before this one in the service's chain serves another image
   * (digest): that environment and its release, the one a promotion would bring here.
   */
  drift: { from: string; releaseId: number } | null;
}
