// A scriptable Deployer for engine tests. It keeps the instances it placed the way a real target
// would: a deploy places unproven instances, proves them when the script says the health check
// passed, and moves the service's requests to them; a failed deploy removes them. With
// `keepsPrevious` the previous instances stand by until retire() or revert(), as behind the
// proxy; without, they are retired at once (a target with no standby). A script decides only
// health (and what is logged); `observeWith` decides what a bake sees, `taskExits` what
// pre- and post-deploy commands answer. crashAt() makes a deploy stop for good at one point, as
// if the server had died there, so a test can restart an engine against what the target holds.

import type { Release } from '../../core/types.ts';
import type { DeployLog, DeployOutcome, DeployRequest, Deployer, InstanceHealth, PlacedInstance, ServiceAddress, ServingInstance, TaskRequest } from '../deployer.ts';

/** Says whether the new instances passed their health check: a URL-less outcome, or a refusal. */
export type FakeDeployScript = (request: DeployRequest, log: DeployLog, signal: AbortSignal) => FakeHealth | Promise<FakeHealth>;
export type FakeHealth = { healthy: true } | { healthy: false; reason: string };

export const healthyDeploy: FakeDeployScript = ({ release, service, environment }, log) => {
  log(`release ${release.id} of ${service.name} serves ${environment.name} (fake)`);
  return { healthy: true };
};

export const failingHealthCheck: FakeDeployScript = ({ service, environment }, log) => {
  const reason = `health check GET ${service.health.path} did not answer 2xx within ${environment.healthTimeoutMs}ms (last: connection refused)`;
  log(reason, 'stderr');
  return { healthy: false, reason };
};

/**
 * Where a deploy can be cut short: before its instances started; started but not yet healthy;
 * proven healthy with the previous instances still taking requests; the requests moved too.
 */
export type FakeCrashPoint = 'before-start' | 'unproven' | 'proven' | 'switched';

interface FakeInstance extends PlacedInstance {
  digest: string;
  serving: boolean;
}

export class FakeDeployer implements Deployer {
  readonly description = 'fake deployer';
  readonly keepsPrevious: boolean;
  readonly placesInstances = true;
  /** Every deploy request, in call order. */
  readonly calls: DeployRequest[] = [];
  /** Every task run, in call order. */
  readonly tasks: Array<{ request: DeployRequest; task: TaskRequest }> = [];
  /** What each task command answers (by command); 0 when not named. */
  readonly taskExits = new Map<string, number>();
  /** What a bake sees of the new instances; healthy and error-free by default. */
  observeWith: (instances: string[]) => InstanceHealth[] = (instances) => instances.map((instance) => ({ instance, healthy: true, lastCheck: 'L7OK/200', errors: 0 }));
  /** Instances by id, in the order they were placed. */
  private readonly placed = new Map<string, FakeInstance>();
  /** Digests of the release images a deploy brought to the host. */
  private readonly images = new Set<string>();
  private crashPoint: FakeCrashPoint | null = null;

  constructor(
    private script: FakeDeployScript = healthyDeploy,
    options: { keepsPrevious?: boolean } = {},
  ) {
    this.keepsPrevious = options.keepsPrevious ?? false;
  }

  /** Replaces the script for the deploys that follow. */
  respondWith(script: FakeDeployScript): void {
    this.script = script;
  }

  /** The next deploy stops at `point` and never returns, leaving the target as it was there. */
  crashAt(point: FakeCrashPoint): void {
    this.crashPoint = point;
  }

  address(service: string, environment: string): ServiceAddress {
    return { url: `http://${service}.${environment}.fake.invalid`, portUrl: null, internalUrl: null };
  }

  async runTask(request: DeployRequest, task: TaskRequest, log: DeployLog): Promise<{ exitCode: number }> {
    this.tasks.push({ request, task });
    const exitCode = this.taskExits.get(task.command) ?? 0;
    log(`${task.name}: ${task.command} exited with code ${exitCode} (fake)`);
    return { exitCode };
  }

