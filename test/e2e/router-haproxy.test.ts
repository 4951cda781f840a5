// The HAProxy router on the real HAProxy: the Router conformance suite with node HTTP servers as
// backends, then what only a real proxy shows: no request or WebSocket lost across switches and
// a reload, a second Slipway adopting the running proxy, a restart of HAProxy itself coming back
// from its config file, host-name routing on the shared port, and a container reaching a route
// by name on its environment's network while another network's container is refused.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { Agent, createServer, request as httpRequest, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { WebSocket, WebSocketServer } from 'ws';
import { runOneOff } from '../../src/docker/one-off.ts';
import { HaproxyRouter } from '../../src/routers/haproxy/router.ts';
import { RuntimeApi } from '../../src/routers/haproxy/runtime.ts';
import type { RouteKey, RouteSpec } from '../../src/routers/router.ts';
import { requireBusybox } from '../support/engine.ts';
import { freePort } from '../support/proxy.ts';
import { eventually, routerConformance } from '../unit/router-conformance.ts';

const installed = spawnSync('haproxy', ['-v']).status === 0;
const skip = installed ? false : 'haproxy is not installed (bash scripts/setup-host.sh installs it)';

const HEALTH = { path: '/healthz', intervalMs: 100, timeoutMs: 1000, successes: 2, failures: 2 };
const LOOPBACK = { gateway: '127.0.0.1', subnet: '127.0.0.0/8' };

/** Every HAProxy master these tests may have started: killed at exit, whatever happened. */
const folders = new Set<string>();
process.on('exit', () => {
  for (const dir of folders) {
    try {
      process.kill(Number(readFileSync(join(dir, 'haproxy.pid'), 'utf8')), 'SIGKILL');
    } catch {
      // not running
    }
  }
});

function folder(): string {
  const dir = mkdtempSync(join(tmpdir(), 'slipway-router-'));
  folders.add(dir);
  return dir;
}

async function route(service: string, environment: string, network = LOOPBACK, names = [service]): Promise<RouteSpec> {
  return { service, environment, port: await freePort(), servicePort: await freePort(), names, network, health: HEALTH };
}

/**
 * A backend: answers its id, `/healthz` as told, 500 on `/fail`, holds `/hold?key=K` until
 * released, and echoes WebSocket messages as `<id> <message>`.
 */
