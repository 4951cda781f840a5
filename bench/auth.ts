// What authentication costs per API request. Two servers in this process answer the same
// routes from the same store over real sockets: one checks each request's bearer token as
// Slipway does (form check, SHA-256, one indexed lookup of the token and its user, the role),
// the other takes every caller for the admin without looking (the same request without
// authentication). Requests alternate between the two, one at a time, so both see the same
// machine; the difference of the medians is the cost.

import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { getRequestListener } from '@hono/node-server';
import { AccessService, type Authentication, type Principal } from '../src/auth/access.ts';
import { FakeBuilder } from '../src/builders/fake/builder.ts';
import { parseConfig } from '../src/config/load.ts';
import { FakeDeployer } from '../src/deployers/fake/deployer.ts';
import { Engine } from '../src/engine/engine.ts';
import { MemoryEventBus } from '../src/events/bus.ts';
import { FakeExecutor } from '../src/executors/fake/executor.ts';
import { createApp } from '../src/server/app.ts';
import { FakeSource } from '../src/source/fake/source.ts';
import { openSqliteStore } from '../src/store/sqlite/store.ts';
import { summarize, type Summary } from './stats.ts';

/** The same caller for everyone, looked up once: a server that does no authentication work. */
class Unchecked extends AccessService {
  constructor(
    store: ConstructorParameters<typeof AccessService>[0],
    private readonly principal: Principal,
  ) {
    super(store);
  }

  override async authenticate(): Promise<Authentication> {
    return { ok: true, principal: this.principal };
  }
}

export interface AuthResult {
  requests: number;
  routes: Array<{ route: string; withAuth: Summary; without: Summary; costMs: number; ratio: number }>;
  /** AccessService.authenticate alone, in process. */
  authenticateAlone: Summary;
}

export async function benchAuth(requests: number, progress: (line: string) => void): Promise<AuthResult> {
  const root = mkdtempSync(join(tmpdir(), 'slipway-bench-auth-'));
  const store = await openSqliteStore(join(root, 'slipway.db'));
  const servers: Server[] = [];
  try {
    const parsed = parseConfig('pipeline:\n  - stage: test\n    run: make test\nservices:\n  api:\n    repo: /repos/api.git\n', join(root, 'slipway.yml'));
    if (!parsed.ok) throw new Error('benchmark config is invalid');
    const bus = new MemoryEventBus();
    const engine = new Engine({ store, bus, config: parsed.config, source: new FakeSource(), executor: new FakeExecutor(() => ({})), builder: new FakeBuilder(), deployer: new FakeDeployer(), workRoot: join(root, 'work') });
    const run = { service: 'api', ref: 'main', commitSha: 'a'.repeat(40), trigger: { kind: 'push' as const, by: 'bench' }, lane: 'main', concurrency: 'queue' as const, partial: false, untrusted: false, tag: null, variables: {}, originRunId: null };
    for (let i = 0; i < 50; i++) await store.runs.create(run, []);
    const access = new AccessService(store);
    const token = (await access.bootstrap('bench'))!.value;
    // Other users' tokens, so the lookup is not in a table of one.
    for (let i = 0; i < 200; i++) await access.createToken((await principalOf(access, token))!, { name: `token ${i}` });
    const principal = (await principalOf(access, token))!;

    const deps = (accessService: AccessService) => ({
      engine,
      store,
      bus,
      access: accessService,
      info: { version: 'bench', executor: 'fake', builder: 'fake', deployer: 'fake', store: store.description, configFile: 'slipway.yml', notices: [] },
      webhooks: { receiver: null as never, secrets: null as never },
      deployments: null as never,
      secrets: null as never,
      schedules: { describe: () => [] },
      publicUrl: () => 'http://bench',
    });
    const checked = await serve(getRequestListener(createApp(deps(access)).fetch), servers);
    const unchecked = await serve(getRequestListener(createApp(deps(new Unchecked(store, principal))).fetch), servers);
    const headers = { authorization: `Bearer ${token}` };

    const routes: AuthResult['routes'] = [];
    for (const route of ['/api/info', '/api/runs?limit=20']) {
      progress(`auth: ${requests} requests of GET ${route}, with and without authentication, alternating`);
      const withAuth: number[] = [];
      const without: number[] = [];
      for (let i = 0; i < 200; i++) await Promise.all([get(checked, route, headers), get(unchecked, route, headers)]);
      for (let i = 0; i < requests; i++) {
        withAuth.push(await timed(() => get(checked, route, headers)));
        without.push(await timed(() => get(unchecked, route, headers)));
      }
      const a = summarize(withAuth);
      const b = summarize(without);
      routes.push({ route: `GET ${route}`, withAuth: a, without: b, costMs: round(a.medianMs - b.medianMs), ratio: round(a.medianMs / b.medianMs) });
    }

    progress('auth: AccessService.authenticate alone');
    const alone: number[] = [];
    for (let i = 0; i < requests; i++) alone.push(await timed(() => access.authenticate(`Bearer ${token}`)));
    return { requests, routes, authenticateAlone: summarize(alone) };
  } finally {
    for (const server of servers) await new Promise((resolve) => server.close(resolve));
    await store.close();
    rmSync(root, { recursive: true, force: true });
  }
}

export function formatAuth(result: AuthResult): string[] {
  const lines = [`auth: cost of authentication per API request (${result.requests} requests each, one at a time, over loopback)`];
  for (const route of result.routes) {
    lines.push(
      `  ${route.route.padEnd(24)} median with ${route.withAuth.medianMs.toFixed(3)} ms, without ${route.without.medianMs.toFixed(3)} ms: +${route.costMs.toFixed(3)} ms (${route.ratio.toFixed(3)}x); p90 ${route.withAuth.p90Ms.toFixed(3)} vs ${route.without.p90Ms.toFixed(3)} ms`,
    );
  }
  lines.push(`  AccessService.authenticate alone: median ${result.authenticateAlone.medianMs.toFixed(3)} ms, p90 ${result.authenticateAlone.p90Ms.toFixed(3)} ms`);
  return lines;
}

async function principalOf(access: AccessService, token: string): Promise<Principal | null> {
  const result = await access.authenticate(`Bearer ${token}`);
  return result.ok ? result.principal : null;
}

function serve(listener: ReturnType<typeof getRequestListener>, servers: Server[]): Promise<string> {
  const server = createServer(listener);
  servers.push(server);
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)));
}

async function get(base: string, path: string, headers: Record<string, string>): Promise<void> {
  const response = await fetch(`${base}${path}`, { headers });
  if (response.status !== 200) throw new Error(`GET ${path} answered ${response.status}: ${await response.text()}`);
  await response.arrayBuffer();
}

async function timed(work: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await work();
  return performance.now() - started;
}

function round(value: number): number {
  return Math.round(value * 1000) / 1000;
}
