// Runs each step as a local `sh -c` child process: the fallback where no container engine
// exists, and the cheapest executor. Steps die with the server, so reattach always says no.
//
// It isolates nothing and enforces no limit (a step may read what the server's user may, and
// use all the memory, CPUs and processes it gets): untrusted runs never use it. What it does
// keep from a step is the server's own environment (forge tokens, webhook secrets, the values
// behind `{ env: NAME }` in slipway.yml): a step gets PATH, LANG, a HOME of its own (a fresh
// folder, removed at cleanup, never the server user's home where the CLI keeps its token) and
// its step's variables, nothing else.

import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { constants, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type { Executor, StepExit, StepLine, StepRead, StepSpec } from '../executor.ts';
import { DEFAULT_LINE_LIMIT, LineSplitter } from '../lines.ts';

const STOP_GRACE_MS = 5000;
/** Output read from a step's pipes and not yet taken by logs(); past either bound the pipes are paused. */
const PENDING_BYTES_LIMIT = 1024 * 1024;
const PENDING_CHUNKS_LIMIT = 1024;
/** A PATH for a server started without one. */
const FALLBACK_PATH = '/usr/local/bin:/usr/bin:/bin';

/** A piece of a step's output as read from its pipe; null marks the end of that pipe. */
interface OutputChunk {
  stream: StepLine['stream'];
  bytes: Buffer | null;
}

interface RunningStep {
  pid: number;
  pipes: Readable[];
  home: string;
  /** Output read from the pipes, not yet taken by logs(); split into lines there, at the reader's line limit. */
  pending: OutputChunk[];
  pendingBytes: number;
  /** Wakes the logs() reader waiting for more output. */
  wake: (() => void) | null;
  beingRead: boolean;
  exited: boolean;
  stopping: boolean;
  killTimer: NodeJS.Timeout | null;
  exitCode: Promise<number>;
}

export class ProcessExecutor implements Executor {
  readonly description = 'process';
  readonly usesImages = false;
  readonly canReattach = false;
  private readonly steps = new Map<string, RunningStep>();

  async start(step: StepSpec): Promise<string> {
    if (step.command === null || step.network) {
      throw new Error(`stage ${step.name} needs containers: the process executor runs shell commands on this host, and cannot run an image's own command or join a network`);
    }
    const home = mkdtempSync(join(tmpdir(), 'slipway-home-'));
    // detached: the step leads its own process group, so stop() reaches everything it started.
    const child = spawn('sh', ['-c', step.command], {
      cwd: step.workspace,
      env: { PATH: process.env.PATH ?? FALLBACK_PATH, HOME: home, LANG: process.env.LANG ?? 'C.UTF-8', ...step.env },
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    if (child.pid === undefined) {
      const [error] = (await once(child, 'error')) as [Error];
      rmSync(home, { recursive: true, force: true });
      const reason = existsSync(step.workspace) ? error.message : `workspace ${step.workspace} does not exist`;
      throw new Error(`stage ${step.name} could not start: ${reason}`);
    }
    const handle = `process:${step.runId}:${step.stageId}:${child.pid}`;
    this.steps.set(handle, this.follow(child, child.pid, home));
    return handle;
  }

  private follow(child: ChildProcess, pid: number, home: string): RunningStep {
    let resolveExit!: (code: number) => void;
    const running: RunningStep = {
      pid,
      pipes: [child.stdout!, child.stderr!],
      home,
      pending: [],
      pendingBytes: 0,
      wake: null,
      beingRead: false,
      exited: false,
      stopping: false,
      killTimer: null,
      exitCode: new Promise((resolve) => (resolveExit = resolve)),
    };
    const queue = (chunk: OutputChunk): void => {
      running.pending.push(chunk);
      running.pendingBytes += chunk.bytes?.length ?? 0;
      // Backpressure: a reader that is behind stops the reading of the pipes, and the step's
      // writes block once the pipes are full.
      if (running.pendingBytes > PENDING_BYTES_LIMIT || running.pending.length > PENDING_CHUNKS_LIMIT) for (const pipe of running.pipes) pipe.pause();
      running.wake?.();
      running.wake = null;
    };
    for (const stream of ['stdout', 'stderr'] as const) {
      child[stream]!.on('data', (bytes: Buffer) => queue({ stream, bytes }));
      child[stream]!.on('end', () => queue({ stream, bytes: null }));
    }
    child.on('exit', () => {
      running.exited = true;
      if (running.killTimer) clearTimeout(running.killTimer);
      // Like a container whose main process ended: what the step left running in the
      // background dies too, otherwise it would hold the output pipes open forever.
      signalGroup(pid, 'SIGKILL');
    });
    // 'close' comes after both pipes are drained, so the exit code follows the last line.
    child.on('close', (code, signal) => resolveExit(code ?? 128 + (signal ? constants.signals[signal] : 0)));
    return running;
  }

  async *logs(handle: string, read: StepRead = {}): AsyncIterable<StepLine> {
    const running = this.known(handle);
    // Output is handed over (not kept) so a long build does not hold its whole log twice.
    if (running.beingRead) throw new Error(`the output of ${handle} is already being read`);
    running.beingRead = true;
    const skip = read.skip ?? { stdout: 0, stderr: 0 };
    const skipped = { stdout: 0, stderr: 0 };
    const lines: StepLine[] = [];
    const lineLimit = read.lineLimit ?? DEFAULT_LINE_LIMIT;
    const splitters = { stdout: new LineSplitter('stdout', (line) => lines.push(line), lineLimit), stderr: new LineSplitter('stderr', (line) => lines.push(line), lineLimit) };
    let open = 2;
    while (open > 0) {
      if (running.pending.length === 0) {
        await new Promise<void>((resolve) => (running.wake = resolve));
        continue;
      }
      const batch = running.pending;
      running.pending = [];
      running.pendingBytes = 0;
      for (const pipe of running.pipes) pipe.resume();
      for (const chunk of batch) {
        if (chunk.bytes) splitters[chunk.stream].push(chunk.bytes);
        else {
          splitters[chunk.stream].end();
          open--;
        }
        for (const line of lines) {
          if (skipped[line.stream] < skip[line.stream]) skipped[line.stream]++;
          else yield line;
        }
        lines.length = 0;
      }
    }
  }

  async wait(handle: string): Promise<StepExit> {
    return { exitCode: await this.known(handle).exitCode };
  }

  async stop(handle: string): Promise<void> {
    const running = this.steps.get(handle);
    if (!running || running.exited || running.stopping) return;
    running.stopping = true;
    signalGroup(running.pid, 'SIGTERM');
    running.killTimer = setTimeout(() => signalGroup(running.pid, 'SIGKILL'), STOP_GRACE_MS);
    running.killTimer.unref();
  }

  async cleanup(handle: string): Promise<void> {
    const running = this.steps.get(handle);
    if (!running) return;
    if (!running.exited) signalGroup(running.pid, 'SIGKILL');
    for (const pipe of running.pipes) pipe.destroy();
    this.steps.delete(handle);
    // Retried: the step's processes, just killed, may still be writing there.
    await rm(running.home, { recursive: true, force: true, maxRetries: 3 });
  }

  async reattach(): Promise<string | null> {
    return null;
  }

  private known(handle: string): RunningStep {
    const running = this.steps.get(handle);
    if (!running) throw new Error(`no step with handle ${handle} (it was cleaned up, or started by another server)`);
    return running;
  }
  /**
   * A step's process belongs to this server's process and no handle of it is stored
   * (canReattach is false), so a restarted server has nothing of a previous one to find.
   */
  async listSteps(): Promise<Array<{ handle: string; runId: number; stageId: number }>> {
    return [];
  }
}

/** Never throws: it runs from event handlers and timers, where a throw would end the server. */
function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // ESRCH: the group is gone already. EPERM: what is left runs setuid as another user,
    // out of our reach either way.
  }
}
