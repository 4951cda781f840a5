// Webhooks end to end, through the real server (startServer: HTTP, receiver, inbox, trigger
// service, engine, SQLite on disk, GitSource, process executor):
//
// 1. Latency: from just before a signed GitHub push delivery is POSTed to the moment the run's
//    first command stage becomes `running`. Times are performance.now() taken as each live
//    event arrives over the server's own SSE stream (/api/events, read with the typed client):
//    what a dashboard sees, and in practice after the step's spawn, which the engine does
//    synchronously before the stream gets to write. The stage's stored startedAt (ms, taken by
//    the engine before its write, so before the spawn) is reported next to them as a
//    cross-check. The run's earlier live events split the time into phases (accept, trigger,
//    schedule, checkout, ...).
//    Each delivery is a real new commit: commits are written into the "GitHub" bare repository
//    up front as history no ref reaches yet, and the branch is moved to the next one just
//    before its delivery (what GitHub's side looks like when it sends the hook), so the server
//    must fetch every commit, as it would from GitHub. https://github.com/ is rewritten to the
//    local folder of bare repositories through GIT_CONFIG_COUNT/KEY/VALUE (insteadOf).
//    - idle: one delivery at a time, each waiting for the previous run to end.
//    - concurrent: 50 deliveries at once, to 50 repositories with one service each. Inbox and
//      lanes are per repository and per service branch, by design: 50 commits to one service's
//      branch would handle their deliveries one after another and queue their runs in one lane
//      (the 50th would wait for 49 runs), and one push to a repository of 50 services is one
//      delivery. 50 teams pushing at once is 50 repositories.
//    Next to each, "raw git": the least git work any server must do per delivery (fetch the new
//    commit into a mirror, diff, make a workspace borrowing the mirror's objects, check out),
//    timed the same way.
//    Next to the times: CPU per delivery (the main thread, and the git/sh child processes, from
//    /proc), which machine load skews far less than wall time, and the main thread's event-loop
//    utilisation. On a 2-core host the CPU figures bound the concurrent case from below.
// 2. Intake: signed push deliveries to a branch no service builds, each with its own
//    X-GitHub-Delivery, as fast as autocannon's connections get answers. The load runs in a
//    worker thread (its own event loop, the machine's other core), not on the server's loop.
//    Afterwards every 202's delivery id is looked up in the SQLite file, opened read-only, and
//    the same load is run for a few seconds against a bare accept (node:http, JSON.parse,
//    HMAC, one prepared insert, group commit): what this machine allows at the least.

