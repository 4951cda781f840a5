// One server per data folder. Two servers on one folder would both resume the same runs, both
// deploy, and each remove the other's containers as leftovers after a restart, so a second one
// refuses to start and names the process that holds the folder.
//
// The lock is a file in the data folder, created with O_EXCL so only one process can create it,
// holding JSON: { "pid": 12345, "startedAt": "<ISO time the process started>", "procStart":
// "<start time in clock ticks since boot, from /proc/<pid>/stat; null off Linux>" }. It is
// removed on close and on a normal exit. A lock whose process is gone (a server killed with
// SIGKILL, a power loss) is stale and taken over: the pid must be alive, not a zombie, and, on
// Linux, have the recorded start time, since a pid is reused once its process is gone.
//
// Taking over is itself guarded by a second O_EXCL file, so two servers starting at once on a
// folder with a stale lock cannot both take it: the one holding the guard checks that the lock
// still holds the stale content before it removes it, then both race on O_EXCL again.

import { closeSync, fsyncSync, openSync, readFileSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';

export const LOCK_FILE = 'slipway.lock';

export interface LockHolder {
  pid: number;
  startedAt: string;
  procStart: string | null;
}

export interface DataLock {
  readonly path: string;
  /** Removes the lock file if it is still this process's; safe to call twice. */
  release(): void;
}

export type LockOutcome = { ok: true; lock: DataLock } | { ok: false; holder: LockHolder; message: string };

/** A lock file that does not parse after this long was left by a process that died writing it. */
const PARTIAL_GRACE_MS = 2_000;
const RETRY_MS = 50;
const ATTEMPTS = 100;

/** `shownAs`: the folder as the user named it (".slipway"), for the message. */
export async function lockDataFolder(dataDir: string, shownAs: string = dataDir): Promise<LockOutcome> {
  const path = join(dataDir, LOCK_FILE);
  const me = thisProcess();
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    if (create(path, me)) return { ok: true, lock: holdLock(path, me) };
    const found = read(path);
    if (found.state === 'held' && isAlive(found.holder)) {
      return { ok: false, holder: found.holder, message: inUse(shownAs, found.holder) };
    }
    if (found.state === 'held' || (found.state === 'partial' && found.ageMs > PARTIAL_GRACE_MS)) takeOver(path, found.text, me);
    // Gone meanwhile, being written, or just taken over: try to create it again.
    await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
  }
  throw new Error(`could not lock the data folder ${shownAs}: ${path} keeps changing; is another Slipway starting?`);
}

function inUse(shownAs: string, holder: LockHolder): string {
  return `the data folder ${shownAs} is in use by Slipway process ${holder.pid} (started ${localTime(holder.startedAt)}); stop it first or use --data`;
}

function holdLock(path: string, me: LockHolder): DataLock {
  let held = true;
  const release = () => {
    if (!held) return;
    held = false;
    process.off('exit', release);
    const found = read(path);
    if (found.state === 'held' && sameHolder(found.holder, me)) removeFile(path);
  };
  // A server stopped by SIGINT or SIGTERM exits without close(); its lock goes with it.
  process.on('exit', release);
  return { path, release };
}

/**
 * Removes a stale lock unless it changed since it was read, under the guard file. A guard left
 * by a process that died while taking over is stale in turn, and removed the same way.
 */
function takeOver(path: string, staleText: string, me: LockHolder): void {
  const guard = `${path}.takeover`;
  if (!create(guard, me)) {
    const found = read(guard);
    const dead = found.state === 'held' ? !isAlive(found.holder) : found.state === 'partial' && found.ageMs > PARTIAL_GRACE_MS;
    if (dead) removeFile(guard);
    return;
  }
  try {
    const now = read(path);
    if (now.state !== 'gone' && now.text === staleText) removeFile(path);
  } finally {
    removeFile(guard);
  }
}

/** O_EXCL: true when this call created the file (with `holder` in it), false when it existed. */
function create(path: string, holder: LockHolder): boolean {
  let fd: number;
  try {
    fd = openSync(path, 'wx', 0o644);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
  try {
    writeSync(fd, `${JSON.stringify(holder)}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return true;
}

type Found =
  | { state: 'gone' }
  | { state: 'partial'; text: string; ageMs: number }
  | { state: 'held'; text: string; holder: LockHolder };

function read(path: string): Found {
  let text: string;
  let ageMs: number;
  try {
    text = readFileSync(path, 'utf8');
    ageMs = Date.now() - statSync(path).mtimeMs;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { state: 'gone' };
    throw error;
  }
  const holder = parse(text);
  return holder ? { state: 'held', text, holder } : { state: 'partial', text, ageMs };
}

function parse(text: string): LockHolder | null {
  try {
    const value = JSON.parse(text) as Partial<LockHolder>;
    if (typeof value.pid !== 'number' || !Number.isInteger(value.pid) || value.pid <= 0 || typeof value.startedAt !== 'string') return null;
    return { pid: value.pid, startedAt: value.startedAt, procStart: typeof value.procStart === 'string' ? value.procStart : null };
  } catch {
    return null;
  }
}

/** The process that wrote the lock still runs: same pid, not a zombie, same start time (Linux). */
function isAlive(holder: LockHolder): boolean {
  try {
    process.kill(holder.pid, 0);
  } catch (error) {
    // EPERM: it exists, as another user.
    if ((error as NodeJS.ErrnoException).code === 'ESRCH') return false;
  }
  const stat = procStat(holder.pid);
  if (!stat) return true;
  if (stat.state === 'Z' || stat.state === 'X') return false;
  return holder.procStart === null || holder.procStart === stat.start;
}

/** State and start time (clock ticks since boot) of a process, from Linux's /proc; null elsewhere. */
export function procStat(pid: number): { state: string; start: string } | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // The command name (field 2) is in parentheses and may hold spaces and ")": fields 3 on
  // follow the last ")". Field 3 is the state, field 22 the start time.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const state = fields[0];
  const start = fields[19];
  return state && start ? { state, start } : null;
}

function thisProcess(): LockHolder {
  return {
    pid: process.pid,
    startedAt: new Date(Date.now() - process.uptime() * 1000).toISOString(),
    procStart: procStat(process.pid)?.start ?? null,
  };
}

function sameHolder(a: LockHolder, b: LockHolder): boolean {
  return a.pid === b.pid && a.startedAt === b.startedAt && a.procStart === b.procStart;
}

function removeFile(path: string): void {
  try {
    unlinkSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
}

/** 2026-12-01 10:00:03, in this machine's time zone. */
function localTime(iso: string): string {
  const at = new Date(iso);
  if (Number.isNaN(at.getTime())) return iso;
  const two = (n: number) => String(n).padStart(2, '0');
  return `${at.getFullYear()}-${two(at.getMonth() + 1)}-${two(at.getDate())} ${two(at.getHours())}:${two(at.getMinutes())}:${two(at.getSeconds())}`;
}
