// What runs waiting for approval cost the server. A waiting run should hold no executor slot,
// promise or timer, only its rows in the store: N runs of one service are brought to a
// production gate that needs an approval (keep_older, so none supersedes another) on a real
// Engine and SQLite file store with the fake ports, and the heap, RSS and store bytes are read
// before any run, with N/2 and with N waiting, after a full GC: the second half's growth is what
// one more waiting run costs, past one-off costs (compiled code, the bus's bounded replay buffer
// filling up). Then approvals go through one at a time, alternating with runs of the same
// pipeline whose production needs no approval (the same work without the gate), each on its own
// engine over the same store, so that the two never take each other's pending runs. The waker's
// tick is timed with N waiting and none due, next to a tick with nothing waiting.

import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setImmediate as nextTurn, setTimeout as sleep } from 'node:timers/promises';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { FakeBuilder } from '../src/builders/fake/builder.ts';
import { parseConfig } from '../src/config/load.ts';
import type { Config } from '../src/config/model.ts';
import { isTerminalRun, type Run } from '../src/core/types.ts';
import { FakeDeployer } from '../src/deployers/fake/deployer.ts';
import { Engine } from '../src/engine/engine.ts';
import { MemoryEventBus } from '../src/events/bus.ts';
import { FakeExecutor } from '../src/executors/fake/executor.ts';
import { FakeSource } from '../src/source/fake/source.ts';
import { openSqliteStore } from '../src/store/sqlite/store.ts';
import { round, summarize, type Summary } from './stats.ts';

const REPO = '/repos/api.git';
const APPROVER = { name: 'erin', role: 'deployer' as const, email: null };
/** Approvals timed (each uses up one waiting run), and as many ungated runs. */
const APPROVAL_SAMPLES = 20;
const TICKS = 200;
/** Keeps the waker's own timer out of the timed ticks. */
const WAKE_EVERY_MS = 3_600_000;

export interface ApprovalsResult {
  waiting: number;
  /** Brought to the gate in two halves, with a GC'd sample between them. */
  toGate: { totalMs: number; perRunMs: number; firstHalfPerRunMs: number; secondHalfPerRunMs: number; peakRunning: number };
  /** Runs pending or running in the store while the N wait. */
  inFlight: number;
  /** Handles and timers the process holds (process.getActiveResourcesInfo). */
  activeResources: { before: number; waiting: number };
  heap: Memory;
  rss: Memory;
  store: { beforeBytes: number; dbBytes: number; walBytes: number; perWaitingRunBytes: number; dbPerWaitingRunBytes: number };
  /** Live events published on the bus: its bounded replay buffer keeps the newest. */
  busEvents: number;
  approval: { decideToSucceeded: Summary; decideCall: Summary; ungatedRun: Summary; ratio: number };
  wakerTick: { noneWaiting: Summary; nWaiting: Summary; ratio: number };
  /** The oldest waiting run, approved last: it must go through however many releases reached staging since it did. */
  oldestApproved: { runId: number; status: string; reason: string | null };
}

/** Per waiting run: from before any run, and over the second half alone (past one-off costs and bounded buffers). */
type Memory = { beforeBytes: number; waitingBytes: number; perWaitingRunBytes: number; marginalPerWaitingRunBytes: number };