import { execFile } from 'node:child_process';
import { createHmac, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { Agent, createServer, request, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import type { WebhookDefinition } from '@octokit/webhooks-examples';
import SqliteDatabase from 'better-sqlite3';
import { SlipwayClient } from '../src/client/client.ts';
import { isTerminalRun, type Run } from '../src/core/types.ts';
import type { LiveEvent } from '../src/events/bus.ts';
import { LOCAL_TOKEN_FILE, startServer } from '../src/server/main.ts';
import { percentile, round } from './stats.ts';

const OWNER = 'Codertocat';
const BRANCH = 'main';
/** A branch no service builds: deliveries to it are stored and handled, and start nothing. */
const UNBUILT_BRANCH = 'bench-intake';
const CONCURRENT = 50;
const CONCURRENT_ROUNDS = 2;
const IDLE_WARMUP = 2;
/**
 * Connections kept busy by the intake load. With every connection always waiting on an answer,
 * latency is connections / throughput by construction: 64 finds the most the server accepts a
 * second; 16 (`--connections 16`) shows latency at about the same rate, less over-subscribed.
 */
export const DEFAULT_INTAKE_CONNECTIONS = 64;
const INTAKE_SECONDS = 10;
const BARE_INTAKE_SECONDS = 5;
const MIRRORED_REFS = ['+refs/heads/*:refs/heads/*', '+refs/tags/*:refs/tags/*', '+refs/pull/*:refs/pull/*', '+refs/merge-requests/*:refs/merge-requests/*'];

export const TARGETS = { p50Ms: 100, p99Ms: 500, acceptedPerSecond: 2000, intakeP99Ms: 50 } as const;

export interface Percentiles {
  n: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
}

/** CPU spent per delivery, in ms: the server's main thread, and its child processes (git, sh). */
export interface CpuPerDelivery {
  mainThreadMs: number;
  childrenMs: number;
}

export interface LatencyResult {
  /** POST sent -> first command stage `running` event arrived. */
  total: Percentiles;
  /** The same end point read from the stage's stored startedAt (ms resolution) against Date.now() at send. */
  storedStartedAt: Percentiles;
  /** Consecutive marks; their medians do not add up to the total's median. */
  phases: Record<PhaseName, Percentiles>;
  /** The least git work per delivery (fetch, diff, init, checkout), same concurrency. */
  rawGit: Percentiles;
  rawGitPhases: Record<'fetch' | 'diff' | 'init' | 'checkout', Percentiles>;
  /**
   * From each POST to the end of its run (so a little more than up to the first command). CPU
   * time does not depend on how busy the machine is the way wall time does, and it bounds the
   * concurrent case from below: N deliveries take at least N x (main thread) on one core.
   * Null where /proc is not there.
   */
  cpu: CpuPerDelivery | null;
  rawGitCpu: CpuPerDelivery | null;
  /** The main thread's event-loop utilisation over the same windows. */
  eventLoopUtilization: number;
}

export interface IntakeResult {
  connections: number;
  seconds: number;
  sent: number;
  accepted: number;
  acceptedPerSecond: number;
  /** Accepted per whole second of the run: the slowest and the median second. */
  perSecondMin: number;
  perSecondMedian: number;
  latency: Percentiles;
  /** The server's main thread: CPU ms per accepted delivery (accepting and handling), and its event-loop utilisation. */
  mainThreadCpuMsPerDelivery: number | null;
  eventLoopUtilization: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  statusCodes: Record<string, number>;
  /** 202 answers whose delivery id is not in the database (should be 0). */
  missing: number;
  /** Rows stored for this run, including requests cut off by the end of the run before their answer. */
  stored: number;
  /** From the end of the load until every stored delivery was handled ("processed"). */
  drainMs: number;
  processedPerSecond: number;
  failedDeliveries: number;
  bodyBytes: number;
  databaseBytes: number;
  /** The same load on the least work a durable accept takes here (see startBareIntake). */
  bare: { seconds: number; acceptedPerSecond: number; latency: Percentiles; mainThreadCpuMsPerDelivery: number | null; missing: number };
}

export interface WebhooksResult {
  durability: string;
  /** The 1-minute load average before and after: other work on the machine skews every figure. */
  loadAverage: { before: number; after: number };
  idle: LatencyResult;
  concurrent: LatencyResult;
  intake: IntakeResult;
}

type PhaseName = 'accept' | 'trigger' | 'schedule' | 'checkoutStart' | 'checkout' | 'toCommand';

export const PHASES: Array<{ name: PhaseName; label: string }> = [
  { name: 'accept', label: 'POST -> 202 (verify, store delivery)' },
  { name: 'trigger', label: '202 -> run created (fetch, diff, store run)' },
  { name: 'schedule', label: 'run created -> run running' },
  { name: 'checkoutStart', label: 'run running -> checkout running' },
  { name: 'checkout', label: 'checkout running -> succeeded (init, checkout)' },
  { name: 'toCommand', label: 'checkout succeeded -> command running' },
];

function percentiles(samples: readonly number[]): Percentiles {
  return {
    n: samples.length,
    p50Ms: round(percentile(samples, 50), 1),
    p90Ms: round(percentile(samples, 90), 1),
    p99Ms: round(percentile(samples, 99), 1),
    maxMs: round(samples.length ? Math.max(...samples) : Number.NaN, 1),
  };
}

// ---------------------------------------------------------------------------------------------
// CPU, from /proc: this process's main thread (its task id is the pid) and its waited-for children.

const TICK_MS = 10; // USER_HZ is 100 on Linux

interface CpuMark {
  main: number;
  children: number;
}

function readCpu(): CpuMark | null {
  try {
    const fields = (path: string) => readFileSync(path, 'utf8').replace(/^.*\) /, '').split(' ').map(Number);
    // After "pid (comm) ", utime is the 12th field, stime the 13th, cutime the 14th, cstime the 15th.
    const own = fields(`/proc/self/task/${process.pid}/stat`);
    const all = fields('/proc/self/stat');
    return { main: (own[11]! + own[12]!) * TICK_MS, children: (all[13]! + all[14]!) * TICK_MS };
  } catch {
    return null;
  }
}

/** Sums CPU, and the main thread's event-loop utilisation, over measured windows. */
class CpuMeter {
  private main = 0;
  private children = 0;
  private available = true;
  private start: CpuMark | null = null;
  private loopStart = performance.eventLoopUtilization();
  private active = 0;
  private idle = 0;

  begin(): void {
    this.start = readCpu();
    this.loopStart = performance.eventLoopUtilization();
  }

  /** The share of the measured windows the main thread spent running (1 = never idle). */
  get loopUtilization(): number {
    return round(this.active / (this.active + this.idle), 2);
  }

  /** The utilisation since begin(), without ending the window. */
  loopSoFar(): number {
    return performance.eventLoopUtilization(this.loopStart).utilization;
  }

  end(): void {
    const loop = performance.eventLoopUtilization(this.loopStart);
    this.active += loop.active;
    this.idle += loop.idle;
    const now = readCpu();
    if (!this.start || !now) {
      this.available = false;
      return;
    }
    this.main += now.main - this.start.main;
    this.children += now.children - this.start.children;
  }

  perDelivery(deliveries: number): CpuPerDelivery | null {
    if (!this.available || deliveries === 0) return null;
    return { mainThreadMs: round(this.main / deliveries, 2), childrenMs: round(this.children / deliveries, 1) };
  }
}

// ---------------------------------------------------------------------------------------------
// git

const gitEnv = () => ({ ...process.env, GIT_TERMINAL_PROMPT: '0', LC_ALL: 'C' });

function git(args: string[], options: { cwd?: string; input?: string } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile('git', args, { cwd: options.cwd, env: gitEnv(), maxBuffer: 64 << 20 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`git ${args.join(' ')}: ${stderr.trim() || error.message}`));
      else resolve(stdout);
    });
    if (options.input !== undefined) child.stdin!.end(options.input);
  });
}

interface BenchRepo {
  /** Also the service's name. */
  name: string;
  bare: string;
  /** commits[0] is the branch's head at start; the others are reached by no ref until used. */
  commits: string[];
  /** Index of the commit the branch points at. */
  head: number;
}

/**
 * A bare repository with `extra` commits after the first, written in one fast-import. Only the
 * first is on the branch; the rest hang off a ref deleted afterwards, so a fetch finds them only
 * once the branch is moved to them.
 */
