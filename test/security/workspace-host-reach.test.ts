// Attack: a step of a run (a lint step of a pull request, say) appends a host folder to its
// workspace's .git/objects/info/alternates. The container executor used to read that file back
// to decide what to mount, so the run's next step found the folder mounted: with Slipway's data
// folder that is the key and the database, with the engine's socket folder root on the host.
// Here the folder holds a secret file; the next step tries to read it. Now every mount is
// computed by Slipway (the workspace, the source's mirror objects), nothing is read from the
// workspace, and the secret stays out of reach and out of the log.
//
// The real thing: the Engine on SQLite, GitSource on a bare repository made with git, and the
// ContainerExecutor on Podman.

import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ContainerExecutor } from '../../src/executors/container/executor.ts';
import { openSqliteStore } from '../../src/store/sqlite/store.ts';
import { parsedConfig } from '../support/config.ts';
import { startGitEngine } from '../support/git-engine.ts';
import { makeRepository } from '../support/repository.ts';
import { requireBusybox } from '../support/engine.ts';
import { finished } from '../support/wait.ts';

const root = mkdtempSync(join(tmpdir(), 'slipway-host-reach-'));
after(() => rmSync(root, { recursive: true, force: true }));

describe('attack: a step names a host folder in the workspace for the next step to mount', () => {
  it("the next step cannot read the folder's files", { timeout: 300_000 }, async () => {
    const { engine: containerEngine, image } = await requireBusybox();
    const secret = `data folder key ${randomUUID()}`;
    // Stands in for Slipway's data folder (key, database) or the engine's socket folder.
    const hostFolder = join(root, 'server-data');
    mkdirSync(hostFolder);
    writeFileSync(join(hostFolder, 'secret.key'), `${secret}\n`, { mode: 0o644 });

    const config = parsedConfig(
      [
        'pipeline:',
        '  - stage: lint',
        `    run: echo ${hostFolder} >> .git/objects/info/alternates`,
        '  - stage: test',
        `    run: cat ${hostFolder}/secret.key`,
        'services:',
        '  api:',
        `    repo: ${makeRepository(root, 'api', { 'README.md': 'api\n' })}`,
        `    toolchain: ${image}`,
        '',
      ].join('\n'),
    );
    const store = await openSqliteStore(':memory:');
    const engine = await startGitEngine(root, { store, config, executor: new ContainerExecutor(containerEngine, `hostreach${process.pid}`) });
    try {
      const started = await engine.startRun({ service: 'api', trigger: { kind: 'manual', by: 'attacker' } });
      assert.ok(started.ok, started.ok ? '' : started.error.message);
      const run = await finished(store, started.value.run.id, 240_000);
      const stages = await store.stages.listByRun(run.id);
      const logs = await store.logs.list(run.id, { limit: 10_000 });
      const printed = logs.map((line) => `${line.stream}: ${line.text}`).join('\n');
      assert.equal(stages.find((stage) => stage.name === 'lint')?.status, 'succeeded', `the attack itself ran:\n${printed}`);
      assert.ok(!printed.includes(secret), `the next step read the host's secret:\n${printed}`);
      const test = stages.find((stage) => stage.name === 'test')!;
      assert.equal(test.status, 'failed', printed);
      assert.match(printed, /secret\.key'?: No such file or directory/);
    } finally {
      await engine.stop();
      await store.close();
    }
  });
});
