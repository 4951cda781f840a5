// One instance of a release: a container on its environment's network, started as a candidate,
// health-gated through the proxy's checks (and the image's own HEALTHCHECK, where it has one),
// then proven by its final name. Also what reads instances back and takes them away.

import type Docker from 'dockerode';
import { demultiplex, engineStatus, retryStorageRace } from '../../docker/api.ts';
import type { ContainerEngine } from '../../docker/connect.ts';
import type { Router, RouteKey } from '../../routers/router.ts';
import type { DeployLog, DeployRequest } from '../deployer.ts';
import { setTimeout as sleep } from 'node:timers/promises';
import { formatElapsed as duration } from '../../core/durations.ts';
import { addressOn, backendId, candidateName, instanceName, LABEL } from './labels.ts';
import type { EnvironmentNetwork } from './networks.ts';

const HEALTH_POLL_MS = 100;
/** Failed checks are logged once, then at this pace, so a slow start does not flood the log. */
const HEALTH_LOG_EVERY_MS = 2_000;
const STOP_GRACE_SECONDS = 10;

/** Ends a deploy with trafficMoved false and this reason. */
export class DeployFailure extends Error {}

export interface Instance {
  container: Docker.Container;
  /** Its id on the proxy. */
  backend: string;
  address: string;
  name: string;
}

export class Instances {
  constructor(
    private readonly engine: ContainerEngine,
    private readonly owner: string,
    private readonly router: Router,
  ) {}

  /** Creates and starts replica `replica` as a candidate, and puts it on the proxy on standby. */
  async start(request: DeployRequest, reference: string, replica: number, network: EnvironmentNetwork, hosts: string[], log: DeployLog): Promise<Instance> {
    const { release, service, environment, deploymentId } = request;
    const backend = backendId(deploymentId, replica);
    const name = instanceName(this.owner, service.name, environment.name, backend);
    const candidate = candidateName(name);
    await this.removeByName(candidate);
    const variables = { ...service.variables, ...environment.variables };
    const options: Docker.ContainerCreateOptions = {
      name: candidate,
      Image: reference,
      Labels: {
        [LABEL.owner]: this.owner,
        [LABEL.service]: service.name,
        [LABEL.environment]: environment.name,
        [LABEL.release]: String(release.id),
        [LABEL.digest]: release.digest,
        [LABEL.deployment]: String(deploymentId),
        [LABEL.backend]: backend,
        [LABEL.port]: String(service.port),
        [LABEL.placedAt]: new Date().toISOString(),
      },
      Env: Object.entries(variables).map(([key, value]) => `${key}=${value}`),
      ExposedPorts: { [`${service.port}/tcp`]: {} },
      HostConfig: {
        NetworkMode: network.name,
        ExtraHosts: hosts,
        RestartPolicy: { Name: 'unless-stopped' },
        // An init process as PID 1 passes SIGTERM on, so an app that installs no handler still
        // stops at once instead of after the whole grace period.
        Init: true,
      },
    };
    const container = await retryStorageRace(() => this.engine.docker.createContainer(options));
    await container.start();
    const [info] = await this.engine.docker.listContainers({ all: true, filters: { id: [container.id] } });
    const address = info ? addressOn(info, network.name, service.port) : null;
    if (!address) throw new DeployFailure(`${candidate} got no address on network ${network.name}`);
    log(`started ${candidate} (${container.id.slice(0, 12)}) at ${address}`);
    await this.router.add(routeOf(request), { id: backend, address });
    return { container, backend, address, name };
  }