async function makeRepo(root: string, name: string, extra: number): Promise<BenchRepo> {
  const bare = join(root, OWNER, `${name}.git`);
  await git(['init', '--quiet', '--bare', `--initial-branch=${BRANCH}`, bare]);
  const commit = (ref: string, mark: number, from: number | null) => {
    const message = mark === 1 ? 'initial' : `change ${mark - 1}`;
    const content = `${name} revision ${mark - 1}\n`;
    return [
      `commit ${ref}`,
      `mark :${mark}`,
      `committer Bench <bench@example.com> ${1_700_000_000 + mark} +0000`,
      `data ${Buffer.byteLength(message)}`,
      message,
      ...(from === null ? [] : [`from :${from}`]),
      'M 644 inline README.md',
      `data ${Buffer.byteLength(content)}`,
      content,
    ].join('\n');
  };
  const stream = [commit(`refs/heads/${BRANCH}`, 1, null)];
  for (let mark = 2; mark <= extra + 1; mark++) stream.push(commit('refs/heads/staged', mark, mark - 1));
  const marks = join(root, `${name}.marks`);
  await git(['--git-dir', bare, 'fast-import', '--quiet', `--export-marks=${marks}`], { input: `${stream.join('\n')}\n` });
  if (extra > 0) await git(['--git-dir', bare, 'update-ref', '-d', 'refs/heads/staged']);
  const byMark = new Map(
    readFileSync(marks, 'utf8')
      .trim()
      .split('\n')
      .map((line) => line.split(' ') as [string, string]),
  );
  const commits = Array.from({ length: extra + 1 }, (_, i) => byMark.get(`:${i + 1}`)!);
  return { name, bare, commits, head: 0 };
}

/** What GitHub's side looks like once a push landed: the branch moved to the next commit. */
async function pushNext(repo: BenchRepo): Promise<{ before: string; after: string }> {
  const before = repo.commits[repo.head]!;
  const after = repo.commits[repo.head + 1];
  if (!after) throw new Error(`${repo.name} has no commit left to push`);
  await git(['--git-dir', repo.bare, 'update-ref', `refs/heads/${BRANCH}`, after, before]);
  repo.head += 1;
  return { before, after };
}

const repoUrl = (name: string) => `https://github.com/${OWNER}/${name}.git`;

/**
 * The least git work a delivery calls for, in a mirror of our own: fetch the new commit, list
 * what changed, make a workspace that borrows the mirror's objects, check out. Same commands
 * the GitSource uses.
 */
async function rawGit(mirror: string, workspace: string, before: string, after: string) {
  const marks = [performance.now()];
  await git(['--git-dir', mirror, 'fetch', '--prune', '--quiet', '--force', 'origin', ...MIRRORED_REFS]);
  marks.push(performance.now());
  await git(['--git-dir', mirror, 'diff-tree', '-r', '-z', '--name-only', '--no-renames', before, after]);
  marks.push(performance.now());
  await git(['init', '--quiet', '--template=', '--', workspace]);
  writeFileSync(join(workspace, '.git', 'objects', 'info', 'alternates'), `${join(mirror, 'objects')}\n`);
  marks.push(performance.now());
  await git(['-c', 'advice.detachedHead=false', 'checkout', '--quiet', '--detach', after], { cwd: workspace });
  marks.push(performance.now());
  rmSync(workspace, { recursive: true, force: true });
  const [t0, fetched, diffed, initialised, checkedOut] = marks as [number, number, number, number, number];
  return { total: checkedOut - t0, fetch: fetched - t0, diff: diffed - fetched, init: initialised - diffed, checkout: checkedOut - initialised };
}

// ---------------------------------------------------------------------------------------------
// deliveries

const definitions = createRequire(import.meta.url)('@octokit/webhooks-examples') as WebhookDefinition[];

/** The package's push that creates refs/heads/master: the one real branch push it has. */
function pushTemplate(): WebhookDefinition<'push'>['examples'][number] {
  const push = definitions.find((definition) => definition.name === 'push') as WebhookDefinition<'push'> | undefined;
  const example = push?.examples.find((candidate) => candidate.ref === 'refs/heads/master' && candidate.created);
  if (!example) throw new Error('@octokit/webhooks-examples has no branch push example');
  return example;
}

/** A real GitHub push payload, moved to our repository, branch and commits. */
function pushBody(repository: string, branch: string, before: string, after: string): Buffer {
  const template = pushTemplate();
  const moved = JSON.parse(JSON.stringify(template).replaceAll('Codertocat/Hello-World', `${OWNER}/${repository}`).replaceAll(template.after, after)) as typeof template;
  const headCommit = { ...moved.head_commit!, id: after, message: 'bench change', added: [], modified: ['README.md'] };
  const payload = {
    ...moved,
    ref: `refs/heads/${branch}`,
    before,
    after,
    created: false,
    deleted: false,
    forced: false,
    compare: `https://github.com/${OWNER}/${repository}/compare/${before.slice(0, 12)}...${after.slice(0, 12)}`,
    commits: [headCommit],
    head_commit: headCommit,
    repository: { ...moved.repository, name: repository, default_branch: BRANCH, master_branch: BRANCH },
  };
  return Buffer.from(JSON.stringify(payload));
}

function githubHeaders(body: Buffer, secret: string, deliveryId: string): Record<string, string> {
  return {
    'content-type': 'application/json',
    'user-agent': 'GitHub-Hookshot/bench',
    'x-github-event': 'push',
    'x-github-delivery': deliveryId,
    'x-github-hook-id': '1',
    'x-hub-signature-256': `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`,
  };
}

function post(url: string, headers: Record<string, string>, body: Buffer, agent: Agent): Promise<{ status: number; text: string; at: number }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', headers: { ...headers, 'content-length': String(body.length) }, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8'), at: performance.now() }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

// ---------------------------------------------------------------------------------------------
// live marks

interface Marks {
  sent: number;
  sentWall: number;
  answered?: number;
  created?: number;
  runRunning?: number;
  checkoutRunning?: number;
  checkoutDone?: number;
  commandRunning?: number;
  commandStartedAt?: string;
}

