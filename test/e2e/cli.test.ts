// The CLI as a user meets it without containers: a broken config stops `up` with file:line:col,
// and with local processes a run goes through its command stages and says why nothing was
// built or deployed.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { RunDetail } from '../../src/client/api.ts';
import { slipway, startServerProcess, type ServerProcess } from '../support/cli.ts';

const root = mkdtempSync(join(tmpdir(), 'slipway-cli-'));
const servers: ServerProcess[] = [];

after(async () => {
  for (const server of servers) await server.kill();
  rmSync(root, { recursive: true, force: true });
});

function repoWithCommit(): string {
  const bare = join(root, 'svc.git');
  const work = join(root, 'work');
  const env = { ...process.env, GIT_AUTHOR_NAME: 'T', GIT_AUTHOR_EMAIL: 't@t', GIT_COMMITTER_NAME: 'T', GIT_COMMITTER_EMAIL: 't@t' };
  execFileSync('git', ['init', '-q', '--bare', '--initial-branch=main', bare]);
  mkdirSync(join(work, 'app'), { recursive: true });
  writeFileSync(join(work, 'app', 'check.sh'), 'echo "checked $(cat VERSION) in $(basename $(pwd))"\n');
  writeFileSync(join(work, 'app', 'VERSION'), '7\n');
  for (const args of [['init', '-q', '--initial-branch=main'], ['add', '.'], ['commit', '-q', '-m', 'one'], ['push', '-q', bare, 'HEAD:main']]) {
    execFileSync('git', args, { cwd: work, env });
  }
  return bare;
}

describe('slipway CLI', () => {
  it('refuses to start on a config error, naming file, line and column', async () => {
    const config = join(root, 'broken.yml');
    writeFileSync(config, ['pipeline:', '  - stage: test', '    run: make test', 'services:', '  api:', '    repo: ./api.git', '    port: "abc"', ''].join('\n'));
    const result = await slipway(['up', '--config', config, '--data', join(root, 'data-broken'), '--port', '0']);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /nothing was started/);
    assert.match(result.stderr, new RegExp(`${config.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:7:11: services\\.api\\.port: expected a number, got "abc"`));
    assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack trace');
  });

  it('runs command stages as local processes and says why nothing is built or deployed', async () => {
    const config = join(root, 'process.yml');
    writeFileSync(
      config,
      [
        'registry: 127.0.0.1:5000',
        'pipeline:',
        '  - stage: check',
        '    run: "{{ service.test }}"',
        '  - stage: build',
        '  - stage: deploy',
        '    environment: staging',
        'environments:',
        '  staging: {}',
        'services:',
        '  svc:',
        `    repo: ${repoWithCommit()}`,
        '    path: app',
        '    test: sh check.sh',
        '    port: 8080',
        '',
      ].join('\n'),
    );
    const server = await startServerProcess(['--config', config, '--data', join(root, 'data-process'), '--process']);
    servers.push(server);
    assert.match(server.output(), /No container engine: process executor requested\. Steps run as local processes; nothing is built or deployed\./);
    const result = await slipway(['run', 'svc', '--wait', '--json'], { server: server.url });
    assert.equal(result.code, 0, result.stderr);
    const run = JSON.parse(result.stdout) as RunDetail;
    assert.deepEqual(run.stages.map((stage) => stage.status), ['succeeded', 'succeeded', 'skipped', 'skipped']);
    assert.match(run.stages[2]!.reason!, /^no container engine on this machine, so nothing is built or deployed/);
    const logs = await slipway(['logs', String(run.id), '--json'], { server: server.url });
    const texts = logs.stdout.trim().split('\n').map((line) => JSON.parse(line) as { stream: string; text: string });
    assert.ok(texts.some((line) => line.stream === 'stdout' && line.text === 'checked 7 in app'), logs.stdout);
    const status = await slipway(['status'], { server: server.url });
    assert.match(status.stdout, /svc\s+#1 ✓ succeeded/);
  });
});
