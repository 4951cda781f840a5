// Which reverse proxy Slipway should drive for zero-downtime deploys, measured: Debian's HAProxy
// (runtime API on a unix socket) and Caddy (admin API on a localhost port), each started here as
// a child process on free localhost ports with a minimal config, in front of two small upstreams
// in this process ("a" and "b": HTTP that answers its own name and can hold a request N ms, and
// a tiny WebSocket echo). Each proxy serves two services: "main", which is switched, and
// "other", which always points at a. For each proxy:
//
//   1. latency: N sequential keep-alive GETs straight to upstream a, alternating with N through
//      the proxy to the same upstream; p50 and p99 of each, and the proxy's share as a ratio.
//   2. switches: 20 moves of main's traffic from one upstream to the other and back through the
//      API, while 4 keep-alive clients send requests back to back (1 ms apart), 3 requests that
//      take 500 ms are in flight at each switch, one keep-alive connection sends a request every
//      100 ms, and WebSockets send a message every 100 ms. Counted: requests sent and failed, and
//      which upstream answered the slow ones.
//   3. whether a WebSocket of main, one of other (a bystander), and the long keep-alive
//      connection survive the switches.
//   4. the time from the API call to the first answer from the new upstream, and requests sent
//      after the call returned that the old upstream still answered.
//   5. HAProxy with fixed servers only: one reload of the whole process under the same load
//      (what a new service needs), with the runtime state carried over by server-state-file.
//
// HAProxy runs twice: with two fixed servers whose state flips (`set server .. state ready` and
// `.. state drain`), and the way Slipway would deploy a new container (add a server for it with
// a health check, wait for the check to pass, switch, drain the old one until its sessions end or
// a drain timeout, then put it in maintenance, shut its last sessions and delete it). Caddy has no
// such state: a PATCH of the route's upstreams replaces the config, which is a reload.
//
// A proxy that is not installed, does not start or fails while measured is reported as skipped,
// with the reason. Numbers are reported, never judged. Every child process and temp file is
// removed on the way out, also on Ctrl-C. docs/proxy.md has the figures and the choice.

import type { ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Counted, DRAIN_TIMEOUT_MS, FAST_CLIENTS, PROBE_EVERY_MS, type Percentiles, type ProxyResult, type ProxyRun, SLOW_HOLD_MS, SLOW_PER_SWITCH, SWITCHES, type Variant, type WebSocketCount } from './proxy/model.ts';
import { measureLatency, measureSwitching } from './proxy/measure.ts';
import { startCaddy, startHaproxy } from './proxy/proxies.ts';
import { type Upstream, startUpstream } from './proxy/upstreams.ts';

export type { ProxyResult } from './proxy/model.ts';