/** Reads the server's live events and stamps each expected run's milestones as they arrive. */
class LiveMarks {
  private readonly marks = new Map<string, Marks>();
  private readonly keyOfRun = new Map<number, string>();
  private readonly ended = new Map<string, Run>();
  private readonly waiting = new Map<string, (run: Run) => void>();

  expect(service: string, sha: string): Marks {
    const marks: Marks = { sent: performance.now(), sentWall: Date.now() };
    this.marks.set(`${service} ${sha}`, marks);
    return marks;
  }

  handle(event: LiveEvent): void {
    const at = performance.now();
    if (event.type === 'run') {
      const run = event.data;
      const key = `${run.service} ${run.commitSha}`;
      const marks = this.marks.get(key);
      if (!marks) return;
      if (run.status === 'pending') {
        this.keyOfRun.set(run.id, key);
        marks.created ??= at;
      } else if (run.status === 'running') {
        marks.runRunning ??= at;
      } else if (isTerminalRun(run.status)) {
        const resolve = this.waiting.get(key);
        if (resolve) resolve(run);
        else this.ended.set(key, run);
      }
    } else if (event.type === 'stage') {
      const stage = event.data;
      const key = this.keyOfRun.get(stage.runId);
      const marks = key === undefined ? undefined : this.marks.get(key);
      if (!marks) return;
      if (stage.kind === 'checkout' && stage.status === 'running') marks.checkoutRunning ??= at;
      else if (stage.kind === 'checkout' && stage.status === 'succeeded') marks.checkoutDone ??= at;
      else if (stage.kind === 'command' && stage.status === 'running' && marks.commandRunning === undefined) {
        marks.commandRunning = at;
        marks.commandStartedAt = stage.startedAt ?? undefined;
      }
    }
  }

