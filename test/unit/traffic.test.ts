// The continuous client zero-downtime tests rely on, against the web app run with this host's
// node: silent while the app serves, and loud when it does not, so a zero in the end-to-end
// tests means something.

import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { startTraffic, type Traffic } from '../support/traffic.ts';
import { startWebAppProcess, type WebAppProcess } from '../support/web-app.ts';
import { until } from '../support/wait.ts';

/**
 * How long a wait for traffic may take: each ends as soon as what it waits for is there, so this
 * only bounds a machine busy with other test files, which serves slower, not wrongly.
 */
const WAIT_MS = 60_000;

const started: WebAppProcess[] = [];
const traffics: Traffic[] = [];

async function app(env: Record<string, string>, port?: number): Promise<WebAppProcess> {
  const running = await startWebAppProcess({ SERVICE: 'shop', ...env }, port);
  started.push(running);
  return running;
}

function traffic(options: Parameters<typeof startTraffic>[0]): Traffic {
  const client = startTraffic(options);
  traffics.push(client);
  return client;
}

function timers(): number {
  return process.getActiveResourcesInfo().filter((kind) => kind === 'Timeout').length;
}

after(async () => {
  await Promise.all(traffics.map((client) => client.stop()));
  await Promise.all(started.map((running) => running.kill()));
});

describe('traffic', () => {
  it('fails nothing while the app serves, on every channel, and leaves no timers behind', async () => {
    const notification = await app({ SERVICE: 'notification', RELEASE: 'n1' });
    const shop = await app({ RELEASE: 'one', PEER: `127.0.0.1:${notification.port}` });
    const timersBefore = timers();
    const client = traffic({ url: `${shop.url}/`, peerPath: '/peer', slowEveryMs: 100, slowMs: 50, websocketUrl: `ws://127.0.0.1:${shop.port}/ws` });
    await until('traffic on every channel', () => {
      const report = client.snapshot();
      return report.sent > 500 && report.keepAlive.sent > 5 && report.websocket.echoed > 5;
    }, WAIT_MS);
    const report = await client.stop();
    assert.deepEqual(report.failures, []);
    assert.equal(report.failed, 0);
    assert.equal(report.keepAlive.failed, 0);
    assert.equal(report.keepAlive.connections, 1);
    assert.equal(report.websocket.failed, 0);
    assert.equal(report.websocket.echoed, report.websocket.sent);
    assert.deepEqual(report.websocket.closes, []);
    assert.equal(report.websocket.reconnects, 0);
    assert.deepEqual(Object.keys(report.answeredBy), ['one']);
    assert.deepEqual(report.releaseChanges.map((change) => change.release), ['one']);
    assert.equal(report.sent, report.answeredBy.one, 'every request and message answered by release one');
    assert.equal(timers(), timersBefore);
    assert.deepEqual(client.snapshot(), report, 'nothing runs after stop');
  });

  it('records non-2xx answers with their status and body', async () => {
    const broken = await app({ RELEASE: 'broken', FAIL_PATH: '/peer' });
    const client = traffic({ url: `${broken.url}/`, peerPath: '/peer', clients: 1, longKeepAlive: false });
    await until('a failure', () => client.snapshot().failed > 0, WAIT_MS);
    const report = await client.stop();
    const failure = report.failures[0]!;
    assert.equal(failure.channel, 'request');
    assert.equal(failure.url, `${broken.url}/peer`);
    assert.equal(failure.status, 500);
    assert.equal(failure.body, '{"error":"broken release"}');
    assert.ok(report.failures.length <= 50);
    assert.ok((report.answeredBy.broken ?? 0) > 0, 'the other path still answers');
  });

  it('records the failures of a restart, sees the new release, and counts the WebSocket reconnect', async () => {
    const first = await app({ RELEASE: 'one' });
    const lines: string[] = [];
    const client = traffic({ url: `${first.url}/`, websocketUrl: `ws://127.0.0.1:${first.port}/ws`, log: (line) => lines.push(line) });
    await until('steady traffic', () => client.snapshot().websocket.echoed > 3 && client.snapshot().keepAlive.sent > 3, WAIT_MS);
    assert.equal(client.snapshot().failed, 0);

    assert.equal(await first.stop(), 0);
    await until('failures while nothing listens', () => client.snapshot().failed > 0, WAIT_MS);
    await app({ RELEASE: 'two' }, first.port);
    await until('answers from release two on every channel', () => {
      const report = client.snapshot();
      return report.websocket.reconnects > 0 && report.releaseChanges.length === 2 && report.keepAlive.sent > 10;
    }, WAIT_MS);
    const echoedBefore = client.snapshot().websocket.echoed;
    await until('echoes from release two', () => client.snapshot().websocket.echoed > echoedBefore + 3, WAIT_MS);
    const report = await client.stop();

    assert.ok(report.failed > 0);
    assert.ok(report.failures.some((failure) => failure.channel === 'request' && /ECONNREFUSED/.test(failure.error ?? '')), JSON.stringify(report.failures));
    assert.deepEqual(report.releaseChanges.map((change) => change.release), ['one', 'two']);
    assert.ok((report.answeredBy.one ?? 0) > 0 && (report.answeredBy.two ?? 0) > 0);
    assert.ok(report.keepAlive.connections >= 2, 'the one keep-alive connection had to be opened again');
    assert.deepEqual(report.websocket.closes, [1001]);
    assert.equal(report.websocket.reconnects, 1);
    assert.equal(report.websocket.failed, 0, JSON.stringify(report.failures.filter((failure) => failure.channel === 'websocket')));
    assert.ok(lines.some((line) => line === 'traffic: now answered by two'));
  });
});
