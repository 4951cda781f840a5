// A scriptable Deployer for engine tests. It keeps the instances it placed the way a real target
// would: a deploy places an unproven instance, proves it when the script says the health check
// passed, then retires the others of its service and environment; a failed deploy removes it.
// A script decides only health (and what is logged); the fake names each instance and its URL.
// crashAt() makes a deploy stop for good at one point, as if the server had died there, so a
// test can restart an engine against what the target then holds.

import type { DeployLog, DeployOutcome, DeployRequest, Deployer, PlacedInstance, ServingInstance } from '../deployer.ts';

export type FakeDeployScript = (request: DeployRequest, log: DeployLog, signal: AbortSignal) => DeployOutcome | Promise<DeployOutcome>;

export const healthyDeploy: FakeDeployScript = ({ release, service, environment }, log) => {
  const url = `http://${service.name}.${environment.name}.fake.invalid`;
  log(`release ${release.id} of ${service.name} serves ${environment.name} (fake)`);
  return { trafficMoved: true, url, instance: `fake-${service.name}-${environment.name}-r${release.id}` };
};

export const failingHealthCheck: FakeDeployScript = ({ service, environment }, log) => {
  const reason = `health check GET ${service.health} did not answer 2xx within ${environment.healthTimeoutMs}ms (last: connection refused)`;
  log(reason, 'stderr');
  return { trafficMoved: false, reason };
};

/**
 * Where a deploy can be cut short: before its instance started; started but not yet healthy;
 * proven healthy with the previous instance still running; the previous one retired too.
 */
export type FakeCrashPoint = 'before-start' | 'unproven' | 'proven' | 'retired';

interface FakeInstance extends PlacedInstance {
  digest: string;
}

export class FakeDeployer implements Deployer {
  readonly description = 'fake deployer';
  /** Every request, in call order. */
  readonly calls: DeployRequest[] = [];
  /** Instances by id, in the order they were placed. */
  private readonly placed = new Map<string, FakeInstance>();
  private crashPoint: FakeCrashPoint | null = null;
  private nextPort = 40_001;

  constructor(private script: FakeDeployScript = healthyDeploy) {}

  /** Replaces the script for the deploys that follow. */
  respondWith(script: FakeDeployScript): void {
    this.script = script;
  }

  /** The next deploy stops at `point` and never returns, leaving the target as it was there. */
  crashAt(point: FakeCrashPoint): void {
    this.crashPoint = point;
  }

  async deploy(request: DeployRequest, log: DeployLog, signal: AbortSignal): Promise<DeployOutcome> {
    this.calls.push(request);
    const crash = this.crashPoint;
    this.crashPoint = null;
    if (signal.aborted) return { trafficMoved: false, reason: 'deploy cancelled' };
    if (crash === 'before-start') return halted();
    const { release, service, environment } = request;
    const candidate = this.place(service.name, environment.name, release.id, release.digest);
    if (crash === 'unproven') return halted();
    let outcome: DeployOutcome;
    try {
      outcome = await this.script(request, log, signal);
    } catch (error) {
      // The contract says deploy() never throws, even when a test's script does.
      outcome = { trafficMoved: false, reason: `deploy failed: ${error instanceof Error ? error.message : String(error)}` };
    }
    if (signal.aborted) outcome = { trafficMoved: false, reason: 'deploy cancelled' };
    if (!outcome.trafficMoved) {
      this.placed.delete(candidate.instance);
      return outcome;
    }
    candidate.proven = true;
    if (crash === 'proven') return halted();
    for (const other of this.ofKey(service.name, environment.name)) if (other !== candidate) this.placed.delete(other.instance);
    if (crash === 'retired') return halted();
    return { trafficMoved: true, url: candidate.url!, instance: candidate.instance };
  }

  async status(service: string, environment: string): Promise<ServingInstance | null> {
    // Mid-deploy the new instance runs beside the old one; the old one serves until retired.
    const serving = this.ofKey(service, environment).find((instance) => instance.proven && instance.running);
    return serving ? { releaseId: serving.releaseId, digest: serving.digest, url: serving.url!, instance: serving.instance } : null;
  }

  async listInstances(): Promise<PlacedInstance[]> {
    return [...this.placed.values()].map(({ digest: _digest, ...instance }) => ({ ...instance }));
  }

  async removeInstance(instance: string): Promise<void> {
    this.placed.delete(instance);
  }

  /** Stops an instance without removing it, as a host reboot or a crashed app would. */
  stopInstance(instance: string): void {
    const found = this.placed.get(instance);
    if (found) Object.assign(found, { running: false, url: null });
  }

  /** Ids like the conventional ones (fake-api-staging-r3); a URL no running instance holds. */
  private place(service: string, environment: string, releaseId: number, digest: string): FakeInstance {
    let instance = `fake-${service}-${environment}-r${releaseId}`;
    for (let n = 2; this.placed.has(instance); n++) instance = `fake-${service}-${environment}-r${releaseId}-${n}`;
    const host = `http://${service}.${environment}.fake.invalid`;
    const taken = new Set([...this.placed.values()].map((other) => other.url));
    const url = taken.has(host) ? `${host}:${this.nextPort++}` : host;
    const placed: FakeInstance = { instance, service, environment, releaseId, proven: false, running: true, url, digest };
    this.placed.set(instance, placed);
    return placed;
  }

  private ofKey(service: string, environment: string): FakeInstance[] {
    return [...this.placed.values()].filter((instance) => instance.service === service && instance.environment === environment);
  }
}

/** A deploy cut short by a "crash": it never returns, as the dead server's never did. */
function halted(): Promise<never> {
  return new Promise(() => {});
}
