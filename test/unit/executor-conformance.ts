// The Executor contract (src/executors/executor.ts), checked with real `sh -c` commands.
// Every executor runs this suite; the fake runs it through a script that plays the commands
// below, which is why they are exported.

import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DEFAULT_RESOURCES, type StepLimits } from '../../src/config/model.ts';
import type { Executor, StepLine, StepRead, StepSpec } from '../../src/executors/executor.ts';
import { cutMarker } from '../../src/executors/lines.ts';

export interface ConformanceSetup {
  executor: Executor;
  /** The image steps run in, for executors that use images. */
  image: string | null;
  /** A fresh, empty workspace folder on the host. */
  workspace: () => string;
  /**
   * Steps reach only their workspace and their mounts (read-only), and their limits are
   * enforced. The process executor isolates nothing: those tests do not apply to it.
   */
  isolated: boolean;
  /** Container executors: a network a step may join, and an image whose own command prints `prints`. */
  containers?: {
    network: () => Promise<{ name: string; subnetPrefix: string; remove(): Promise<void> }>;
    imageWithCommand: { image: string; prints: string };
  };
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
  /** 300 000 bytes without a newline, then a short line. */
  longLine: "head -c 300000 /dev/zero | tr '\\0' x; echo; echo after",
  /** Some 4 MB of output (far more than pipes and sockets buffer), then a file that says it got through. */
  flood: 'yes flood | head -c 3999996; touch done',
  mounted: 'cat "$SLIPWAY_MOUNTED/borrowed.txt"',
  writeMounted: 'echo changed > "$SLIPWAY_MOUNTED/borrowed.txt"',
  /** Reads a file in a folder the workspace's git alternates name, as a previous step could have written them. */
  namedByWorkspace: 'cat "$SLIPWAY_NAMED/secret.key"',
  /** Needs some 200 MB. */
  memoryHog: "x=$(head -c 200000000 /dev/zero | tr '\\0' a); echo survived",
  /** Needs some 40 processes at once. */
  forkMany: 'i=0; while [ $i -lt 40 ]; do sleep 30 & i=$((i+1)); done; echo forked',
  withinLimits: 'echo fine',
} as const;