class Upstream {
  healthy = false;
  readonly held = new Map<string, ServerResponse>();
  private readonly server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://upstream');
    if (url.pathname === '/healthz') res.writeHead(this.healthy ? 200 : 503).end();
    else if (url.pathname === '/fail') res.writeHead(500).end('failed');
    else if (url.pathname === '/hold') this.held.set(url.searchParams.get('key') ?? '', res);
    else res.end(this.id);
  });
  private readonly sockets = new WebSocketServer({ noServer: true });

  constructor(readonly id: string) {
    this.server.keepAliveTimeout = 120_000;
    this.server.on('upgrade', (req, socket, head) =>
      this.sockets.handleUpgrade(req, socket, head, (ws) => ws.on('message', (data) => ws.send(`${this.id} ${String(data)}`))),
    );
  }

  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  release(key: string): void {
    this.held.get(key)?.end(this.id);
    this.held.delete(key);
  }

  async close(): Promise<void> {
    for (const client of this.sockets.clients) client.terminate();
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

/** The pid of the HAProxy worker answering the runtime API: a reload changes it. */
function workerOf(dir: string): Promise<number | null> {
  return new RuntimeApi(join(dir, 'admin.sock')).workerPid();
}

function get(url: string, options: { agent?: Agent; host?: string } = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const headers = options.host ? { host: options.host } : undefined;
    const req = httpRequest(url, { agent: options.agent ?? false, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.setTimeout(30_000, () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

/** A router of its own folder and ports, with upstreams made on demand; close() stops both. */
async function haproxy(owned = true) {
  const dir = folder();
  const port = await freePort();
  const router = new HaproxyRouter({ dir, address: '127.0.0.1', port, owned });
  /** The latest upstream of each id. */
  const upstreams = new Map<string, Upstream>();
  const started: Upstream[] = [];
  return {
    dir,
    port,
    router,
    upstreams,
    async upstream(id: string) {
      const upstream = new Upstream(id);
      upstreams.set(id, upstream);
      started.push(upstream);
      return { id, address: await upstream.listen() };
    },
    async close() {
      await router.stop();
      for (const upstream of started) await upstream.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

routerConformance(
  'haproxy',
  async () => {
    const proxy = await haproxy();
    const { router, upstreams } = proxy;
    const request = (key: RouteKey, path: string) => get(`${router.address(key)?.portUrl}${path}`);
    let nextHold = 0;
    return {
      router,
      proxy: { address: '127.0.0.1', port: proxy.port },
      route: (service, environment) => route(service, environment),
      backend: (id) => proxy.upstream(id),
      async setHealthy(_key, id, healthy) {
        upstreams.get(id)!.healthy = healthy;
      },
      async produceErrors(key, _id, count) {
        for (let i = 0; i < count; i++) assert.equal((await request(key, '/fail')).status, 500);
      },
      async holdSession(key, id) {
        const hold = String(nextHold++);
        const answer = request(key, `/hold?key=${hold}`).catch(() => null);
        await eventually(`the request held on ${id}`, async () => upstreams.get(id)!.held.has(hold));
        return {
          async release() {
            // HAProxy retries a GET cut at a removal on a serving backend (retry-on empty-response).
            for (const upstream of upstreams.values()) upstream.release(hold);
            await answer;
          },
        };
      },
      request,
      cleanup: () => proxy.close(),
    };
  },
  { skip },
);

describe('HAProxy router', { skip, timeout: 300_000 }, () => {
  const WEB: RouteKey = { service: 'web', environment: 'staging' };

  test('no request and no WebSocket is lost across 10 switches and a reload', async () => {
    const proxy = await haproxy();
    try {
      const { router } = proxy;
      await router.start();
      const web = await route('web', 'staging');
      await router.declare([web]);
      for (const id of ['a', 'b']) {
        await router.add(WEB, await proxy.upstream(id));
        proxy.upstreams.get(id)!.healthy = true;
      }
      await eventually('a and b up', async () => (await router.backends(WEB)).every((backend) => backend.health === 'up'));
      await router.serve(WEB, ['a']);

      // One keep-alive connection on the shared port, by host name, requests back to back.
      const agent = new Agent({ keepAlive: true, maxSockets: 1 });
      const tally = { sent: 0, failed: [] as string[], by: new Set<string>() };
      let running = true;
      const client = (async () => {
        while (running) {
          tally.sent++;
          try {
            const answer = await get(`http://127.0.0.1:${proxy.port}/`, { agent, host: 'WEB.Staging.localhost:1234' });
            if (answer.status === 200) tally.by.add(answer.body);
            else tally.failed.push(`HTTP ${answer.status}`);
          } catch (error) {
            tally.failed.push(String(error));
          }
        }
      })();
      const socket = new WebSocket(`ws://127.0.0.1:${web.port}/`);
      const echoes: string[] = [];
      let closed = false;
      socket.on('message', (data) => echoes.push(String(data)));
      socket.on('close', () => (closed = true));
      await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));

      const worker = await workerOf(proxy.dir);
      for (let switches = 1; switches <= 10; switches++) {
        await router.serve(WEB, [switches % 2 === 1 ? 'b' : 'a']);
        if (switches === 5) {
          await router.declare([web, await route('api', 'staging')]);
          assert.notEqual(await workerOf(proxy.dir), worker, 'a new route reloads HAProxy');
        }
        await sleep(100);
        socket.send(String(switches));
      }
      await eventually('10 echoes', async () => echoes.length === 10);
      running = false;
      await client;
      agent.destroy();
      assert.deepEqual(tally.failed, [], `${tally.failed.length} of ${tally.sent} requests failed`);
      assert.deepEqual([...tally.by].sort(), ['a', 'b']);
      assert.equal(closed, false, 'the WebSocket is still open');
      assert.deepEqual(echoes, ['a 1', 'a 2', 'a 3', 'a 4', 'a 5', 'a 6', 'a 7', 'a 8', 'a 9', 'a 10'], 'it stayed on its backend');
      socket.close();
    } finally {
      await proxy.close();
    }
  });

  test('the shared port routes by host name, in any case and with any port; an unknown one is 404', async () => {
    const proxy = await haproxy();
    try {
      const { router } = proxy;
      await router.start();
      await router.declare([await route('web', 'staging'), await route('web', 'production')]);
      await router.add(WEB, await proxy.upstream('a'));
      await router.add({ service: 'web', environment: 'production' }, await proxy.upstream('p'));
      proxy.upstreams.get('a')!.healthy = true;
      proxy.upstreams.get('p')!.healthy = true;
      await router.serve(WEB, ['a']);
      await router.serve({ service: 'web', environment: 'production' }, ['p']);
      const shared = `http://127.0.0.1:${proxy.port}/`;
      await eventually('a up', async () => (await router.backends(WEB))[0]?.health === 'up');
      assert.deepEqual(await get(shared, { host: 'web.staging.localhost' }), { status: 200, body: 'a' });
      assert.deepEqual(await get(shared, { host: 'Web.STAGING.localhost:8080' }), { status: 200, body: 'a' });
      await eventually('p up', async () => (await router.backends({ service: 'web', environment: 'production' }))[0]?.health === 'up');
      assert.deepEqual(await get(shared, { host: 'web.production.localhost' }), { status: 200, body: 'p' });
      assert.equal((await get(shared, { host: 'web.staging.localhost.evil' })).status, 404);
      assert.equal((await get(shared, { host: 'nothing.localhost' })).status, 404);
    } finally {
      await proxy.close();
    }
  });

  test('a second router adopts the running proxy with its backends, and a restart of HAProxy comes back from its file', async () => {
    const first = await haproxy(true);
    try {
      await first.router.start();
      const web = await route('web', 'staging');
      await first.router.declare([web]);
      for (const id of ['a', 'b']) {
        await first.router.add(WEB, await first.upstream(id));
        first.upstreams.get(id)!.healthy = true;
      }
      await first.router.serve(WEB, ['b'], ['a']);
      const pid = readFileSync(join(first.dir, 'haproxy.pid'), 'utf8');
      const shape = async (router: HaproxyRouter) => (await router.backends(WEB)).map(({ id, address, mode }) => ({ id, address, mode }));
      const expected = await shape(first.router);
      assert.deepEqual(
        expected.map(({ mode }) => mode),
        ['fallback', 'serving'],
      );

      const second = new HaproxyRouter({ dir: first.dir, address: '127.0.0.1', port: first.port, owned: false });
      await second.start();
      assert.equal(readFileSync(join(first.dir, 'haproxy.pid'), 'utf8'), pid, 'the same HAProxy');
      assert.deepEqual(await shape(second), expected);
      assert.deepEqual(second.address(WEB), first.router.address(WEB));
      const worker = await workerOf(first.dir);
      await second.declare([web]);
      assert.equal(await workerOf(first.dir), worker, 'declaring the routes it runs does not reload it');
      await second.serve(WEB, ['a'], ['b']);
      await eventually('a up', async () => (await second.backends(WEB)).find((backend) => backend.id === 'a')?.health === 'up');
      assert.equal((await get(`${second.address(WEB)?.portUrl}/`)).body, 'a');
      await second.stop();
      assert.equal((await get(`${first.router.address(WEB)?.portUrl}/`)).body, 'a', 'a router that does not own the proxy leaves it serving');

      // A reboot: HAProxy is gone; the next start runs it from its file, backends and modes intact.
      await first.router.stop();
      const third = new HaproxyRouter({ dir: first.dir, address: '127.0.0.1', port: first.port, owned: true });
      try {
        await third.start();
        assert.notEqual(readFileSync(join(first.dir, 'haproxy.pid'), 'utf8'), pid, 'a new HAProxy');
        assert.deepEqual(await shape(third), [
          { ...expected[0]!, mode: 'serving' },
          { ...expected[1]!, mode: 'fallback' },
        ]);
        await eventually('a up', async () => (await third.backends(WEB)).find((backend) => backend.id === 'a')?.health === 'up');
        assert.equal((await get(`${third.address(WEB)?.portUrl}/`)).body, 'a');
      } finally {
        await third.stop();
      }
    } finally {
      await first.close();
    }
  });

  describe("a route on its environment's network", () => {
    const suffix = randomBytes(4).toString('hex');
    const OWNER = `router-${suffix}`;
    let engine: Awaited<ReturnType<typeof requireBusybox>>['engine'];
    let image: string;
    const networks: string[] = [];
    let proxy: Awaited<ReturnType<typeof haproxy>>;

    before(async () => {
      ({ engine, image } = await requireBusybox());
      proxy = await haproxy();
    });

    after(async () => {
      await proxy?.close();
      for (const container of (await engine?.docker.listContainers({ all: true, filters: { label: [`slipway.owner=${OWNER}`] } })) ?? []) {
        await engine.docker.getContainer(container.Id).remove({ force: true }).catch(() => {});
      }
      for (const name of networks) await engine.docker.getNetwork(name).remove().catch(() => {});
    });

    async function network(name: string): Promise<{ name: string; gateway: string; subnet: string }> {
      const full = `slipway-${OWNER}-${name}`;
      await engine.docker.createNetwork({ Name: full, Driver: 'bridge', Options: { isolate: 'true' }, Labels: { 'slipway.owner': OWNER } });
      networks.push(full);
      const info = (await engine.docker.getNetwork(full).inspect()) as { IPAM?: { Config?: Array<{ Subnet?: string; Gateway?: string }> } };
      const config = info.IPAM?.Config?.find((entry) => entry.Gateway && !entry.Subnet?.includes(':'));
      assert.ok(config?.Gateway && config.Subnet, `network ${full} has an IPv4 gateway`);
      return { name: full, gateway: config.Gateway, subnet: config.Subnet };
    }

    /** An HTTP/1.0 GET by name from a container (busybox nc: its wget crashes here); the output. */
    async function call(on: string, host: string, gateway: string, port: number, signal = new AbortController().signal): Promise<string> {
      const lines: string[] = [];
      await runOneOff(
        engine,
        {
          name: `slipway-${OWNER}-${randomBytes(3).toString('hex')}`,
          image,
          command: `printf 'GET / HTTP/1.0\\r\\nHost: ${host}:${port}\\r\\n\\r\\n' | nc -w 5 ${host} ${port}`,
          env: {},
          labels: { 'slipway.owner': OWNER },
          network: on,
          extraHosts: [`${host}:${gateway}`],
          timeoutMs: 60_000,
        },
        (line) => lines.push(line),
        signal,
      );
      return lines.join('\n');
    }

    test("its containers reach it by each of its names; another network's containers are refused", async () => {
      const own = await network('own');
      const other = await network('other');
      const { router } = proxy;
      await router.start();
      const web = await route('web', 'staging', { gateway: own.gateway, subnet: own.subnet }, ['web', 'www']);
      await router.declare([web]);
      await router.add(WEB, await proxy.upstream('a'));
      proxy.upstreams.get('a')!.healthy = true;
      await router.serve(WEB, ['a']);
      await eventually('a up', async () => (await router.backends(WEB))[0]?.health === 'up');
      assert.equal(router.address(WEB)?.internalUrl, `http://web:${web.servicePort}`);

      const byName = await call(own.name, 'web', own.gateway, web.servicePort);
      assert.match(byName, /^HTTP\/1\.1 200/, byName);
      assert.equal(byName.split('\n').at(-1), 'a');
      assert.equal((await call(own.name, 'www', own.gateway, web.servicePort)).split('\n').at(-1), 'a');

      // The own network's bridge (and so the gateway's address) exists only while one of its
      // containers runs: keep one running, so the other network's call reaches this host's HAProxy.
      const holder = new AbortController();
      const sleeper = `slipway-${OWNER}-sleeper`;
      const sleeping = runOneOff(engine, { name: sleeper, image, command: 'sleep 300', env: {}, labels: { 'slipway.owner': OWNER }, network: own.name, timeoutMs: 600_000 }, () => {}, holder.signal);
      await eventually('the sleeper running', async () => (await engine.docker.listContainers({ filters: { name: [sleeper] } })).some((container) => container.State === 'running'));
      const refused = await call(other.name, 'web', own.gateway, web.servicePort);
      holder.abort();
      await sleeping;
      assert.doesNotMatch(refused, /^HTTP\/1\.1 200/m, `a container of another network got an answer: ${refused}`);
    });
  });
});
