// Runs one command in a container of its own to its end: a deploy's pre- and post-deploy tasks,
// and the command target's deploy command. Its output goes to the log line by line as it comes;
// whatever happens (exit, timeout, cancel, an engine error) the container is removed after.
//
// The output is read from a stream attached before the container starts, not from a followed
// log: the attached stream ends when the container does, where Podman 4.3 may never end a
// followed log of a short-lived container (see executors/container/executor.ts).

import { formatDuration } from '../core/durations.ts';
import type Docker from 'dockerode';
import { LineSplitter } from '../executors/lines.ts';
import { engineStatus, FrameReader, isEngineUnreachable, retryStorageRace, STORAGE_RACE } from './api.ts';
import { followProgress, type ContainerEngine } from './connect.ts';

/** SIGTERM first; what still runs this many seconds later is killed. */
const STOP_GRACE_SECONDS = 5;
/** How long the output may take to end once the container exited, before it is cut off. */
const OUTPUT_GRACE_MS = 2_000;
/** A longer delay makes setTimeout fire at once (about 24.8 days: far past any sane timeout). */
const LONGEST_TIMER_MS = 2 ** 31 - 1;

export interface OneOffSpec {
  /** Container name (unique; a leftover of the same name from a crashed server is removed first). */
  name: string;
  /** A reference; pulled when not present locally (ensureImage). */
  image: string;
  /** Run with ['sh', '-c', command]. */
  command: string;
  env: Record<string, string>;
  labels: Record<string, string>;
  /** A network name to attach to. */
  network?: string;
  /** 'name:ip' entries for /etc/hosts. */
  extraHosts?: string[];
  /** For the whole run, a pull of its image included, so nothing it waits on can hang a deploy. */
  timeoutMs: number;
}

/** exitCode is the command's; reason says why it did not run to its end (timeout, cancel, engine error). */
export interface OneOffExit {
  exitCode: number;
  reason?: string;
}

export type OneOffLog = (line: string, stream?: 'stdout' | 'stderr') => void;

/**
 * Pulls `reference` unless the engine has it: an image already on the host is never pulled
 * again, so a rollback to a release whose image is here needs no registry. Throws when the
 * pull fails (the engine's reason in the message) and rethrows an unreachable engine's error
 * as it came, for the caller to describe.
 */
export async function ensureImage(engine: ContainerEngine, reference: string, log: (line: string) => void, signal: AbortSignal): Promise<void> {
  try {
    await retryStorageRace(() => engine.docker.getImage(reference).inspect());
    return;
  } catch (error) {
    // Still half-known after the retries: an image removed meanwhile (Podman 4.3 answers 500 while
    // it goes). Pulling brings it back whole.
    const halfGone = engineStatus(error) === 500 && STORAGE_RACE.test(reasonOf(error));
    if (engineStatus(error) !== 404 && !halfGone) throw error;
  }
  signal.throwIfAborted();
  log(`pulling ${reference}`);
  try {
    const progress = await engine.docker.createImage({ fromImage: reference, abortSignal: signal });
    await followProgress(engine.docker, progress);
  } catch (error) {
    if (signal.aborted || isEngineUnreachable(error)) throw error;
    throw new Error(`pull of ${reference} failed: ${reasonOf(error)}`);
  }
  log(`pulled ${reference}`);
}

/**
 * Runs `spec.command` in a new container and answers its exit code. It never throws: a timeout,
 * a cancel or an engine error answers a non-zero exit code with the reason, also logged.
 */
