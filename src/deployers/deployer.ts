// The Deployer places a release into an environment.
//
// Contract: deploy() starts the new release beside whatever serves now, waits until its health
// check answers 2xx (or the environment's health timeout passes), and only then retires the
// previous instance. The outcome says whether traffic moved:
//   - { trafficMoved: true, url }   the new release serves at url; the previous one is gone.
//   - { trafficMoved: false, reason } the previous release (if any) still serves, untouched;
//     the new instance has been removed and the health check's last output is in the log.
// deploy() never throws. Two deploys of one service to one environment are never run at once
// (the engine guarantees it). status() reports what serves now, from the target itself.
//
// What a deploy leaves on its target must tell a restarted server where the deploy stopped,
// because the server may die at any point of it (SIGKILL, power loss) while the instances live
// on. So the new instance is marked `proven` on the target once its health check has passed and
// before anything is retired: an instance that is not proven never served and never will, and
// a proven one passed its health check, so if the previous instance is gone, it is what serves.
// listInstances() answers every instance this deployer placed (for this Slipway instance) that
// still exists, in any environment and state; removeInstance() stops and removes one of them.
// The engine's recovery (engine/recovery.ts) decides from these and the store which to keep.

import type { Release } from '../core/types.ts';

export interface DeployRequest {
  release: Release;
  service: { name: string; port: number; health: string; variables: Record<string, string> };
  environment: { name: string; healthTimeoutMs: number; variables: Record<string, string> };
}

export type DeployOutcome =
  | { trafficMoved: true; url: string; instance: string }
  | { trafficMoved: false; reason: string };

export interface ServingInstance {
  releaseId: number;
  digest: string;
  url: string;
  instance: string;
}

/** An instance a deployer placed that still exists on its target. */
export interface PlacedInstance {
  /** The same id DeployOutcome.instance and ServingInstance.instance name it by. */
  instance: string;
  service: string;
  environment: string;
  releaseId: number;
  /** Its health check passed in the deploy that placed it (see the contract above). */
  proven: boolean;
  running: boolean;
  /** Where it answers; null when it is not running. Two running instances never share one. */
  url: string | null;
}

export type DeployLog = (line: string, stream?: 'stdout' | 'stderr') => void;

export interface Deployer {
  readonly description: string;
  deploy(request: DeployRequest, log: DeployLog, signal: AbortSignal): Promise<DeployOutcome>;
  status(service: string, environment: string): Promise<ServingInstance | null>;
  /** Every instance this deployer placed that still exists, serving or not, oldest first. */
  listInstances(): Promise<PlacedInstance[]>;
  /** Stops (gracefully) and removes one instance; one that is already gone is no error. */
  removeInstance(instance: string): Promise<void>;
}