/** Limits small enough for the limit tests: memoryHog and forkMany go past them, withinLimits does not. */
export const SMALL_LIMITS: StepLimits = { memory: 64 * 1024 * 1024, cpus: 1, pids: 16 };
export const CONFORMANCE_LINE_LIMIT = 1000;
export const FLOOD_LINES = 3_999_996 / 'flood\n'.length;
export const BORROWED_CONTENT = 'borrowed from the host';
export const SECRET_CONTENT = 'the data folder key';

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
    let isolated: boolean;
    let containers: ConformanceSetup['containers'];

    before(async () => {
      ({ executor, image, workspace, isolated, containers } = await setup());
    });

    function stepFor(command: string, overrides: Partial<StepSpec> = {}): StepSpec {
      return { runId: 1, stageId: nextStageId++, name: 'conformance', command, image, workspace: workspace(), mounts: [], limits: { ...DEFAULT_RESOURCES }, env: {}, ...overrides };
    }

    /** The engine's way of running a step: logs and wait side by side, then cleanup. */
    async function run(step: StepSpec, read?: StepRead) {
      const handle = await executor.start(step);
      try {
        const [lines, exit] = await Promise.all([collect(executor.logs(handle, read)), executor.wait(handle)]);
        return { lines, exitCode: exit.exitCode, exit };
      } finally {
        await executor.cleanup(handle);
      }
    }

    const hostFolders: string[] = [];
    after(() => {
      for (const folder of hostFolders) rmSync(folder, { recursive: true, force: true });
    });

    /** A host folder (outside the workspace) holding one file. */
    function hostFolder(file: string, content: string): string {
      const folder = mkdtempSync(join(tmpdir(), 'slipway-conformance-host-'));
      hostFolders.push(folder);
      writeFileSync(join(folder, file), `${content}\n`);
      return folder;
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
        const { exitCode } = await executor.wait(handle);
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
      assert.deepEqual(await executor.wait(handle), { exitCode: 0 });
      await executor.cleanup(handle);
      await executor.cleanup(handle);
    });

    test('logs read after the step ended skip the lines already stored, per stream', async () => {
      const handle = await executor.start(stepFor(conformanceCommands.skip));
      try {
        assert.deepEqual(await executor.wait(handle), { exitCode: 0 });
        const lines = await collect(executor.logs(handle, { skip: { stdout: 2, stderr: 1 } }));
        assert.deepEqual(textOf(lines, 'stdout'), ['out 3', 'out 4', 'out 5']);
        assert.deepEqual(textOf(lines, 'stderr'), ['err 2', 'err 3']);
      } finally {
        await executor.cleanup(handle);
      }
    });

    test('reattach to an unknown handle answers null', async () => {
      assert.equal(await executor.reattach('slipway-conformance-no-such-step'), null);
    });

    test('a line longer than the line limit is cut there with a marker, the rest of it dropped', async () => {
      const { lines, exitCode } = await run(stepFor(conformanceCommands.longLine), { lineLimit: CONFORMANCE_LINE_LIMIT });
      assert.equal(exitCode, 0);
      assert.deepEqual(textOf(lines, 'stdout'), ['x'.repeat(CONFORMANCE_LINE_LIMIT) + cutMarker(CONFORMANCE_LINE_LIMIT), 'after']);
    });

    test('backpressure: a reader that stops taking lines holds the step back; nothing is lost', async () => {
      const step = stepFor(conformanceCommands.flood);
      const handle = await executor.start(step);
      try {
        const exit = executor.wait(handle);
        const lines = executor.logs(handle)[Symbol.asyncIterator]();
        assert.deepEqual((await lines.next()).value, { stream: 'stdout', text: 'flood' });
        // Taking no more lines for a while: the step cannot have printed everything and gone on.
        await new Promise((resolve) => setTimeout(resolve, 1500));
        assert.equal(existsSync(join(step.workspace, 'done')), false, 'the step got through its output while nobody read it');
        let count = 1;
        for (let next = await lines.next(); !next.done; next = await lines.next()) count++;
        assert.equal(count, FLOOD_LINES);
        assert.equal((await exit).exitCode, 0);
        assert.equal(existsSync(join(step.workspace, 'done')), true);
      } finally {
        await executor.cleanup(handle);
      }
    });

    test('a step reads its mounts at their own paths', async () => {
      const borrowed = hostFolder('borrowed.txt', BORROWED_CONTENT);
      const { lines, exitCode } = await run(stepFor(conformanceCommands.mounted, { mounts: [borrowed], env: { SLIPWAY_MOUNTED: borrowed } }));
      assert.equal(exitCode, 0);
      assert.deepEqual(textOf(lines, 'stdout'), [BORROWED_CONTENT]);
    });

    test('a step within its limits runs, and no limit is reported', async () => {
      const { lines, exit } = await run(stepFor(conformanceCommands.withinLimits, { limits: SMALL_LIMITS }));
      assert.deepEqual(exit, { exitCode: 0 });
      assert.deepEqual(textOf(lines, 'stdout'), ['fine']);
    });

    describe('containers', () => {
      test('a step joins the network it is given', async (t) => {
        if (!containers) return t.skip('this executor runs no containers');
        const network = await containers.network();
        try {
          const { lines, exitCode } = await run(stepFor('busybox ip -4 addr', { network: network.name }));
          assert.equal(exitCode, 0);
          assert.ok(textOf(lines, 'stdout').some((line) => line.includes(`inet ${network.subnetPrefix}`)), JSON.stringify(lines));
        } finally {
          await network.remove();
        }
      });

      test("a step without a command runs the image's own", async (t) => {
        if (!containers) return t.skip('this executor runs no containers');
        const { lines, exitCode } = await run(stepFor('', { command: null, image: containers.imageWithCommand.image }));
        assert.equal(exitCode, 0);
        assert.deepEqual(textOf(lines, 'stdout'), [containers.imageWithCommand.prints]);
      });
    });

    describe('isolation', () => {
      test('a mount is read-only', async (t) => {
        if (!isolated) return t.skip('this executor isolates nothing');
        const borrowed = hostFolder('borrowed.txt', BORROWED_CONTENT);
        const { exitCode } = await run(stepFor(conformanceCommands.writeMounted, { mounts: [borrowed], env: { SLIPWAY_MOUNTED: borrowed } }));
        assert.notEqual(exitCode, 0);
        assert.equal(readFileSync(join(borrowed, 'borrowed.txt'), 'utf8'), `${BORROWED_CONTENT}\n`);
      });

      test("a host folder named in the workspace's git alternates is out of reach", async (t) => {
        if (!isolated) return t.skip('this executor isolates nothing');
        const named = hostFolder('secret.key', SECRET_CONTENT);
        const step = stepFor(conformanceCommands.namedByWorkspace, { env: { SLIPWAY_NAMED: named } });
        mkdirSync(join(step.workspace, '.git', 'objects', 'info'), { recursive: true });
        writeFileSync(join(step.workspace, '.git', 'objects', 'info', 'alternates'), `${named}\n`);
        const { lines, exitCode } = await run(step);
        assert.notEqual(exitCode, 0);
        assert.ok(!lines.some((line) => line.text.includes(SECRET_CONTENT)), JSON.stringify(lines));
      });

      test('a step going over its memory limit fails, and says so', async (t) => {
        if (!isolated) return t.skip('this executor enforces no limits');
        const { lines, exit } = await run(stepFor(conformanceCommands.memoryHog, { limits: SMALL_LIMITS }));
        assert.notEqual(exit.exitCode, 0);
        assert.deepEqual(exit.limitReached, { resource: 'memory', bytes: SMALL_LIMITS.memory });
        assert.ok(!textOf(lines, 'stdout').includes('survived'));
      });

      test('a step forking past its process limit fails, and says so', async (t) => {
        if (!isolated) return t.skip('this executor enforces no limits');
        const { exit } = await run(stepFor(conformanceCommands.forkMany, { limits: SMALL_LIMITS }));
        assert.notEqual(exit.exitCode, 0);
        assert.deepEqual(exit.limitReached, { resource: 'processes', count: SMALL_LIMITS.pids });
      });
    });

    test('listSteps names each step not yet cleaned up by handle, run and stage (none where steps cannot outlive the server)', async () => {
      const step = stepFor(conformanceCommands.sleep, { runId: 4242 });
      const handle = await executor.start(step);
      try {
        const listed = (await executor.listSteps()).filter((found) => found.handle === handle);
        assert.deepEqual(listed, executor.canReattach ? [{ handle, runId: 4242, stageId: step.stageId }] : []);
      } finally {
        await executor.stop(handle);
        await executor.wait(handle);
        await executor.cleanup(handle);
      }
      assert.deepEqual((await executor.listSteps()).filter((found) => found.handle === handle), []);
    });
  });
}
