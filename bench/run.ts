// `npm run bench [-- --only process|container|webhooks|auth|approvals|proxy|deploys|integration|cli|dashboard] [-- --iterations N] [-- --connections N]`
// Prints what the engine costs per stage next to the cheapest way to do the same work on this
// machine, and what a webhook costs end to end (delivery -> first command, and intake per
// second), as tables and then one JSON line with every figure. It reports numbers and never
// fails on them: timings depend on the host, so a judgement belongs to whoever reads them.

import { cpus, release, totalmem } from 'node:os';
import { parseArgs } from 'node:util';
import { findContainerEngine } from '../src/docker/connect.ts';
import { benchApprovals, formatApprovals, type ApprovalsResult } from './approvals.ts';
import { benchAuth, formatAuth, type AuthResult } from './auth.ts';
import { benchCli, type CliResult } from './cli.ts';
import { benchDashboard, dashboardUnavailable, formatDashboard, type DashboardResult } from './dashboard.ts';
import { benchContainer, type ContainerResult } from './container.ts';
import { benchIntegration, type IntegrationResult } from './integration.ts';
import { benchProcess, type ProcessResult } from './process.ts';
import { benchProxy, formatProxy, type ProxyResult } from './proxy.ts';
import { benchDeploys, formatDeploys, type DeploysResult } from './deploys.ts';
import { benchWebhooks, DEFAULT_INTAKE_CONNECTIONS, formatWebhooks, type WebhooksResult } from './webhooks.ts';
import type { Summary } from './stats.ts';

/** For webhooks: the number of idle deliveries (the concurrent and intake parts are fixed); for approvals: the runs left waiting; for proxy and deploys: the sequential requests of the latency part (the switches and deploys are fixed); for integration: the integration stages (each a few seconds); for cli: the commands; for dashboard: the loads of each page (after one warm-up). */
const DEFAULT_ITERATIONS = { process: 40, container: 20, webhooks: 30, auth: 2000, approvals: 1000, proxy: 2000, deploys: 2000, integration: 8, cli: 40, dashboard: 5 };
const PARTS = ['process', 'container', 'webhooks', 'auth', 'approvals', 'proxy', 'deploys', 'integration', 'cli', 'dashboard'] as const;

const { values } = parseArgs({ options: { only: { type: 'string' }, iterations: { type: 'string' }, connections: { type: 'string' } } });
const only = values.only;
if (only !== undefined && !(PARTS as readonly string[]).includes(only)) {
  console.error(`--only takes ${PARTS.map((part) => `"${part}"`).join(', ')}, not "${only}"`);
  process.exit(2);
}
const runs = (part: (typeof PARTS)[number]) => only === undefined || only === part;
const iterations = values.iterations === undefined ? null : Number(values.iterations);
if (iterations !== null && !(Number.isInteger(iterations) && iterations > 0)) {
  console.error(`--iterations takes a positive whole number, not "${values.iterations}"`);
  process.exit(2);
}
const connections = values.connections === undefined ? DEFAULT_INTAKE_CONNECTIONS : Number(values.connections);
if (!(Number.isInteger(connections) && connections > 0)) {
  console.error(`--connections (webhook intake) takes a positive whole number, not "${values.connections}"`);
  process.exit(2);
}
const progress = (line: string) => console.error(`  ... ${line}`);

const lookup = await findContainerEngine({ startPodman: runs('container') || runs('integration') });
const machine = {
  cores: cpus().length,
  cpu: cpus()[0]?.model.trim() ?? 'unknown',
  memoryGiB: Math.round(totalmem() / 2 ** 30),
  node: process.version,
  kernel: release(),
  containerEngine: lookup.ok ? `${lookup.engine.name} (${lookup.engine.endpoint})` : `none: ${lookup.reason}`,
};
console.log('Slipway benchmarks');
for (const [key, value] of Object.entries(machine)) console.log(`  ${key.padEnd(16)}${value}`);
console.log('');

