// Deploys a release as containers on the local engine behind the proxy (routers/router.ts): one
// stable address per service and environment, whatever release serves behind it. A deploy
// starts the new release's replicas in batches beside the old ones, each health-gated by the
// proxy's own checks, and moves new requests over batch by batch; the old replicas stand by
// until the engine's bake window ends (retire) or goes wrong (revert). Each environment is its
// own network, where services call each other by name through the proxy (networks.ts).

import { setTimeout as sleep } from 'node:timers/promises';
import { engineStatus, isEngineUnreachable } from '../../docker/api.ts';
import type { ContainerEngine } from '../../docker/connect.ts';
import { ensureImage, runOneOff } from '../../docker/one-off.ts';
import type { Release } from '../../core/types.ts';
import type { HealthCheck, RouteKey, RouteSpec, Router } from '../../routers/router.ts';
import type { DeployLog, DeployOutcome, DeployRequest, Deployer, InstanceHealth, PlacedInstance, ServiceAddress, ServingInstance, TaskRequest } from '../deployer.ts';
import { pullReference } from '../reference.ts';
import { DeployFailure, Instances, routeOf, type Instance } from './instances.ts';
import { isProven, LABEL, taskName } from './labels.ts';
import { Networks } from './networks.ts';
import { pruneReleaseImages } from './images.ts';

/** Tries at removing a new instance after a failed deploy. */
const REMOVE_ATTEMPTS = 3;
const DRAIN_POLL_MS = 50;

/** An instance as listed here: with its name on the proxy and its release's digest. */
type Placed = PlacedInstance & { backend: string; digest: string };

/** A service's place behind the proxy in one environment, as the server declares it. */
export interface RouteDeclaration extends RouteKey {
  /** Its stable port on the proxy (store.routes). */
  port: number;
  servicePort: number;
  aliases: string[];
  health: HealthCheck;
}

export class ContainerHostDeployer implements Deployer {
  readonly description: string;
  readonly keepsPrevious = true;
  readonly placesInstances = true;
  private readonly networks: Networks;
  private readonly instances: Instances;
  /** Per deployment in progress, the previous release's instances, for a revert without a listing. */
  private readonly standby = new Map<number, Placed[]>();
  /** Each instance's name on the proxy, by container id, as this process placed or listed them. */
  private readonly backendOf = new Map<string, string>();
  /** Per environment, the /etc/hosts entries its containers get: every name of its routes -> the proxy. */
  private hosts = new Map<string, string[]>();

  constructor(
    private readonly engine: ContainerEngine,
    private readonly owner: string,
    private readonly router: Router,
  ) {
    this.description = `containers on ${engine.name} (${engine.endpoint}) behind ${router.description}`;
    this.networks = new Networks(engine, owner);
    this.instances = new Instances(engine, owner, router);
  }

  /** Creates the environments' networks and has the proxy listen for every route. */
  async declareRoutes(routes: RouteDeclaration[]): Promise<void> {
    const specs: RouteSpec[] = [];
    const hosts = new Map<string, string[]>();
    for (const route of routes) {
      const network = await this.networks.ensure(route.environment);
      const names = [route.service, ...route.aliases.filter((alias) => alias !== route.service)];
      specs.push({ ...route, names, network: { gateway: network.gateway, subnet: network.subnet } });
      hosts.set(route.environment, [...(hosts.get(route.environment) ?? []), ...names.map((name) => `${name}:${network.gateway}`)]);
    }
    await this.router.declare(specs);
    this.hosts = hosts;
  }

  address(service: string, environment: string): ServiceAddress | null {
    return this.router.address({ service, environment });
  }

  async runTask(request: DeployRequest, task: TaskRequest, log: DeployLog, signal: AbortSignal): Promise<{ exitCode: number }> {
    const { service, environment, release, deploymentId } = request;
    try {
      const reference = pullReference(release);
      const network = await this.networks.ensure(environment.name);
      await ensureImage(this.engine, reference, log, signal);
      return await runOneOff(
        this.engine,
        {
          name: taskName(this.owner, service.name, environment.name, deploymentId, task.name),
          image: reference,
          command: task.command,
          env: { ...service.variables, ...environment.variables, ...releaseVariables(request), ...task.env },
          labels: {
            [LABEL.owner]: this.owner,
            [LABEL.service]: service.name,
            [LABEL.environment]: environment.name,
            [LABEL.release]: String(release.id),
            [LABEL.deployment]: String(deploymentId),
            [LABEL.task]: task.name,
          },
          network: network.name,
          extraHosts: this.hosts.get(environment.name) ?? [],
          timeoutMs: task.timeoutMs,
        },
        log,
        signal,
      );
    } catch (error) {
      log(`${task.name} could not run: ${this.describeFailure(error)}`, 'stderr');
      return { exitCode: -1 };
    }
  }

