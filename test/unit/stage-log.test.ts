// StageLog on a real (in-memory SQLite) store: secrets masked (also split across two lines, and
// before anything is published), lines cut, the stage's log
// capped with one marker while Slipway's own lines are still kept, and backpressure: a
// producer that awaits line() is held back while the store's writes are, so the lines waiting
// in memory stay under a bound.

import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { LogLimits } from '../../src/config/model.ts';
import type { LogLine } from '../../src/core/types.ts';
import { StageLog } from '../../src/engine/stage-log.ts';
import { MemoryEventBus } from '../../src/events/bus.ts';
import { cutMarker } from '../../src/executors/lines.ts';
import { openSqliteStore } from '../../src/store/sqlite/store.ts';
import type { NewLogLine, Store } from '../../src/store/store.ts';
import { newRun } from '../support/records.ts';
import { until } from '../support/wait.ts';

const DEFAULT_LIMITS = LogLimits.parse({});

interface Harness {
  store: Store;
  bus: MemoryEventBus;
  log: StageLog;
  runId: number;
  stageId: number;
  /** Every line stored so far, in order. */
  stored(): Promise<LogLine[]>;
}

const stores: Store[] = [];
afterEach(async () => {
  for (const store of stores.splice(0)) await store.close();
});

async function harness(options: { limits?: Partial<LogLimits>; secrets?: string[]; store?: Store } = {}): Promise<Harness> {
  const store = options.store ?? (await openSqliteStore(':memory:'));
  stores.push(store);
  const { run, stages } = await store.runs.create(newRun(), [{ position: 0, name: 'test', kind: 'command', command: 'make test', environment: null, timeoutMs: 60_000 }]);
  const stageId = stages[0]!.id;
  const bus = new MemoryEventBus();
  const log = new StageLog(store, bus, run.id, stageId, () => new Date(), {
    limits: { ...DEFAULT_LIMITS, ...options.limits },
    secrets: options.secrets ?? [],
  });
  return { store, bus, log, runId: run.id, stageId, stored: () => store.logs.list(run.id, { limit: 100_000 }) };
}

/** Writes what is left the way the engine does at a stage's end. */
async function finish(h: Harness): Promise<LogLine[]> {
  const rest = await h.log.drain();
  if (rest.length > 0) await h.store.logs.append(rest);
  return h.stored();
}

const texts = (lines: LogLine[]) => lines.map((line) => line.text);
const SECRET = 'p@ss/w0rd+x=y&z9';

