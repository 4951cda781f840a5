// A server killed with SIGKILL in the middle of a long stage, then started again: every run
// still reaches a true terminal state. A step in a container is found again by its handle and
// re-attached; a step that ran as a local process is failed with the reason.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { RunDetail } from '../../src/client/api.ts';
import { ownerOf } from '../../src/server/main.ts';
import { slipway, startServerProcess, type ServerProcess } from '../support/cli.ts';
import { requireBusybox } from '../support/engine.ts';
import { proxyYaml, stopProxy, testProxy, type TestProxy } from '../support/proxy.ts';

const root = mkdtempSync(join(tmpdir(), 'slipway-crash-'));
const servers: ServerProcess[] = [];
/** Each start on the engine starts or adopts its folder's HAProxy, which a killed server leaves running. */
let proxy: TestProxy;

function makeRepo(): string {
  const bare = join(root, 'slow.git');
  const work = join(root, 'work');
  const env = { ...process.env, GIT_AUTHOR_NAME: 'T', GIT_AUTHOR_EMAIL: 't@t', GIT_COMMITTER_NAME: 'T', GIT_COMMITTER_EMAIL: 't@t' };
  execFileSync('git', ['init', '-q', '--bare', '--initial-branch=main', bare]);
  mkdirSync(work);
  writeFileSync(join(work, 'README'), 'slow service\n');
  for (const args of [['init', '-q', '--initial-branch=main'], ['add', '.'], ['commit', '-q', '-m', 'one'], ['push', '-q', bare, 'HEAD:main']]) {
    execFileSync('git', args, { cwd: work, env });
  }
  return bare;
}

function writeConfig(name: string, repo: string): string {
  const file = join(root, name);
  writeFileSync(
    file,
    [
      'pipeline:',
      '  - stage: slow',
      // Long enough to outlive a kill and a check on a machine busy with the whole suite (the CLI polls it once a second or so; 15 s was not).
      '    run: echo started; sleep 30; echo finished',
      '  - stage: after',
      '    run: echo after',
      'services:',
      '  slow:',
      `    repo: ${repo}`,
      '    toolchain: localhost/slipway/busybox:latest',
      ...proxyYaml(proxy),
      '',
    ].join('\n'),
  );
  return file;
}

async function start(config: string, dataDir: string, extra: string[] = []): Promise<ServerProcess> {
  const server = await startServerProcess(['--config', config, '--data', dataDir, ...extra]);
  servers.push(server);
  return server;
}

async function show(server: ServerProcess, id: number): Promise<RunDetail> {
  const result = await slipway(['show', String(id), '--json'], { server: server.url });
  assert.equal(result.code, 0, result.stderr);
  return JSON.parse(result.stdout) as RunDetail;
}

/** Starts a run and kills the server once the slow stage has printed its first line. */
async function killDuringSlowStage(server: ServerProcess): Promise<number> {
  const started = await slipway(['run', 'slow', '--json'], { server: server.url });
  assert.equal(started.code, 0, started.stderr);
  const id = (JSON.parse(started.stdout) as RunDetail).id;
  const deadline = Date.now() + 60_000;
  for (;;) {
    const logs = await slipway(['logs', String(id)], { server: server.url });
    if (/slow\s+│ started/.test(logs.stdout)) break;
    assert.ok(Date.now() < deadline, 'the slow stage never started');
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  await server.kill();
  return id;
}

describe('crash and restart (SIGKILL during a stage)', () => {
  let repo: string;
  before(async () => {
    await requireBusybox();
    proxy = await testProxy();
    repo = makeRepo();
  });

  after(async () => {
    for (const server of servers) await server.kill();
    const dataDir = join(root, 'data-container');
    await stopProxy(dataDir);
    const { engine } = await requireBusybox();
    const containers = await engine.docker.listContainers({ all: true, filters: { label: [`slipway.owner=${ownerOf(dataDir)}`] } });
    for (const container of containers) await engine.docker.getContainer(container.Id).remove({ force: true }).catch(() => {});
    rmSync(root, { recursive: true, force: true });
  });

  it('re-attaches to a step still running in its container and finishes the run', async () => {
    const config = writeConfig('container.yml', repo);
    const dataDir = join(root, 'data-container');
    const first = await start(config, dataDir);
    const id = await killDuringSlowStage(first);
    const { engine } = await requireBusybox();
    const alive = await engine.docker.listContainers({ filters: { label: [`slipway.owner=${ownerOf(dataDir)}`, 'slipway.step=slow'] } });
    assert.equal(alive.length, 1, 'the step outlives the server');

    const second = await start(config, dataDir);
    const followed = await slipway(['logs', String(id), '-f'], { server: second.url, timeoutMs: 150_000 });
    assert.equal(followed.code, 0, followed.stderr);
    const run = await show(second, id);
    assert.equal(run.status, 'succeeded', run.reason ?? '');
    assert.deepEqual(run.stages.map((stage) => [stage.name, stage.status]), [['checkout', 'succeeded'], ['slow', 'succeeded'], ['after', 'succeeded']]);
    const lines = followed.stdout.split('\n');
    assert.equal(lines.filter((line) => /slow\s+│ started$/.test(line)).length, 1, followed.stdout);
    assert.equal(lines.filter((line) => /slow\s+│ finished$/.test(line)).length, 1, followed.stdout);
    assert.ok(lines.some((line) => /Re-attached to the running step/.test(line)));
    assert.ok(lines.some((line) => /after\s+│ after$/.test(line)));
    const leftover = await engine.docker.listContainers({ all: true, filters: { label: [`slipway.owner=${ownerOf(dataDir)}`] } });
    assert.equal(leftover.length, 0, 'step containers are removed once finished');
  });

  it('fails a stage whose local process died with the server, saying why', async () => {
    const config = writeConfig('process.yml', repo);
    const dataDir = join(root, 'data-process');
    const first = await start(config, dataDir, ['--process']);
    const id = await killDuringSlowStage(first);
    const second = await start(config, dataDir, ['--process']);
    const deadline = Date.now() + 30_000;
    let run = await show(second, id);
    while (run.status === 'running' && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      run = await show(second, id);
    }
    assert.equal(run.status, 'failed');
    assert.equal(run.reason, 'stage slow failed: the server stopped while this stage ran, and its step could not be found again');
    assert.deepEqual(run.stages.map((stage) => stage.status), ['succeeded', 'failed', 'skipped']);
  });
});
