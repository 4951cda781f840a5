// The Executor runs one step (a shell command) in isolation and streams its output.
//
// Contract, in call order, for one step:
//   1. start(step)          -> handle. The step is running (or already finished) when it resolves.
//                              The handle is a string the engine persists; it must be enough,
//                              together with reattach(), to find the step again after a restart.
//   2. logs(handle, read)   -> async iterable of lines, stdout and stderr kept apart, in order per
//                              stream. Ends when the step's output ends. `read.skip` drops the
//                              first N lines of each stream (lines already stored before a
//                              restart); a line longer than `read.lineLimit` bytes is cut there
//                              with a marker (see lines.ts), the rest of it dropped.
//   3. wait(handle)         -> how the step ended (StepExit); resolves once, when the step ends.
//   4. cleanup(handle)      -> frees what the step held (the container). Safe to call twice.
// stop(handle) may be called at any time (cancel, timeout): the step ends soon after with a
// non-zero exit; wait() then resolves. stop is safe to call twice and after the step ended.
//
// Output is read with backpressure: while the reader of logs() does not take the next line, the
// executor stops reading the step's output, so a step printing faster than its lines are stored
// waits (its writes block) rather than filling the server's memory. Read logs() alongside
// wait(), as the engine does: a step whose output nobody reads may never end.
//
// Isolation: an isolating executor (containers) lets a step reach only its workspace and
// `mounts`, read-only, nothing it reads from the workspace; it enforces `limits` and says in
// StepExit when a step failed at one. The process executor isolates nothing and enforces no
// limit: it is the fallback where no container engine exists, and untrusted runs never use it.
//
// After a server restart the engine calls reattach(handle) for a step recorded as running:
// null means the step is gone (the engine fails it with a reason); otherwise the returned
// handle is used with logs/wait/cleanup as above. Executors whose steps cannot outlive the
// server (local processes) always answer null.

import type { StepLimits } from '../config/model.ts';
import { assertNever } from '../core/types.ts';
import { formatBytes } from './lines.ts';

export interface StepSpec {
  runId: number;
  stageId: number;
  /** Stage name, for labels and messages. */
  name: string;
  /**
   * Shell command, run with `sh -c` in the workspace; null runs the image's own command in its
   * own working directory (a test-suite image). Only container executors run null.
   */
  command: string | null;
  /** Image to run in; container executors require it, the process executor ignores it. */
  image: string | null;
  /** Host folder holding the checked-out commit; the step's working directory. */
  workspace: string;
  /**
   * Absolute host folders the step may read at the same path (the git objects a checkout
   * borrows); computed by Slipway, never read from the workspace, which earlier steps wrote.
   */
  mounts: string[];
  /** What the step may use: memory in bytes (no swap beyond it), CPUs, processes. */
  limits: StepLimits;
  env: Record<string, string>;
  /** A container network the step joins instead of the default one (an integration stage's sandbox). Only container executors join one. */
  network?: string | null;
}

export interface StepLine {
  stream: 'stdout' | 'stderr';
  text: string;
}

export interface StepSkip {
  stdout: number;
  stderr: number;
}

export interface StepRead {
  /** Lines of each stream already stored, not to be given again. None by default. */
  skip?: StepSkip;
  /** Bytes past which a line is cut; DEFAULT_LINE_LIMIT (lines.ts) by default. */
  lineLimit?: number;
}

/** The limit a step failed at, with its value as it was set. */
export type StepLimitReached = { resource: 'memory'; bytes: number } | { resource: 'processes'; count: number };

export interface StepExit {
  exitCode: number;
  /** Set only when the step failed (non-zero exit) and the executor knows it hit a limit. */
  limitReached?: StepLimitReached;
}

/** Why a step that exited non-zero failed, in one sentence for the stage's reason. */
export function failureReason(exit: StepExit): string {
  const limit = exit.limitReached;
  if (!limit) return `command exited with code ${exit.exitCode}`;
  switch (limit.resource) {
    case 'memory':
      return `the step went over its memory limit of ${formatBytes(limit.bytes)} (killed)`;
    case 'processes':
      return `the step reached its limit of ${limit.count} processes and exited with code ${exit.exitCode}`;
    default:
      return assertNever(limit, 'limit');
  }
}

export interface Executor {
  /** Short name shown to users: "container (podman 4.3.1)", "process". */
  readonly description: string;
  /** True when steps need `image` (and so a toolchain image per service). */
  readonly usesImages: boolean;
  /**
   * True when a step can outlive the server and be re-attached. When false, reattach() always
   * answers null, so the engine does not spend a durable write on each step's handle.
   */
  readonly canReattach: boolean;
  start(step: StepSpec): Promise<string>;
  logs(handle: string, read?: StepRead): AsyncIterable<StepLine>;
  wait(handle: string): Promise<StepExit>;
  stop(handle: string): Promise<void>;
  cleanup(handle: string): Promise<void>;
  reattach(handle: string): Promise<string | null>;
  /**
   * Every step this executor started (for this Slipway instance) that still exists on its
   * target, running or ended and not yet cleaned up, each with the handle start() answered and
   * the run and stage it ran for. After a restart the engine cleans up those no running stage
   * will re-attach (engine/recovery.ts). Executors whose steps cannot outlive the server answer [].
   */
  listSteps(): Promise<Array<{ handle: string; runId: number; stageId: number }>>;
}
