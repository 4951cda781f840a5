// Attack (first made by accident, as a new user would): a step prints 600 MB without a newline.
// The server used to build the line as one growing string: minutes of work that grew with the
// square of the output, an API answering in seconds, memory swinging past a gigabyte, and past
// some 512 MiB a string V8 cannot make. Now the line is cut at the line limit (64 KiB by
// default) as it arrives and the rest of it is dropped, output is read only as fast as it is
// stored, and the server's memory stays bounded while it answers as usual.
//
// The real thing: the Engine on a file-backed SQLite store, GitSource on a bare repository made
// with git, and the ContainerExecutor on Podman running busybox.

import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ContainerExecutor } from '../../src/executors/container/executor.ts';
import { openSqliteStore } from '../../src/store/sqlite/store.ts';
import { parsedConfig } from '../support/config.ts';
import { startGitEngine } from '../support/git-engine.ts';
import { makeRepository } from '../support/repository.ts';
import { requireBusybox } from '../support/engine.ts';
import { finished, until } from '../support/wait.ts';

const root = mkdtempSync(join(tmpdir(), 'slipway-long-line-'));
after(() => rmSync(root, { recursive: true, force: true }));

const HALF = 314_572_800;
const LINE_LIMIT = 64 * 1024;
/** Far below what building the line as a string reaches (its last copies alone are over 1 GB). */
const RSS_GROWTH_BOUND = 300 * 1024 * 1024;
describe('attack: a step prints 600 MB without a newline', () => {
  it('the stage ends with its line cut, memory stays bounded, and the store answers meanwhile', { timeout: 900_000 }, async (t) => {
    const { engine: containerEngine, image } = await requireBusybox();
    const config = parsedConfig(
      [
        'pipeline:',
        '  - stage: test',
        // Two halves of 300 MiB, one line: the file between them says the step is halfway.
        `    run: "head -c ${HALF} /dev/zero | tr '\\\\0' x; touch halfway; head -c ${HALF} /dev/zero | tr '\\\\0' x"`,
        'services:',
        '  api:',
        `    repo: ${makeRepository(root, 'api', { 'README.md': 'api\n' })}`,
        `    toolchain: ${image}`,
        '',
      ].join('\n'),
    );
    const store = await openSqliteStore(join(root, 'slipway.db'));
    const workRoot = join(root, 'workspaces');
    const engine = await startGitEngine(root, { store, config, executor: new ContainerExecutor(containerEngine, `longline${process.pid}`), workRoot });
    const startRss = process.memoryUsage.rss();
    let peakRss = startRss;
    const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage.rss())), 100);
    const startedAt = Date.now();
    try {
      const started = await engine.startRun({ service: 'api', trigger: { kind: 'manual', by: 'test' } });
      assert.ok(started.ok, started.ok ? '' : started.error.message);
      const runId = started.value.run.id;
      const testStage = started.value.stages.find((stage) => stage.name === 'test')!;

      // Halfway through the output, a read such as GET /api/runs/:id makes.
      await until('the step to be halfway', () => existsSync(join(workRoot, `run-${runId}`, 'halfway')), 600_000);
      const askedAt = Date.now();
      const [run, stages] = await Promise.all([store.runs.get(runId), store.stages.listByRun(runId)]);
      t.diagnostic(`a store read issued halfway took ${Date.now() - askedAt} ms`);
      assert.equal(run?.status, 'running');
      assert.equal(stages.find((stage) => stage.id === testStage.id)?.status, 'running', 'the read was answered while the step still printed');

      const ended = await finished(store, runId, 600_000);
      t.diagnostic(`600 MB in ${Math.round((Date.now() - startedAt) / 1000)} s; RSS from ${mib(startRss)} to a peak of ${mib(peakRss)}`);
      const lines = await store.logs.list(runId, { stageId: testStage.id });
      const output = lines.filter((line) => line.stream !== 'system');
      assert.equal(ended.status, 'succeeded', lines.map((line) => line.text.slice(0, 200)).join('\n'));
      assert.deepEqual(
        output.map((line) => ({ stream: line.stream, length: line.text.length, ending: line.text.slice(-40) })),
        [{ stream: 'stdout', length: LINE_LIMIT + '… (line cut at 64 KiB)'.length, ending: `${'x'.repeat(18)}… (line cut at 64 KiB)` }],
      );
      assert.equal(output[0]!.text, 'x'.repeat(LINE_LIMIT) + '… (line cut at 64 KiB)');
      assert.ok(peakRss - startRss < RSS_GROWTH_BOUND, `RSS grew by ${mib(peakRss - startRss)}`);
    } finally {
      clearInterval(sampler);
      await engine.stop();
      await store.close();
    }
  });
});

function mib(bytes: number): string {
  return `${Math.round(bytes / 1024 / 1024)} MiB`;
}
