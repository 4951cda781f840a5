// The `command` target: a deploy is a command the user chose (kubectl, helm, ssh, a script), run
// in an image they chose, told what to deploy through SLIPWAY_* variables; its exit code decides.
// The platform it drives does its own rollout, so nothing stands by here and nothing is placed
// on this host: the only containers are the commands' own, removed once they end, and labelled
// as tasks so nothing mistakes them for a deployed instance.

import type { Release } from '../../core/types.ts';
import type { ContainerEngine } from '../../docker/connect.ts';
import { runOneOff } from '../../docker/one-off.ts';
import type { DeployLog, DeployOutcome, DeployRequest, Deployer, InstanceHealth, PlacedInstance, ServiceAddress, ServingInstance, TaskRequest } from '../deployer.ts';
import { pullReference } from '../reference.ts';

/** When slipway.yml gives the command no timeout. */
const DEFAULT_TIMEOUT_MS = 10 * 60_000;
/** A line the deploy command prints to say where the service answers now. */
const URL_LINE = /^SLIPWAY_URL=(\S+)$/;
// Engines accept these characters in container names.
const NAME_PART = /[^a-zA-Z0-9_.-]+/g;

export interface CommandSettings {
  image: string;
  run: string;
  timeoutMs?: number;
}

export class CommandDeployer implements Deployer {
  readonly description: string;
  readonly keepsPrevious = false;
  readonly placesInstances = false;

  constructor(
    private readonly engine: ContainerEngine,
    private readonly owner: string,
    private readonly settings: CommandSettings,
  ) {
    this.description = `a command in ${settings.image} on ${engine.name} (${engine.endpoint})`;
  }

  async deploy(request: DeployRequest, log: DeployLog, signal: AbortSignal): Promise<DeployOutcome> {
    let url = '';
    const watch: DeployLog = (line, stream) => {
      url = URL_LINE.exec(line)?.[1] ?? url;
      log(line, stream);
    };
    const failure = await this.runCommand('deploy', request, request.release, request.previous, watch, signal);
    return failure ? { trafficMoved: false, reason: failure } : { trafficMoved: true, url, instances: [] };
  }

  /** The same command, told to deploy the previous release, with the reverted one as its previous. */
  async revert(request: DeployRequest, _remove: string[], log: DeployLog, signal: AbortSignal): Promise<{ reverted: boolean; reason?: string }> {
    if (!request.previous) {
      const reason = 'no previous release to go back to';
      log(reason, 'stderr');
      return { reverted: false, reason };
    }
    const failure = await this.runCommand('revert', request, request.previous, request.release, log, signal);
    return failure ? { reverted: false, reason: failure } : { reverted: true };
  }

  /** In the release's own image (a migration ships with the code it migrates for), with the deploy's variables. */
  async runTask(request: DeployRequest, task: TaskRequest, log: DeployLog, signal: AbortSignal): Promise<{ exitCode: number }> {
    let image: string;
    let env: Record<string, string>;
    try {
      image = pullReference(request.release);
      env = { ...variablesFor(request, request.release, request.previous), ...task.env };
    } catch (error) {
      log(errorText(error), 'stderr');
      return { exitCode: -1 };
    }
    const spec = { name: this.containerName(request, task.name), image, command: task.command, env, labels: this.labels(task.name), timeoutMs: task.timeoutMs };
    const { exitCode } = await runOneOff(this.engine, spec, log, signal);
    return { exitCode };
  }

  /** Runs the configured command for `release`; answers why it failed, or null when it exited 0. */
  private async runCommand(kind: 'deploy' | 'revert', request: DeployRequest, release: Release, previous: Release | null, log: DeployLog, signal: AbortSignal): Promise<string | null> {
    let env: Record<string, string>;
    try {
      env = variablesFor(request, release, previous);
    } catch (error) {
      const reason = errorText(error);
      log(reason, 'stderr');
      return reason;
    }
    log(`running the ${kind} command in ${this.settings.image} for release ${release.id}`);
    const spec = {
      name: this.containerName(request, kind),
      image: this.settings.image,
      command: this.settings.run,
      env,
      labels: this.labels(kind),
      timeoutMs: this.settings.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    };
    const exit = await runOneOff(this.engine, spec, log, signal);
    // Worded as every target words it.
    if (signal.aborted) return `${kind} cancelled`;
    if (exit.reason) return `the ${kind} command did not finish: ${exit.reason}`;
    return exit.exitCode === 0 ? null : `the ${kind} command exited with code ${exit.exitCode}`;
  }

  /** One command of a service and environment runs at a time, so a leftover of this name is a crash's. */
  private containerName(request: DeployRequest, kind: string): string {
    const part = (text: string) => text.replace(NAME_PART, '-');
    return `slipway-${part(this.owner)}-${part(request.service.name)}-${part(request.environment.name)}-${part(kind)}`;
  }

  private labels(kind: string): Record<string, string> {
    return { 'slipway.owner': this.owner, 'slipway.task': kind };
  }

  // Nothing of the command's platform is visible from here: it serves, checks and keeps its own.

  async observe(): Promise<InstanceHealth[]> {
    return [];
  }

  async lastLines(): Promise<string[]> {
    return [];
  }

  async retire(): Promise<void> {}

  address(): ServiceAddress | null {
    return null;
  }

  async status(): Promise<ServingInstance | null> {
    return null;
  }

  async listInstances(): Promise<PlacedInstance[]> {
    return [];
  }

  async serveOnly(): Promise<void> {}

  async removeInstance(): Promise<void> {}

  async pruneImages(): Promise<number> {
    return 0;
  }
}

/**
 * What the command is told: the service's and environment's variables (environment secrets
 * merged in by the engine), then Slipway's own, which a user's variable cannot replace.
 */
function variablesFor(request: DeployRequest, release: Release, previous: Release | null): Record<string, string> {
  const { service, environment } = request;
  return {
    ...service.variables,
    ...environment.variables,
    SLIPWAY_IMAGE: pullReference(release),
    SLIPWAY_DIGEST: release.digest,
    SLIPWAY_RELEASE: String(release.id),
    SLIPWAY_SERVICE: service.name,
    SLIPWAY_ENVIRONMENT: environment.name,
    SLIPWAY_PORT: String(service.port),
    SLIPWAY_REPLICAS: String(environment.replicas),
    SLIPWAY_PREVIOUS_IMAGE: previous ? pullReference(previous) : '',
    SLIPWAY_PREVIOUS_DIGEST: previous?.digest ?? '',
    SLIPWAY_PREVIOUS_RELEASE: previous ? String(previous.id) : '',
  };
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