  async deploy(request: DeployRequest, log: DeployLog, signal: AbortSignal): Promise<DeployOutcome> {
    this.calls.push(request);
    const crash = this.crashPoint;
    this.crashPoint = null;
    if (signal.aborted) return { trafficMoved: false, reason: 'deploy cancelled' };
    if (crash === 'before-start') return halted();
    this.images.add(request.release.digest);
    const { service, environment } = request;
    const started = Array.from({ length: request.environment.replicas }, () => this.place(request));
    if (crash === 'unproven') return halted();
    let health: FakeHealth;
    try {
      health = await this.script(request, log, signal);
    } catch (error) {
      // The contract says deploy() never throws, even when a test's script does.
      health = { healthy: false, reason: `deploy failed: ${error instanceof Error ? error.message : String(error)}` };
    }
    if (signal.aborted) health = { healthy: false, reason: 'deploy cancelled' };
    if (!health.healthy) {
      for (const instance of started) this.placed.delete(instance.instance);
      return { trafficMoved: false, reason: health.reason };
    }
    for (const instance of started) instance.proven = true;
    if (crash === 'proven') return halted();
    for (const other of this.ofKey(service.name, environment.name)) other.serving = started.includes(other);
    if (crash === 'switched') return halted();
    if (!this.keepsPrevious) await this.retire(request, started.map((instance) => instance.instance));
    return { trafficMoved: true, url: this.address(service.name, environment.name).url, instances: started.map((instance) => instance.instance) };
  }

  async observe(_request: DeployRequest, instances: string[]): Promise<InstanceHealth[]> {
    return this.observeWith(instances);
  }

  async lastLines(instance: string): Promise<string[]> {
    return [`last line of ${instance} (fake)`];
  }

  async retire(request: DeployRequest, keep: string[]): Promise<void> {
    for (const other of this.ofKey(request.service.name, request.environment.name)) if (!keep.includes(other.instance)) this.placed.delete(other.instance);
  }

  async revert(request: DeployRequest, remove: string[]): Promise<{ reverted: boolean; reason?: string }> {
    const back = this.ofKey(request.service.name, request.environment.name).filter((instance) => !remove.includes(instance.instance) && instance.proven && instance.running);
    if (back.length === 0) return { reverted: false, reason: 'no previous release stands by to take the requests back' };
    for (const instance of back) instance.serving = true;
    for (const id of remove) this.placed.delete(id);
    return { reverted: true };
  }

  async status(service: string, environment: string): Promise<ServingInstance | null> {
    const serving = this.ofKey(service, environment).find((instance) => instance.serving && instance.running);
    return serving ? { releaseId: serving.releaseId, digest: serving.digest, url: this.address(service, environment).url, instance: serving.instance } : null;
  }

  async listInstances(): Promise<PlacedInstance[]> {
    return [...this.placed.values()].map(({ digest: _digest, serving: _serving, ...instance }) => ({ ...instance }));
  }

  async serveOnly(service: string, environment: string, instances: string[]): Promise<void> {
    for (const instance of this.ofKey(service, environment)) instance.serving = instances.includes(instance.instance);
  }

  async removeInstance(instance: string): Promise<void> {
    this.placed.delete(instance);
  }

  async pruneImages(keep: Release[], drop: Release[]): Promise<number> {
    const kept = new Set(keep.map((release) => release.digest));
    const used = new Set([...this.placed.values()].map((instance) => instance.digest));
    let removed = 0;
    for (const { digest } of drop) {
      if (kept.has(digest) || used.has(digest) || !this.images.delete(digest)) continue;
      removed++;
    }
    return removed;
  }

  /** The digests of the release images on the host. */
  imageDigests(): string[] {
    return [...this.images];
  }

  /** Stops an instance without removing it, as a host reboot or a crashed app would. */
  stopInstance(instance: string): void {
    const found = this.placed.get(instance);
    if (found) Object.assign(found, { running: false, url: null });
  }

  /** Which instances of a service take its requests now. */
  servingInstances(service: string, environment: string): string[] {
    return this.ofKey(service, environment)
      .filter((instance) => instance.serving)
      .map((instance) => instance.instance);
  }

  /** Ids like the conventional ones (fake-api-staging-r3, then -2, -3 for more of one release). */
  private place(request: DeployRequest): FakeInstance {
    const { release, service, environment, deploymentId } = request;
    let instance = `fake-${service.name}-${environment.name}-r${release.id}`;
    for (let n = 2; this.placed.has(instance); n++) instance = `fake-${service.name}-${environment.name}-r${release.id}-${n}`;
    const placed: FakeInstance = {
      instance,
      service: service.name,
      environment: environment.name,
      releaseId: release.id,
      deploymentId,
      proven: false,
      running: true,
      url: `http://${instance}.fake.invalid`,
      digest: release.digest,
      serving: false,
    };
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
