// The Deployer places a release into an environment.
//
// Contract, for one deploy of one service to one environment (the engine never runs two at once):
//   1. runTask() runs a one-off command (a migration before traffic moves, a smoke test after)
//      in the release's image with the environment's variables, on the environment's network,
//      and answers its exit code. Nothing it starts outlives it.
//   2. deploy() starts the release's instances beside what serves now, in batches of
//      `environment.batch`, waits for each one's health check, and moves new requests to it,
//      the previous release's instances going on standby (running, given no new requests, their
//      requests in flight, keep-alive connections and WebSockets carrying on). The outcome:
//        - { trafficMoved: true, url, instances }  the new release takes every new request at
//          the stable `url`; the previous release's instances stand by for a revert.
//        - { trafficMoved: false, reason }  the previous release serves as before, the new
//          instances are gone, and the health check's last output is in the log.
//   3. observe() reports the new instances' health and the errors the proxy saw from them (the
//      engine's bake window watches it); lastLines() is an instance's recent output.
//   4. Then either retire(): the previous release's instances are drained (their sessions end,
//      or `environment.drainTimeoutMs` passes) and removed; or revert(): the previous
//      release's instances take the requests again and the new ones are drained and removed.
// No method throws for a failure of the target: deploy() answers trafficMoved false, runTask()
// a non-zero exit with the reason logged, retire() and revert() log what they could not do.
//
// What a deploy leaves on its target must tell a restarted server where it stopped, since the
// server may die at any point (SIGKILL, power loss) while the instances live on. So each new
// instance is marked `proven` on the target once its health check has passed and before any
// traffic moves to it: an instance that is not proven never served. listInstances() answers
// every instance this deployer placed (for this Slipway instance) that still exists;
// serveOnly() makes exactly the given instances take a service's requests (a restarted server
// settles on them, engine/recovery.ts decides which) and removeInstance() removes one.

import type { Release } from '../core/types.ts';
import type { HealthCheck } from '../routers/router.ts';

export interface DeployRequest {
  /** The deployment being made; its instances carry it, so a restart knows which deploy placed them. */
  deploymentId: number;
  release: Release;
  /** The release that serves now, if any: a command target hands it to its command. */
  previous: Release | null;
  service: {
    name: string;
    port: number;
    health: HealthCheck;
    /** Names its neighbours call it by, besides its service name. */
    aliases: string[];
    variables: Record<string, string>;
  };
  environment: {
    name: string;
    /** How long one instance may take to pass its health check. */
    healthTimeoutMs: number;
    variables: Record<string, string>;
    replicas: number;
    /** Instances started and switched at once. */
    batch: number;
    drainTimeoutMs: number;
  };
}

export type DeployOutcome = { trafficMoved: true; url: string; instances: string[] } | { trafficMoved: false; reason: string };

export interface ServingInstance {
  releaseId: number;
  digest: string;
  url: string;
  instance: string;
}

/** An instance a deployer placed that still exists on its target. */
export interface PlacedInstance {
  /** The id DeployOutcome.instances names it by. */
  instance: string;
  service: string;
  environment: string;
  releaseId: number;
  /** The deployment that placed it. */
  deploymentId: number;
  /** Its health check passed in the deploy that placed it (see the contract above). */
  proven: boolean;
  running: boolean;
  /** Where the instance itself answers; null when it is not running. */
  url: string | null;
}

/** An instance's health as the proxy sees it, during a bake. */
export interface InstanceHealth {
  instance: string;
  healthy: boolean;
  /** The last health check's result, for the log. */
  lastCheck: string;
  /** Errors the proxy saw from it since it was added (5xx answers, failed connections). */
  errors: number;
}

export interface TaskRequest {
  /** What it is, for names and the log: "pre-deploy", "post-deploy". */
  name: string;
  command: string;
  /** Extra variables (SLIPWAY_URL for a smoke test). */
  env: Record<string, string>;
  timeoutMs: number;
}

/** Where people and neighbours reach a service in an environment, whatever release serves. */
export interface ServiceAddress {
  /** By host name on the proxy's shared port. */
  url: string;
  /** On its own port, for clients that send no host name. */
  portUrl: string | null;
  /** From the environment's own containers, by its name. */
  internalUrl: string | null;
}

export type DeployLog = (line: string, stream?: 'stdout' | 'stderr') => void;

export interface Deployer {
  readonly description: string;
  /** Whether instances stand by after a deploy, so a bake can move traffic back at once. */
  readonly keepsPrevious: boolean;
  /**
   * Whether it places instances this server sees (listed, observed, served by the proxy). False
   * for a target whose own platform keeps them (a command target): its deploy answers no
   * instances, its command's exit alone decides, and a restart has nothing of it to settle.
   */
  readonly placesInstances: boolean;
  /** The stable address of a service in an environment, when this target gives one. */
  address(service: string, environment: string): ServiceAddress | null;
  runTask(request: DeployRequest, task: TaskRequest, log: DeployLog, signal: AbortSignal): Promise<{ exitCode: number }>;
  deploy(request: DeployRequest, log: DeployLog, signal: AbortSignal): Promise<DeployOutcome>;
  observe(request: DeployRequest, instances: string[]): Promise<InstanceHealth[]>;
  lastLines(instance: string, count: number): Promise<string[]>;
  retire(request: DeployRequest, keep: string[], log: DeployLog): Promise<void>;
  /** Traffic back on the previous release's instances, the new ones (`remove`) drained and removed. */
  revert(request: DeployRequest, remove: string[], log: DeployLog, signal: AbortSignal): Promise<{ reverted: boolean; reason?: string }>;
  status(service: string, environment: string): Promise<ServingInstance | null>;
  /** Every instance this deployer placed that still exists, serving or not, oldest first. */
  listInstances(): Promise<PlacedInstance[]>;
  /** Exactly these instances (of one service and environment) take its requests. */
  serveOnly(service: string, environment: string, instances: string[]): Promise<void>;
  /** Stops (gracefully) and removes one instance; one that is already gone is no error. */
  removeInstance(instance: string): Promise<void>;
  /** Removes the images of the `drop` releases from the target's host, unless a `keep` release shares one; answers how many went. */
  pruneImages(keep: Release[], drop: Release[]): Promise<number>;
}
