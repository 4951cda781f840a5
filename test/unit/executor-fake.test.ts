import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { StepLine, StepSpec } from '../../src/executors/executor.ts';
import { FakeExecutor, type FakeStepScript } from '../../src/executors/fake/executor.ts';
import { collect, conformanceCommands, executorConformance } from './executor-conformance.ts';

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
  }
  throw new Error(`the fake does not play "${step.command}"`);
}

executorConformance('fake', async () => ({
  executor: new FakeExecutor(playConformanceCommand),
  image: null,
  workspace: () => mkdtempSync(join(root, 'workspace-')),
}));

const step: StepSpec = { runId: 7, stageId: 3, name: 'test', command: 'anything', image: null, workspace: root, env: {} };

test('fake: calls are recorded, and only listed handles reattach', async () => {
  const fake = new FakeExecutor(() => ({ hang: true }));
  const handle = await fake.start(step);
  assert.equal(handle, 'fake:7:3:1');
  assert.equal(await fake.reattach(handle), null);
  fake.reattachable.add(handle);
  assert.equal(await fake.reattach(handle), handle);
  await fake.stop(handle);
  assert.equal(await fake.wait(handle), 137);
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
  const [lines, exitCode] = await Promise.all([collect(fake.logs(handle)), fake.wait(handle)]);
  assert.ok(Date.now() - startedAt >= 15);
  assert.deepEqual({ lines, exitCode }, { lines: [out('done')], exitCode: 1 });
  await assert.rejects(fake.start({ ...step, command: 'missing image' }), /image x is not available/);
});
