// Runs each step in its own container through the Docker Engine API (Docker or Podman).
// Containers outlive the server by design: the handle is the container id, and the labels
// let an operator (or a later version of Slipway) see which run and stage a container is for.
//
// A step reaches the host only through what Slipway computed: its workspace at /workspace and
// the step's `mounts`, read-only at the same paths. Nothing is read from the workspace to
// decide a mount (a previous step wrote it). It runs with its limits (memory without swap,
// CPUs, processes) and cannot gain privileges (setuid binaries) inside the container.

import { isAbsolute } from 'node:path';
import type Docker from 'dockerode';
import { engineStatus, retryStorageRace } from '../../docker/api.ts';
import { followProgress, type ContainerEngine } from '../../docker/connect.ts';
import type { Executor, StepExit, StepLimitReached, StepLine, StepRead, StepSpec } from '../executor.ts';
import { DEFAULT_LINE_LIMIT } from '../lines.ts';
import { CgroupWatch, type LimitCounters } from './cgroup-watch.ts';
import { linesOf, QuietAfterExit, type LineOffer } from './output.ts';

const WORKSPACE = '/workspace';
const STOP_GRACE_SECONDS = 5;
/** How long a followed log may give nothing once its container exited (see logs()). */
const FOLLOW_GRACE_MS = 2000;
// Engines accept these characters in container names; the owner is part of every name.
const OWNER_PATTERN = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

export class ContainerExecutor implements Executor {
  readonly description: string;
  readonly usesImages = true;
  readonly canReattach = true;
  private readonly docker: Docker;
  /** One wait request per container, shared by wait() and logs(): each is a blocking call on the engine. */
  private readonly exits = new Map<string, Promise<number>>();
  /**
   * Output streams attached before each container started. They end exactly when the step
   * does, where a followed log stream may end later or, on Podman 4.3, not at all.
   */
  private readonly attached = new Map<string, NodeJS.ReadableStream>();
  /** The cgroup counters of running steps, where the engine runs on this host. */
  private readonly watches = new Map<string, CgroupWatch>();
  /** The engine's CPU count: Docker refuses a CPU limit above it. */
  private engineCpus: Promise<number> | null = null;

  /** `owner` identifies this Slipway instance, so instances sharing an engine leave each other's containers alone. */
  constructor(
    engine: ContainerEngine,
    private readonly owner: string,
  ) {
    if (!OWNER_PATTERN.test(owner)) throw new Error(`owner "${owner}" may only hold letters, digits, "_", "." and "-"`);
    this.docker = engine.docker;
    this.description = `container (${engine.name})`;
  }

  async start(step: StepSpec): Promise<string> {
    if (!step.image) throw new Error(`stage ${step.name} has no image, and the container executor needs one`);
    const relative = step.mounts.find((path) => !isAbsolute(path));
    if (relative !== undefined) throw new Error(`stage ${step.name} cannot mount ${relative}: a mount must be an absolute host path`);
    const options: Docker.ContainerCreateOptions = {
      name: `slipway-${this.owner}-run${step.runId}-stage${step.stageId}`,
      Image: step.image,
      ...(step.command === null ? {} : { Cmd: ['sh', '-c', step.command], WorkingDir: WORKSPACE }),
      Env: Object.entries(step.env).map(([key, value]) => `${key}=${value}`),
      Tty: false,
      Labels: {
        'slipway.owner': this.owner,
        'slipway.run': String(step.runId),
        'slipway.stage': String(step.stageId),
        'slipway.step': step.name,
      },
      HostConfig: {
        // Mounts rather than Binds: a workspace path holding ":" would break the Binds syntax.
        Mounts: [
          { Type: 'bind', Source: step.workspace, Target: WORKSPACE },
          ...step.mounts.map((path) => ({ Type: 'bind' as const, Source: path, Target: path, ReadOnly: true })),
        ],
        // Without an init, `sh` or the command is PID 1, which ignores SIGTERM: every stop
        // would wait out the grace period and end in SIGKILL.
        Init: true,
        ...(step.network ? { NetworkMode: step.network } : {}),
        SecurityOpt: ['no-new-privileges'],
        Memory: step.limits.memory,
        // Equal to Memory: no swap on top of it, so going over the limit ends the step.
        MemorySwap: step.limits.memory,
        NanoCpus: Math.round(Math.min(step.limits.cpus, await this.cpusOfEngine()) * 1e9),
        PidsLimit: step.limits.pids,
      },
    };
    const container = await this.create(options, step.image);
    try {
      this.attached.set(container.id, await container.attach({ stream: true, stdout: true, stderr: true }));
      await container.start();
    } catch (error) {
      await this.cleanup(container.id);
      throw error;
    }
    this.watch(container.id);
    return container.id;
  }

