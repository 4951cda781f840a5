import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { DEFAULT_RESOURCES } from '../../src/config/model.ts';
import type { StepSpec } from '../../src/executors/executor.ts';
import { ProcessExecutor } from '../../src/executors/process/executor.ts';
import { collect, executorConformance, textOf } from './executor-conformance.ts';

const root = mkdtempSync(join(tmpdir(), 'slipway-process-executor-'));
after(() => rmSync(root, { recursive: true, force: true }));

executorConformance('process', async () => ({
  executor: new ProcessExecutor(),
  image: null,
  workspace: () => mkdtempSync(join(root, 'workspace-')),
  isolated: false,
}));

describe('ProcessExecutor', () => {
  const executor = new ProcessExecutor();
  let stageId = 1;
  const stepFor = (command: string, env: Record<string, string> = {}): StepSpec => ({
    runId: 1,
    stageId: stageId++,
    name: 'process',
    command,
    image: null,
    workspace: mkdtempSync(join(root, 'workspace-')),
    mounts: [],
    limits: { ...DEFAULT_RESOURCES },
    env,
  });

  test("refuses what only containers can do: an image's own command, a network to join", async () => {
    await assert.rejects(executor.start({ ...stepFor('true'), command: null }), /needs containers/);
    await assert.rejects(executor.start({ ...stepFor('true'), network: 'slipway-it1' }), /needs containers/);
  });

  test("a step's environment is PATH, LANG, a HOME of its own and its variables: none of the server's", async () => {
    process.env.SLIPWAY_TEST_SERVER_ONLY = 'the server keeps this';
    try {
      const handle = await executor.start(stepFor('env', { GREETING: 'hello' }));
      const [lines] = await Promise.all([collect(executor.logs(handle)), executor.wait(handle)]);
      await executor.cleanup(handle);
      const names = textOf(lines, 'stdout')
        .map((line) => line.split('=')[0])
        .sort();
      // sh itself sets PWD (and SHLVL, where it counts levels).
      assert.deepEqual(
        names.filter((name) => !['PWD', 'SHLVL', 'OLDPWD', '_'].includes(name!)),
        ['GREETING', 'HOME', 'LANG', 'PATH'],
      );
      assert.ok(textOf(lines, 'stdout').includes(`PATH=${process.env.PATH}`));
    } finally {
      delete process.env.SLIPWAY_TEST_SERVER_ONLY;
    }
  });

  test("HOME is a fresh folder per step, never the server user's, and cleanup removes it", async () => {
    const homes: string[] = [];
    for (let step = 0; step < 2; step++) {
      const handle = await executor.start(stepFor('echo "$HOME"; touch "$HOME/.netrc"'));
      const [lines, exit] = await Promise.all([collect(executor.logs(handle)), executor.wait(handle)]);
      assert.equal(exit.exitCode, 0);
      const [home] = textOf(lines, 'stdout');
      assert.ok(home && existsSync(join(home, '.netrc')), `HOME ${home} exists while the step is not cleaned up`);
      await executor.cleanup(handle);
      assert.equal(existsSync(home), false, 'cleanup removes HOME');
      homes.push(home);
    }
    assert.notEqual(homes[0], homes[1]);
    assert.ok(!homes.includes(homedir()));
  });
});