describe('StageLog', () => {
  it('replaces every secret value with ***, the longest first, in output and in its own lines', async () => {
    const h = await harness({ secrets: ['hunter2', 'hunter2-admin', ''] });
    await h.log.line('stdout', 'password=hunter2 admin=hunter2-admin again hunter2');
    h.log.system('$ deploy --token hunter2');
    assert.deepEqual(texts(await finish(h)), ['password=*** admin=*** again ***', '$ deploy --token ***']);
  });

  it('hides each line of a multi-line secret, as logs are kept by line', async () => {
    const key = '-----BEGIN KEY-----\nMIIEabc123\n-----END KEY-----';
    const h = await harness({ secrets: [key] });
    for (const line of key.split('\n')) await h.log.line('stdout', line);
    assert.deepEqual(texts(await finish(h)), ['***', '***', '***']);
  });

  it('hides the first part of a secret at the end of a line cut at the limit', async () => {
    const marker = cutMarker(DEFAULT_LIMITS.line);
    const h = await harness({ secrets: ['s3cr3t-value'] });
    await h.log.line('stdout', `${'x'.repeat(10)}s3cr3t${marker}`);
    await h.log.line('stdout', `${'x'.repeat(10)}plain${marker}`);
    assert.deepEqual(texts(await finish(h)), [`${'x'.repeat(10)}***${marker}`, `${'x'.repeat(10)}plain${marker}`]);
  });

  it('hides a secret split across two lines of a stream in what the store receives, also with a line of the other stream between', async () => {
    const h = await harness({ secrets: [SECRET] });
    await h.log.line('stdout', SECRET.slice(0, 6));
    await h.log.line('stdout', SECRET.slice(6));
    await h.log.line('stdout', `token: ${SECRET.slice(0, 5)}`);
    // A line of the other stream between the two parts.
    await h.log.line('stderr', 'warning: something');
    await h.log.line('stdout', `${SECRET.slice(5)} sent`);
    await h.log.line('stdout', 'done');
    assert.deepEqual(texts(await finish(h)), ['***', '***', 'token: ***', 'warning: something', '*** sent', 'done']);
  });

  it('hides a half of a secret on a line of its own, though the other half comes after the flush delay', async () => {
    const h = await harness({ secrets: [SECRET] });
    await h.log.line('stdout', SECRET.slice(0, 8));
    // Kept alone once the flush delay passed, with nothing to pair it with.
    const first = await until('the first half to be kept', async () => {
      const lines = await h.stored();
      return lines.length > 0 && lines;
    });
    assert.deepEqual(texts(first), ['***']);
    await h.log.line('stdout', SECRET.slice(8));
    await h.log.line('stdout', SECRET.slice(0, 3));
    assert.deepEqual(texts(await finish(h)), ['***', '***', SECRET.slice(0, 3)], 'a 3-character part alone is not masked');
  });

  it('masks before publishing: no line on the bus holds a secret or a part of one, and the last line comes without drain()', async () => {
    const h = await harness({ secrets: [SECRET] });
    const published: string[] = [];
    h.bus.subscribe((event) => event.type === 'log', (event) => published.push((event.data as LogLine).text));
    h.log.system(`$ deploy --token ${SECRET}`);
    await h.log.line('stdout', `Authorization: Basic ${Buffer.from(`ci:${SECRET}`).toString('base64')}`);
    await h.log.line('stdout', `url=https://example.com/?t=${encodeURIComponent(SECRET)}`);
    await h.log.line('stdout', `{"token":"${SECRET.slice(0, 4)}`);
    await h.log.line('stdout', `${SECRET.slice(4)}"}`);
    // The last line too, held back for its pair, is published without drain().
    await until('five lines published', () => published.length === 5);
    assert.equal(published[0], '$ deploy --token ***');
    assert.deepEqual(published.slice(2), ['url=https://example.com/?t=***', '{"token":"***', '***"}']);
    assert.match(published[1]!, /^Authorization: Basic Y2k6\*\*\*.{0,2}$/);
    for (const text of published) assert.ok(!text.includes(SECRET.slice(4, 8)), text);
    await finish(h);
  });

  it('cuts a line longer than the line limit, but not one an executor cut already', async () => {
    const h = await harness({ limits: { line: 100 } });
    const cutByExecutor = 'y'.repeat(100) + cutMarker(100);
    await h.log.line('stdout', 'z'.repeat(100_000));
    await h.log.line('stdout', cutByExecutor);
    assert.deepEqual(texts(await finish(h)), ['z'.repeat(100) + cutMarker(100), cutByExecutor]);
  });

  it("past the stage limit the step's lines are not kept, one line says so, and Slipway's own lines still are", async () => {
    const h = await harness({ limits: { stage: 10_000 } });
    h.log.system('$ make test');
    for (let index = 0; index < 1000; index++) await h.log.line(index % 2 ? 'stderr' : 'stdout', `line ${index} ${'.'.repeat(90)}`);
    h.log.system('command exited with code 1');
    const lines = await finish(h);
    const output = lines.filter((line) => line.stream !== 'system');
    assert.ok(output.length > 50 && output.length < 120, `${output.length} lines kept`);
    assert.equal(texts(output).at(-1), `line ${output.length - 1} ${'.'.repeat(90)}`, 'the first lines are kept, in order');
    assert.ok(output.reduce((bytes, line) => bytes + line.text.length, 0) <= 10_000);
    const system = texts(lines.filter((line) => line.stream === 'system'));
    assert.deepEqual(system, [
      '$ make test',
      "… the rest of this step's output is not kept: the stage's log reached its limit of 9.8 KiB",
      'command exited with code 1',
    ]);
  });

  it('backpressure: while the store holds its writes, a producer that awaits line() is held at a bound', async () => {
    const store = await openSqliteStore(':memory:');
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const append = store.logs.append.bind(store.logs);
    store.logs.append = async (lines: NewLogLine[]) => {
      await held;
      return append(lines);
    };
    const h = await harness({ store });
    const total = 20_000;
    let accepted = 0;
    const line = 'x'.repeat(1000);
    const producer = (async () => {
      for (let index = 0; index < total; index++) {
        await h.log.line('stdout', `${index} ${line}`);
        accepted = index + 1;
      }
    })();
    // The producer runs until it is held; it stays held however long the store is.
    let before = -1;
    while (before !== accepted) {
      before = accepted;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
    // The bound is some thousands of lines or a few MiB, far below the 20 MB the producer has.
    assert.ok(accepted < 5000, `${accepted} of ${total} lines accepted while the store held every write`);
    release();
    await producer;
    const lines = await finish(h);
    assert.equal(lines.length, total);
    assert.deepEqual(
      lines.slice(0, 3).map((stored) => stored.text.split(' ')[0]),
      ['0', '1', '2'],
    );
  });
});