  /** Resolves with the run once it ended; throws if it did not succeed. */
  async ended_(service: string, sha: string, timeoutMs = 60_000): Promise<Run> {
    const key = `${service} ${sha}`;
    const run =
      this.ended.get(key) ??
      (await new Promise<Run>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no run of ${service} at ${sha.slice(0, 12)} ended within ${timeoutMs / 1000} s`)), timeoutMs);
        this.waiting.set(key, (run) => {
          clearTimeout(timer);
          resolve(run);
        });
      }));
    this.waiting.delete(key);
    this.ended.delete(key);
    if (run.status !== 'succeeded') throw new Error(`run #${run.id} of ${service} ${run.status}: ${run.reason}`);
    return run;
  }
}

function phaseSamples(all: Marks[]): { total: number[]; stored: number[]; phases: Record<PhaseName, number[]> } {
  const phases: Record<PhaseName, number[]> = { accept: [], trigger: [], schedule: [], checkoutStart: [], checkout: [], toCommand: [] };
  const total: number[] = [];
  const stored: number[] = [];
  for (const m of all) {
    const { sent, answered, created, runRunning, checkoutRunning, checkoutDone, commandRunning } = m;
    if ([answered, created, runRunning, checkoutRunning, checkoutDone, commandRunning].some((mark) => mark === undefined)) {
      throw new Error('a run ended without every live event it should have published');
    }
    total.push(commandRunning! - sent);
    if (m.commandStartedAt) stored.push(Date.parse(m.commandStartedAt) - m.sentWall);
    phases.accept.push(answered! - sent);
    phases.trigger.push(created! - answered!);
    phases.schedule.push(runRunning! - created!);
    phases.checkoutStart.push(checkoutRunning! - runRunning!);
    phases.checkout.push(checkoutDone! - checkoutRunning!);
    phases.toCommand.push(commandRunning! - checkoutDone!);
  }
  return { total, stored, phases };
}

function latencyResult(all: Marks[], raw: Array<Awaited<ReturnType<typeof rawGit>>>, cpu: CpuMeter, rawCpu: CpuMeter): LatencyResult {
  const { total, stored, phases } = phaseSamples(all);
  return {
    cpu: cpu.perDelivery(all.length),
    eventLoopUtilization: cpu.loopUtilization,
    rawGitCpu: rawCpu.perDelivery(raw.length),
    total: percentiles(total),
    storedStartedAt: percentiles(stored),
    phases: Object.fromEntries(Object.entries(phases).map(([name, samples]) => [name, percentiles(samples)])) as LatencyResult['phases'],
    rawGit: percentiles(raw.map((r) => r.total)),
    rawGitPhases: {
      fetch: percentiles(raw.map((r) => r.fetch)),
      diff: percentiles(raw.map((r) => r.diff)),
      init: percentiles(raw.map((r) => r.init)),
      checkout: percentiles(raw.map((r) => r.checkout)),
    },
  };
}

// ---------------------------------------------------------------------------------------------
// intake load, in a worker thread: plain JS, so it needs no TypeScript loader.

const LOAD_WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const { createHmac } = require('node:crypto');
const autocannon = require(workerData.autocannon);
const { url, headers, body, secret, connections, duration, prefix } = workerData;
// Each delivery's body differs, as a forge's do: one body sent twice is a replay, answered 200.
const template = Buffer.from(body).toString('utf8');
let next = 0;
const accepted = [];
const latencies = [];
const perSecond = [];
let start = 0;
const instance = autocannon({
  url, method: 'POST', connections, duration, headers, body: Buffer.from(body),
  requests: [{
    setupRequest(req) {
      const sequence = next++;
      const unique = template.replace('{', '{"bench_sequence":' + sequence + ',');
      const signature = 'sha256=' + createHmac('sha256', secret).update(unique).digest('hex');
      req.body = unique;
      // autocannon sets content-length from the body.
      req.headers = { ...req.headers, 'x-github-delivery': prefix + sequence, 'x-hub-signature-256': signature };
      return req;
    },
    onResponse(status, resBody) {
      if (status === 202) accepted.push(JSON.parse(String(resBody)).deliveryId);
    },
  }],
}, (error, result) => {
  if (error) parentPort.postMessage({ error: String(error && error.stack || error) });
  else parentPort.postMessage({ result: {
    errors: result.errors, timeouts: result.timeouts, non2xx: result.non2xx, statusCodeStats: result.statusCodeStats,
    duration: result.duration, totalRequests: result.totalRequests,
  }, accepted, latencies, perSecond, sent: next });
});
instance.on('start', () => { start = Date.now(); });
instance.on('response', (client, status, bytes, responseTime) => {
  if (status !== 202) return;
  latencies.push(responseTime);
  const second = Math.floor((Date.now() - start) / 1000);
  perSecond[second] = (perSecond[second] || 0) + 1;
});
`;

interface LoadOutcome {
  result: { errors: number; timeouts: number; non2xx: number; statusCodeStats: Record<string, { count: number }>; duration: number; totalRequests: number };
  accepted: string[];
  latencies: number[];
  perSecond: Array<number | null>;
  sent: number;
}

function runLoad(options: { url: string; headers: Record<string, string>; body: Buffer; secret: string; prefix: string; seconds: number; connections: number }): Promise<LoadOutcome> {
  const worker = new Worker(LOAD_WORKER, {
    eval: true,
    workerData: {
      autocannon: createRequire(import.meta.url).resolve('autocannon'),
      url: options.url,
      headers: options.headers,
      body: new Uint8Array(options.body),
      secret: options.secret,
      connections: options.connections,
      duration: options.seconds,
      prefix: options.prefix,
    },
  });
  return new Promise((resolve, reject) => {
    worker.once('message', (message: LoadOutcome | { error: string }) => {
      void worker.terminate();
      if ('error' in message) reject(new Error(`autocannon: ${message.error}`));
      else resolve(message);
    });
    worker.once('error', reject);
  });
}

/**
 * The least work a durable accept takes on this machine, for comparison: node:http, the body
 * read whole, JSON.parse, the HMAC check, and one prepared SQLite insert of the same columns
 * (WAL, synchronous=NORMAL, like the store), group-committed per turn of the event loop, with
 * the previous batch marked handled in the same transaction.
 */
async function startBareIntake(dbPath: string, secret: string) {
  const db = new SqliteDatabase(dbPath);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.exec(`CREATE TABLE deliveries (id INTEGER PRIMARY KEY AUTOINCREMENT, forge TEXT NOT NULL, delivery_id TEXT NOT NULL,
    repository TEXT NOT NULL, event TEXT NOT NULL, parsed TEXT NOT NULL, headers TEXT NOT NULL, body BLOB NOT NULL,
    status TEXT NOT NULL, outcome TEXT, received_at TEXT NOT NULL, processed_at TEXT);
    CREATE UNIQUE INDEX deliveries_forge_delivery_id ON deliveries (forge, delivery_id);
    CREATE INDEX deliveries_status ON deliveries (status, id);`);
  const insert = db.prepare(`INSERT INTO deliveries (forge, delivery_id, repository, event, parsed, headers, body, status, received_at)
    VALUES ('github', ?, ?, 'push', ?, ?, ?, 'received', ?) ON CONFLICT (forge, delivery_id) DO NOTHING RETURNING id`);
  const handled = db.prepare(`UPDATE deliveries SET status = 'processed', outcome = 'nothing to build', processed_at = ? WHERE id = ?`);
  type Waiting = { values: unknown[]; deliveryId: string; res: ServerResponse };
  let waiting: Waiting[] = [];
  let toMark: number[] = [];
  const commit = db.transaction((batch: Waiting[]) => {
    const at = new Date().toISOString();
    for (const id of toMark) handled.run(at, id);
    return batch.map((entry) => (insert.get(...entry.values) as { id: number } | undefined)?.id ?? null);
  });
  const flush = () => {
    const batch = waiting;
    waiting = [];
    const ids = commit(batch);
    toMark = ids.filter((id): id is number => id !== null);
    batch.forEach((entry, i) => {
      entry.res.writeHead(ids[i] ? 202 : 200, { 'content-type': 'application/json' });
      entry.res.end(JSON.stringify({ delivery: ids[i], deliveryId: entry.deliveryId }));
    });
  };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      let payload: { repository?: { full_name?: string } };
      try {
        payload = JSON.parse(body.toString('utf8')) as typeof payload;
      } catch {
        res.writeHead(400).end();
        return;
      }
      const given = Buffer.from(String(req.headers['x-hub-signature-256'] ?? ''));
      const expected = Buffer.from(`sha256=${createHmac('sha256', secret).update(body).digest('hex')}`);
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
        res.writeHead(401).end();
        return;
      }
      const deliveryId = String(req.headers['x-github-delivery']);
      const headers = JSON.stringify({ 'x-github-event': req.headers['x-github-event'], 'x-github-delivery': deliveryId });
      const values = [deliveryId, payload.repository?.full_name ?? '', '{}', headers, body, new Date().toISOString()];
      if (waiting.push({ values, deliveryId, res }) === 1) setImmediate(flush);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/github`,
    storedIds: (prefix: string) =>
      new Set((db.prepare('SELECT delivery_id AS id FROM deliveries WHERE delivery_id LIKE ?').all(`${prefix}%`) as Array<{ id: string }>).map((row) => row.id)),
    async close() {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      db.close();
    },
  };
}

// ---------------------------------------------------------------------------------------------

