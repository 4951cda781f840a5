// The web app zero-downtime tests deploy, run with this host's node: each behaviour its
// environment variables choose, the WebSocket echo, the graceful shutdown, and its commands.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import http from 'node:http';
import type { Socket } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { NODE_IMAGE } from '../../src/images/base.ts';
import { freePort } from '../support/proxy.ts';
import { startWebAppProcess, webAppFiles, type WebAppProcess } from '../support/web-app.ts';
import { until } from '../support/wait.ts';

const started: WebAppProcess[] = [];
let dir: string;

async function app(env: Record<string, string> = {}): Promise<WebAppProcess> {
  const running = await startWebAppProcess({ SERVICE: 'shop', ENVIRONMENT: 'staging', RELEASE: 'v1', ...env });
  started.push(running);
  return running;
}

async function getJson(url: string, init?: RequestInit): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(url, init);
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/** Runs `node server.js ...args`; answers its exit code and output. */
function command(args: string[], env: Record<string, string> = {}): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [join(dir, 'server.js'), ...args], { env: { PATH: process.env.PATH ?? '', ...env } }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
      resolve({ code, output: stdout + stderr });
    });
  });
}

function openWebSocket(url: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url);
    socket.once('open', () => resolve(socket));
    socket.once('error', reject);
  });
}

function nextMessage(socket: WebSocket): Promise<string> {
  return new Promise((resolve) => socket.once('message', (data) => resolve(String(data))));
}

function closed(socket: WebSocket): Promise<number> {
  return new Promise((resolve) => socket.once('close', (code) => resolve(code)));
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'slipway-web-app-test-'));
  writeFileSync(join(dir, 'server.js'), webAppFiles()['server.js']);
});

after(async () => {
  await Promise.all(started.map((running) => running.kill()));
  rmSync(dir, { recursive: true, force: true });
});

describe('web app files', () => {
  it('builds on the local Node image and adds a health check only when asked', () => {
    const plain = webAppFiles().Dockerfile;
    assert.match(plain, new RegExp(`^FROM ${NODE_IMAGE.replaceAll('.', '\\.')}\n`));
    assert.match(plain, /^EXPOSE 3000$/m);
    assert.match(plain, /^CMD \["node", "\/app\/server\.js"\]$/m);
    assert.doesNotMatch(plain, /HEALTHCHECK|ENV RELEASE/);
    const checked = webAppFiles({ healthcheck: { interval: '2s' }, release: 'v7' }).Dockerfile;
    assert.match(checked, /^HEALTHCHECK --interval=2s .*CMD \["node", "\/app\/server\.js", "check"\]$/m);
    assert.match(checked, /^ENV RELEASE="v7"$/m);
  });
});

describe('web app over HTTP', () => {
  it('answers its service, release and environment at /', async () => {
    const running = await app();
    assert.deepEqual(await getJson(`${running.url}/`), { status: 200, body: { service: 'shop', release: 'v1', environment: 'staging' } });
    const unnamed = await startWebAppProcess({});
    started.push(unnamed);
    assert.equal((await getJson(`${unnamed.url}/`)).body.release, 'unknown');
  });

  it('answers /healthz as its variables say', async () => {
    const healthy = await app();
    assert.equal((await getJson(`${healthy.url}/healthz`)).status, 200);
    const failing = await app({ FAIL_HEALTH: '1' });
    assert.equal((await getJson(`${failing.url}/healthz`)).status, 503);
    // Unhealthy, then healthy, then unhealthy again: one process goes through all three.
    const phases = await app({ HEALTHY_AFTER_MS: '1000', UNHEALTHY_AFTER_MS: '2500' });
    assert.equal((await getJson(`${phases.url}/healthz`)).status, 503);
    await until('healthy after HEALTHY_AFTER_MS', async () => (await getJson(`${phases.url}/healthz`)).status === 200);
    await until('unhealthy after UNHEALTHY_AFTER_MS', async () => (await getJson(`${phases.url}/healthz`)).status === 503);
  });

  it('calls its peer at /peer, and answers 502 when the peer is gone', async () => {
    const notification = await app({ SERVICE: 'notification', RELEASE: 'n1' });
    const shop = await app({ PEER: `127.0.0.1:${notification.port}` });
    for (let i = 0; i < 3; i++) {
      assert.deepEqual(await getJson(`${shop.url}/peer`), {
        status: 200,
        body: { release: 'v1', peer: { service: 'notification', release: 'n1', environment: 'staging' } },
      });
    }
    assert.equal(await notification.stop(), 0);
    const gone = await getJson(`${shop.url}/peer`);
    assert.equal(gone.status, 502);
    assert.match(String(gone.body.error), /^peer 127\.0\.0\.1:\d+: .*ECONNREFUSED/);
    const lonely = await app();
    assert.deepEqual(await getJson(`${lonely.url}/peer`), { status: 502, body: { release: 'v1', error: 'PEER is not set' } });
  });

  it('answers 500 at FAIL_PATH and 200 elsewhere', async () => {
    const working = await app();
    assert.equal((await getJson(`${working.url}/orders`)).status, 200);
    assert.equal((await getJson(`${working.url}/orders`, { method: 'POST', body: '{"item":1}' })).status, 200);
    const broken = await app({ FAIL_PATH: '/orders' });
    assert.deepEqual(await getJson(`${broken.url}/orders`), { status: 500, body: { error: 'broken release' } });
    assert.deepEqual(await getJson(`${broken.url}/orders`, { method: 'POST', body: '{}' }), { status: 500, body: { error: 'broken release' } });
    assert.equal((await getJson(`${broken.url}/`)).status, 200);
    const rootBroken = await app({ FAIL_PATH: '/' });
    assert.equal((await getJson(`${rootBroken.url}/`)).status, 500);
  });

  it('answers /slow after the time asked', async () => {
    const running = await app();
    assert.deepEqual(await getJson(`${running.url}/slow?ms=50`), { status: 200, body: { release: 'v1', sleptMs: 50 } });
  });
});

