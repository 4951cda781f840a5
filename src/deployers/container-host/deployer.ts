// Deploys a release as a container on the local engine, published on a host port. The new
// container runs beside the old one until its health check answers, so a release that never
// becomes healthy costs nothing: the old container serves on, untouched.
//
// Containers are found by label, never by name alone: the `owner` label keeps two Slipway
// instances sharing one engine out of each other's containers.
//
// A container's name is the one thing about it that can change after it is created, so it
// carries the deploy's progress for a server that dies mid-deploy (see deployer.ts): the new
// container starts as "<name>-candidate" and is renamed "<name>" once its health check passed,
// before anything is retired. A candidate never served.

import type Docker from 'dockerode';
import { demultiplex, engineStatus, isEngineUnreachable } from '../../docker/api.ts';
import { followProgress, type ContainerEngine } from '../../docker/connect.ts';
import type { Release } from '../../core/types.ts';
import type { DeployLog, DeployOutcome, DeployRequest, Deployer, PlacedInstance, ServingInstance } from '../deployer.ts';
import { duration, probeOnce, sleep } from '../health.ts';

const LABEL = {
  owner: 'slipway.owner',
  service: 'slipway.service',
  environment: 'slipway.environment',
  release: 'slipway.release',
  digest: 'slipway.digest',
  /** When it was placed, to the millisecond: the engine's own creation time counts whole seconds. */
  placedAt: 'slipway.placed-at',
} as const;

const HEALTH_INTERVAL_MS = 250;
/** Failed attempts are logged once, then at this pace, so a slow start does not flood the log. */
const HEALTH_LOG_EVERY_MS = 2_000;
const STOP_GRACE_SECONDS = 10;
const CONTAINER_LOG_TAIL = 20;
const CANDIDATE_SUFFIX = '-candidate';

/** Ends deploy() with trafficMoved false and this reason. */
class DeployFailure extends Error {}

/** Whatever deploy() has changed so far, so a failure can put it back. */
interface Progress {
  created: Docker.Container | null;
  /** A running container that held the new container's name, renamed while the new one took it. */
  setAside: { container: Docker.Container; name: string } | null;
}

export class ContainerHostDeployer implements Deployer {
  readonly description: string;

  constructor(
    private readonly engine: ContainerEngine,
    private readonly owner: string,
    private readonly hostAddress = '127.0.0.1',
  ) {
    this.description = `containers on ${engine.name} (${engine.endpoint}), published on ${hostAddress}`;
  }

  async deploy(request: DeployRequest, log: DeployLog, signal: AbortSignal): Promise<DeployOutcome> {
    const progress: Progress = { created: null, setAside: null };
    try {
      return await this.roll(request, log, signal, progress);
    } catch (error) {
      const reason = signal.aborted ? 'deploy cancelled' : this.describeFailure(error);
      log(reason, 'stderr');
      await this.undo(progress, log);
      return { trafficMoved: false, reason };
    }
  }

  async status(service: string, environment: string): Promise<ServingInstance | null> {
    const running = await this.engine.docker.listContainers({
      filters: { label: this.labelFilters(service, environment), status: ['running'] },
    });
    // Mid-deploy the new container runs beside the old one; the old one serves until retired.
    const serving = running.filter((container) => !isCandidate(container)).sort((a, b) => a.Created - b.Created)[0];
    if (!serving) return null;
    const info = await this.engine.docker.getContainer(serving.Id).inspect();
    const binding = Object.values(info.NetworkSettings.Ports ?? {}).flatMap((bindings) => bindings ?? [])[0];
    return {
      releaseId: Number(serving.Labels[LABEL.release]),
      digest: serving.Labels[LABEL.digest] ?? '',
      url: binding ? `http://${urlHost(binding.HostIp || this.hostAddress)}:${binding.HostPort}` : '',
      instance: serving.Id,
    };
  }

