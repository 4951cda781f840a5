// Runs each step in its own container through the Docker Engine API (Docker or Podman).
// Containers outlive the server by design: the handle is the container id, and the labels
// let an operator (or a later version of Slipway) see which run and stage a container is for.

import { readFileSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { PassThrough, finished } from 'node:stream';
import type Docker from 'dockerode';
import { demultiplex, engineStatus } from '../../docker/api.ts';
import { followProgress, type ContainerEngine } from '../../docker/connect.ts';
import type { Executor, StepLine, StepSkip, StepSpec } from '../executor.ts';
import { LineSplitter } from '../lines.ts';

const WORKSPACE = '/workspace';
const STOP_GRACE_SECONDS = 5;
/** How long a follow stream may stay open after its container exited (see logs()). */
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
    const options: Docker.ContainerCreateOptions = {
      name: `slipway-${this.owner}-run${step.runId}-stage${step.stageId}`,
      Image: step.image,
      Cmd: ['sh', '-c', step.command],
      WorkingDir: WORKSPACE,
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
          ...borrowedObjectStores(step.workspace).map((path) => ({ Type: 'bind' as const, Source: path, Target: path, ReadOnly: true })),
        ],
        // Without an init, `sh` or the command is PID 1, which ignores SIGTERM: every stop
        // would wait out the grace period and end in SIGKILL.
        Init: true,
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
    return container.id;
  }

  /**
   * Creation is tried first and repaired on failure, so the common case costs one request:
   * a container left by a crash under the same name is removed, a missing image is pulled.
   */
  private async create(options: Docker.ContainerCreateOptions, image: string): Promise<Docker.Container> {
    for (let repairs = 0; ; repairs++) {
      try {
        return await this.docker.createContainer(options);
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

  async *logs(handle: string, skip: StepSkip = { stdout: 0, stderr: 0 }): AsyncIterable<StepLine> {
    const container = this.docker.getContainer(handle);
    // One queue for both streams keeps the engine's frame order, which is the closest to
    // chronological order available.
    const lines = new PassThrough({ objectMode: true });
    const delivered = { stdout: 0, stderr: 0 };
    let following = true;
    let raw: NodeJS.ReadableStream | null = null;
    // Ends the follow request even when the engine never answered it, so no socket lingers.
    const requests = new AbortController();
    const finish = (error?: unknown) => {
      if (lines.writableEnded || lines.destroyed) return;
      if (error) lines.destroy(error instanceof Error ? error : new Error(String(error)));
      else lines.end();
    };
    const deliver = (line: StepLine) => {
      if (!following) return;
      delivered[line.stream]++;
      lines.write(line);
    };

    const attached = this.attached.get(handle);
    this.attached.delete(handle);
    // A re-attached step (after a restart) has no attached stream: its log is followed instead.
    const source = attached
      ? Promise.resolve(attached)
      : container.logs({ follow: true, stdout: true, stderr: true, abortSignal: requests.signal });
    source.then(
      (stream) => {
        if (!following) return destroy(stream);
        raw = stream;
        const stdout = new LineSplitter('stdout', deliver);
        const stderr = new LineSplitter('stderr', deliver);
        this.docker.modem.demuxStream(stream, stdout.sink(), stderr.sink());
        finished(stream, (error) => {
          if (!following) return;
          if (!error) {
            // Flushes each stream's last line, which may lack its newline.
            stdout.end();
            stderr.end();
          }
          following = false;
          finish(error ?? undefined);
        });
      },
      (error: unknown) => {
        if (following && !requests.signal.aborted) finish(error);
      },
    );

    // Podman 4.3 sometimes never ends (or never even opens) the followed log of a short-lived
    // container. Once the container has exited, an output stream still going after a grace
    // period is abandoned, and the log is read whole, minus the lines already delivered.
    void this.exitOf(handle)
      .then(() => new Promise((resolve) => setTimeout(resolve, FOLLOW_GRACE_MS)))
      .then(async () => {
        if (!following) return;
        following = false;
        requests.abort();
        if (raw) destroy(raw);
        const whole = (await container.logs({ follow: false, stdout: true, stderr: true })) as unknown as Buffer;
        const seen = { stdout: 0, stderr: 0 };
        const rest = (line: StepLine) => {
          if (seen[line.stream]++ >= delivered[line.stream]) lines.write(line);
        };
        const splitters = { stdout: new LineSplitter('stdout', rest), stderr: new LineSplitter('stderr', rest) };
        for (const frame of demultiplex(whole)) splitters[frame.stream].push(frame.payload);
        splitters.stdout.end();
        splitters.stderr.end();
        finish();
      })
      // finish() ignores an error that arrives after the output ended (the container cleaned up, the reader gone).
      .catch(finish);

    const skipped = { stdout: 0, stderr: 0 };
    try {
      for await (const line of lines as AsyncIterable<StepLine>) {
        if (skipped[line.stream] < skip[line.stream]) {
          skipped[line.stream]++;
          continue;
        }
        yield line;
      }
    } finally {
      following = false;
      requests.abort();
      if (raw) destroy(raw);
    }
  }

  wait(handle: string): Promise<number> {
    return this.exitOf(handle);
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
      return info.Config.Labels?.['slipway.owner'] === this.owner ? info.Id : null;
    } catch (error) {
      // Anything but "not found" (the engine being down, say) must not read as "the step is gone".
      if (engineStatus(error) === 404) return null;
      throw error;
    }
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

/**
 * The object stores the workspace's git borrows from (its alternates: a checkout shares the
 * mirror's objects rather than copying them), to be mounted at the same paths so git works
 * inside the container as well.
 */
function borrowedObjectStores(workspace: string): string[] {
  let alternates: string;
  try {
    alternates = readFileSync(join(workspace, '.git', 'objects', 'info', 'alternates'), 'utf8');
  } catch {
    return [];
  }
  return alternates.split('\n').filter((line) => isAbsolute(line));
}
