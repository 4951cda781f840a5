// A scriptable Deployer for engine tests. It remembers what it deployed, so status() answers
// like a real target would: a deploy that moved traffic replaces what serves, one that did not
// leaves it.

import type { DeployLog, DeployOutcome, DeployRequest, Deployer, ServingInstance } from '../deployer.ts';

export type FakeDeployScript = (request: DeployRequest, log: DeployLog, signal: AbortSignal) => DeployOutcome | Promise<DeployOutcome>;

export const healthyDeploy: FakeDeployScript = ({ release, service, environment }, log) => {
  const url = `http://${service.name}.${environment.name}.fake.invalid`;
  log(`release ${release.id} of ${service.name} serves ${environment.name} at ${url} (fake)`);
  return { trafficMoved: true, url, instance: `fake-${service.name}-${environment.name}-r${release.id}` };
};

export const failingHealthCheck: FakeDeployScript = ({ service, environment }, log) => {
  const reason = `health check GET ${service.health} did not answer 2xx within ${environment.healthTimeoutMs}ms (last: connection refused)`;
  log(reason, 'stderr');
  return { trafficMoved: false, reason };
};

export class FakeDeployer implements Deployer {
  readonly description = 'fake deployer';
  /** Every request, in call order. */
  readonly calls: DeployRequest[] = [];
  private readonly serving = new Map<string, ServingInstance>();

  constructor(private script: FakeDeployScript = healthyDeploy) {}

  /** Replaces the script for the deploys that follow. */
  respondWith(script: FakeDeployScript): void {
    this.script = script;
  }

  async deploy(request: DeployRequest, log: DeployLog, signal: AbortSignal): Promise<DeployOutcome> {
    this.calls.push(request);
    if (signal.aborted) return { trafficMoved: false, reason: 'deploy cancelled' };
    let outcome: DeployOutcome;
    try {
      outcome = await this.script(request, log, signal);
    } catch (error) {
      // The contract says deploy() never throws, even when a test's script does.
      outcome = { trafficMoved: false, reason: `deploy failed: ${error instanceof Error ? error.message : String(error)}` };
    }
    if (signal.aborted) return { trafficMoved: false, reason: 'deploy cancelled' };
    if (outcome.trafficMoved) {
      const { release, service, environment } = request;
      this.serving.set(key(service.name, environment.name), { releaseId: release.id, digest: release.digest, url: outcome.url, instance: outcome.instance });
    }
    return outcome;
  }

  async status(service: string, environment: string): Promise<ServingInstance | null> {
    return this.serving.get(key(service, environment)) ?? null;
  }
}

function key(service: string, environment: string): string {
  return `${service}\u0000${environment}`;
}