describe('web app WebSocket', () => {
  it('echoes text messages of every frame length with its release, answers pings, and closes cleanly', async () => {
    const running = await app({ RELEASE: 'v2' });
    const socket = await openWebSocket(`ws://127.0.0.1:${running.port}/ws`);
    for (const message of ['hello', 'x'.repeat(200), 'y'.repeat(64 * 1024), 'ünïcødé ✓']) {
      const echo = nextMessage(socket);
      socket.send(message);
      assert.equal(await echo, `v2:${message}`);
    }
    // One message in two fragments.
    const echo = nextMessage(socket);
    socket.send('first half,', { fin: false });
    socket.send(' second half', { fin: true });
    assert.equal(await echo, 'v2:first half, second half');
    const pong = new Promise<string>((resolve) => socket.once('pong', (data) => resolve(String(data))));
    socket.ping('are you there');
    assert.equal(await pong, 'are you there');
    const code = closed(socket);
    socket.close(1000, 'done');
    assert.equal(await code, 1000);
  });

  it('refuses an upgrade anywhere but /ws', async () => {
    const running = await app();
    await assert.rejects(openWebSocket(`ws://127.0.0.1:${running.port}/elsewhere`), /Unexpected server response: 400/);
  });
});

describe('web app shutdown', () => {
  it('on SIGTERM closes WebSockets with 1001 and idle connections, finishes requests in flight, then exits', async () => {
    const running = await app();
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const idle = await new Promise<Socket>((resolve, reject) => {
      const request = http.get(`${running.url}/`, { agent }, (response) => {
        response.resume();
        response.on('end', () => resolve(request.socket!));
      });
      request.on('error', reject);
    });
    const idleClosed = new Promise<void>((resolve) => idle.once('close', () => resolve()));
    const socket = await openWebSocket(`ws://127.0.0.1:${running.port}/ws`);
    const closeCode = closed(socket);

    const events: string[] = [];
    void closeCode.then(() => events.push('websocket closed'));
    let sent!: () => void;
    const slowSent = new Promise<void>((resolve) => (sent = resolve));
    const slow = new Promise<{ status: number; connection: string | undefined; body: string }>((resolve, reject) => {
      http
        .get(`${running.url}/slow?ms=1500`, { agent: new http.Agent({ keepAlive: true }) }, (response) => {
          let body = '';
          response.on('data', (chunk: Buffer) => (body += chunk.toString()));
          response.on('end', () => {
            events.push('slow answered');
            resolve({ status: response.statusCode!, connection: response.headers.connection, body });
          });
        })
        .on('finish', () => sent())
        .on('error', reject);
    });
    // Sent is not yet received: a moment for the server to read it before it stops accepting.
    await slowSent;
    await new Promise((resolve) => setTimeout(resolve, 200));

    running.child.kill('SIGTERM');
    assert.equal(await closeCode, 1001);
    await idleClosed;
    const answer = await slow;
    assert.equal(answer.status, 200);
    assert.equal(answer.connection, 'close');
    assert.deepEqual(JSON.parse(answer.body), { release: 'v1', sleptMs: 1500 });
    assert.deepEqual(events, ['websocket closed', 'slow answered']);
    assert.equal(await running.exited, 0);
    assert.match(running.output(), /v1 got SIGTERM, draining[\s\S]*v1 drained, exiting/);
    await assert.rejects(fetch(`${running.url}/`));
    agent.destroy();
  });
});

describe('web app commands', () => {
  it('migrate prints the release and exits with MIGRATE_EXIT', async () => {
    assert.deepEqual(await command(['migrate'], { RELEASE: 'v3' }), { code: 0, output: 'migrating to v3\n' });
    assert.deepEqual(await command(['migrate'], { RELEASE: 'v3', MIGRATE_EXIT: '3' }), { code: 3, output: 'migrating to v3\n' });
  });

  it('smoke passes when / and /orders answer 2xx, and fails saying why otherwise', async () => {
    const working = await app();
    const passed = await command(['smoke', `${working.url}/`]);
    assert.equal(passed.code, 0, passed.output);
    const broken = await app({ FAIL_PATH: '/orders' });
    const failed = await command(['smoke', broken.url]);
    assert.equal(failed.code, 1);
    assert.match(failed.output, /smoke: GET http:\/\/127\.0\.0\.1:\d+\/orders answered 500: \{"error":"broken release"\}/);
    const nobody = await command(['smoke', `http://127.0.0.1:${await freePort()}`]);
    assert.equal(nobody.code, 1);
    assert.match(nobody.output, /failed: .*ECONNREFUSED/);
  });

  it('check exits 0 when /healthz answers 200 and 1 otherwise', async () => {
    const healthy = await app();
    assert.equal((await command(['check'], { PORT: String(healthy.port) })).code, 0);
    const failing = await app({ FAIL_HEALTH: '1' });
    assert.equal((await command(['check'], { PORT: String(failing.port) })).code, 1);
    assert.equal((await command(['check'], { PORT: String(await freePort()) })).code, 1);
  });
});
