// Attack (by accident, the usual way): a repository URL with credentials in it,
// https://user:token@host/..., as people paste them. Before, the token showed up in the
// checkout's log line, in the workspace's .git/config that every step can read, in errors
// when the repository could not be read, and in GET /api/services. Now it appears in no log
// line, error, event, API answer or workspace, and the server's own output leaves it out too.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createReadStream, existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, normalize } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { savedTokenFor, startServerProcess, type ServerProcess } from '../support/cli.ts';
import { makeRepository } from '../support/repository.ts';

const USER = 'slipway-bot';
const TOKEN = 'ghp_s3cr3tT0kenValue1234567890';
const root = mkdtempSync(join(tmpdir(), 'slipway-url-credentials-'));
let http: Server;
let server: ServerProcess;
let adminToken: string | undefined;

/** A git "dumb HTTP" server for the bare repositories under `root`, behind basic authentication. */
function gitOverHttp(): Promise<Server> {
  const expected = `Basic ${Buffer.from(`${USER}:${TOKEN}`).toString('base64')}`;
  const served = createServer((request, response) => {
    if (request.headers.authorization !== expected) {
      response.writeHead(401, { 'www-authenticate': 'Basic realm="git"' }).end();
      return;
    }
    const path = normalize(join(root, decodeURIComponent(new URL(request.url ?? '/', 'http://x').pathname)));
    if (!path.startsWith(root) || !existsSync(path) || !statSync(path).isFile()) {
      response.writeHead(404).end();
      return;
    }
    response.writeHead(200);
    createReadStream(path).pipe(response);
  });
  return new Promise((resolve) => served.listen(0, '127.0.0.1', () => resolve(served)));
}

async function api(method: string, path: string, body?: unknown): Promise<{ status: number; text: string; body: any }> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (adminToken) headers.authorization = `Bearer ${adminToken}`;
  const response = await fetch(`${server.url}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await response.text();
  return { status: response.status, text, body: text ? JSON.parse(text) : undefined };
}

async function finished(id: number): Promise<any> {
  for (let tries = 0; tries < 600; tries++) {
    const run = await api('GET', `/api/runs/${id}`);
    if (['succeeded', 'failed', 'cancelled'].includes(run.body.status)) return run.body;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`run ${id} did not end`);
}

before(async () => {
  const bare = makeRepository(root, 'api', { 'README.md': 'api\n' });
  execFileSync('git', ['update-server-info'], { cwd: bare });
  http = await gitOverHttp();
  const base = `http://${USER}:${TOKEN}@127.0.0.1:${(http.address() as AddressInfo).port}`;
  const config = join(root, 'slipway.yml');
  writeFileSync(
    config,
    [
      'pipeline:',
      '  - stage: inspect',
      '    run: git remote -v; cat .git/config; env; echo inspected',
      'services:',
      '  api:',
      `    repo: ${base}/api.git`,
      '  missing:',
      `    repo: ${base}/missing.git`,
      '    poll: 1s',
      '',
    ].join('\n'),
  );
  server = await startServerProcess(['--config', config, '--data', join(root, 'data'), '--process']);
  adminToken = savedTokenFor(server.url);
});

after(async () => {
  await server?.kill();
  await new Promise((resolve) => http.close(resolve));
  rmSync(root, { recursive: true, force: true });
});

describe('attack: credentials in a repository URL', () => {
  it('checks out with them, and no step, log, error, event, API answer or server output shows them', async () => {
    const started = await api('POST', '/api/runs', { service: 'api' });
    assert.equal(started.status, 201, started.text);
    const run = await finished(started.body.id);
    assert.equal(run.status, 'succeeded', run.reason);
    const logs = await api('GET', `/api/runs/${run.id}/logs`);
    assert.ok(logs.text.includes('inspected'), 'the step ran');
    assert.ok(logs.text.includes('[remote \\"origin\\"]'), "the step read the workspace's git config");

    const failed = await api('POST', '/api/runs', { service: 'missing' });
    assert.equal(failed.status, 422, failed.text);
    assert.equal(failed.body.error.code, 'REPOSITORY_UNAVAILABLE');

    // Give polling a few rounds to fail and say so in the server's output.
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const answers = await Promise.all(
      ['/api/services', '/api/runs', `/api/runs/${run.id}`, '/api/event-log?limit=1000', '/api/deliveries'].map((path) => api('GET', path)),
    );
    const everything = [logs.text, failed.text, ...answers.map((answer) => answer.text), server.output()];
    for (const text of everything) {
      const at = text.indexOf(TOKEN);
      assert.equal(at, -1, `the token shows in: …${text.slice(Math.max(0, at - 150), at + 40)}…`);
    }
    const services = answers[0]!.body as Array<{ name: string; repo: string }>;
    assert.match(services.find((service) => service.name === 'api')!.repo, /^http:\/\/\*\*\*@127\.0\.0\.1:\d+\/api\.git$/);
  });
});
