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

export type DeployLog = (line: string, stream?: 'stdout' | 'stderr') => void;

export interface Deployer {
  readonly description: string;
  deploy(request: DeployRequest, log: DeployLog, signal: AbortSignal): Promise<DeployOutcome>;
  status(service: string, environment: string): Promise<ServingInstance | null>;
}
