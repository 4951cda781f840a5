// A scriptable Executor for engine tests: each step's output, exit code and timing come from
// a script function, and every call is recorded. One FakeExecutor plays the container engine
// across a simulated server restart: keep the instance, build a new engine around it, and
// list in `reattachable` the handles whose steps "survived".

import type { Executor, StepExit, StepLimitReached, StepLine, StepRead, StepSpec } from '../executor.ts';

export interface FakeStepScript {
  /** Taken one at a time as logs() is read, like a real step's output: a generator may act after its last line. */
  lines?: Iterable<StepLine>;
  /** Defaults to 0. */
  exitCode?: number;
  /** The limit the step ran into, as wait() reports it (with a non-zero exitCode). */
  limitReached?: StepLimitReached;
  /** Runs until stop(), then ends with 137. */
  hang?: boolean;
  /** How long the step runs before it ends with exitCode; defaults to 0. */
  delayMs?: number;
}

export interface FakeCall {
  method: 'start' | 'logs' | 'wait' | 'stop' | 'cleanup' | 'reattach';
  handle: string;
  step?: StepSpec;
}

const STOPPED_EXIT_CODE = 137;

interface FakeStep {
  lines: Iterable<StepLine>;
  ended: boolean;
  timer: NodeJS.Timeout | null;
  exit: Promise<StepExit>;
  end(exit: StepExit): void;
}

export class FakeExecutor implements Executor {
  readonly description = 'fake';
  readonly usesImages: boolean;
  readonly canReattach = true;
  readonly calls: FakeCall[] = [];
  /** Handles reattach() answers with; every other handle is "gone". */
  readonly reattachable = new Set<string>();
  private readonly steps = new Map<string, FakeStep>();
  private started = 0;

  /** A script that throws makes start() reject with its error, like a missing image would. `usesImages`: plays a container executor. */
  constructor(
    private readonly script: (step: StepSpec) => FakeStepScript,
    options: { usesImages?: boolean } = {},
  ) {
    this.usesImages = options.usesImages ?? false;
  }

  async start(step: StepSpec): Promise<string> {
    // Predictable handles let a test name a step's handle before the engine stores it.
    const handle = `fake:${step.runId}:${step.stageId}:${++this.started}`;
    this.calls.push({ method: 'start', handle, step });
    const script = this.script(step);
    let resolveExit!: (exit: StepExit) => void;
    const fake: FakeStep = {
      lines: script.lines ?? [],
      ended: false,
      timer: null,
      exit: new Promise((resolve) => (resolveExit = resolve)),
      end(exit) {
        if (fake.ended) return;
        fake.ended = true;
        if (fake.timer) clearTimeout(fake.timer);
        resolveExit(exit);
      },
    };
    const exit: StepExit = script.limitReached ? { exitCode: script.exitCode ?? 0, limitReached: script.limitReached } : { exitCode: script.exitCode ?? 0 };
    if (!script.hang) fake.timer = setTimeout(() => fake.end(exit), script.delayMs ?? 0);
    this.steps.set(handle, fake);
    return handle;
  }

  /** Plays the scripted lines as they are: a script that wants a cut line scripts it cut. */
  async *logs(handle: string, read: StepRead = {}): AsyncIterable<StepLine> {
    this.calls.push({ method: 'logs', handle });
    const fake = this.known(handle);
    const skip = read.skip ?? { stdout: 0, stderr: 0 };
    const skipped = { stdout: 0, stderr: 0 };
    for (const line of fake.lines) {
      if (skipped[line.stream] < skip[line.stream]) {
        skipped[line.stream]++;
        continue;
      }
      yield line;
    }
    // The output of a real step ends when the step does.
    await fake.exit;
  }

  async wait(handle: string): Promise<StepExit> {
    this.calls.push({ method: 'wait', handle });
    return this.known(handle).exit;
  }

  async stop(handle: string): Promise<void> {
    this.calls.push({ method: 'stop', handle });
    this.steps.get(handle)?.end({ exitCode: STOPPED_EXIT_CODE });
  }

  async cleanup(handle: string): Promise<void> {
    this.calls.push({ method: 'cleanup', handle });
    this.steps.get(handle)?.end({ exitCode: STOPPED_EXIT_CODE });
    this.steps.delete(handle);
  }

  async reattach(handle: string): Promise<string | null> {
    this.calls.push({ method: 'reattach', handle });
    return this.reattachable.has(handle) ? handle : null;
  }

  private known(handle: string): FakeStep {
    const fake = this.steps.get(handle);
    if (!fake) throw new Error(`no fake step with handle ${handle} (never started here, or cleaned up)`);
    return fake;
  }
  /** Steps not cleaned up live on in the fake's "engine", across a simulated restart too. */
  async listSteps(): Promise<Array<{ handle: string; runId: number; stageId: number }>> {
    return [...this.steps.keys()].map((handle) => {
      // Handles are fake:<run>:<stage>:<n> (see start()).
      const [, runId, stageId] = handle.split(':');
      return { handle, runId: Number(runId), stageId: Number(stageId) };
    });
  }
}