  /** Waits until the proxy's checks pass (and the image's HEALTHCHECK, if any); throws DeployFailure when they cannot. */
  async waitHealthy(request: DeployRequest, instance: Instance, log: DeployLog, signal: AbortSignal): Promise<void> {
    const { health } = request.service;
    const timeoutMs = request.environment.healthTimeoutMs;
    const started = Date.now();
    const label = `${instance.name}: health check GET ${health.path}`;
    const ownCheck = await this.imageHealthcheck(instance.container);
    log(`waiting up to ${duration(timeoutMs)} for ${instance.name} to pass GET ${health.path}${ownCheck ? ` and its HEALTHCHECK (${ownCheck.join(' ')})` : ''}`);
    let lastLoggedAt = -Infinity;
    for (;;) {
      signal.throwIfAborted();
      const state = (await this.router.backends(routeOf(request))).find((backend) => backend.id === instance.backend);
      const proxyUp = state?.health === 'up';
      const ownUp = proxyUp && ownCheck ? await this.runHealthcheck(instance.container, ownCheck) : proxyUp;
      if (ownUp) {
        log(`${label} passed after ${duration(Date.now() - started)} (${state?.lastCheck ?? ''})`);
        return;
      }
      const now = Date.now();
      const detail = !proxyUp ? (state?.lastCheck ?? 'not checked yet') : 'its HEALTHCHECK command failed';
      if (now - lastLoggedAt >= HEALTH_LOG_EVERY_MS) {
        log(`${label}: ${detail} (${duration(now - started)})`);
        lastLoggedAt = now;
      }
      const { State: running, RestartCount: restarts } = await instance.container.inspect();
      // With a restart policy a crashed container may already be running again: count restarts too.
      const exited = !running.Running || running.Restarting || restarts > 0;
      const failure = exited
        ? `${label} failed: the container exited (code ${running.ExitCode}${restarts > 0 ? `, restarted ${restarts} time${restarts === 1 ? '' : 's'}` : ''}) before passing (last: ${detail})`
        : now - started >= timeoutMs
          ? `${label} did not pass within ${duration(timeoutMs)} (last: ${detail})`
          : null;
      if (failure) {
        for (const line of await this.lastLines(instance.container.id, 20)) log(`  ${line}`, 'stderr');
        throw new DeployFailure(failure);
      }
      await sleep(HEALTH_POLL_MS, undefined, { signal }).catch(() => undefined);
    }
  }

  /** Marks a healthy candidate proven by giving it its final name (see labels.ts). */
  async prove(instance: Instance): Promise<void> {
    await this.removeByName(instance.name);
    await instance.container.rename({ name: instance.name });
  }

  /** The container's last output lines, each marked with its stream when it is stderr. */
  async lastLines(id: string, count: number): Promise<string[]> {
    try {
      const output = await this.engine.docker.getContainer(id).logs({ stdout: true, stderr: true, tail: count, follow: false });
      const frames = demultiplex(typeof output === 'string' ? Buffer.from(output) : output);
      return frames.flatMap(({ stream, payload }) =>
        payload
          .toString('utf8')
          .split(/\r?\n/)
          .filter((line) => line.trim())
          .map((line) => (stream === 'stderr' ? `[stderr] ${line.trimEnd()}` : line.trimEnd())),
      );
    } catch (error) {
      return [`(its output could not be read: ${error instanceof Error ? error.message : String(error)})`];
    }
  }

  /** A graceful stop first, so an instance finishes the requests it is serving. */
  async stopAndRemove(id: string): Promise<void> {
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

  /** A container of this name was left by a deploy that never finished: it never served, so it goes. */
  private async removeByName(name: string): Promise<void> {
    try {
      await this.engine.docker.getContainer(name).remove({ force: true });
    } catch (error) {
      if (engineStatus(error) !== 404) throw error;
    }
  }

  /** The image's own HEALTHCHECK as an exec command, or null when it has none. */
  private async imageHealthcheck(container: Docker.Container): Promise<string[] | null> {
    const info = await container.inspect();
    const test = (info.Config as { Healthcheck?: { Test?: string[] } }).Healthcheck?.Test;
    if (!test || test.length === 0 || test[0] === 'NONE') return null;
    if (test[0] === 'CMD-SHELL') return ['sh', '-c', test.slice(1).join(' ')];
    return test[0] === 'CMD' ? test.slice(1) : test;
  }

  private async runHealthcheck(container: Docker.Container, command: string[]): Promise<boolean> {
    try {
      const exec = await container.exec({ Cmd: command, AttachStdout: true, AttachStderr: true });
      const stream = await exec.start({ hijack: true, stdin: false });
      await new Promise<void>((resolve) => {
        stream.on('end', resolve);
        stream.on('close', resolve);
        stream.on('error', () => resolve());
        stream.resume();
      });
      return (await exec.inspect()).ExitCode === 0;
    } catch {
      return false;
    }
  }
}

export function routeOf(request: DeployRequest): RouteKey {
  return { service: request.service.name, environment: request.environment.name };
}
