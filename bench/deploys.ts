// Deploys behind the real proxy, measured on the deploy marathon of the rollout test
// (test/support/marathon.ts): requests sent and failed across 20 deploys, 5 automatic and 5
// manual rollbacks; how long after a new instance passed its health check the clients got
// answers from it; how long after the bake saw a failed check (or errors) they got answers from
// the previous release again; and the latency the proxy adds per request against calling the
// same container directly, alternating the two in the same run.

import { Agent, request } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { LogLine } from '../src/core/types.ts';
import { ensureNodeImage } from '../src/images/base.ts';
import { ownerOf } from '../src/server/main.ts';
import { requireEngine, requireRegistry } from '../test/support/engine.ts';
import { startFleet, type Fleet } from '../test/support/fleet.ts';
import { runMarathon, type MarathonResult } from '../test/support/marathon.ts';
import type { TrafficReport } from '../test/support/traffic.ts';
import { percentile, round } from './stats.ts';

export interface DeploysResult {
  requests: { staging: Totals; production: Totals };
  /** From the log line saying an instance passed its health check to the first answer a client got from it. */
  healthToTrafficMs: number[];
  /** From the bake's verdict (a failed check, or errors) to the first answer from the previous release; negative when the proxy fell back first. */
  failureToTrafficBackMs: Array<{ what: string; ms: number }>;
  latency: { direct: Percentiles; proxied: Percentiles; addedP50Ms: number; addedP99Ms: number; requests: number };
  marathonSeconds: number;
}

interface Totals {
  sent: number;
  failed: number;
  keepAliveConnections: number;
  websocketEchoed: number;
  websocketReconnects: number;
}

interface Percentiles {
  p50Ms: number;
  p99Ms: number;
}

export async function benchDeploys(latencyRequests: number, progress: (line: string) => void): Promise<DeploysResult> {
  const registry = await requireRegistry();
  await ensureNodeImage((await requireEngine()).docker);
  const fleet = await startFleet({ registry });
  try {
    for (const service of ['notification', 'payment'] as const) {
      const run = await fleet.run(service);
      if (run.status !== 'succeeded') throw new Error(`the first deploy of ${service} failed: ${run.reason}`);
    }
    progress(`latency: ${latencyRequests} GETs direct and through the proxy, alternating`);
    const latency = await measureLatency(fleet, latencyRequests);
    progress('the deploy marathon: 10 good runs, 7 bad ones, 5 manual rollbacks (a few minutes)');
    const started = performance.now();
    const marathon = await runMarathon(fleet, { log: progress });
    const marathonSeconds = round((performance.now() - started) / 1000, 1);
    return {
      requests: { staging: totals(marathon.staging), production: totals(marathon.production) },
      healthToTrafficMs: await healthToTraffic(fleet, marathon),
      failureToTrafficBackMs: await failureToTrafficBack(fleet, marathon),
      latency,
      marathonSeconds,
    };
  } finally {
    await fleet.close();
  }
}

export function formatDeploys(r: DeploysResult): string[] {
  const median = (values: number[]) => (values.length ? round(percentile(values, 50), 1) : Number.NaN);
  const row = (name: string, t: Totals) =>
    `  ${name.padEnd(11)} ${String(t.sent).padStart(7)} sent, ${t.failed} failed; keep-alive client: ${t.keepAliveConnections} TCP connection(s); WebSocket: ${t.websocketEchoed} echoes, ${t.websocketReconnects} reconnects`;
  return [
    `deploys (HAProxy, 20 deploys + 5 automatic + 5 manual rollbacks, ${r.marathonSeconds} s):`,
    row('staging', r.requests.staging),
    row('production', r.requests.production),
    `  health check passed -> first answer from the new release: median ${median(r.healthToTrafficMs)} ms, max ${round(Math.max(...r.healthToTrafficMs), 1)} ms (n=${r.healthToTrafficMs.length})`,
    ...r.failureToTrafficBackMs.map(
      ({ what, ms }) => `  ${what} -> first answer from the previous release: ${round(ms, 1)} ms${ms < 0 ? ' (the proxy fell back on its own, before the verdict)' : ''}`,
    ),
    `  per request, ${r.latency.requests} keep-alive GETs each: direct p50 ${r.latency.direct.p50Ms} / p99 ${r.latency.direct.p99Ms} ms; through the proxy p50 ${r.latency.proxied.p50Ms} / p99 ${r.latency.proxied.p99Ms} ms`,
    `  added by the proxy: p50 +${r.latency.addedP50Ms} ms (${round(r.latency.proxied.p50Ms / r.latency.direct.p50Ms, 2)}x), p99 +${r.latency.addedP99Ms} ms (${round(r.latency.proxied.p99Ms / r.latency.direct.p99Ms, 2)}x)`,
  ];
}