export async function runOneOff(engine: ContainerEngine, spec: OneOffSpec, log: OneOffLog, signal: AbortSignal): Promise<OneOffExit> {
  // Ends the run early: the caller's cancel or the timeout, whichever comes first.
  const stop = new AbortController();
  const cancel = () => stop.abort('cancelled');
  signal.addEventListener('abort', cancel, { once: true });
  if (signal.aborted) cancel();
  const timer = setTimeout(() => stop.abort(`timed out after ${formatDuration(spec.timeoutMs)}`), Math.min(spec.timeoutMs, LONGEST_TIMER_MS));
  // Ends the engine requests still open when the run is over.
  const done = new AbortController();
  let container: Docker.Container | null = null;
  let output: OutputLines | null = null;
  try {
    stop.signal.throwIfAborted();
    await removeLeftover(engine.docker, spec.name, log);
    await ensureImage(engine, spec.image, log, stop.signal);
    stop.signal.throwIfAborted();
    const options: Docker.ContainerCreateOptions = {
      name: spec.name,
      Image: spec.image,
      Cmd: ['sh', '-c', spec.command],
      Env: Object.entries(spec.env).map(([key, value]) => `${key}=${value}`),
      Labels: spec.labels,
      Tty: false,
      HostConfig: {
        // PID 1 passes SIGTERM on, so a stop ends the command at once rather than after the grace.
        Init: true,
        AutoRemove: false,
        ...(spec.network ? { NetworkMode: spec.network } : {}),
        ...(spec.extraHosts?.length ? { ExtraHosts: spec.extraHosts } : {}),
      },
    };
    container = await retryStorageRace(() => engine.docker.createContainer(options));
    output = new OutputLines(await container.attach({ stream: true, stdout: true, stderr: true }), log);
    await container.start();
    const exited: Promise<number> = container.wait({ abortSignal: done.signal }).then((result: { StatusCode: number }) => result.StatusCode);
    // Its failure is handled where it is awaited; this keeps it from being unhandled meanwhile.
    exited.catch(() => undefined);
    const ended = await Promise.race([exited, whenAborted(stop.signal)]);
    if (ended === ABORTED) await stopContainer(container);
    const exitCode = await exited;
    await output.ended(OUTPUT_GRACE_MS);
    if (ended !== ABORTED) return { exitCode };
    const reason = String(stop.signal.reason);
    log(`the command was stopped: ${reason}`, 'stderr');
    return { exitCode: exitCode === 0 ? -1 : exitCode, reason };
  } catch (error) {
    const reason = stop.signal.aborted ? String(stop.signal.reason) : describeFailure(engine, error);
    log(stop.signal.aborted ? `the command was stopped: ${reason}` : reason, 'stderr');
    return { exitCode: -1, reason };
  } finally {
    clearTimeout(timer);
    signal.removeEventListener('abort', cancel);
    done.abort();
    output?.close();
    if (container) await removeContainer(container, log);
  }
}

/** Splits the attached output into lines per stream, in the order the engine sent them. */
class OutputLines {
  private closed = false;
  private readonly end: Promise<void>;

  constructor(
    private readonly stream: NodeJS.ReadableStream,
    log: OneOffLog,
  ) {
    const give = (line: { stream: 'stdout' | 'stderr'; text: string }) => !this.closed && log(line.text, line.stream);
    const splitters = { stdout: new LineSplitter('stdout', give), stderr: new LineSplitter('stderr', give) };
    const frames = new FrameReader((kind, payload) => splitters[kind].push(payload));
    this.end = new Promise((resolve) => {
      const finish = () => {
        // The last line of each stream may lack its newline.
        splitters.stdout.end();
        splitters.stderr.end();
        resolve();
      };
      stream.on('data', (chunk: Buffer) => frames.push(chunk));
      stream.on('end', finish);
      stream.on('close', finish);
      stream.on('error', finish);
    });
  }

  /** Waits for the output to end, at most `graceMs` (an engine that never ends it must not hold the run). */
  async ended(graceMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.end, new Promise((resolve) => (timer = setTimeout(resolve, graceMs)))]);
    clearTimeout(timer);
  }

  /** Nothing is logged after this: the run has answered. */
  close(): void {
    this.closed = true;
    (this.stream as NodeJS.ReadableStream & { destroy?: () => void }).destroy?.();
  }
}

const ABORTED: unique symbol = Symbol('aborted');

function whenAborted(signal: AbortSignal): Promise<typeof ABORTED> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve(ABORTED);
    else signal.addEventListener('abort', () => resolve(ABORTED), { once: true });
  });
}

/** The name is this run's own, so a container holding it was left by a run a crash cut short. */
async function removeLeftover(docker: Docker, name: string, log: OneOffLog): Promise<void> {
  try {
    await docker.getContainer(name).remove({ force: true });
    log(`removed ${name}, left by an earlier run that never finished`);
  } catch (error) {
    if (engineStatus(error) !== 404) throw error;
  }
}

async function stopContainer(container: Docker.Container): Promise<void> {
  try {
    await container.stop({ t: STOP_GRACE_SECONDS });
  } catch (error) {
    // 304: it had exited already; 404: it is gone.
    if (engineStatus(error) !== 304 && engineStatus(error) !== 404) throw error;
  }
}

async function removeContainer(container: Docker.Container, log: OneOffLog): Promise<void> {
  try {
    await container.remove({ force: true });
  } catch (error) {
    if (engineStatus(error) !== 404) log(`could not remove the container ${container.id.slice(0, 12)}: ${reasonOf(error)}`, 'stderr');
  }
}

function describeFailure(engine: ContainerEngine, error: unknown): string {
  if (isEngineUnreachable(error)) return `the container engine at ${engine.endpoint} could not be reached (${reasonOf(error)})`;
  const status = engineStatus(error);
  return status === undefined ? reasonOf(error) : `the container engine refused (HTTP ${status}): ${reasonOf(error)}`;
}

/** The engine's own message when it sent one, on one line. */
function reasonOf(error: unknown): string {
  const json = (error as { json?: unknown } | null)?.json as { message?: unknown } | null | undefined;
  const message = typeof json?.message === 'string' ? json.message : error instanceof Error ? error.message : String(error);
  return message.replace(/\s+/g, ' ').trim();
}

