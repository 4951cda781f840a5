// Per-step limits end to end: slipway.yml's `resources` reach the step's container, and a step
// that goes over one fails saying which, where a step within them passes. The Engine on SQLite,
// GitSource on a bare repository made with git, the ContainerExecutor on Podman.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Stage } from '../../src/core/types.ts';
import { Engine } from '../../src/engine/engine.ts';
import { ContainerExecutor } from '../../src/executors/container/executor.ts';
import { openSqliteStore } from '../../src/store/sqlite/store.ts';
import type { Store } from '../../src/store/store.ts';
import { parsedConfig } from '../support/config.ts';
import { startGitEngine } from '../support/git-engine.ts';
import { makeRepository } from '../support/repository.ts';
import { requireBusybox } from '../support/engine.ts';
import { finished } from '../support/wait.ts';

const root = mkdtempSync(join(tmpdir(), 'slipway-step-limits-'));
describe('step limits (Podman)', () => {
  let store: Store;
  let engine: Engine;

  before(async () => {
    const { engine: containerEngine, image } = await requireBusybox();
    // One service per step, each running its `test` under the same small limits.
    const steps = {
      memory: "x=$(head -c 200000000 /dev/zero | tr '\\0' a); echo survived",
      processes: 'i=0; while [ $i -lt 40 ]; do sleep 30 & i=$((i+1)); done; echo forked',
      within: 'echo fine; sleep 1 & wait',
    };
    const repo = makeRepository(root, 'api', { 'README.md': 'api\n' });
    const config = parsedConfig(
      [
        'resources: { memory: 64MiB, pids: 16, cpus: 1 }',
        'pipeline:',
        '  - stage: test',
        '    run: "{{ service.test }}"',
        'services:',
        ...Object.entries(steps).flatMap(([name, command]) => [`  ${name}:`, `    repo: ${repo}`, `    toolchain: ${image}`, `    test: ${JSON.stringify(command)}`]),
        '',
      ].join('\n'),
    );
    store = await openSqliteStore(':memory:');
    engine = await startGitEngine(root, { store, config, executor: new ContainerExecutor(containerEngine, `limits${process.pid}`) });
  });

  after(async () => {
    await engine.stop();
    await store.close();
    rmSync(root, { recursive: true, force: true });
  });

  /** Runs the service and answers its test stage once the run ended, with the stage's log. */
  async function testStageOf(service: string): Promise<{ stage: Stage; log: string }> {
    const started = await engine.startRun({ service, trigger: { kind: 'manual', by: 'test' } });
    assert.ok(started.ok, started.ok ? '' : started.error.message);
    const run = await finished(store, started.value.run.id, 180_000);
    const stage = (await store.stages.listByRun(run.id)).find((candidate) => candidate.name === 'test')!;
    const log = (await store.logs.list(run.id, { stageId: stage.id })).map((line) => `${line.stream}: ${line.text}`).join('\n');
    return { stage, log };
  }

  it('a step allocating past its memory limit fails with the memory reason', { timeout: 240_000 }, async () => {
    const { stage, log } = await testStageOf('memory');
    assert.equal(stage.status, 'failed', log);
    assert.equal(stage.reason, 'the step went over its memory limit of 64 MiB (killed)', log);
    assert.doesNotMatch(log, /^stdout: survived$/m);
  });

  it('a step forking past its process limit fails with the process reason', { timeout: 240_000 }, async () => {
    const { stage, log } = await testStageOf('processes');
    assert.equal(stage.status, 'failed', log);
    assert.match(stage.reason ?? '', /^the step reached its limit of 16 processes and exited with code \d+$/, log);
  });

  it('a step within its limits passes', { timeout: 240_000 }, async () => {
    const { stage, log } = await testStageOf('within');
    assert.equal(stage.status, 'succeeded', `${stage.reason}\n${log}`);
    assert.match(log, /stdout: fine/);
  });
});