  private cpusOfEngine(): Promise<number> {
    this.engineCpus ??= this.docker.info().then(
      (info: { NCPU?: number }) => (info.NCPU && info.NCPU > 0 ? info.NCPU : Number.POSITIVE_INFINITY),
      () => Number.POSITIVE_INFINITY,
    );
    return this.engineCpus;
  }

  /** Starts reading the container's cgroup counters, when they are readable here. */
  private watch(handle: string): void {
    const watch = CgroupWatch.start(handle);
    if (watch) this.watches.set(handle, watch);
  }

  /**
   * Creation is tried first and repaired on failure, so the common case costs one request:
   * a container left by a crash under the same name is removed, a missing image is pulled.
   */
  private async create(options: Docker.ContainerCreateOptions, image: string): Promise<Docker.Container> {
    for (let repairs = 0; ; repairs++) {
      try {
        return await retryStorageRace(() => this.docker.createContainer(options));
      } catch (error) {
        // Two repairs cover a leftover container plus a missing image; a third failure is not one a repair fixes.
        if (repairs === 2) throw error;
        if (isNameConflict(error)) await this.cleanup(options.name!);
        else if (engineStatus(error) === 404) await this.pull(image);
        else throw error;
      }
    }
  }

  private async pull(image: string): Promise<void> {
    try {
      await followProgress(this.docker, await this.docker.pull(image));
    } catch (error) {
      throw new Error(`image ${image} is not available: ${reasonOf(error)}`);
    }
  }

  async *logs(handle: string, read: StepRead = {}): AsyncIterable<StepLine> {
    const skip = read.skip ?? { stdout: 0, stderr: 0 };
    const lineLimit = read.lineLimit ?? DEFAULT_LINE_LIMIT;
    const attached = this.attached.get(handle);
    this.attached.delete(handle);
    /** Lines of each stream handed on (given or skipped) so far, over both readings below. */
    const handedOn = { stdout: 0, stderr: 0 };
    const reading = (): LineOffer => {
      const seen = { stdout: 0, stderr: 0 };
      return (line) => {
        const index = ++seen[line.stream];
        if (index <= handedOn[line.stream]) return false;
        handedOn[line.stream] = index;
        return index > skip[line.stream];
      };
    };
    // Each ends its request even when the engine never answered it, so no socket lingers.
    const following = new AbortController();
    const rereading = new AbortController();
    const quiet = new QuietAfterExit(this.exitOf(handle), FOLLOW_GRACE_MS);
    let stream: NodeJS.ReadableStream | null = attached ?? null;
    try {
      // A re-attached step (after a restart) has no attached stream: its log is followed instead.
      const followed = stream ? null : this.docker.getContainer(handle).logs({ follow: true, stdout: true, stderr: true, abortSignal: following.signal });
      // A followed log that opens only after it was given up is closed at once.
      followed?.then((late) => following.signal.aborted && destroy(late), () => undefined);
      const opened = stream ?? (await quiet.race(followed!));
      if (opened !== QuietAfterExit.QUIET) {
        stream = opened;
        const ended = yield* linesOf(stream, lineLimit, reading(), quiet);
        if (ended) {
          // The output ends when the step does, before the engine removes its cgroup.
          this.watches.get(handle)?.sample();
          return;
        }
      }
      // Podman 4.3 sometimes never ends (or never even opens) the followed log of a
      // short-lived container. Once the container has exited, a log that gives nothing for a
      // grace period is abandoned, and the whole log is read, minus the lines handed on.
      following.abort();
      if (stream) destroy(stream);
      stream = await this.wholeLog(handle, rereading.signal);
      yield* linesOf(stream, lineLimit, reading(), null);
    } finally {
      quiet.dispose();
      following.abort();
      rereading.abort();
      if (stream) destroy(stream);
    }
  }

