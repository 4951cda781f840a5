// The Executor runs one step (a shell command) in isolation and streams its output.
//
// Contract, in call order, for one step:
//   1. start(step)          -> handle. The step is running (or already finished) when it resolves.
//                              The handle is a string the engine persists; it must be enough,
//                              together with reattach(), to find the step again after a restart.
//   2. logs(handle, skip)   -> async iterable of lines, stdout and stderr kept apart, in order per
//                              stream. Ends when the step's output ends. `skip` drops the first
//                              N lines of each stream (lines already stored before a restart).
//   3. wait(handle)         -> the exit code; resolves once, when the step ends.
//   4. cleanup(handle)      -> frees what the step held (the container). Safe to call twice.
// stop(handle) may be called at any time (cancel, timeout): the step ends soon after with a
// non-zero exit; wait() then resolves. stop is safe to call twice and after the step ended.
//
// After a server restart the engine calls reattach(handle) for a step recorded as running:
// null means the step is gone (the engine fails it with a reason); otherwise the returned
// handle is used with logs/wait/cleanup as above. Executors whose steps cannot outlive the
// server (local processes) always answer null.

export interface StepSpec {
  runId: number;
  stageId: number;
  /** Stage name, for labels and messages. */
  name: string;
  /** Shell command, run with `sh -c`. */
  command: string;
  /** Image to run in; container executors require it, the process executor ignores it. */
  image: string | null;
  /** Host folder holding the checked-out commit; the step's working directory. */
  workspace: string;
  env: Record<string, string>;
}

export interface StepLine {
  stream: 'stdout' | 'stderr';
  text: string;
}

export interface StepSkip {
  stdout: number;
  stderr: number;
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
  logs(handle: string, skip?: StepSkip): AsyncIterable<StepLine>;
  wait(handle: string): Promise<number>;
  stop(handle: string): Promise<void>;
  cleanup(handle: string): Promise<void>;
  reattach(handle: string): Promise<string | null>;
}