export async function benchWebhooks(idleDeliveries: number, progress: (line: string) => void, connections = DEFAULT_INTAKE_CONNECTIONS): Promise<WebhooksResult> {
  const loadBefore = round(loadavg()[0]!, 2);
  const root = mkdtempSync(join(tmpdir(), 'slipway-bench-webhooks-'));
  const forgeRoot = join(root, 'github');
  const secret = randomBytes(20).toString('hex');
  const saved = { count: process.env.GIT_CONFIG_COUNT, key: process.env.GIT_CONFIG_KEY_0, value: process.env.GIT_CONFIG_VALUE_0 };
  const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENT + 8 });
  const events = new AbortController();
  let server: Awaited<ReturnType<typeof startServer>> | null = null;
  try {
    // https://github.com/<owner>/<name>.git -> file://<root>/github/<owner>/<name>.git, for
    // the server's git and ours alike.
    process.env.GIT_CONFIG_COUNT = '1';
    process.env.GIT_CONFIG_KEY_0 = `url.file://${forgeRoot}/.insteadOf`;
    process.env.GIT_CONFIG_VALUE_0 = 'https://github.com/';

    progress('webhooks: writing repositories');
    const names = Array.from({ length: CONCURRENT }, (_, i) => `hello-${String(i).padStart(2, '0')}`);
    const repos: BenchRepo[] = [];
    for (const [i, name] of names.entries()) {
      // hello-00 serves the idle deliveries too; every repository takes part in each concurrent round, plus a warm-up one.
      repos.push(await makeRepo(forgeRoot, name, (i === 0 ? IDLE_WARMUP + idleDeliveries : 0) + CONCURRENT_ROUNDS + 1));
    }
    // Our own mirrors for the raw-git baseline, cloned before any commit is pushed.
    const mirrors = join(root, 'raw-mirrors');
    await Promise.all(names.map((name) => git(['clone', '--mirror', '--quiet', '--', repoUrl(name), join(mirrors, `${name}.git`)])));

    const configFile = join(root, 'slipway.yml');
    writeFileSync(
      configFile,
      [
        'pipeline:',
        '  - stage: test',
        '    run: "true"',
        'services:',
        ...names.flatMap((name) => [`  ${name}:`, `    repo: ${repoUrl(name)}`, `    branch: ${BRANCH}`]),
        'forges:',
        '  github:',
        `    secret: ${secret}`,
        '',
      ].join('\n'),
    );
    server = await startServer({
      configFile,
      dataDir: join(root, 'data'),
      port: 0,
      processExecutor: true,
      maxParallelRuns: 64,
      credentialsFile: null,
      say: (message) => progress(`server: ${message}`),
    });
    const hookUrl = `${server.url}/hooks/github`;

    const live = new LiveMarks();
    let markReady!: () => void;
    const ready = new Promise<void>((resolve) => (markReady = resolve));
    const reading = (async () => {
      const token = readFileSync(join(root, 'data', LOCAL_TOKEN_FILE), 'utf8').trim();
      for await (const event of new SlipwayClient(server.url, token).events({}, events.signal)) {
        if (event.type === 'ready') markReady();
        // A reset (events lost while the stream reconnected) cannot be made up for here: the
        // marks it missed stay unset.
        else if (event.type !== 'reset') live.handle(event);
      }
    })();
    reading.catch((error: unknown) => progress(`webhooks: event stream: ${String(error)}`));
    await ready;

    const deliver = async (repo: BenchRepo, change: { before: string; after: string }): Promise<Marks> => {
      const body = pushBody(repo.name, BRANCH, change.before, change.after);
      const headers = githubHeaders(body, secret, randomUUID());
      const marks = live.expect(repo.name, change.after);
      const answer = await post(hookUrl, headers, body, agent);
      marks.answered = answer.at;
      if (answer.status !== 202) throw new Error(`delivery to ${repo.name} answered ${answer.status}: ${answer.text}`);
      return marks;
    };

    // --- idle
    const idleMarks: Marks[] = [];
    const idleRaw: Array<Awaited<ReturnType<typeof rawGit>>> = [];
    const idleCpu = new CpuMeter();
    const idleRawCpu = new CpuMeter();
    const first = repos[0]!;
    for (let i = -IDLE_WARMUP; i < idleDeliveries; i++) {
      const change = await pushNext(first);
      const measured = i >= 0;
      if (measured) idleCpu.begin();
      const marks = await deliver(first, change);
      await live.ended_(first.name, change.after);
      if (measured) idleCpu.end();
      if (measured) idleRawCpu.begin();
      const raw = await rawGit(join(mirrors, `${first.name}.git`), join(root, 'raw-workspace'), change.before, change.after);
      if (measured) idleRawCpu.end();
      if (!measured) continue;
      idleMarks.push(marks);
      idleRaw.push(raw);
      if ((i + 1) % 10 === 0) progress(`webhooks: idle ${i + 1}/${idleDeliveries}`);
    }

    // --- concurrent: a warm-up round (first use of each repository's mirror), then measured ones.
    const concurrentMarks: Marks[] = [];
    const concurrentRaw: Array<Awaited<ReturnType<typeof rawGit>>> = [];
    const concurrentCpu = new CpuMeter();
    const concurrentRawCpu = new CpuMeter();
    for (let round = -1; round < CONCURRENT_ROUNDS; round++) {
      const changes = await Promise.all(repos.map((repo) => pushNext(repo)));
      await new Promise((resolve) => setTimeout(resolve, 250));
      const measured = round >= 0;
      if (measured) concurrentCpu.begin();
      const marks = await Promise.all(repos.map((repo, i) => deliver(repo, changes[i]!)));
      await Promise.all(repos.map((repo, i) => live.ended_(repo.name, changes[i]!.after)));
      if (measured) concurrentCpu.end();
      await new Promise((resolve) => setTimeout(resolve, 250));
      if (measured) concurrentRawCpu.begin();
      const raw = await Promise.all(
        repos.map((repo, i) => rawGit(join(mirrors, `${repo.name}.git`), join(root, `raw-workspace-${i}`), changes[i]!.before, changes[i]!.after)),
      );
      if (measured) concurrentRawCpu.end();
      if (!measured) continue;
      concurrentMarks.push(...marks);
      concurrentRaw.push(...raw);
      progress(`webhooks: concurrent round ${round + 1}/${CONCURRENT_ROUNDS}`);
    }

    // --- intake
    progress(`webhooks: intake, ${connections} connections for ${INTAKE_SECONDS} s`);
    const intakeBody = pushBody(first.name, UNBUILT_BRANCH, first.commits[0]!, first.commits[1]!);
    const intakeHeaders = githubHeaders(intakeBody, secret, 'replaced by each request');
    const prefix = `intake-${randomUUID().slice(0, 8)}-`;
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const intakeCpu = new CpuMeter();
    intakeCpu.begin();
    const load = await runLoad({ url: hookUrl, headers: intakeHeaders, body: intakeBody, secret, prefix, seconds: INTAKE_SECONDS, connections });
    const loadEnded = performance.now();
    const loop = intakeCpu.loopSoFar();

    // Every 202 must be a stored delivery; wait until all of them are handled too.
    const dbPath = join(root, 'data', 'slipway.db');
    const db = new SqliteDatabase(dbPath, { readonly: true, fileMustExist: true });
    let drainMs = Number.NaN;
    let counts: Record<string, number> = {};
    let storedIds: Set<string>;
    try {
      const countByStatus = db.prepare('SELECT status, count(*) AS n FROM deliveries WHERE delivery_id LIKE ? GROUP BY status');
      for (;;) {
        counts = Object.fromEntries((countByStatus.all(`${prefix}%`) as Array<{ status: string; n: number }>).map((row) => [row.status, row.n]));
        if (!counts.received) {
          drainMs = performance.now() - loadEnded;
          break;
        }
        if (performance.now() - loadEnded > 60_000) {
          progress(`webhooks: ${counts.received} deliveries still unhandled 60 s after the load`);
          break;
        }
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      intakeCpu.end();
      storedIds = new Set((db.prepare('SELECT delivery_id AS id FROM deliveries WHERE delivery_id LIKE ?').all(`${prefix}%`) as Array<{ id: string }>).map((row) => row.id));
    } finally {
      db.close();
    }
    const databaseBytes = ['', '-wal'].reduce((sum, suffix) => sum + (statSync(dbPath + suffix, { throwIfNoEntry: false })?.size ?? 0), 0);
    events.abort();
    await server.close();
    server = null;

    progress(`webhooks: the same load on a bare node:http + SQLite accept, for ${BARE_INTAKE_SECONDS} s`);
    const bare = await startBareIntake(join(root, 'bare.db'), secret);
    const bareCpu = new CpuMeter();
    let bareLoad: LoadOutcome;
    let bareStored: Set<string>;
    try {
      bareCpu.begin();
      bareLoad = await runLoad({ url: bare.url, headers: intakeHeaders, body: intakeBody, secret, prefix, seconds: BARE_INTAKE_SECONDS, connections });
      bareCpu.end();
      bareStored = bare.storedIds(prefix);
    } finally {
      await bare.close();
    }

    const perSecond = Array.from({ length: INTAKE_SECONDS }, (_, second) => load.perSecond[second] ?? 0);
    const intake: IntakeResult = {
      connections,
      seconds: load.result.duration,
      sent: load.sent,
      accepted: load.accepted.length,
      acceptedPerSecond: Math.round(load.accepted.length / load.result.duration),
      perSecondMin: Math.min(...perSecond),
      perSecondMedian: percentile(perSecond, 50),
      latency: percentiles(load.latencies),
      mainThreadCpuMsPerDelivery: intakeCpu.perDelivery(load.accepted.length)?.mainThreadMs ?? null,
      eventLoopUtilization: round(loop, 2),
      non2xx: load.result.non2xx,
      errors: load.result.errors,
      timeouts: load.result.timeouts,
      statusCodes: Object.fromEntries(Object.entries(load.result.statusCodeStats).map(([code, { count }]) => [code, count])),
      missing: load.accepted.filter((id) => !storedIds.has(id)).length,
      stored: storedIds.size,
      drainMs: round(drainMs, 0),
      processedPerSecond: Math.round((counts.processed ?? 0) / ((load.result.duration * 1000 + drainMs) / 1000)),
      failedDeliveries: counts.failed ?? 0,
      bodyBytes: intakeBody.length,
      databaseBytes,
      bare: {
        seconds: bareLoad.result.duration,
        acceptedPerSecond: Math.round(bareLoad.accepted.length / bareLoad.result.duration),
        latency: percentiles(bareLoad.latencies),
        mainThreadCpuMsPerDelivery: bareCpu.perDelivery(bareLoad.accepted.length)?.mainThreadMs ?? null,
        missing: bareLoad.accepted.filter((id) => !bareStored.has(id)).length,
      },
    };
    return {
      durability:
        'SQLite in WAL mode with synchronous=NORMAL: a 202 means the delivery is committed to the WAL, which survives a crash of the process but not a power loss (no fsync per commit)',
      loadAverage: { before: loadBefore, after: round(loadavg()[0]!, 2) },
      idle: latencyResult(idleMarks, idleRaw, idleCpu, idleRawCpu),
      concurrent: latencyResult(concurrentMarks, concurrentRaw, concurrentCpu, concurrentRawCpu),
      intake,
    };
  } finally {
    events.abort();
    agent.destroy();
    if (server) await server.close();
    for (const [name, value] of [
      ['GIT_CONFIG_COUNT', saved.count],
      ['GIT_CONFIG_KEY_0', saved.key],
      ['GIT_CONFIG_VALUE_0', saved.value],
    ] as const) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
    rmSync(root, { recursive: true, force: true });
  }
}