  async deploy(request: DeployRequest, log: DeployLog, signal: AbortSignal): Promise<DeployOutcome> {
    const route = routeOf(request);
    const started: Instance[] = [];
    let previous: Placed[] = [];
    try {
      const address = this.router.address(route);
      if (!address) throw new DeployFailure(`the proxy has no route for ${route.service} in ${route.environment}`);
      const network = await this.networks.ensure(route.environment);
      const reference = pullReference(request.release);
      await ensureImage(this.engine, reference, log, signal);
      previous = await this.previousInstances(request);
      this.standby.set(request.deploymentId, previous);
      const { replicas, batch } = request.environment;
      for (let next = 0; next < replicas; next += batch) {
        signal.throwIfAborted();
        const count = Math.min(batch, replicas - next);
        const batchOf: Instance[] = [];
        for (let index = 1; index <= count; index++) {
          const instance = await this.instances.start(request, reference, next + index, network, this.hosts.get(route.environment) ?? [], log);
          started.push(instance);
          batchOf.push(instance);
          this.backendOf.set(instance.container.id, instance.backend);
        }
        await Promise.all(batchOf.map((instance) => this.instances.waitHealthy(request, instance, log, signal)));
        for (const instance of batchOf) await this.instances.prove(instance);
        // Old replicas go to standby in step with the new ones taking over, as the fallback: the
        // proxy gives them the requests by itself if every serving instance goes down.
        const replaced = Math.round((previous.length * (next + count)) / replicas);
        const serving = [...started.map((instance) => instance.backend), ...previous.slice(replaced).map(backendOf)];
        await this.router.serve(route, serving, previous.slice(0, replaced).map(backendOf));
        log(`${started.length} of ${replicas} instance${replicas === 1 ? '' : 's'} of release #${request.release.id} take requests${previous.length ? `; ${replaced} of ${previous.length} previous on standby` : ''}`);
      }
      log(`${route.service} release #${request.release.id} serves ${route.environment} at ${address.url}`);
      return { trafficMoved: true, url: address.url, instances: started.map((instance) => instance.container.id) };
    } catch (error) {
      const reason = signal.aborted ? 'deploy cancelled' : this.describeFailure(error);
      log(reason, 'stderr');
      this.standby.delete(request.deploymentId);
      await this.putBack(route, previous, started, request.environment.drainTimeoutMs, log);
      return { trafficMoved: false, reason };
    }
  }

  /** Asked every 100 ms through a bake: the proxy alone answers it (a container that died fails its checks there). */
  async observe(request: DeployRequest, instances: string[]): Promise<InstanceHealth[]> {
    const backends = await this.router.backends(routeOf(request));
    const unknown = instances.filter((id) => !this.backendOf.has(id));
    if (unknown.length > 0) for (const instance of await this.placedOf(routeOf(request))) this.backendOf.set(instance.instance, instance.backend);
    return instances.map((id) => {
      const state = backends.find((backend) => backend.id === this.backendOf.get(id));
      // Failing as the proxy judges it: `failures` checks in a row, as the service's health check
      // says, not one check that timed out on a busy host. The proxy sends the requests to the
      // previous release by itself at that very check (routers/router.ts, serve), so nothing is
      // won by judging sooner, and a healthy release would be rolled back for a moment's stall.
      return { instance: id, healthy: state?.health === 'up', lastCheck: state?.lastCheck ?? 'not on the proxy', errors: state?.errors ?? 0 };
    });
  }

  lastLines(instance: string, count: number): Promise<string[]> {
    return this.instances.lastLines(instance, count);
  }