  /** The container's log from its start, as a stream: read whole, it could be larger than memory. */
  private wholeLog(handle: string, signal: AbortSignal): Promise<NodeJS.ReadableStream> {
    return new Promise((resolve, reject) => {
      this.docker.modem.dial(
        {
          path: `/containers/${encodeURIComponent(handle)}/logs?`,
          method: 'GET',
          isStream: true,
          abortSignal: signal,
          statusCodes: { 200: true, 404: 'no such container', 500: 'server error' },
          options: { follow: false, stdout: true, stderr: true },
        },
        (error, stream) => (error ? reject(error) : resolve(stream as NodeJS.ReadableStream)),
      );
    });
  }

  async wait(handle: string): Promise<StepExit> {
    const exitCode = await this.exitOf(handle);
    const watch = this.watches.get(handle);
    watch?.stop();
    if (exitCode === 0) return { exitCode };
    const limitReached = await this.limitReached(handle, watch?.counters ?? { oomKills: 0, forkRefusals: 0 });
    return limitReached ? { exitCode, limitReached } : { exitCode };
  }

  /** The limit a failed step ran into, with its value as the container was given it; undefined when none is known. */
  private async limitReached(handle: string, counters: LimitCounters): Promise<StepLimitReached | undefined> {
    let info: Docker.ContainerInspectInfo;
    try {
      info = await this.docker.getContainer(handle).inspect();
    } catch {
      return undefined;
    }
    const memory = info.HostConfig.Memory ?? 0;
    const pids = info.HostConfig.PidsLimit ?? 0;
    if (memory > 0 && (info.State.OOMKilled || counters.oomKills > 0)) return { resource: 'memory', bytes: memory };
    if (pids > 0 && counters.forkRefusals > 0) return { resource: 'processes', count: pids };
    return undefined;
  }

  private exitOf(handle: string): Promise<number> {
    let exit = this.exits.get(handle);
    if (!exit) {
      exit = this.docker
        .getContainer(handle)
        .wait()
        .then((result: { StatusCode: number }) => result.StatusCode);
      this.exits.set(handle, exit);
    }
    return exit;
  }

  async stop(handle: string): Promise<void> {
    try {
      await this.docker.getContainer(handle).stop({ t: STOP_GRACE_SECONDS });
    } catch (error) {
      // 304: already stopped; 404: already removed. Either way the step has ended.
      if (engineStatus(error) !== 304 && engineStatus(error) !== 404) throw error;
    }
  }

  async cleanup(handle: string): Promise<void> {
    this.exits.delete(handle);
    this.watches.get(handle)?.stop();
    this.watches.delete(handle);
    const attached = this.attached.get(handle);
    if (attached) destroy(attached);
    this.attached.delete(handle);
    try {
      await this.docker.getContainer(handle).remove({ force: true });
    } catch (error) {
      if (engineStatus(error) !== 404) throw error;
    }
  }

  async reattach(handle: string): Promise<string | null> {
    try {
      const info = await this.docker.getContainer(handle).inspect();
      if (info.Config.Labels?.['slipway.owner'] !== this.owner) return null;
      this.watch(info.Id);
      return info.Id;
    } catch (error) {
      // Anything but "not found" (the engine being down, say) must not read as "the step is gone".
      if (engineStatus(error) === 404) return null;
      throw error;
    }
  }

  /** By label, so containers of another Slipway instance on this engine are never listed. */
  async listSteps(): Promise<Array<{ handle: string; runId: number; stageId: number }>> {
    const containers = await this.docker.listContainers({
      all: true,
      // Steps only: a sandbox's members carry their run and stage too, and are not the executor's.
      filters: { label: [`slipway.owner=${this.owner}`, 'slipway.run', 'slipway.stage', 'slipway.step'] },
    });
    return containers.map((container) => ({
      handle: container.Id,
      runId: Number(container.Labels['slipway.run']),
      stageId: Number(container.Labels['slipway.stage']),
    }));
  }
}

// Docker answers 409; Podman 4 answers 500 with this cause.
function isNameConflict(error: unknown): boolean {
  return engineStatus(error) === 409 || /already in use/.test(reasonOf(error));
}

/** The engine's own message when it sent one, on one line. */
function reasonOf(error: unknown): string {
  const json = (error as { json?: unknown } | null)?.json as { message?: unknown } | null | undefined;
  const message = typeof json?.message === 'string' ? json.message : error instanceof Error ? error.message : String(error);
  return message.replace(/\s+/g, ' ').trim();
}

function destroy(stream: NodeJS.ReadableStream): void {
  (stream as NodeJS.ReadableStream & { destroy?: () => void }).destroy?.();
}
