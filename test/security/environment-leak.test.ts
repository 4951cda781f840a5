// Attack: a step prints its environment (`env`, or a test that dumps it on failure). The
// process executor used to give steps the server's whole environment: forge tokens, webhook
// secrets, whatever slipway.yml reads with `{ env: NAME }`, and HOME, where the CLI keeps its
// API token. Now a step gets PATH, LANG, a HOME of its own and its run's variables; the
// service's secrets, which steps are given on purpose, are masked in the stored log.
//
// The real thing: the Engine on SQLite, GitSource on a bare repository made with git, and the
// ProcessExecutor running `sh -c env`.

import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Engine } from '../../src/engine/engine.ts';
import { ProcessExecutor } from '../../src/executors/process/executor.ts';
import { openSqliteStore } from '../../src/store/sqlite/store.ts';
import type { Store } from '../../src/store/store.ts';
import { parsedConfig } from '../support/config.ts';
import { startGitEngine } from '../support/git-engine.ts';
import { makeRepository } from '../support/repository.ts';
import { finished } from '../support/wait.ts';

const root = mkdtempSync(join(tmpdir(), 'slipway-environment-leak-'));
const FORGE_TOKEN = `ghp_${randomUUID().replaceAll('-', '')}`;
const WEBHOOK_SECRET = `whsec-${randomUUID()}`;
const REPOSITORY = makeRepository(root, 'api', { 'README.md': 'api\n' });
const DEPLOY_KEY = `deploy-key-${randomUUID()}`;

/** An engine whose only service runs `env` as its test stage; `service` adds lines to the service. */
async function engineWith(config: string[], service: string[] = []): Promise<{ store: Store; engine: Engine }> {
  const store = await openSqliteStore(':memory:');
  const engine = await startGitEngine(root, {
    store,
    config: parsedConfig(
      [...config, 'pipeline:', '  - stage: test', '    run: env', 'services:', '  api:', `    repo: ${REPOSITORY}`, '    variables: { GREETING: hello }', ...service, ''].join('\n'),
    ),
    executor: new ProcessExecutor(),
  });
  return { store, engine };
}

/** Runs the service once and answers the stored log of the run, one line each. */
async function printedEnvironment(config: string[], service: string[] = []): Promise<string[]> {
  const { store, engine } = await engineWith(config, service);
  try {
    const started = await engine.startRun({ service: 'api', trigger: { kind: 'manual', by: 'test' } });
    assert.ok(started.ok, started.ok ? '' : started.error.message);
    const run = await finished(store, started.value.run.id, 60_000);
    const lines = (await store.logs.list(run.id, { limit: 10_000 })).map((line) => line.text);
    assert.equal(run.status, 'succeeded', lines.join('\n'));
    return lines;
  } finally {
    await engine.stop();
    await store.close();
  }
}

describe('attack: a step prints its environment', () => {
  before(() => {
    // What a server is started with: forge tokens and webhook secrets, read by slipway.yml.
    process.env.SLIPWAY_LEAK_TEST_GITHUB_TOKEN = FORGE_TOKEN;
    process.env.SLIPWAY_LEAK_TEST_WEBHOOK_SECRET = WEBHOOK_SECRET;
    process.env.SLIPWAY_LEAK_TEST_DEPLOY_KEY = DEPLOY_KEY;
  });

  after(() => {
    for (const name of ['SLIPWAY_LEAK_TEST_GITHUB_TOKEN', 'SLIPWAY_LEAK_TEST_WEBHOOK_SECRET', 'SLIPWAY_LEAK_TEST_DEPLOY_KEY']) delete process.env[name];
    rmSync(root, { recursive: true, force: true });
  });

  it("the server's environment never reaches a step, nor its log", async () => {
    const lines = await printedEnvironment(['forges:', '  github:', '    token: { env: SLIPWAY_LEAK_TEST_GITHUB_TOKEN }', '    secret: { env: SLIPWAY_LEAK_TEST_WEBHOOK_SECRET }']);
    const printed = lines.join('\n');
    assert.ok(lines.includes('GREETING=hello'), `the step did print its environment:\n${printed}`);
    for (const [what, value] of [
      ['the forge token', FORGE_TOKEN],
      ['the webhook secret', WEBHOOK_SECRET],
      ["the server's variable names", 'SLIPWAY_LEAK_TEST_'],
    ]) {
      assert.ok(!printed.includes(value!), `${what} leaked:\n${printed}`);
    }
    const home = lines.find((line) => line.startsWith('HOME='));
    assert.ok(home && home !== `HOME=${homedir()}`, `the step's HOME is the server user's: ${home}`);
  });

  it('a secret the service gives its steps is masked in the stored log', async () => {
    const printed = (await printedEnvironment([], ['    secrets: { DEPLOY_KEY: { env: SLIPWAY_LEAK_TEST_DEPLOY_KEY } }'])).join('\n');
    assert.ok(!printed.includes(DEPLOY_KEY), `the service's secret is in the log:\n${printed}`);
    assert.match(printed, /^DEPLOY_KEY=\*\*\*$/m);
  });
});