  async listInstances(): Promise<PlacedInstance[]> {
    const containers = await this.engine.docker.listContainers({
      all: true,
      filters: { label: [`${LABEL.owner}=${this.owner}`, LABEL.service, LABEL.environment, LABEL.release] },
    });
    return containers
      .sort((a, b) => a.Created - b.Created || (a.Labels[LABEL.placedAt] ?? '').localeCompare(b.Labels[LABEL.placedAt] ?? ''))
      .map((container) => {
        const running = container.State === 'running';
        const published = container.Ports?.find((port) => port.PublicPort);
        return {
          instance: container.Id,
          service: container.Labels[LABEL.service]!,
          environment: container.Labels[LABEL.environment]!,
          releaseId: Number(container.Labels[LABEL.release]),
          proven: !isCandidate(container),
          running,
          url: running && published ? `http://${urlHost(published.IP || this.hostAddress)}:${published.PublicPort}` : null,
        };
      });
  }

  async removeInstance(instance: string): Promise<void> {
    await this.stopAndRemove(instance);
  }

  private async roll(request: DeployRequest, log: DeployLog, signal: AbortSignal, progress: Progress): Promise<DeployOutcome> {
    const { release, service, environment } = request;
    signal.throwIfAborted();
    const reference = pullReference(release);
    await this.pull(reference, log, signal);

    const name = containerName(this.owner, service.name, environment.name, release.id);
    const candidate = `${name}${CANDIDATE_SUFFIX}`;
    await this.removeStaleCandidate(candidate, log);
    signal.throwIfAborted();

    const containerPort = `${service.port}/tcp`;
    const variables = { ...service.variables, ...environment.variables };
    const container = await this.engine.docker.createContainer({
      name: candidate,
      Image: reference,
      Labels: {
        [LABEL.owner]: this.owner,
        [LABEL.service]: service.name,
        [LABEL.environment]: environment.name,
        [LABEL.release]: String(release.id),
        [LABEL.digest]: release.digest,
        [LABEL.placedAt]: new Date().toISOString(),
      },
      Env: Object.entries(variables).map(([key, value]) => `${key}=${value}`),
      ExposedPorts: { [containerPort]: {} },
      HostConfig: {
        // An empty HostPort asks the engine for a free ephemeral port.
        PortBindings: { [containerPort]: [{ HostIp: this.hostAddress, HostPort: '' }] },
        RestartPolicy: { Name: 'unless-stopped' },
        // An init process as PID 1 passes SIGTERM on, so an app that installs no handler still
        // stops at once instead of after the whole grace period.
        Init: true,
      },
    });
    progress.created = container;
    await container.start();
    log(`started ${candidate} (${container.id.slice(0, 12)})`);

    const info = await container.inspect();
    const hostPort = info.NetworkSettings.Ports?.[containerPort]?.[0]?.HostPort;
    if (!hostPort) throw new DeployFailure(`the engine published no host port for ${containerPort}`);
    const url = `http://${urlHost(this.hostAddress)}:${hostPort}`;

    await this.waitHealthy(container, `${url}${healthPath(service.health)}`, service.health, environment.healthTimeoutMs, log, signal);
    await this.promote(container, name, log, progress);
    await this.retirePrevious(service.name, environment.name, container.id, log);
    log(`${service.name} release ${release.id} serves ${environment.name} at ${url}`);
    return { trafficMoved: true, url, instance: container.id };
  }

  private async pull(reference: string, log: DeployLog, signal: AbortSignal): Promise<void> {
    log(`pulling ${reference}`);
    try {
      const output = await this.engine.docker.createImage({ fromImage: reference, abortSignal: signal });
      await followProgress(this.engine.docker, output);
    } catch (error) {
      if (signal.aborted || isEngineUnreachable(error)) throw error;
      throw new DeployFailure(`pull of ${reference} failed: ${firstLine(errorText(error))}`);
    }
  }

  /**
   * A candidate under this name was left by a deploy of the same release that never finished
   * (no deploy of one service and environment runs beside another): it never served, so it goes.
   */
  private async removeStaleCandidate(candidate: string, log: DeployLog): Promise<void> {
    try {
      await this.engine.docker.getContainer(candidate).remove({ force: true });
      log(`removed ${candidate}, left by a deploy that never finished`);
    } catch (error) {
      if (engineStatus(error) !== 404) throw error;
    }
  }