function totals(report: TrafficReport): Totals {
  return { sent: report.sent, failed: report.failed, keepAliveConnections: report.keepAlive.connections, websocketEchoed: report.websocket.echoed, websocketReconnects: report.websocket.reconnects };
}

/** Alternates GETs to one payment container (by its address on the network) and to its route on the proxy. */
async function measureLatency(fleet: Fleet, count: number): Promise<DeploysResult['latency']> {
  const { docker } = await requireEngine();
  const [container] = await docker.listContainers({ filters: { label: [`slipway.owner=${ownerOf(fleet.dataDir)}`, 'slipway.service=payment', 'slipway.environment=staging', 'slipway.backend'] } });
  const ip = Object.values(container?.NetworkSettings?.Networks ?? {})[0]?.IPAddress;
  if (!container || !ip) throw new Error('no running payment instance in staging');
  const instance = { url: `http://${ip}:${container.Labels['slipway.port']}` };
  const proxied = await fleet.routeUrl('payment', 'staging');
  const agents = [new Agent({ keepAlive: true, maxSockets: 1 }), new Agent({ keepAlive: true, maxSockets: 1 })];
  const samples: [number[], number[]] = [[], []];
  const warmup = Math.min(200, count);
  for (let index = 0; index < warmup + count; index++) {
    for (const [which, base] of [instance.url, proxied].entries()) {
      const started = performance.now();
      await get(`${base}/`, agents[which]!);
      if (index >= warmup) samples[which as 0 | 1].push(performance.now() - started);
    }
  }
  for (const agent of agents) agent.destroy();
  const of = (values: number[]) => ({ p50Ms: round(percentile(values, 50)), p99Ms: round(percentile(values, 99)) });
  const direct = of(samples[0]);
  const through = of(samples[1]);
  return { direct, proxied: through, addedP50Ms: round(through.p50Ms - direct.p50Ms), addedP99Ms: round(through.p99Ms - direct.p99Ms), requests: count };
}

function get(url: string, agent: Agent): Promise<void> {
  return new Promise((resolve, reject) => {
    request(url, { agent }, (response) => {
      response.resume();
      response.on('end', () => (response.statusCode === 200 ? resolve() : reject(new Error(`${url}: ${response.statusCode}`))));
    })
      .on('error', reject)
      .end();
  });
}

async function stageLines(fleet: Fleet, runId: number, environment: string): Promise<LogLine[]> {
  const run = await fleet.admin.run(runId);
  const stage = run.stages.find((candidate) => candidate.environment === environment);
  return stage ? fleet.admin.logs(runId, { stage: stage.id, limit: 1000 }) : [];
}

/** Payment's good deploys to staging: the traffic client watches payment there. */
async function healthToTraffic(fleet: Fleet, marathon: MarathonResult): Promise<number[]> {
  const samples: number[] = [];
  for (const step of marathon.steps.filter((candidate) => candidate.service === 'payment' && candidate.what.endsWith(' deploys'))) {
    const label = step.what.split(' ')[0]!;
    const passed = (await stageLines(fleet, step.run.id, 'staging')).find((line) => / passed after /.test(line.text));
    const moved = marathon.staging.releaseChanges.find((change) => change.release === label);
    if (passed && moved) samples.push(moved.at - Date.parse(passed.at));
  }
  return samples;
}

async function failureToTrafficBack(fleet: Fleet, marathon: MarathonResult): Promise<Array<{ what: string; ms: number }>> {
  const results: Array<{ what: string; ms: number }> = [];
  for (const step of marathon.steps.filter((candidate) => candidate.deployments.some((deployment) => deployment.status === 'rolled_back' && deployment.environment === 'staging'))) {
    const label = step.what.split(' ')[0]!;
    // Logged once the verdict is in, before traffic moves back.
    const verdict = (await stageLines(fleet, step.run.id, 'staging')).find((line) => line.text.startsWith('Rolling back: '));
    if (!verdict) continue;
    const at = Date.parse(verdict.at);
    // From the change that brought the new release in: the proxy's backup servers may have
    // given the requests back before Slipway's verdict (all new instances down), a negative time.
    const changes = marathon.staging.releaseChanges;
    const arrived = changes.reduce((found, change, index) => (change.at <= at && change.release === label ? index : found), -1);
    const back = changes.slice(arrived + 1).find((change) => change.release !== label);
    const kind = step.what.includes('health') ? 'failed health check' : step.what.includes('errors') ? 'errors after the switch' : 'failed smoke test';
    if (back) results.push({ what: `${kind} (${label})`, ms: back.at - at });
  }
  return results;
}
