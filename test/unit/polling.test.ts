// Polling: the first look is a baseline, moves/deletions/re-creations of watched branches are
// reported once each, outages are logged once, and a move whose handling failed comes back.

import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { SlipwayError } from '../../src/core/errors.ts';
import { err, ok, type Result } from '../../src/core/types.ts';
import { MapCursors } from '../support/records.ts';
import { NO_COMMIT, Poller, type BranchMoved } from '../../src/triggers/polling.ts';

const REPO = 'https://git.example.com/shop/payment.git';
const A = 'a'.repeat(40);
const B = 'b'.repeat(40);
const C = 'c'.repeat(40);

/** Branch heads per repository, editable between polls; `gate` holds reads until released. */
class ScriptedSource {
  readonly heads = new Map<string, Record<string, string>>();
  readonly unreadable = new Set<string>();
  reads = 0;
  gate: Promise<void> | null = null;

  async branches(repo: string): Promise<Result<Record<string, string>>> {
    this.reads++;
    if (this.gate) await this.gate;
    if (this.unreadable.has(repo)) return err(new SlipwayError('REPOSITORY_UNAVAILABLE', `cannot read repository ${repo}: connection refused`));
    return ok({ ...(this.heads.get(repo) ?? {}) });
  }
}

function setup(options: { branches?: string[]; intervalMs?: number } = {}) {
  const source = new ScriptedSource();
  const cursors = new MapCursors();
  const moves: BranchMoved[] = [];
  const logs: string[] = [];
  let failuresLeft = 0;
  const poller = new Poller({
    repositories: [{ repo: REPO, intervalMs: options.intervalMs ?? 60_000, branches: options.branches ?? ['main'] }],
    source,
    cursors,
    onMoved: async (change) => {
      if (failuresLeft > 0) {
        failuresLeft--;
        throw new Error('could not store the run');
      }
      moves.push(change);
    },
    log: (message) => logs.push(message),
  });
  return { poller, source, cursors, moves, logs, failNextMoves: (count: number) => (failuresLeft = count) };
}

/** Waits for the timers to make `condition` true, however slowly a loaded machine runs them. */
async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await sleep(5);
}

describe('Poller', () => {
  it('records the first head it sees as a baseline and reports nothing', async () => {
    const { poller, source, cursors, moves } = setup();
    source.heads.set(REPO, { main: A });
    await poller.pollNow();
    assert.deepEqual(moves, []);
    assert.equal(cursors.values.get(`poll:${REPO}#main`), A);
  });

  it('reports a moved branch once, with the head before and after', async () => {
    const { poller, source, moves } = setup();
    source.heads.set(REPO, { main: A });
    await poller.pollNow();
    source.heads.set(REPO, { main: B });
    await poller.pollNow();
    await poller.pollNow();
    assert.deepEqual(moves, [{ repo: REPO, branch: 'main', before: A, after: B }]);
  });

  it('reports a deleted branch once, and its re-creation as created from nothing', async () => {
    const { poller, source, cursors, moves } = setup();
    source.heads.set(REPO, { main: A });
    await poller.pollNow();
    source.heads.set(REPO, {});
    await poller.pollNow();
    await poller.pollNow();
    assert.equal(cursors.values.get(`poll:${REPO}#main`), NO_COMMIT);
    source.heads.set(REPO, { main: C });
    await poller.pollNow();
    assert.deepEqual(moves, [
      { repo: REPO, branch: 'main', before: A, after: NO_COMMIT },
      { repo: REPO, branch: 'main', before: NO_COMMIT, after: C },
    ]);
  });

  it('reports the creation of a watched branch that did not exist at the first look', async () => {
    const { poller, source, moves } = setup({ branches: ['release'] });
    source.heads.set(REPO, { main: A });
    await poller.pollNow();
    source.heads.set(REPO, { main: A, release: B });
    await poller.pollNow();
    assert.deepEqual(moves, [{ repo: REPO, branch: 'release', before: NO_COMMIT, after: B }]);
  });

  it('ignores branches it does not watch', async () => {
    const { poller, source, cursors, moves } = setup();
    source.heads.set(REPO, { main: A, feature: A });
    await poller.pollNow();
    source.heads.set(REPO, { main: A, feature: B, other: C });
    await poller.pollNow();
    assert.deepEqual(moves, []);
    assert.deepEqual([...cursors.values.keys()], [`poll:${REPO}#main`]);
  });

  it('logs an outage once, keeps polling, and logs the recovery; a move during the outage is reported after it', async () => {
    const { poller, source, moves, logs } = setup();
    source.heads.set(REPO, { main: A });
    await poller.pollNow();
    source.unreadable.add(REPO);
    await poller.pollNow();
    await poller.pollNow();
    await poller.pollNow();
    assert.deepEqual(logs, [`cannot poll ${REPO}: cannot read repository ${REPO}: connection refused; will keep trying, and say when it works again`]);
    source.unreadable.delete(REPO);
    source.heads.set(REPO, { main: B });
    await poller.pollNow();
    assert.deepEqual(logs.slice(1), [`polling ${REPO} works again`]);
    assert.deepEqual(moves, [{ repo: REPO, branch: 'main', before: A, after: B }]);
    assert.equal(source.reads, 5);
  });

  it('offers a move again at the next poll when handling it failed', async () => {
    const { poller, source, cursors, moves, logs, failNextMoves } = setup();
    source.heads.set(REPO, { main: A });
    await poller.pollNow();
    source.heads.set(REPO, { main: B });
    failNextMoves(1);
    await poller.pollNow();
    assert.deepEqual(moves, []);
    assert.equal(cursors.values.get(`poll:${REPO}#main`), A);
    assert.match(logs[0] ?? '', /could not handle main at b{40}: could not store the run; trying again at the next poll/);
    await poller.pollNow();
    assert.deepEqual(moves, [{ repo: REPO, branch: 'main', before: A, after: B }]);
    assert.equal(cursors.values.get(`poll:${REPO}#main`), B);
  });

  it('never runs two polls of one repository at once', async () => {
    const { poller, source } = setup();
    source.heads.set(REPO, { main: A });
    let release = () => {};
    source.gate = new Promise((resolve) => (release = resolve));
    const first = poller.pollNow();
    const second = poller.pollNow(REPO);
    await sleep(10);
    assert.equal(source.reads, 1);
    release();
    await Promise.all([first, second]);
    assert.equal(source.reads, 1);
  });

  it('polls at start, then every interval, and stop() waits for the poll in flight', async () => {
    const { poller, source, moves } = setup({ intervalMs: 20 });
    source.heads.set(REPO, { main: A });
    poller.start();
    await until(() => source.reads >= 3);
    source.heads.set(REPO, { main: B });
    let release = () => {};
    source.gate = new Promise((resolve) => (release = resolve));
    const readsBefore = source.reads;
    // A poll that began after this point waits at the gate: it is in flight when stop() is called.
    await until(() => source.reads > readsBefore);
    const stopped = poller.stop();
    release();
    await stopped;
    assert.deepEqual(moves, [{ repo: REPO, branch: 'main', before: A, after: B }]);
    const readsAtStop = source.reads;
    await sleep(60);
    assert.equal(source.reads, readsAtStop, 'no poll after stop()');
  });
});