  /**
   * Marks the healthy candidate proven by giving it its final name. A stopped holder of that name
   * is stale and goes; a running one (the same release deployed again) is serving, so it is
   * renamed and then retired with the other previous containers.
   */
  private async promote(container: Docker.Container, name: string, log: DeployLog, progress: Progress): Promise<void> {
    const holder = this.engine.docker.getContainer(name);
    let running: boolean | null;
    try {
      running = (await holder.inspect()).State.Running;
    } catch (error) {
      if (engineStatus(error) !== 404) throw error;
      running = null;
    }
    if (running === false) {
      log(`removing stale container ${name}`);
      await holder.remove({ force: true });
    } else if (running) {
      const aside = `${name}-retiring-${Date.now().toString(36)}`;
      log(`${name} is running; renaming it ${aside} to retire it`);
      await holder.rename({ name: aside });
      progress.setAside = { container: holder, name };
    }
    await container.rename({ name });
  }

  private async waitHealthy(
    container: Docker.Container,
    url: string,
    health: string,
    timeoutMs: number,
    log: DeployLog,
    signal: AbortSignal,
  ): Promise<void> {
    const check = `health check GET ${healthPath(health)}`;
    const started = Date.now();
    const deadline = started + timeoutMs;
    log(`waiting up to ${duration(timeoutMs)} for GET ${url} to answer 2xx`);
    let attempts = 0;
    let lastLoggedAt = -Infinity;
    for (;;) {
      signal.throwIfAborted();
      attempts++;
      const probe = await probeOnce(url, signal);
      if (probe.answered) {
        log(`${check} answered ${probe.status} after ${duration(Date.now() - started)}`);
        return;
      }
      const now = Date.now();
      if (now - lastLoggedAt >= HEALTH_LOG_EVERY_MS) {
        log(`${check}: ${probe.detail} (attempt ${attempts}, ${duration(now - started)})`);
        lastLoggedAt = now;
      }
      const { State: state, RestartCount: restarts } = await container.inspect();
      // With a restart policy a crashed container may already be running again: count restarts too.
      const exited = !state.Running || state.Restarting || restarts > 0;
      // Once the engine has started it again, its exit code is the new run's (0), not the crash's.
      const how = state.Running && !state.Restarting ? `exited and was restarted ${restarts} time${restarts === 1 ? '' : 's'}` : `exited with code ${state.ExitCode}`;
      const failure = exited
        ? `${check} failed: the container ${how} before answering 2xx (last: ${probe.detail})`
        : now >= deadline
          ? `${check} did not answer 2xx within ${duration(timeoutMs)} (last: ${probe.detail})`
          : null;
      if (failure) {
        log(`last ${probe.response ? `response: ${probe.detail}: ${probe.response}` : `error: ${probe.detail}`}`, 'stderr');
        await this.logContainerOutput(container, log);
        throw new DeployFailure(failure);
      }
      await sleep(Math.min(HEALTH_INTERVAL_MS, deadline - now), signal);
    }
  }

  private async logContainerOutput(container: Docker.Container, log: DeployLog): Promise<void> {
    try {
      const output = await container.logs({ stdout: true, stderr: true, tail: CONTAINER_LOG_TAIL, follow: false });
      const lines = outputLines(output);
      if (lines.length === 0) log('the container wrote no output', 'stderr');
      else log(`the container's last ${lines.length} output lines:`, 'stderr');
      for (const line of lines) log(`  ${line.text}`, line.stream);
    } catch (error) {
      log(`the container's output could not be read: ${errorText(error)}`, 'stderr');
    }
  }