export async function benchApprovals(n: number, progress: (line: string) => void): Promise<ApprovalsResult> {
  const gc = collector();
  const root = mkdtempSync(join(tmpdir(), 'slipway-bench-approvals-'));
  const dbPath = join(root, 'slipway.db');
  const workRoot = join(root, 'work');
  const store = await openSqliteStore(dbPath);
  const gated = config('{ approval: { rules: [{ roles: [deployer] }], expires: 7d, keep_older: true } }');
  const free = config('{}');
  const bus = new MemoryEventBus();
  const source = new FakeSource().setRef(REPO, 'main', 'f'.repeat(40));
  const executor = new FakeExecutor(() => ({}));
  const builder = new FakeBuilder();
  const deployer = new FakeDeployer();
  const make = (cfg: Config) => new Engine({ store, bus, config: cfg, source, executor, builder, deployer, workRoot, maxParallelRuns: 4, wakeEveryMs: WAKE_EVERY_MS });
  // Only the bus says when a run changes: no polling in what is timed.
  const waitingIds = new Set<number>();
  const running = new Set<number>();
  const endings = new Map<number, (run: Run) => void>();
  let goal: { count: number; resolve: () => void; reject: (error: Error) => void } | null = null;
  let peakRunning = 0;
  let busEvents = 0;
  bus.subscribe(() => true, (event) => {
    busEvents++;
    if (event.type !== 'run') return;
    const run = event.data;
    if (run.status === 'running') peakRunning = Math.max(peakRunning, running.add(run.id).size);
    else running.delete(run.id);
    if (run.status === 'waiting') waitingIds.add(run.id);
    else waitingIds.delete(run.id);
    if (isTerminalRun(run.status)) {
      const ending = endings.get(run.id);
      if (ending) ending(run);
      else goal?.reject(new Error(`run ${run.id} ended ${run.status} on its way to the gate: ${run.reason}`));
    }
    if (goal && waitingIds.size >= goal.count) goal.resolve();
  });
  const ended = (runId: number) =>
    new Promise<Run>((resolve) => {
      endings.set(runId, resolve);
      // It may have ended before its ending was asked for: the store is written before the bus.
      void store.runs.get(runId).then((stored) => stored && isTerminalRun(stored.status) && resolve(stored));
    });
  const startRun = async (i: number) => {
    const started = await engine.startRun({ service: 'api', commitSha: i.toString(16).padStart(40, '0'), trigger: { kind: 'push', by: 'bench' } });
    if (!started.ok) throw new Error(started.error.message);
    return started.value.run.id;
  };
  const toGate = async (from: number, to: number) => {
    const started = performance.now();
    const reached = new Promise<void>((resolve, reject) => (goal = { count: to, resolve, reject }));
    reached.catch(() => undefined); // a run that fails early is thrown below, not reported unhandled
    for (let i = from; i < to; i++) await startRun(i);
    await reached;
    goal = null;
    const ms = performance.now() - started;
    // The last drivers still remove their workspaces: a wait keeps none on disk.
    while (readdirSync(workRoot).length > 0) await sleep(5);
    return ms;
  };
  // The fakes record every call; a real server keeps no such list, so they are not counted.
  const settled = async () => {
    source.checkouts.length = builder.calls.length = deployer.calls.length = executor.calls.length = 0;
    for (let i = 0; i < 3; i++) await nextTurn(gc());
    const { heapUsed, rss } = process.memoryUsage();
    return { heap: heapUsed, rss, handles: process.getActiveResourcesInfo().length };
  };
  const storeBytes = () => {
    const size = (path: string) => (existsSync(path) ? statSync(path).size : 0);
    return { db: size(dbPath), wal: size(`${dbPath}-wal`) };
  };
  const timeTicks = async () => {
    const samples: number[] = [];
    for (let i = 0; i < TICKS; i++) {
      const started = performance.now();
      if ((await engine.waker.tick()) !== 0) throw new Error('the waker woke a run none of whose waits was due');
      samples.push(performance.now() - started);
    }
    return summarize(samples);
  };

  let engine = make(gated);
  try {
    await engine.start();
    progress(`approvals: waker ticks with nothing waiting, then ${n} runs to the production gate`);
    const tickNone = await timeTicks();
    const before = await settled();
    const storeBefore = storeBytes();
    const half = Math.floor(n / 2);
    const firstMs = await toGate(0, half);
    const middle = await settled();
    const secondMs = await toGate(half, n);
    const inFlight = (await store.runs.list({ statuses: ['pending', 'running'] })).length;
    const waiting = await settled();
    // The WAL file keeps its largest size; the checkpointer (every 500 ms) copies every row into the db file.
    await sleep(1500);
    const storeWaiting = storeBytes();
    progress(`approvals: waker ticks with ${n} waiting`);
    const tickN = await timeTicks();
    await engine.stop();

    progress(`approvals: ${APPROVAL_SAMPLES} approvals with ~${n} waiting, alternating with as many runs without a gate`);
    // Newest first; the oldest is approved last, a check that age does not matter at the gate.
    const queue = [...waitingIds].sort((a, b) => b - a);
    // One run each, on an engine of its own: `act` answers the run whose end is waited for.
    const sample = async (cfg: Config, act: () => Promise<number>) => {
      engine = make(cfg);
      await engine.start();
      const started = performance.now();
      const runId = await act();
      const actedMs = performance.now() - started;
      const run = await ended(runId);
      const totalMs = performance.now() - started;
      await engine.stop();
      return { run, actedMs, totalMs };
    };
    const approve = (runId: number) => async () => (await engine.decide({ runId, decision: 'approve', by: APPROVER, comment: null })).run.id;
    const decideToSucceeded: number[] = [];
    const decideCall: number[] = [];
    const ungated: number[] = [];
    for (let i = 0; i < Math.min(APPROVAL_SAMPLES, n - 1); i++) {
      const approved = await sample(gated, approve(queue.shift()!));
      if (approved.run.status !== 'succeeded') throw new Error(`approved run ${approved.run.id} ended ${approved.run.status}: ${approved.run.reason}`);
      decideCall.push(approved.actedMs);
      decideToSucceeded.push(approved.totalMs);
      const plain = await sample(free, () => startRun(n + i));
      if (plain.run.status !== 'succeeded') throw new Error(`run ${plain.run.id} without a gate ended ${plain.run.status}: ${plain.run.reason}`);
      ungated.push(plain.totalMs);
    }
    const { run: oldestRun } = await sample(gated, approve(queue.at(-1)!));

    const a = summarize(decideToSucceeded);
    const b = summarize(ungated);
    const memory = (key: 'heap' | 'rss'): Memory => ({
      beforeBytes: before[key],
      waitingBytes: waiting[key],
      perWaitingRunBytes: Math.round((waiting[key] - before[key]) / n),
      marginalPerWaitingRunBytes: Math.round((waiting[key] - middle[key]) / (n - half)),
    });
    return {
      waiting: n,
      toGate: { totalMs: round(firstMs + secondMs, 1), perRunMs: round((firstMs + secondMs) / n), firstHalfPerRunMs: round(firstMs / half), secondHalfPerRunMs: round(secondMs / (n - half)), peakRunning },
      inFlight,
      activeResources: { before: before.handles, waiting: waiting.handles },
      heap: memory('heap'),
      rss: memory('rss'),
      store: { beforeBytes: storeBefore.db + storeBefore.wal, dbBytes: storeWaiting.db, walBytes: storeWaiting.wal, perWaitingRunBytes: Math.round((storeWaiting.db + storeWaiting.wal - storeBefore.db - storeBefore.wal) / n), dbPerWaitingRunBytes: Math.round((storeWaiting.db - storeBefore.db) / n) },
      busEvents,
      approval: { decideToSucceeded: a, decideCall: summarize(decideCall), ungatedRun: b, ratio: round(a.medianMs / b.medianMs) },
      wakerTick: { noneWaiting: tickNone, nWaiting: tickN, ratio: round(tickN.medianMs / tickNone.medianMs) },
      oldestApproved: { runId: oldestRun.id, status: oldestRun.status, reason: oldestRun.reason },
    };
  } finally {
    await engine.stop();
    await store.close();
    rmSync(root, { recursive: true, force: true });
  }
}

