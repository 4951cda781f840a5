// The HAProxy process: master-worker in the foreground of its own session, started detached with
// its output in the folder's log, so it outlives the Slipway that started it and its alerts (a
// reload that failed, a server going down) stay readable. Found again through its pid file,
// reloaded by SIGUSR2 to the master (listeners handed over: nothing refused), stopped only by
// its owner.

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, openSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { RouterError } from '../router.ts';
import type { pathsOf } from './config.ts';
import { send, type RuntimeApi } from './runtime.ts';

type Paths = ReturnType<typeof pathsOf>;

const START_TIMEOUT_MS = 15_000;
const RELOAD_TIMEOUT_MS = 30_000;
const STOP_GRACE_MS = 10_000;
const POLL_MS = 20;

export interface ProxyProcess {
  /** The master's pid. */
  pid: number;
  /** When this process spawned it. */
  child: ChildProcess | null;
}

/** The master the pid file names, when it is HAProxy, alive, and its worker answers the runtime API. */
export async function findRunning(paths: Paths, api: RuntimeApi): Promise<ProxyProcess | null> {
  let pid: number;
  try {
    pid = Number(readFileSync(paths.pid, 'utf8').trim().split('\n')[0]);
  } catch {
    return null;
  }
  if (!Number.isInteger(pid) || pid <= 0 || !isHaproxy(pid)) return null;
  return (await api.workerPid()) === null ? null : { pid, child: null };
}

export async function startProxy(paths: Paths, api: RuntimeApi): Promise<ProxyProcess> {
  const logFrom = sizeOf(paths.log);
  const log = openSync(paths.log, 'a');
  // -db: the master stays in the foreground of its own session (detached), writing to the log.
  const child = spawn('haproxy', ['-W', '-db', '-p', paths.pid, '-S', `${paths.master},mode,600`, '-f', paths.config], {
    detached: true,
    stdio: ['ignore', log, log],
  });
  closeSync(log);
  child.unref();
  let gone: string | null = null;
  child.on('exit', (code, signal) => (gone = `exited ${signal ?? code}`));
  child.on('error', (error) => (gone = error.message));
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (gone === null && Date.now() < deadline) {
    if ((await api.workerPid()) !== null && child.pid !== undefined) return { pid: child.pid, child };
    await sleep(POLL_MS);
  }
  if (gone === null && child.pid !== undefined) await stopProxy({ pid: child.pid, child });
  throw new RouterError(`HAProxy did not start (${gone ?? `no answer on ${paths.admin} within ${START_TIMEOUT_MS / 1000} s`}): ${alertsSince(paths.log, logFrom)}`);
}

/** Reloads the configuration file: resolves once a new worker answers, throws with HAProxy's alerts when the master kept the old one. */
export async function reloadProxy(proxy: ProxyProcess, paths: Paths, api: RuntimeApi): Promise<void> {
  const logFrom = sizeOf(paths.log);
  const before = await api.workerPid();
  const failedBefore = await failedReloads(paths);
  process.kill(proxy.pid, 'SIGUSR2');
  const deadline = Date.now() + RELOAD_TIMEOUT_MS;
  while (Date.now() < deadline) {
    await sleep(POLL_MS);
    const worker = await api.workerPid();
    if (worker !== null && worker !== before) return;
    if ((await failedReloads(paths)) > failedBefore) throw new RouterError(`HAProxy refused the new configuration and serves with the previous one: ${alertsSince(paths.log, logFrom)}`);
  }
  throw new RouterError(`no new HAProxy worker ${RELOAD_TIMEOUT_MS / 1000} s after a reload: ${alertsSince(paths.log, logFrom)}`);
}

/** SIGTERM to the master (it stops its workers), SIGKILL if it lingers; resolves once it is gone. */
export async function stopProxy(proxy: ProxyProcess): Promise<void> {
  const { child } = proxy;
  let reaped: Promise<unknown> | null = null;
  if (child && child.exitCode === null && child.signalCode === null) {
    // Node reaps its own child: wait for that, holding the event loop open, so no zombie is left.
    child.ref();
    reaped = once(child, 'exit');
  }
  signal(proxy.pid, 'SIGTERM');
  const deadline = Date.now() + STOP_GRACE_MS;
  while (isHaproxy(proxy.pid)) {
    if (Date.now() > deadline) {
      signal(proxy.pid, 'SIGKILL');
      break;
    }
    await sleep(POLL_MS);
  }
  await reaped;
}

/** Checks a configuration before it replaces the one in use; throws with HAProxy's complaint. */
export async function checkConfig(path: string, text: string): Promise<void> {
  writeFileSync(path, text, { mode: 0o600 });
  const complaint = await new Promise<string | null>((resolve) => {
    execFile('haproxy', ['-c', '-q', '-f', path], { timeout: 30_000 }, (error, stdout, stderr) => resolve(error ? `${stderr}${stdout}`.trim() || error.message : null));
  });
  if (complaint) throw new RouterError(`HAProxy refuses the configuration: ${complaint}`);
}

/** Alive (a zombie is not) and running haproxy, so a pid reused by something else is never signalled. */
export function isHaproxy(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) return false;
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0]?.endsWith('haproxy') ?? false;
  } catch {
    return false;
  }
}

async function failedReloads(paths: Paths): Promise<number> {
  try {
    return Number(/\[failed: (\d+)\]/.exec(await send(paths.master, 'show proc'))?.[1] ?? 0);
  } catch {
    return 0;
  }
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // already gone
  }
}

function sizeOf(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

/** HAProxy's alerts written to the log since `from`, or its last lines. */
function alertsSince(path: string, from: number): string {
  let text = '';
  try {
    text = readFileSync(path).subarray(from).toString('utf8');
  } catch {
    return '(no log)';
  }
  const lines = text.split('\n').filter((line) => line.trim() !== '');
  const alerts = lines.filter((line) => line.startsWith('[ALERT]'));
  return (alerts.length > 0 ? alerts : lines.slice(-5)).join(' | ') || '(nothing in its log)';
}