const rows: string[][] = [];
const row = (name: string, s: Summary) => rows.push([name, String(s.n), s.medianMs.toFixed(2), s.p90Ms.toFixed(2), s.minMs.toFixed(2), s.maxMs.toFixed(2)]);
const notes: string[] = [];
const results: { machine: typeof machine; process?: ProcessResult; container?: ContainerResult | { skipped: string }; webhooks?: WebhooksResult; auth?: AuthResult; approvals?: ApprovalsResult; proxy?: ProxyResult; deploys?: DeploysResult; integration?: IntegrationResult | { skipped: string }; cli?: CliResult; dashboard?: DashboardResult | { skipped: string } } = { machine };

if (runs('process')) {
  const r = await benchProcess(iterations ?? DEFAULT_ITERATIONS.process, progress);
  results.process = r;
  row(`process: engine, ${r.stages}-stage run / ${r.stages}`, r.engine);
  row('process: engine, one stage running->ended', r.engineStageBody);
  row(`process: shell loop of ${r.stages} \`sh -c true\` / ${r.stages}`, r.shellLoop);
  row(`process: ${r.stages} awaited node spawns / ${r.stages}`, r.nodeSpawn);
  notes.push(`process: median overhead per stage = (engine - shell loop) = ${r.overheadPerStageMs.toFixed(2)} ms (target <= 5 ms)`);
  notes.push(`process: of which node's own spawn costs (node spawns - shell loop) = ${(r.nodeSpawn.medianMs - r.shellLoop.medianMs).toFixed(2)} ms`);
}

if (runs('container')) {
  if (!lookup.ok) {
    results.container = { skipped: lookup.reason };
    notes.push(`container: skipped, ${lookup.reason} (bash scripts/setup-host.sh starts Podman)`);
  } else {
    const r = await benchContainer(lookup.engine, iterations ?? DEFAULT_ITERATIONS.container, progress);
    results.container = r;
    row(`container: engine, ${r.stages}-stage run / ${r.stages}`, r.engine);
    row('container: engine, one stage running->ended', r.engineStageBody);
    row('container: raw create+start+wait+remove', r.raw);
    notes.push(`container: engine / raw (medians) = ${r.ratio.toFixed(3)}x (target <= 1.1x)`);
  }
}

const webhookLines: string[] = [];
if (runs('webhooks')) {
  const r = await benchWebhooks(iterations ?? DEFAULT_ITERATIONS.webhooks, progress, connections);
  results.webhooks = r;
  webhookLines.push(...formatWebhooks(r));
}

const authLines: string[] = [];
if (runs('auth')) {
  const r = await benchAuth(iterations ?? DEFAULT_ITERATIONS.auth, progress);
  results.auth = r;
  authLines.push(...formatAuth(r));
}

const approvalsLines: string[] = [];
if (runs('approvals')) {
  const r = await benchApprovals(iterations ?? DEFAULT_ITERATIONS.approvals, progress);
  results.approvals = r;
  approvalsLines.push(...formatApprovals(r));
}

const proxyLines: string[] = [];
if (runs('proxy')) {
  const r = await benchProxy(iterations ?? DEFAULT_ITERATIONS.proxy, progress);
  results.proxy = r;
  proxyLines.push(...formatProxy(r));
}

const deploysLines: string[] = [];
if (runs('deploys')) {
  const r = await benchDeploys(iterations ?? DEFAULT_ITERATIONS.deploys, progress);
  results.deploys = r;
  deploysLines.push(...formatDeploys(r));
}

const integrationLines: string[] = [];
if (runs('integration')) {
  if (!lookup.ok) {
    results.integration = { skipped: lookup.reason };
    integrationLines.push(`integration: skipped, ${lookup.reason} (bash scripts/setup-host.sh starts Podman and the registry)`);
  } else {
    const r = await benchIntegration(lookup.engine, iterations ?? DEFAULT_ITERATIONS.integration, progress);
    results.integration = r;
    const ms = (s: Summary) => `median ${s.medianMs.toFixed(0)} ms (p90 ${s.p90Ms.toFixed(0)}, min ${s.minMs.toFixed(0)}, max ${s.maxMs.toFixed(0)}, n ${s.n})`;
    integrationLines.push(
      `integration stage (${r.members} members + suite, ${lookup.engine.name}): slipway median ${r.slipway.medianMs.toFixed(0)} ms, by hand median ${r.byHand.medianMs.toFixed(0)} ms, ratio ${r.ratio.toFixed(3)}x`,
      `  slipway, stage started->finished: ${ms(r.slipway)}`,
      `  by hand, network to removal:      ${ms(r.byHand)}`,
      `  slipway, whole run:               ${ms(r.slipwayRun)}`,
    );
  }
}

