// The data folder's lock (src/server/lock.ts): one holder at a time, named when refused; a lock
// left by a dead process (or one whose pid was reused) is taken over; release and exit free it.

import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { LOCK_FILE, lockDataFolder, procStat } from '../../src/server/lock.ts';

const root = mkdtempSync(join(tmpdir(), 'slipway-lock-'));
after(() => rmSync(root, { recursive: true, force: true }));
const folder = () => mkdtempSync(join(root, 'data-'));
const holderOf = (dir: string) => JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8')) as { pid: number; startedAt: string; procStart: string | null };
const IN_USE = /^the data folder \.slipway is in use by Slipway process (\d+) \(started \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\); stop it first or use --data$/;

async function locked(dir: string) {
  const outcome = await lockDataFolder(dir, '.slipway');
  assert.ok(outcome.ok, outcome.ok ? '' : outcome.message);
  return outcome.lock;
}

describe('data folder lock', () => {
  it('refuses a second holder, naming the process and when it started, until released', async () => {
    const dir = folder();
    const lock = await locked(dir);
    assert.deepEqual(Object.keys(holderOf(dir)), ['pid', 'startedAt', 'procStart']);
    assert.equal(holderOf(dir).pid, process.pid);
    const second = await lockDataFolder(dir, '.slipway');
    assert.equal(second.ok, false);
    assert.match(second.ok ? '' : second.message, IN_USE);
    assert.equal(Number(IN_USE.exec(second.ok ? '' : second.message)?.[1]), process.pid);
    lock.release();
    lock.release();
    assert.equal(existsSync(join(dir, LOCK_FILE)), false);
    (await locked(dir)).release();
  });

  it('refuses while another live process holds it', async () => {
    const dir = folder();
    const child = spawn('sleep', ['60']);
    try {
      await new Promise((resolve) => child.once('spawn', resolve));
      const start = procStat(child.pid!)?.start ?? null;
      writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ pid: child.pid, startedAt: new Date().toISOString(), procStart: start }));
      const outcome = await lockDataFolder(dir, '.slipway');
      assert.match(outcome.ok ? '' : outcome.message, IN_USE);
      assert.equal(outcome.ok ? 0 : outcome.holder.pid, child.pid);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('takes over a lock whose process is gone (a server killed with SIGKILL)', async () => {
    const dir = folder();
    const child = spawn('sleep', ['60']);
    await new Promise((resolve) => child.once('spawn', resolve));
    writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ pid: child.pid, startedAt: new Date().toISOString(), procStart: procStat(child.pid!)?.start ?? null }));
    await new Promise((resolve) => {
      child.once('exit', resolve);
      child.kill('SIGKILL');
    });
    const lock = await locked(dir);
    assert.equal(holderOf(dir).pid, process.pid);
    lock.release();
  });

  it('takes over a lock whose pid now belongs to another process (pid reuse, seen in its start time)', async () => {
    const dir = folder();
    // This very pid is alive, but was not started at that time.
    writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ pid: process.pid, startedAt: '2020-01-01T00:00:00.000Z', procStart: '1' }));
    const lock = await locked(dir);
    assert.notEqual(holderOf(dir).procStart, '1');
    lock.release();
  });

  it('takes over a lock file left half-written, once it is old enough', async () => {
    const dir = folder();
    writeFileSync(join(dir, LOCK_FILE), '');
    const past = new Date(Date.now() - 60_000);
    utimesSync(join(dir, LOCK_FILE), past, past);
    (await locked(dir)).release();
  });

  it("never removes another holder's lock on release", async () => {
    const dir = folder();
    const lock = await locked(dir);
    const other = JSON.stringify({ pid: 1, startedAt: new Date().toISOString(), procStart: null });
    writeFileSync(join(dir, LOCK_FILE), other);
    lock.release();
    assert.equal(readFileSync(join(dir, LOCK_FILE), 'utf8'), other);
  });

  it('is released when the process exits without closing', () => {
    const dir = folder();
    const lockModule = fileURLToPath(new URL('../../src/server/lock.ts', import.meta.url));
    const script = `const { lockDataFolder } = await import(${JSON.stringify(lockModule)}); const o = await lockDataFolder(${JSON.stringify(dir)}); if (!o.ok) process.exit(2); process.exit(0);`;
    execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script]);
    assert.equal(existsSync(join(dir, LOCK_FILE)), false);
  });
});
