// Proxy settings for a test's server: a free shared port and a range of route ports no other
// test running beside it uses, so servers of tests running at once never bind one port twice;
// and stopping the proxy a server process left (a killed or child server does not stop it: the
// proxy outlives Slipway by design).

import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export interface TestProxy {
  address: string;
  port: number;
  route_ports: { from: number; to: number };
  owned: true;
}

const RANGE = 32;

export async function testProxy(): Promise<TestProxy> {
  const port = await freePort();
  for (let attempt = 0; attempt < 50; attempt++) {
    const from = 30_000 + Math.floor(Math.random() * 900) * RANGE;
    const ports = Array.from({ length: RANGE }, (_, index) => from + index);
    if ((await Promise.all(ports.map(isFree))).every(Boolean) && !ports.includes(port)) {
      return { address: '127.0.0.1', port, route_ports: { from, to: from + RANGE - 1 }, owned: true };
    }
  }
  throw new Error('no free range of route ports found');
}

/** The `proxy:` section of a slipway.yml for these settings. */
export function proxyYaml(proxy: TestProxy): string[] {
  return ['proxy:', `  address: ${proxy.address}`, `  port: ${proxy.port}`, `  route_ports: { from: ${proxy.route_ports.from}, to: ${proxy.route_ports.to} }`];
}

/** Stops the HAProxy a server with this data folder started, if it still runs. */
export async function stopProxy(dataDir: string): Promise<void> {
  let pid: number;
  try {
    pid = Number(readFileSync(join(dataDir, 'proxy', 'haproxy.pid'), 'utf8').trim().split(/\s+/)[0]);
  } catch {
    return;
  }
  if (!Number.isInteger(pid) || pid <= 0) return;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  for (let attempt = 0; attempt < 100; attempt++) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    await sleep(50);
  }
  process.kill(pid, 'SIGKILL');
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}
