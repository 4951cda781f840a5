import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { StepLine, StepSpec } from '../../src/executors/executor.ts';
import { FakeExecutor, type FakeStepScript } from '../../src/executors/fake/executor.ts';
import { DEFAULT_RESOURCES } from '../../src/config/model.ts';
import { cutMarker } from '../../src/executors/lines.ts';
import { collect, CONFORMANCE_LINE_LIMIT, conformanceCommands, executorConformance, FLOOD_LINES } from './executor-conformance.ts';

const root = mkdtempSync(join(tmpdir(), 'slipway-fake-executor-'));
after(() => rmSync(root, { recursive: true, force: true }));

const out = (text: string): StepLine => ({ stream: 'stdout', text });
const err = (text: string): StepLine => ({ stream: 'stderr', text });

/** Plays the conformance suite's commands: what a shell would print and exit with. */
function playConformanceCommand(step: StepSpec): FakeStepScript {
  switch (step.command) {
    case conformanceCommands.greet:
      return { lines: [out('hello')] };
    case conformanceCommands.fail:
      return { lines: [err('failing')], exitCode: 3 };
    case conformanceCommands.twoStreams:
      return { lines: Array.from({ length: 200 }, (_, index) => [out(`out ${index + 1}`), err(`err ${index + 1}`)]).flat() };
    case conformanceCommands.rawLines:
      return { lines: [out('one'), out(''), out('three')] };
    case conformanceCommands.workspace: {
      const input = readFileSync(join(step.workspace, 'input.txt'), 'utf8').trimEnd();
      writeFileSync(join(step.workspace, 'output.txt'), 'written\n');
      return { lines: [out(input)] };
    }
    case conformanceCommands.env:
      return { lines: [out(step.env.SLIPWAY_GREETING ?? '')] };
    case conformanceCommands.sleep:
      return { hang: true };
    case conformanceCommands.skip:
      return { lines: [...[1, 2, 3, 4, 5].map((n) => out(`out ${n}`)), ...[1, 2, 3].map((n) => err(`err ${n}`))] };
    case conformanceCommands.longLine:
      // The fake gives lines as scripted, so it plays the cut at the suite's limit.
      return { lines: [out('x'.repeat(CONFORMANCE_LINE_LIMIT) + cutMarker(CONFORMANCE_LINE_LIMIT)), out('after')] };
    case conformanceCommands.flood:
      return { lines: flood(step.workspace) };
    case conformanceCommands.mounted:
    case conformanceCommands.writeMounted:
    case conformanceCommands.namedByWorkspace:
      return playIsolated(step);
    case conformanceCommands.memoryHog:
      return { exitCode: 137, limitReached: { resource: 'memory', bytes: step.limits.memory } };
    case conformanceCommands.forkMany:
      return { lines: [err("sh: can't fork: Resource temporarily unavailable")], exitCode: 2, limitReached: { resource: 'processes', count: step.limits.pids } };
    case conformanceCommands.withinLimits:
      return { lines: [out('fine')] };
  }
  throw new Error(`the fake does not play "${step.command}"`);
}

/** Lines are taken one at a time: the step "gets through" only once its last line was read. */
function* flood(workspace: string): Generator<StepLine> {
  for (let line = 0; line < FLOOD_LINES; line++) yield out('flood');
  writeFileSync(join(workspace, 'done'), '');
}

/** Plays an isolated step: it reaches its mounts (read-only) and nothing else on the host. */
function playIsolated(step: StepSpec): FakeStepScript {
  const cantOpen = (path: string): FakeStepScript => ({ lines: [err(`cat: can't open '${path}': No such file or directory`)], exitCode: 1 });
  switch (step.command) {
    case conformanceCommands.mounted: {
      const path = join(step.env.SLIPWAY_MOUNTED!, 'borrowed.txt');
      return step.mounts.includes(step.env.SLIPWAY_MOUNTED!) ? { lines: [out(readFileSync(path, 'utf8').trimEnd())] } : cantOpen(path);
    }
    case conformanceCommands.writeMounted:
      return { lines: [err("sh: can't create borrowed.txt: Read-only file system")], exitCode: 1 };
    default:
      return cantOpen(join(step.env.SLIPWAY_NAMED!, 'secret.key'));
  }
}

executorConformance('fake', async () => ({
  executor: new FakeExecutor(playConformanceCommand),
  image: null,
  workspace: () => mkdtempSync(join(root, 'workspace-')),
  isolated: true,
}));

const step: StepSpec = { runId: 7, stageId: 3, name: 'test', command: 'anything', image: null, workspace: root, mounts: [], limits: { ...DEFAULT_RESOURCES }, env: {} };

test('fake: calls are recorded, and only listed handles reattach', async () => {
  const fake = new FakeExecutor(() => ({ hang: true }));
  const handle = await fake.start(step);
  assert.equal(handle, 'fake:7:3:1');
  assert.equal(await fake.reattach(handle), null);
  fake.reattachable.add(handle);
  assert.equal(await fake.reattach(handle), handle);
  await fake.stop(handle);
  assert.deepEqual(await fake.wait(handle), { exitCode: 137 });
  assert.deepEqual(
    fake.calls.map((call) => call.method),
    ['start', 'reattach', 'reattach', 'stop', 'wait'],
  );
  assert.equal(fake.calls[0]!.step, step);
});

test('fake: a delayed step ends after its delay; a throwing script fails start', async () => {
  const fake = new FakeExecutor((spec) => {
    if (spec.command === 'missing image') throw new Error('image x is not available: gone');
    return { lines: [out('done')], exitCode: 1, delayMs: 20 };
  });
  const startedAt = Date.now();
  const handle = await fake.start(step);
  const [lines, exit] = await Promise.all([collect(fake.logs(handle)), fake.wait(handle)]);
  assert.ok(Date.now() - startedAt >= 15);
  assert.deepEqual({ lines, exit }, { lines: [out('done')], exit: { exitCode: 1 } });
  await assert.rejects(fake.start({ ...step, command: 'missing image' }), /image x is not available/);
});