  async retire(request: DeployRequest, keep: string[], log: DeployLog): Promise<void> {
    this.standby.delete(request.deploymentId);
    const route = routeOf(request);
    const placed = await this.placedOf(route);
    const staying = placed.filter((instance) => keep.includes(instance.instance) && instance.backend);
    // Before its containers stop, the previous release stops being the fallback: the new
    // instances become their own last resort on the proxy (routers/haproxy/config.ts, ServerEntry).
    if (staying.length > 0) {
      await this.router.serve(route, staying.map(backendOf)).catch((error: unknown) => log(`could not take the previous release off the fallback: ${this.describeFailure(error)}`, 'stderr'));
    }
    const leaving = placed.filter((instance) => !keep.includes(instance.instance));
    await Promise.all(leaving.map((instance) => this.takeAway(route, instance, request.environment.drainTimeoutMs, log)));
  }

  async revert(request: DeployRequest, remove: string[], log: DeployLog): Promise<{ reverted: boolean; reason?: string }> {
    const route = routeOf(request);
    // What stood by when the deploy began, without asking the engine first: every millisecond
    // here is one the new release may be answering errors in.
    const standingBy = this.standby.get(request.deploymentId) ?? (await this.placedOf(route)).filter((instance) => instance.proven && instance.running);
    this.standby.delete(request.deploymentId);
    const back = standingBy.filter((instance) => !remove.includes(instance.instance));
    if (back.length === 0) return { reverted: false, reason: 'no previous release stands by to take the requests back' };
    try {
      await this.router.serve(route, back.map(backendOf));
    } catch (error) {
      return { reverted: false, reason: this.describeFailure(error) };
    }
    log(`requests go to release #${back[0]!.releaseId} again`);
    const leaving = (await this.placedOf(route)).filter((instance) => remove.includes(instance.instance));
    await Promise.all(leaving.map((instance) => this.takeAway(route, instance, request.environment.drainTimeoutMs, log)));
    return { reverted: true };
  }

  async status(service: string, environment: string): Promise<ServingInstance | null> {
    const route = { service, environment };
    const serving = new Set((await this.router.backends(route)).filter((backend) => backend.mode === 'serving').map((backend) => backend.id));
    const instance = (await this.placedOf(route)).find((candidate) => candidate.running && serving.has(candidate.backend));
    if (!instance) return null;
    return { releaseId: instance.releaseId, digest: instance.digest, url: this.address(service, environment)?.url ?? instance.url ?? '', instance: instance.instance };
  }

  async listInstances(): Promise<PlacedInstance[]> {
    return (await this.placed()).map(({ backend: _backend, digest: _digest, ...instance }) => instance);
  }

