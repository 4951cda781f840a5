// Attack: a step replaces the service's folder in the workspace with a symlink to a folder of
// the server's (another run's workspace, a data folder holding a Dockerfile), so the build
// stage packs that folder into an image and pushes it. Before, the builder was handed the
// linked folder. Now the build stage fails saying the context leads outside the workspace,
// and the builder is never called.

import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { FakeBuilder } from '../../src/builders/fake/builder.ts';
import { FakeDeployer } from '../../src/deployers/fake/deployer.ts';
import { ProcessExecutor } from '../../src/executors/process/executor.ts';
import { openSqliteStore } from '../../src/store/sqlite/store.ts';
import { parsedConfig } from '../support/config.ts';
import { startGitEngine } from '../support/git-engine.ts';
import { makeRepository } from '../support/repository.ts';
import { finished } from '../support/wait.ts';

const root = mkdtempSync(join(tmpdir(), 'slipway-build-escape-'));
after(() => rmSync(root, { recursive: true, force: true }));

describe('attack: a symlinked build context', () => {
  it('fails the build instead of packing a folder outside the workspace', async () => {
    // A folder of the server's with a Dockerfile in it: what the step points the build at.
    const hostFolder = join(root, 'server-data');
    mkdirSync(hostFolder);
    writeFileSync(join(hostFolder, 'Dockerfile'), 'FROM scratch\nCOPY secret.key /\n');
    writeFileSync(join(hostFolder, 'secret.key'), 'the server key\n');
    const repo = makeRepository(root, 'api', { 'app/Dockerfile': 'FROM scratch\n', 'app/index.html': 'hello\n' });

    const config = parsedConfig(
      [
        'registry: registry.test',
        'pipeline:',
        '  - stage: lint',
        // Steps run in the service's folder: the step steps out of it and replaces it.
        `    run: cd .. && rm -rf app && ln -s ${hostFolder} app`,
        '  - stage: build',
        'services:',
        '  api:',
        `    repo: ${repo}`,
        '    path: app',
        '',
      ].join('\n'),
    );
    const store = await openSqliteStore(':memory:');
    const builder = new FakeBuilder();
    const engine = await startGitEngine(root, { store, config, executor: new ProcessExecutor(), builder, deployer: new FakeDeployer() });
    try {
      const started = await engine.startRun({ service: 'api', trigger: { kind: 'manual', by: 'test' } });
      assert.ok(started.ok);
      const run = await finished(store, started.value.run.id);
      const packed = builder.calls.map((call) => call.contextDir);
      assert.deepEqual(packed, [], `the builder was handed ${packed.join(', ')}`);
      assert.equal(run.status, 'failed');
      const build = (await store.stages.listByRun(run.id)).find((stage) => stage.name === 'build')!;
      assert.match(build.reason ?? '', /the build context app leads outside the workspace/);
    } finally {
      await engine.stop();
      await store.close();
    }
  });
});