/** The webhook figures as tables, next to the targets. */
export function formatWebhooks(r: WebhooksResult): string[] {
  const out: string[] = [];
  const table = (header: string[], rows: string[][]) => {
    const widths = header.map((title, i) => Math.max(title.length, ...rows.map((row) => row[i]!.length)));
    const line = (cells: string[]) => cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ');
    out.push(line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line));
  };
  const cells = (p: Percentiles) => [String(p.n), p.p50Ms.toFixed(1), p.p90Ms.toFixed(1), p.p99Ms.toFixed(1), p.maxMs.toFixed(1)];
  const verdict = (p: Percentiles) =>
    `p50 ${p.p50Ms <= TARGETS.p50Ms ? 'meets' : 'misses'} < ${TARGETS.p50Ms} ms, p99 ${p.p99Ms <= TARGETS.p99Ms ? 'meets' : 'misses'} < ${TARGETS.p99Ms} ms`;

  const scenarios = [
    ['idle, one at a time', r.idle],
    [`${CONCURRENT} at once (${CONCURRENT} repos)`, r.concurrent],
  ] as const;
  table(
    ['webhook -> first command running, ms', 'n', 'p50', 'p90', 'p99', 'max'],
    scenarios.flatMap(([name, result]) => [
      [`${name}: live event`, ...cells(result.total)],
      [`${name}: stored startedAt`, ...cells(result.storedStartedAt)],
      [`${name}: raw git only`, ...cells(result.rawGit)],
    ]),
  );
  out.push('');
  for (const [name, result] of scenarios) out.push(`${name}: ${verdict(result.total)} (targets, process executor)`);
  out.push('');
  table(
    ['where the time goes, ms (p50 / p99)', ...scenarios.map(([name]) => name)],
    [
      ...PHASES.map(({ name, label }) => [label, ...scenarios.map(([, result]) => `${result.phases[name].p50Ms.toFixed(1)} / ${result.phases[name].p99Ms.toFixed(1)}`)]),
      ...(['fetch', 'diff', 'init', 'checkout'] as const).map((step) => [
        `raw git: ${step}`,
        ...scenarios.map(([, result]) => `${result.rawGitPhases[step].p50Ms.toFixed(1)} / ${result.rawGitPhases[step].p99Ms.toFixed(1)}`),
      ]),
    ],
  );
  out.push('');
  const cpu = (c: CpuPerDelivery | null) => (c ? `${c.mainThreadMs.toFixed(1)} + ${c.childrenMs.toFixed(1)}` : 'n/a');
  table(
    ['CPU per delivery, ms: main thread + git/sh', ...scenarios.map(([name]) => name)],
    [
      ['server (POST to end of run)', ...scenarios.map(([, result]) => cpu(result.cpu))],
      ['raw git only', ...scenarios.map(([, result]) => cpu(result.rawGitCpu))],
      ['server event loop utilisation', ...scenarios.map(([, result]) => result.eventLoopUtilization.toFixed(2))],
    ],
  );
  out.push('');
  const t = r.intake;
  const b = t.bare;
  table(
    [`webhook intake (${t.connections} connections)`, 'slipway', 'bare accept', 'target'],
    [
      ['seconds of load', String(t.seconds), String(b.seconds), ''],
      ['accepted (202) per second', String(t.acceptedPerSecond), String(b.acceptedPerSecond), `>= ${TARGETS.acceptedPerSecond}`],
      ['  slowest / median second', `${t.perSecondMin} / ${t.perSecondMedian}`, '', ''],
      ['latency p50, ms', t.latency.p50Ms.toFixed(1), b.latency.p50Ms.toFixed(1), ''],
      ['latency p99, ms', t.latency.p99Ms.toFixed(1), b.latency.p99Ms.toFixed(1), `< ${TARGETS.intakeP99Ms}`],
      ['latency max, ms', t.latency.maxMs.toFixed(1), b.latency.maxMs.toFixed(1), ''],
      ['main thread CPU per delivery, ms', t.mainThreadCpuMsPerDelivery?.toFixed(2) ?? 'n/a', b.mainThreadCpuMsPerDelivery?.toFixed(2) ?? 'n/a', `<= ${(1000 / TARGETS.acceptedPerSecond).toFixed(2)} at 2000/s`],
      ['event loop utilisation under load', t.eventLoopUtilization.toFixed(2), '', ''],
      ['sent / 202', `${t.sent} / ${t.accepted}`, '', ''],
      ['non-2xx / errors / timeouts', `${t.non2xx} / ${t.errors} / ${t.timeouts}`, '', '0'],
      ['202s not found in the database', String(t.missing), String(b.missing), '0'],
      ['rows stored (incl. answers cut off at the end)', String(t.stored), '', ''],
      ['handled after the load ended, ms', String(t.drainMs), '', ''],
      ['handled per second, overall', String(t.processedPerSecond), '', ''],
      ['deliveries failed in handling', String(t.failedDeliveries), '', '0'],
      ['body bytes / database + WAL bytes', `${t.bodyBytes} / ${t.databaseBytes}`, '', ''],
    ],
  );
  out.push('');
  out.push(
    `intake: ${t.acceptedPerSecond >= TARGETS.acceptedPerSecond ? 'meets' : 'misses'} >= ${TARGETS.acceptedPerSecond}/s, p99 ${t.latency.p99Ms <= TARGETS.intakeP99Ms ? 'meets' : 'misses'} < ${TARGETS.intakeP99Ms} ms; status codes ${JSON.stringify(t.statusCodes)}`,
  );
  out.push(`durability: ${r.durability}`);
  out.push(`machine load (1-minute average) before / after: ${r.loadAverage.before} / ${r.loadAverage.after} on ${cpus().length} cores`);
  return out;
}
