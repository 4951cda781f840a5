// Two `slipway up` on one data folder would both resume the same runs, both deploy, and each
// remove the other's containers as leftovers. The second must refuse to start and name the
// process holding the folder; the first serves on; once the first is killed (SIGKILL, so its
// lock file stays behind), a new server takes the folder over. Each start starts or adopts the
// folder's HAProxy, which a killed server leaves running: the test stops it at the end.

import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { startServerProcess, type ServerProcess } from '../support/cli.ts';
import { proxyYaml, stopProxy, testProxy } from '../support/proxy.ts';

const root = mkdtempSync(join(tmpdir(), 'slipway-two-servers-'));
const dataDir = join(root, 'data');
const configFile = join(root, 'slipway.yml');
writeFileSync(configFile, ['pipeline:', '  - stage: hello', '    run: echo hello', 'services:', '  hello:', `    repo: ${join(root, 'none.git')}`, ...proxyYaml(await testProxy()), ''].join('\n'));
const servers: ServerProcess[] = [];

/** GET /api/info as the CLI on this machine would ask it: with the token `slipway up` keeps in the data folder, when there is one. */
async function info(url: string): Promise<{ status: number; body: string }> {
  const tokenFile = join(dataDir, 'cli-token');
  const headers: Record<string, string> = existsSync(tokenFile) ? { authorization: `Bearer ${readFileSync(tokenFile, 'utf8').trim()}` } : {};
  const response = await fetch(`${url}/api/info`, { headers, signal: AbortSignal.timeout(10_000) });
  return { status: response.status, body: await response.text() };
}

async function up(): Promise<ServerProcess> {
  const server = await startServerProcess(['--config', configFile, '--data', dataDir]);
  servers.push(server);
  return server;
}

describe('two servers on one data folder', { timeout: 300_000 }, () => {
  after(async () => {
    for (const server of servers) await server.kill();
    await stopProxy(dataDir);
    rmSync(root, { recursive: true, force: true });
  });

  it('refuses the second, naming the first; the first serves on; a killed first is taken over', async () => {
    const first = await up();
    assert.equal((await info(first.url)).status, 200);

    let refusal: string;
    try {
      const second = await up();
      const both = [await info(first.url), await info(second.url)];
      assert.fail(`a second server started on the same data folder; both answer /api/info: ${both.map((answer) => `${answer.status} ${answer.body.slice(0, 120)}`).join(' | ')}`);
    } catch (error) {
      if (error instanceof assert.AssertionError) throw error;
      refusal = (error as Error).message;
    }
    const exited = /^slipway up exited with (\d+):/.exec(refusal);
    assert.ok(exited && Number(exited[1]) !== 0, `the second server exits non-zero: ${refusal}`);
    const pid = first.process.pid!;
    assert.match(
      refusal,
      new RegExp(`slipway: the data folder ${escape(dataDir)} is in use by Slipway process ${pid} \\(started \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d\\); stop it first or use --data`),
    );

    assert.equal((await info(first.url)).status, 200, 'the first server serves on');
    assert.equal(first.process.exitCode, null);

    await first.kill();
    const third = await up();
    const answer = await info(third.url);
    assert.equal(answer.status, 200, answer.body);
    assert.equal((JSON.parse(readFileSync(join(dataDir, 'slipway.lock'), 'utf8')) as { pid: number }).pid, third.process.pid);
  });
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