const cliLines: string[] = [];
if (runs('cli')) {
  const r = await benchCli(iterations ?? DEFAULT_ITERATIONS.cli, progress);
  results.cli = r;
  cliLines.push(
    `cli (${r.command}, the built JavaScript, against the server in this process): median ${r.slipway.medianMs.toFixed(0)} ms (p90 ${r.slipway.p90Ms.toFixed(0)}, n ${r.slipway.n})`,
    `  node -e 0: median ${r.nodeAlone.medianMs.toFixed(0)} ms (p90 ${r.nodeAlone.p90Ms.toFixed(0)}); ratio ${r.ratio.toFixed(2)}x, +${r.addedMs.toFixed(0)} ms beyond starting Node`,
    `  the same GET from a plain ES module (node:http): median ${r.oneGet.medianMs.toFixed(0)} ms (p90 ${r.oneGet.p90Ms.toFixed(0)}), ${(r.oneGet.medianMs / r.nodeAlone.medianMs).toFixed(2)}x; the CLI's own part +${r.beyondGetMs.toFixed(0)} ms`,
  );
}

const dashboardLines: string[] = [];
if (runs('dashboard')) {
  const unavailable = dashboardUnavailable();
  if (unavailable !== null) {
    results.dashboard = { skipped: unavailable };
    dashboardLines.push(`dashboard: skipped, ${unavailable}`);
  } else {
    const r = await benchDashboard(iterations ?? DEFAULT_ITERATIONS.dashboard, progress);
    results.dashboard = r;
    dashboardLines.push(...formatDashboard(r));
  }
}

const header = ['per stage, ms', 'n', 'median', 'p90', 'min', 'max'];
const widths = header.map((title, i) => Math.max(title.length, ...rows.map((r) => r[i]!.length)));
const line = (cells: string[]) => cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ');
if (rows.length > 0) {
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of rows) console.log(line(r));
  console.log('');
}
for (const note of notes) console.log(note);
if (notes.length > 0 && webhookLines.length > 0) console.log('');
for (const webhookLine of webhookLines) console.log(webhookLine);
if (authLines.length > 0 && (notes.length > 0 || webhookLines.length > 0)) console.log('');
for (const authLine of authLines) console.log(authLine);
if (approvalsLines.length > 0 && (notes.length > 0 || webhookLines.length > 0 || authLines.length > 0)) console.log('');
for (const approvalsLine of approvalsLines) console.log(approvalsLine);
if (proxyLines.length > 0 && (notes.length > 0 || webhookLines.length > 0 || authLines.length > 0 || approvalsLines.length > 0)) console.log('');
for (const proxyLine of proxyLines) console.log(proxyLine);
for (const [index, deploysLine] of deploysLines.entries()) console.log(index === 0 && rows.length + notes.length + proxyLines.length > 0 ? `\n${deploysLine}` : deploysLine);
const printedBefore = rows.length + notes.length + webhookLines.length + authLines.length + approvalsLines.length + proxyLines.length + deploysLines.length;
for (const [index, integrationLine] of integrationLines.entries()) console.log(index === 0 && printedBefore > 0 ? `\n${integrationLine}` : integrationLine);
for (const [index, cliLine] of cliLines.entries()) console.log(index === 0 && printedBefore + integrationLines.length > 0 ? `\n${cliLine}` : cliLine);
for (const [index, dashboardLine] of dashboardLines.entries()) console.log(index === 0 && printedBefore + integrationLines.length + cliLines.length > 0 ? `\n${dashboardLine}` : dashboardLine);
console.log(JSON.stringify(results));