export async function benchProxy(latencyRequests: number, progress: (line: string) => void): Promise<ProxyResult> {
  const root = mkdtempSync(join(tmpdir(), 'slipway-bench-proxy-'));
  const children = new Set<ChildProcess>();
  const killAll = () => {
    for (const child of children) child.kill('SIGKILL');
  };
  const onSignal = (signal: NodeJS.Signals) => {
    killAll();
    rmSync(root, { recursive: true, force: true });
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  process.once('exit', killAll);
  const upstreams: Upstream[] = [];
  const runs: ProxyResult['runs'] = [];
  try {
    const a = await startUpstream('a');
    upstreams.push(a);
    const b = await startUpstream('b');
    upstreams.push(b);
    const variants: Array<{ variant: Variant; proxy: 'haproxy' | 'caddy' }> = [
      { variant: 'haproxy-flip', proxy: 'haproxy' },
      { variant: 'haproxy-add-drain-del', proxy: 'haproxy' },
      { variant: 'caddy-patch', proxy: 'caddy' },
    ];
    for (const { variant, proxy } of variants) {
      const dir = join(root, variant);
      mkdirSync(dir);
      progress(`proxy: starting ${variant}`);
      const started = await (proxy === 'haproxy' ? startHaproxy(dir, a, b, variant === 'haproxy-flip' ? 'flip' : 'dynamic', children) : startCaddy(dir, a, children));
      if (!started.ok) {
        progress(`proxy: ${variant} skipped: ${started.reason}`);
        runs.push({ variant, proxy, skipped: started.reason });
        continue;
      }
      const harness = started.harness;
      try {
        await harness.prepare(a, 0);
        progress(`proxy: ${variant}: ${latencyRequests} keep-alive GETs direct and through the proxy, alternating`);
        const latency = await measureLatency(a.port, harness.mainPort, latencyRequests);
        progress(`proxy: ${variant}: ${SWITCHES} switches a <-> b under load`);
        const { switching, reload } = await measureSwitching(harness, a, b);
        runs.push({ variant, proxy, version: harness.version, calls: harness.calls, latency, switching, ...(reload ? { reload } : {}) });
      } catch (error) {
        const reason = `failed while measuring: ${(error as Error).message}; log: ${harness.logTail()}`;
        progress(`proxy: ${variant} ${reason}`);
        runs.push({ variant, proxy, skipped: reason });
      } finally {
        await harness.stop();
      }
    }
    return { latencyRequests, switches: SWITCHES, runs };
  } finally {
    killAll();
    for (const upstream of upstreams) await upstream.close();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.off('exit', killAll);
    rmSync(root, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// Report

export function formatProxy(result: ProxyResult): string[] {
  const lines = [
    `proxy: a reverse proxy in front of two upstreams; latency over ${result.latencyRequests} sequential keep-alive GETs each way; ${result.switches} switches a <-> b under load`,
    `  (load: ${FAST_CLIENTS} keep-alive clients back to back, ${SLOW_PER_SWITCH} requests of ${SLOW_HOLD_MS} ms in flight at each switch, one keep-alive connection and two WebSockets every ${PROBE_EVERY_MS} ms)`,
  ];
  const ms = (value: number) => value.toFixed(3);
  const pct = (p: Percentiles) => (p.n === 0 ? 'none' : `p50 ${ms(p.p50Ms)} ms, p99 ${ms(p.p99Ms)} ms, max ${ms(p.maxMs)} ms (n ${p.n})`);
  const counted = (c: Counted) => `sent ${c.sent}, failed ${c.failed}${c.failed > 0 ? ` (${Object.entries(c.failures).map(([k, v]) => `${k}: ${v}`).join(', ')})` : ''}`;
  const ws = (w: WebSocketCount) =>
    `messages ${w.sent}, echoed ${w.answered}; drops ${w.drops} (at a switch ${w.dropsAtSwitch}, at a server's removal ${w.dropsAtRemoval}); reconnects failed ${w.reconnectFailures}; upstreams ${w.upstreams.join(' ') || '-'}`;
  for (const run of result.runs) {
    lines.push('');
    if ('skipped' in run) {
      lines.push(`proxy: ${run.variant}: skipped: ${run.skipped}`);
      continue;
    }
    const { latency: l, switching: s } = run;
    const rows: Array<[string, string]> = [
      ['version', run.version],
      ['one switch', run.calls],
      ['direct GET', `p50 ${ms(l.direct.p50Ms)} ms, p99 ${ms(l.direct.p99Ms)} ms`],
      ['through the proxy', `p50 ${ms(l.proxied.p50Ms)} ms, p99 ${ms(l.proxied.p99Ms)} ms${l.failed > 0 ? `; ${l.failed} failed` : ''}`],
      ['added by the proxy', `p50 +${ms(l.addedP50Ms)} ms (${l.ratioP50.toFixed(2)}x), p99 +${ms(l.addedP99Ms)} ms (${l.ratioP99.toFixed(2)}x)`],
      ['requests under switching', counted(s.requests)],
      [`${SLOW_HOLD_MS} ms requests`, `${counted(s.slow)}; answered by the old upstream ${s.slow.answeredByOld}, the new ${s.slow.answeredByNew}`],
      ['long keep-alive conn', `${counted(s.keepAlive)}; TCP connections used ${s.keepAlive.connections} (dropped ${s.keepAlive.connections - 1})`],
      ['WebSocket, this service', ws(s.webSocket)],
      ['WebSocket, other service', ws(s.bystanderWebSocket)],
      ['API call', pct(s.apiMs)],
      ['call -> new upstream', `${pct(s.toNewUpstreamMs)}${s.newUpstreamNeverAnswered > 0 ? `; not within 1 s: ${s.newUpstreamNeverAnswered}` : ''}`],
      ['old after the call', `${s.staleAnswers} requests sent after the call returned, answered by the old upstream${s.staleAnswers > 0 ? ` (sent up to ${ms(s.staleSentUpToMs)} ms after it)` : ''}`],
    ];
    if (s.addToHealthyMs) rows.push(['add server -> healthy', pct(s.addToHealthyMs)]);
    if (s.removals) {
      const r = s.removals;
      rows.push(['old server removed', `${r.removed} (drained to 0 sessions ${r.drainedClean}, sessions shut at the ${DRAIN_TIMEOUT_MS} ms drain timeout ${r.sessionsShut}, failed ${r.failed}); drain ${pct(r.drainMs)}`]);
    }
    if (run.reload) {
      const r = run.reload;
      rows.push(['reload (SIGUSR2)', `new worker answers after ${ms(r.newWorkerMs)} ms; servers ${r.serversBefore} -> ${r.serversAfter}; in the ${(r.windowMs / 1000).toFixed(1)} s after it: requests ${counted(r.requests)}; keep-alive connection reopened ${r.keepAliveConnectionsOpened}; WebSocket drops ${r.webSocketDrops}, other service ${r.bystanderWebSocketDrops}`]);
    }
    const width = Math.max(...rows.map(([label]) => label.length));
    lines.push(`proxy: ${run.variant} (${s.switches} switches in ${(s.durationMs / 1000).toFixed(1)} s)`);
    for (const [label, value] of rows) lines.push(`  ${label.padEnd(width)}  ${value}`);
  }
  const measured = result.runs.filter((run): run is ProxyRun => !('skipped' in run));
  if (measured.length > 1) {
    const header = ['side by side', ...measured.map((run) => run.variant)];
    const table: string[][] = [
      ['added latency p50, ms', ...measured.map((r) => `+${ms(r.latency.addedP50Ms)} (${r.latency.ratioP50.toFixed(2)}x)`)],
      ['added latency p99, ms', ...measured.map((r) => `+${ms(r.latency.addedP99Ms)} (${r.latency.ratioP99.toFixed(2)}x)`)],
      ['requests failed', ...measured.map((r) => `${r.switching.requests.failed + r.switching.keepAlive.failed} of ${r.switching.requests.sent + r.switching.keepAlive.sent}`)],
      [`${SLOW_HOLD_MS} ms requests failed`, ...measured.map((r) => `${r.switching.slow.failed} of ${r.switching.slow.sent}`)],
      ['keep-alive conn dropped', ...measured.map((r) => String(r.switching.keepAlive.connections - 1))],
      ['WebSocket drops at a switch', ...measured.map((r) => String(r.switching.webSocket.dropsAtSwitch))],
      ['  other service', ...measured.map((r) => String(r.switching.bystanderWebSocket.drops))],
      ['  at removal of its server', ...measured.map((r) => String(r.switching.webSocket.dropsAtRemoval))],
      ['API call p50, ms', ...measured.map((r) => ms(r.switching.apiMs.p50Ms))],
      ['call -> new upstream p50, ms', ...measured.map((r) => ms(r.switching.toNewUpstreamMs.p50Ms))],
    ];
    const widths = header.map((title, i) => Math.max(title.length, ...table.map((row) => row[i]!.length)));
    const line = (cells: string[]) => `  ${cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ')}`;
    lines.push('', `proxy: ${result.switches} switches each`, line(header), line(widths.map((w) => '-'.repeat(w))), ...table.map(line));
  }
  return lines;
}