  async serveOnly(service: string, environment: string, instances: string[]): Promise<void> {
    const route = { service, environment };
    const all = await this.placedOf(route);
    const placed = all.filter((instance) => instances.includes(instance.instance));
    const known = new Set((await this.router.backends(route)).map((backend) => backend.id));
    for (const instance of placed) {
      if (!known.has(instance.backend) && instance.url) await this.router.add(route, { id: instance.backend, address: instance.url.replace(/^http:\/\//, '') });
    }
    await this.router.serve(route, placed.map(backendOf));
    // The others stand by (serve() put them there) until their instances go: a backend re-added
    // later would be down until its first check passed.
    for (const id of known) if (!all.some((instance) => instance.backend === id)) await this.router.remove(route, id, 0);
  }

  /** A graceful stop first (the app closes what it serves), then off the proxy: no session is cut there. */
  async removeInstance(instance: string): Promise<void> {
    const found = (await this.placed()).find((candidate) => candidate.instance === instance);
    if (!found) return;
    await this.instances.stopAndRemove(instance);
    if (found.backend) await this.router.remove({ service: found.service, environment: found.environment }, found.backend, 0).catch(() => undefined);
  }

  pruneImages(keep: Release[], drop: Release[]): Promise<number> {
    return pruneReleaseImages(this.engine, keep, drop);
  }

  /** Proven, running instances of other deploys of this route, oldest first: what serves now. */
  private async previousInstances(request: DeployRequest): Promise<Placed[]> {
    return (await this.placedOf(routeOf(request))).filter((instance) => instance.proven && instance.running && instance.deploymentId !== request.deploymentId);
  }

  /** Puts back what a failed deploy changed: the previous replicas take every request, the new ones go. */
  private async putBack(route: RouteKey, previous: Placed[], started: Instance[], drainMs: number, log: DeployLog): Promise<void> {
    if (previous.length > 0) {
      await this.router.serve(route, previous.map(backendOf)).catch((error: unknown) => log(`could not give the requests back to the previous release: ${this.describeFailure(error)}`, 'stderr'));
    }
    await Promise.all(
      started.map(async (instance) => {
        await this.router.remove(route, instance.backend, drainMs).catch((error: unknown) => log(`could not take ${instance.name} off the proxy: ${this.describeFailure(error)}`, 'stderr'));
        // A container its restart policy is starting again can refuse a moment: a few tries.
        for (let attempt = 1; ; attempt++) {
          try {
            await instance.container.remove({ force: true });
            log(`removed ${instance.name}`);
            return;
          } catch (error) {
            if (engineStatus(error) === 404) return;
            if (attempt >= REMOVE_ATTEMPTS) return log(`could not remove ${instance.name}: ${this.describeFailure(error)}`, 'stderr');
            await sleep(500 * attempt);
          }
        }
      }),
    );
  }

  /**
   * Takes an instance away: it already takes no new requests; its sessions get the drain timeout
   * to end, then its container is stopped gracefully (the app finishes what it serves and closes
   * its WebSockets with "going away", which clients reconnect from) and only then does it leave
   * the proxy, so no session is cut by the proxy. Logs what it could not do.
   */
  private async takeAway(route: RouteKey, instance: Placed, drainMs: number, log: DeployLog): Promise<void> {
    try {
      const left = instance.backend ? await this.drain(route, instance.backend, drainMs) : 0;
      await this.instances.stopAndRemove(instance.instance);
      if (instance.backend) await this.router.remove(route, instance.backend, 0);
      const how = instance.backend ? (left === 0 ? ', its requests finished' : `, stopped with ${left} session${left === 1 ? '' : 's'} open at the drain timeout`) : '';
      log(`retired release #${instance.releaseId} instance ${instance.backend || instance.instance.slice(0, 12)}${how}`);
    } catch (error) {
      log(`could not retire ${instance.instance.slice(0, 12)}: ${this.describeFailure(error)}`, 'stderr');
    }
  }

  /** Waits until the backend has no sessions or `drainMs` passed; answers the sessions left. */
  private async drain(route: RouteKey, backend: string, drainMs: number): Promise<number> {
    const deadline = Date.now() + drainMs;
    for (;;) {
      const sessions = (await this.router.backends(route)).find((state) => state.id === backend)?.sessions ?? 0;
      if (sessions === 0 || Date.now() >= deadline) return sessions;
      await sleep(DRAIN_POLL_MS);
    }
  }

  private async placedOf(route: RouteKey): Promise<Placed[]> {
    return (await this.placed()).filter((instance) => instance.service === route.service && instance.environment === route.environment);
  }

  private async placed(): Promise<Placed[]> {
    const containers = await this.engine.docker.listContainers({
      all: true,
      filters: { label: [`${LABEL.owner}=${this.owner}`, LABEL.service, LABEL.environment, LABEL.release] },
    });
    return containers
      .sort((a, b) => a.Created - b.Created || (a.Labels[LABEL.placedAt] ?? '').localeCompare(b.Labels[LABEL.placedAt] ?? ''))
      .map((container) => {
        const environment = container.Labels[LABEL.environment]!;
        const running = container.State === 'running';
        const ip = container.NetworkSettings?.Networks?.[this.networks.nameOf(environment)]?.IPAddress;
        const port = container.Labels[LABEL.port];
        return {
          instance: container.Id,
          service: container.Labels[LABEL.service]!,
          environment,
          releaseId: Number(container.Labels[LABEL.release]),
          deploymentId: Number(container.Labels[LABEL.deployment] ?? 0),
          proven: isProven(container),
          running,
          url: running && ip && port ? `http://${ip}:${port}` : null,
          backend: container.Labels[LABEL.backend] ?? '',
          digest: container.Labels[LABEL.digest] ?? '',
        };
      });
  }

  private describeFailure(error: unknown): string {
    if (error instanceof DeployFailure) return error.message;
    if (isEngineUnreachable(error)) return `the container engine at ${this.engine.endpoint} could not be reached (${errorText(error)})`;
    return `deploy failed: ${errorText(error)}`;
  }
}

function backendOf(instance: { backend: string }): string {
  return instance.backend;
}

/** What a migration or smoke test knows of the release it runs for. */
export function releaseVariables(request: DeployRequest): Record<string, string> {
  return {
    SLIPWAY_SERVICE: request.service.name,
    SLIPWAY_ENVIRONMENT: request.environment.name,
    SLIPWAY_RELEASE: String(request.release.id),
    SLIPWAY_DIGEST: request.release.digest,
  };
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
