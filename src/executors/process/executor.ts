// Runs each step as a local `sh -c` child process: the fallback where no container engine
// exists, and the cheapest executor. Steps die with the server, so reattach always says no.

import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { constants } from 'node:os';
import type { Executor, StepLine, StepSkip, StepSpec } from '../executor.ts';
import { LineSplitter } from '../lines.ts';

const STOP_GRACE_MS = 5000;

interface RunningStep {
  pid: number;
  /** Lines not yet taken by logs(); a step's output waits here until it is read. */
  pending: StepLine[];
  outputEnded: boolean;
  /** Wakes the logs() reader waiting for more lines. */
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
    // detached: the step leads its own process group, so stop() reaches everything it started.
    const child = spawn('sh', ['-c', step.command], {
      cwd: step.workspace,
      env: { ...process.env, ...step.env },
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    if (child.pid === undefined) {
      const [error] = (await once(child, 'error')) as [Error];
      const reason = existsSync(step.workspace) ? error.message : `workspace ${step.workspace} does not exist`;
      throw new Error(`stage ${step.name} could not start: ${reason}`);
    }
    const handle = `process:${step.runId}:${step.stageId}:${child.pid}`;
    this.steps.set(handle, this.follow(child, child.pid));
    return handle;
  }

  private follow(child: ChildProcess, pid: number): RunningStep {
    let resolveExit!: (code: number) => void;
    const running: RunningStep = {
      pid,
      pending: [],
      outputEnded: false,
      wake: null,
      beingRead: false,
      exited: false,
      stopping: false,
      killTimer: null,
      exitCode: new Promise((resolve) => (resolveExit = resolve)),
    };
    const emit = (line: StepLine): void => {
      running.pending.push(line);
      running.wake?.();
      running.wake = null;
    };
    for (const stream of ['stdout', 'stderr'] as const) {
      const splitter = new LineSplitter(stream, emit);
      child[stream]!.on('data', (chunk: Buffer) => splitter.push(chunk));
      child[stream]!.on('end', () => splitter.end());
    }
    child.on('exit', () => {
      running.exited = true;
      if (running.killTimer) clearTimeout(running.killTimer);
      // Like a container whose main process ended: what the step left running in the
      // background dies too, otherwise it would hold the output pipes open forever.
      signalGroup(pid, 'SIGKILL');
    });
    // 'close' comes after both pipes are drained, so the exit code follows the last line.
    child.on('close', (code, signal) => {
      running.outputEnded = true;
      running.wake?.();
      running.wake = null;
      resolveExit(code ?? 128 + (signal ? constants.signals[signal] : 0));
    });
    return running;
  }

  async *logs(handle: string, skip: StepSkip = { stdout: 0, stderr: 0 }): AsyncIterable<StepLine> {
    const running = this.known(handle);
    // Lines are handed over (not kept) so a long build does not hold its whole log twice.
    if (running.beingRead) throw new Error(`the output of ${handle} is already being read`);
    running.beingRead = true;
    const skipped = { stdout: 0, stderr: 0 };
    for (;;) {
      if (running.pending.length === 0) {
        if (running.outputEnded) return;
        await new Promise<void>((resolve) => (running.wake = resolve));
        continue;
      }
      const batch = running.pending;
      running.pending = [];
      for (const line of batch) {
        if (skipped[line.stream] < skip[line.stream]) {
          skipped[line.stream]++;
          continue;
        }
        yield line;
      }
    }
  }

  async wait(handle: string): Promise<number> {
    return this.known(handle).exitCode;
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
    this.steps.delete(handle);
  }

  async reattach(): Promise<string | null> {
    return null;
  }

  private known(handle: string): RunningStep {
    const running = this.steps.get(handle);
    if (!running) throw new Error(`no step with handle ${handle} (it was cleaned up, or started by another server)`);
    return running;
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
