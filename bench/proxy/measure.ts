// The proxy benchmark's measurements: added latency, and switches under load (bench/proxy.ts).

import { Agent } from 'node:http';
import { type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { percentile, round } from '../stats.ts';
import { type Counted, FAST_CLIENTS, PROBE_EVERY_MS, type Percentiles, type ProxyRun, type ReloadResult, SETTLE_MS, SLOW_HOLD_MS, SLOW_LEAD_MS, SLOW_PER_SWITCH, SWITCHES, type WebSocketCount } from './model.ts';
import { type Harness } from './proxies.ts';
import { type Upstream, WebSocketProbe, get } from './upstreams.ts';

export async function measureLatency(directPort: number, proxyPort: number, n: number): Promise<ProxyRun['latency']> {
  const directAgent = new Agent({ keepAlive: true, maxSockets: 1 });
  const proxyAgent = new Agent({ keepAlive: true, maxSockets: 1 });
  try {
    for (let i = 0; i < 200; i++) {
      await get(directAgent, directPort, '/');
      await get(proxyAgent, proxyPort, '/');
    }
    const direct: number[] = [];
    const proxied: number[] = [];
    let failed = 0;
    for (let i = 0; i < n; i++) {
      let started = performance.now();
      let reply = await get(directAgent, directPort, '/');
      if (reply.ok) direct.push(performance.now() - started);
      else failed++;
      started = performance.now();
      reply = await get(proxyAgent, proxyPort, '/');
      if (reply.ok) proxied.push(performance.now() - started);
      else failed++;
    }
    const d = percentiles(direct);
    const p = percentiles(proxied);
    return {
      requests: n,
      failed,
      direct: d,
      proxied: p,
      addedP50Ms: round(p.p50Ms - d.p50Ms),
      addedP99Ms: round(p.p99Ms - d.p99Ms),
      ratioP50: round(p.p50Ms / d.p50Ms),
      ratioP99: round(p.p99Ms / d.p99Ms),
    };
  } finally {
    directAgent.destroy();
    proxyAgent.destroy();
  }
}

export interface Watch {
  t0: number;
  apiDone: number | null;
  oldName: string;
  newName: string;
  firstNewAt: number | null;
}

export async function measureSwitching(harness: Harness, a: Upstream, b: Upstream): Promise<{ switching: ProxyRun['switching']; reload?: ReloadResult }> {
  const port = harness.mainPort;
  const count = (): Counted => ({ sent: 0, failed: 0, failures: {} });
  const fail = (c: Counted, reason: string) => {
    c.failed++;
    c.failures[reason] = (c.failures[reason] ?? 0) + 1;
  };
  const requests = count();
  const slow = { ...count(), answeredByOld: 0, answeredByNew: 0 };
  const keepAlive = { ...count(), connections: 0 };
  let staleAnswers = 0;
  let staleSentUpToMs = 0;
  let watch: Watch | null = null;
  const seen = (w: Watch | null, sentAt: number, upstream: string) => {
    if (!w) return;
    if (upstream === w.newName && sentAt >= w.t0 && w.firstNewAt === null) w.firstNewAt = performance.now();
    if (upstream === w.oldName && w.apiDone !== null && sentAt >= w.apiDone) {
      staleAnswers++;
      staleSentUpToMs = Math.max(staleSentUpToMs, sentAt - w.apiDone);
    }
  };

  let running = true;
  const agents: Agent[] = [];
  const fastLoop = async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    agents.push(agent);
    while (running) {
      const w = watch;
      const sentAt = performance.now();
      requests.sent++;
      const reply = await get(agent, port, '/');
      if (reply.ok) seen(w, sentAt, reply.upstream);
      else fail(requests, reply.reason);
      await sleep(1);
    }
  };
  const keepAliveLoop = async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    agents.push(agent);
    const sockets = new WeakSet<Socket>();
    while (running) {
      const w = watch;
      const sentAt = performance.now();
      keepAlive.sent++;
      const reply = await get(agent, port, '/', (socket) => {
        if (!sockets.has(socket)) {
          sockets.add(socket);
          keepAlive.connections++;
        }
      });
      if (reply.ok) seen(w, sentAt, reply.upstream);
      else fail(keepAlive, reply.reason);
      await sleep(PROBE_EVERY_MS);
    }
  };
  const slowAgent = new Agent({ keepAlive: true });
  agents.push(slowAgent);
  const slowOnes: Promise<void>[] = [];
  const sendSlow = (oldName: string, newName: string) => {
    for (let i = 0; i < SLOW_PER_SWITCH; i++) {
      slow.sent++;
      slowOnes.push(
        get(slowAgent, port, `/?hold=${SLOW_HOLD_MS}`).then((reply) => {
          if (!reply.ok) fail(slow, reply.reason);
          else if (reply.upstream === oldName) slow.answeredByOld++;
          else if (reply.upstream === newName) slow.answeredByNew++;
        }),
      );
    }
  };

  const switchTimes: number[] = [];
  const shutTimes: number[] = [];
  harness.onSessionsShut = (at) => shutTimes.push(at);
  const mainSocket = new WebSocketProbe(port);
  const bystander = new WebSocketProbe(harness.otherPort);
  await mainSocket.start();
  await bystander.start();
  const loops = [...Array.from({ length: FAST_CLIENTS }, fastLoop), keepAliveLoop()];
  await sleep(500);

  const apiMs: number[] = [];
  const toNew: number[] = [];
  const healthy: number[] = [];
  let never = 0;
  const began = performance.now();
  let from = a;
  let to = b;
  for (let i = 1; i <= SWITCHES; i++) {
    const readyMs = await harness.prepare(to, i);
    if (readyMs !== null) healthy.push(readyMs);
    sendSlow(from.name, to.name);
    await sleep(SLOW_LEAD_MS);
    const w: Watch = { t0: performance.now(), apiDone: null, oldName: from.name, newName: to.name, firstNewAt: null };
    watch = w;
    switchTimes.push(w.t0);
    await harness.switchTo(to, from, i);
    w.apiDone = performance.now();
    apiMs.push(w.apiDone - w.t0);
    harness.retire(from, i);
    await sleep(SETTLE_MS);
    if (w.firstNewAt === null) never++;
    else toNew.push(w.firstNewAt - w.t0);
    [from, to] = [to, from];
  }
  const removals = await harness.settle();
  await Promise.all(slowOnes);
  await sleep(300);
  const durationMs = performance.now() - began;

  const classify = (probe: WebSocketProbe): WebSocketCount => {
    let atRemoval = 0;
    let atSwitch = 0;
    for (const at of probe.drops) {
      if (shutTimes.some((shut) => at >= shut && at - shut <= 200)) atRemoval++;
      else if (switchTimes.some((t0) => at >= t0 && at - t0 <= 1000)) atSwitch++;
    }
    return { sent: probe.sent, answered: probe.answered, drops: probe.drops.length, dropsAtSwitch: atSwitch, dropsAtRemoval: atRemoval, reconnectFailures: probe.reconnectFailures, upstreams: [...probe.upstreams] };
  };
  const switching: ProxyRun['switching'] = structuredClone({
    switches: SWITCHES,
    durationMs: round(durationMs, 0),
    requests,
    slow,
    keepAlive,
    webSocket: classify(mainSocket),
    bystanderWebSocket: classify(bystander),
    apiMs: percentiles(apiMs),
    toNewUpstreamMs: percentiles(toNew),
    newUpstreamNeverAnswered: never,
    staleAnswers,
    staleSentUpToMs: round(staleSentUpToMs),
    ...(healthy.length > 0 ? { addToHealthyMs: percentiles(healthy) } : {}),
    ...(removals ? { removals: { ...removals, drainMs: percentiles(removals.drainMs) } } : {}),
  });

  // HAProxy: one reload of the whole process under the same load, as a new service (a new
  // frontend or backend) or an upgrade needs; Caddy reloads at every change, measured above.
  let reload: ReloadResult | undefined;
  if (harness.reload) {
    const before = { sent: requests.sent + keepAlive.sent, failed: requests.failed + keepAlive.failed, connections: keepAlive.connections, drops: mainSocket.drops.length, bystanderDrops: bystander.drops.length };
    const failuresBefore = { ...requests.failures };
    for (const [reason, n] of Object.entries(keepAlive.failures)) failuresBefore[reason] = (failuresBefore[reason] ?? 0) + n;
    const t = performance.now();
    const { newWorkerMs, serversBefore, serversAfter } = await harness.reload();
    await sleep(2000);
    const failures: Record<string, number> = {};
    const all = [requests.failures, keepAlive.failures];
    for (const group of all) for (const [reason, n] of Object.entries(group)) failures[reason] = (failures[reason] ?? 0) + n;
    for (const [reason, n] of Object.entries(failuresBefore)) failures[reason] = (failures[reason] ?? 0) - n;
    for (const reason of Object.keys(failures)) if (failures[reason] === 0) delete failures[reason];
    reload = {
      newWorkerMs: round(newWorkerMs),
      serversBefore,
      serversAfter,
      windowMs: round(performance.now() - t, 0),
      requests: { sent: requests.sent + keepAlive.sent - before.sent, failed: requests.failed + keepAlive.failed - before.failed, failures },
      keepAliveConnectionsOpened: keepAlive.connections - before.connections,
      webSocketDrops: mainSocket.drops.length - before.drops,
      bystanderWebSocketDrops: bystander.drops.length - before.bystanderDrops,
    };
  }

  running = false;
  await Promise.all(loops);
  mainSocket.stop();
  bystander.stop();
  for (const agent of agents) agent.destroy();
  return { switching, ...(reload ? { reload } : {}) };
}

export function percentiles(samples: number[]): Percentiles {
  if (samples.length === 0) return { n: 0, p50Ms: 0, p99Ms: 0, maxMs: 0 };
  return { n: samples.length, p50Ms: round(percentile(samples, 50)), p99Ms: round(percentile(samples, 99)), maxMs: round(Math.max(...samples)) };
}