  /**
   * Traffic has moved by now, so a container that will not go is reported, not undone: undoing
   * would remove the healthy new release.
   */
  private async retirePrevious(service: string, environment: string, keep: string, log: DeployLog): Promise<void> {
    const containers = await this.engine.docker
      .listContainers({ all: true, filters: { label: this.labelFilters(service, environment) } })
      .catch((error: unknown) => {
        log(`could not list the previous containers to retire them: ${errorText(error)}`, 'stderr');
        return [];
      });
    for (const previous of containers) {
      if (previous.Id === keep) continue;
      const name = previous.Names[0]?.replace(/^\//, '') ?? previous.Id.slice(0, 12);
      log(`retiring ${name} (release ${previous.Labels[LABEL.release] ?? '?'})`);
      try {
        await this.stopAndRemove(previous.Id);
      } catch (error) {
        log(`could not retire ${name}: ${errorText(error)}`, 'stderr');
      }
    }
  }

  /** A graceful stop first, so a retired release finishes the requests it is serving. */
  private async stopAndRemove(id: string): Promise<void> {
    const container = this.engine.docker.getContainer(id);
    try {
      await container.stop({ t: STOP_GRACE_SECONDS }).catch((error: unknown) => {
        // 304: already stopped.
        if (engineStatus(error) !== 304) throw error;
      });
      await container.remove({ force: true });
    } catch (error) {
      if (engineStatus(error) !== 404) throw error;
    }
  }

  /** Puts back what a failed or cancelled deploy changed; the previous release keeps serving. */
  private async undo(progress: Progress, log: DeployLog): Promise<void> {
    if (progress.created) {
      try {
        await progress.created.remove({ force: true });
        log(`removed the new container ${progress.created.id.slice(0, 12)}`);
      } catch (error) {
        if (engineStatus(error) !== 404) log(`could not remove the new container ${progress.created.id.slice(0, 12)}: ${errorText(error)}`, 'stderr');
      }
    }
    if (progress.setAside) {
      try {
        await progress.setAside.container.rename({ name: progress.setAside.name });
      } catch (error) {
        log(`could not give ${progress.setAside.name} its name back: ${errorText(error)}`, 'stderr');
      }
    }
  }

  private describeFailure(error: unknown): string {
    if (error instanceof DeployFailure) return error.message;
    if (isEngineUnreachable(error)) return `the container engine at ${this.engine.endpoint} could not be reached (${errorText(error)})`;
    return `deploy failed: ${errorText(error)}`;
  }

  private labelFilters(service: string, environment: string): string[] {
    return [`${LABEL.owner}=${this.owner}`, `${LABEL.service}=${service}`, `${LABEL.environment}=${environment}`];
  }
}

/** The release's repository (its tag dropped) pinned to its digest. */
function pullReference(release: Release): string {
  if (!/^sha256:[0-9a-f]{64}$/.test(release.digest)) {
    throw new DeployFailure(`release ${release.id} has no valid digest (${JSON.stringify(release.digest)})`);
  }
  const withoutDigest = release.image.split('@')[0]!;
  const lastSlash = withoutDigest.lastIndexOf('/');
  const lastColon = withoutDigest.lastIndexOf(':');
  const repository = lastColon > lastSlash ? withoutDigest.slice(0, lastColon) : withoutDigest;
  return `${repository}@${release.digest}`;
}

function containerName(owner: string, service: string, environment: string, releaseId: number): string {
  const part = (text: string) => text.replace(/[^a-zA-Z0-9_.-]+/g, '-');
  return `slipway-${part(owner)}-${part(service)}-${part(environment)}-r${releaseId}`;
}

/** A container whose health check has not passed (yet): it never served. */
function isCandidate(container: Docker.ContainerInfo): boolean {
  return container.Names.some((name) => name.endsWith(CANDIDATE_SUFFIX));
}

function healthPath(health: string): string {
  return health.startsWith('/') ? health : `/${health}`;
}

/** A wildcard bind address is reached through loopback; IPv6 literals need brackets in a URL. */
function urlHost(address: string): string {
  if (address === '0.0.0.0' || address === '') return '127.0.0.1';
  if (address === '::') return '[::1]';
  return address.includes(':') ? `[${address}]` : address;
}

/** The container's output as non-empty lines, each with its stream. */
function outputLines(output: Buffer | string): { stream: 'stdout' | 'stderr'; text: string }[] {
  const frames = demultiplex(typeof output === 'string' ? Buffer.from(output) : output);
  return frames.flatMap(({ stream, payload }) =>
    payload
      .toString('utf8')
      .split(/\r?\n/)
      .filter((line) => line.trim())
      .map((line) => ({ stream, text: line.trimEnd() })),
  );
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function firstLine(text: string): string {
  return text.split('\n')[0]!.trim();
}