export function formatApprovals(r: ApprovalsResult): string[] {
  const kib = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;
  const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;
  const ms = (s: Summary) => `median ${s.medianMs.toFixed(3)} ms, p90 ${s.p90Ms.toFixed(3)} ms`;
  const memory = (m: Memory) => `${mib(m.beforeBytes)} -> ${mib(m.waitingBytes)}: ${kib(m.perWaitingRunBytes)} per waiting run; second half alone ${kib(m.marginalPerWaitingRunBytes)}`;
  const { toGate, store, approval, wakerTick, oldestApproved: oldest } = r;
  return [
    `approvals: ${r.waiting} runs waiting for approval at production (real engine, SQLite file, fake ports, maxParallelRuns 4)`,
    `  to the gate          ${toGate.totalMs.toFixed(0)} ms, ${toGate.perRunMs.toFixed(2)} ms per run (first half ${toGate.firstHalfPerRunMs.toFixed(2)}, second ${toGate.secondHalfPerRunMs.toFixed(2)}); at most ${toGate.peakRunning} running at once`,
    `  while they wait      ${r.inFlight} runs pending or running; handles and timers ${r.activeResources.before} before, ${r.activeResources.waiting} with ${r.waiting} waiting`,
    `  heap after GC        ${memory(r.heap)}`,
    `  RSS after GC         ${memory(r.rss)}`,
    `  store db + wal       ${mib(store.beforeBytes)} -> ${mib(store.dbBytes + store.walBytes)}: ${kib(store.perWaitingRunBytes)} per waiting run; the db file alone ${kib(store.dbPerWaitingRunBytes)} (the wal file, ${mib(store.walBytes)}, keeps its largest size)`,
    `  live events          ${r.busEvents} published; the bus's replay buffer keeps the newest 10000`,
    `  approve -> succeeded ${ms(approval.decideToSucceeded)} (decide() itself ${ms(approval.decideCall)})`,
    `  a run without gate   ${ms(approval.ungatedRun)}: approval / ungated run (medians) = ${approval.ratio.toFixed(3)}x`,
    `  waker tick, none due ${r.waiting} waiting ${ms(wakerTick.nWaiting)}; none waiting ${ms(wakerTick.noneWaiting)}: ${wakerTick.ratio.toFixed(3)}x`,
    `  oldest run approved  run #${oldest.runId} ${oldest.status}${oldest.reason ? `: ${oldest.reason}` : ''}`,
  ];
}

function config(production: string): Config {
  // Parallel branches: runs of one lane would otherwise queue behind the first one waiting.
  const text = `registry: registry.test
concurrency: { branches: parallel }
pipeline: [{ stage: build }, { stage: deploy-staging, environment: staging }, { stage: deploy-production, environment: production }]
environments: { staging: {}, production: ${production} }
services: { api: { repo: ${REPO}, port: 3000 } }
`;
  const parsed = parseConfig(text, 'slipway.yml');
  if (!parsed.ok) throw new Error(`benchmark config is invalid: ${JSON.stringify(parsed.errors)}`);
  return parsed.config;
}

/** A full collection: what a sample counts is what is kept, not garbage not yet collected. */
function collector(): () => void {
  const exposed = (globalThis as { gc?: () => void }).gc;
  if (exposed) return exposed;
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}
