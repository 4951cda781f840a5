// The Executor contract (src/executors/executor.ts), checked with real `sh -c` commands.
// Every executor runs this suite; the fake runs it through a script that plays the commands
// below, which is why they are exported.

import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import type { Executor, StepLine, StepSkip, StepSpec } from '../../src/executors/executor.ts';

export interface ConformanceSetup {
  executor: Executor;
  /** The image steps run in, for executors that use images. */
  image: string | null;
  /** A fresh, empty workspace folder on the host. */
  workspace: () => string;
}

export const conformanceCommands = {
  greet: 'echo hello',
  fail: 'echo failing >&2; exit 3',
  twoStreams: 'i=1; while [ $i -le 200 ]; do echo "out $i"; echo "err $i" >&2; i=$((i+1)); done',
  rawLines: "printf 'one\\r\\n\\nthree'",
  workspace: 'cat input.txt; echo written > output.txt',
  env: 'echo "$SLIPWAY_GREETING"',
  sleep: 'sleep 60',
  skip: 'for n in 1 2 3 4 5; do echo "out $n"; done; for n in 1 2 3; do echo "err $n" >&2; done',
} as const;

export const CONFORMANCE_INPUT = 'from the host';
export const CONFORMANCE_GREETING = 'hello = from env';

/** Every test uses its own stage id, so no two steps share a container name. */
let nextStageId = 1;

export async function collect(lines: AsyncIterable<StepLine>): Promise<StepLine[]> {
  const collected: StepLine[] = [];
  for await (const line of lines) collected.push(line);
  return collected;
}

export function textOf(lines: StepLine[], stream: StepLine['stream']): string[] {
  return lines.filter((line) => line.stream === stream).map((line) => line.text);
}

export function executorConformance(name: string, setup: () => Promise<ConformanceSetup>): void {
  describe(`Executor conformance: ${name}`, () => {
    let executor: Executor;
    let image: string | null;
    let workspace: () => string;

    before(async () => {
      ({ executor, image, workspace } = await setup());
    });

    function stepFor(command: string, overrides: Partial<StepSpec> = {}): StepSpec {
      return { runId: 1, stageId: nextStageId++, name: 'conformance', command, image, workspace: workspace(), env: {}, ...overrides };
    }

    /** The engine's way of running a step: logs and wait side by side, then cleanup. */
    async function run(step: StepSpec, skip?: StepSkip): Promise<{ lines: StepLine[]; exitCode: number }> {
      const handle = await executor.start(step);
      try {
        const [lines, exitCode] = await Promise.all([collect(executor.logs(handle, skip)), executor.wait(handle)]);
        return { lines, exitCode };
      } finally {
        await executor.cleanup(handle);
      }
    }

    test('a successful command exits 0 with its output', async () => {
      const { lines, exitCode } = await run(stepFor(conformanceCommands.greet));
      assert.equal(exitCode, 0);
      assert.deepEqual(lines, [{ stream: 'stdout', text: 'hello' }]);
    });

    test('a failing command gives its exit code', async () => {
      const { lines, exitCode } = await run(stepFor(conformanceCommands.fail));
      assert.equal(exitCode, 3);
      assert.deepEqual(lines, [{ stream: 'stderr', text: 'failing' }]);
    });

    test('stdout and stderr are kept apart, each in order', async () => {
      const { lines, exitCode } = await run(stepFor(conformanceCommands.twoStreams));
      assert.equal(exitCode, 0);
      const numbers = Array.from({ length: 200 }, (_, index) => index + 1);
      assert.deepEqual(textOf(lines, 'stdout'), numbers.map((n) => `out ${n}`));
      assert.deepEqual(textOf(lines, 'stderr'), numbers.map((n) => `err ${n}`));
    });

    test('lines: a trailing \\r is dropped, empty lines stay, the last needs no newline', async () => {
      const { lines } = await run(stepFor(conformanceCommands.rawLines));
      assert.deepEqual(textOf(lines, 'stdout'), ['one', '', 'three']);
    });

    test('the workspace is the working directory, shared with the host both ways', async () => {
      const step = stepFor(conformanceCommands.workspace);
      writeFileSync(join(step.workspace, 'input.txt'), `${CONFORMANCE_INPUT}\n`);
      const { lines, exitCode } = await run(step);
      assert.equal(exitCode, 0);
      assert.deepEqual(lines, [{ stream: 'stdout', text: CONFORMANCE_INPUT }]);
      assert.equal(readFileSync(join(step.workspace, 'output.txt'), 'utf8'), 'written\n');
    });

    test('environment variables reach the command', async () => {
      const { lines } = await run(stepFor(conformanceCommands.env, { env: { SLIPWAY_GREETING: CONFORMANCE_GREETING } }));
      assert.deepEqual(lines, [{ stream: 'stdout', text: CONFORMANCE_GREETING }]);
    });

    test('stop ends a long step soon, with a non-zero exit; stop is safe twice and after the end', async () => {
      const handle = await executor.start(stepFor(conformanceCommands.sleep));
      try {
        const output = collect(executor.logs(handle));
        const stoppedAt = Date.now();
        await executor.stop(handle);
        await executor.stop(handle);
        const exitCode = await executor.wait(handle);
        assert.notEqual(exitCode, 0);
        assert.ok(Date.now() - stoppedAt < 10_000, `stop took ${Date.now() - stoppedAt} ms`);
        assert.deepEqual(await output, []);
        await executor.stop(handle);
      } finally {
        await executor.cleanup(handle);
      }
    });

    test('cleanup is safe twice', async () => {
      const handle = await executor.start(stepFor(conformanceCommands.greet));
      assert.equal(await executor.wait(handle), 0);
      await executor.cleanup(handle);
      await executor.cleanup(handle);
    });

    test('logs read after the step ended skip the lines already stored, per stream', async () => {
      const handle = await executor.start(stepFor(conformanceCommands.skip));
      try {
        assert.equal(await executor.wait(handle), 0);
        const lines = await collect(executor.logs(handle, { stdout: 2, stderr: 1 }));
        assert.deepEqual(textOf(lines, 'stdout'), ['out 3', 'out 4', 'out 5']);
        assert.deepEqual(textOf(lines, 'stderr'), ['err 2', 'err 3']);
      } finally {
        await executor.cleanup(handle);
      }
    });

    test('reattach to an unknown handle answers null', async () => {
      assert.equal(await executor.reattach('slipway-conformance-no-such-step'), null);
    });
  });
}
