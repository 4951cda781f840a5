// The one conformance suite for the EventBus contract (src/events/bus.ts). Every implementation
// registers it with a factory that opens a bus with the given replay limits; a bus that
// delivers asynchronously (through a database) says how to wait for it with `settle`.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { LogLine, Run } from '../../src/core/types.ts';
import type { EventBus, EventReader, LiveEvent, ReaderItem, ReplayLimits } from '../../src/events/bus.ts';

export interface BusFactory {
  /** A new bus, as a freshly started server would have: its own epoch, an empty replay buffer. */
  open(limits: ReplayLimits): Promise<EventBus>;
  /** Resolves once everything published so far has reached subscribe()'s listeners. */
  settle(): Promise<void>;
}

/** Roomy enough that nothing in a test is evicted unless the test means it to be. */
const ROOMY: ReplayLimits = { maxEvents: 1000, maxBytes: 1024 * 1024 };

function logEvent(runId: number, seq: number, text = `line ${seq}`): LiveEvent {
  const line: LogLine = { runId, stageId: 1, seq, stream: 'stdout', text, at: '2025-03-10T12:00:00.000Z' };
  return { type: 'log', data: line };
}

function runEvent(id: number): LiveEvent {
  return { type: 'run', data: { id } as Run };
}

/** The text of a log event, or the type of anything else: what the assertions compare. */
function textOf(event: LiveEvent): string {
  return event.type === 'log' ? event.data.text : event.type;
}

function label(item: ReaderItem | null): string {
  if (item === null) return 'closed';
  return item.kind === 'reset' ? 'reset' : textOf(item.event);
}

/** The next `count` items of a reader, as labels. */
async function take(reader: EventReader, count: number): Promise<string[]> {
  const labels: string[] = [];
  for (let index = 0; index < count; index++) labels.push(label(await reader.next()));
  return labels;
}

/** True when next() has nothing to give yet; leaves the pending call to `pending`. */
async function hasNothing(reader: EventReader): Promise<{ empty: boolean; pending: Promise<ReaderItem | null> }> {
  const pending = reader.next();
  const marker = Symbol('nothing yet');
  // Every bus hands over what it has within a turn of the event loop; a macrotask is enough.
  const first = await Promise.race([pending, new Promise<typeof marker>((resolve) => setImmediate(resolve, marker))]);
  return { empty: first === marker, pending };
}

function publishLines(bus: EventBus, from: number, to: number, runId = 1): string[] {
  const ids: string[] = [];
  for (let seq = from; seq <= to; seq++) ids.push(bus.publish(logEvent(runId, seq)));
  return ids;
}

const lines = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, index) => `line ${from + index}`);

export function eventBusConformance(name: string, factory: BusFactory): void {
  describe(`EventBus conformance: ${name}`, () => {
    it('numbers what it publishes "<epoch>-<seq>", seq increasing, epoch its own', async () => {
      const bus = await factory.open(ROOMY);
      const ids = publishLines(bus, 1, 3);
      const parsed = ids.map((id) => /^(.+)-(\d+)$/.exec(id));
      assert.ok(parsed.every(Boolean), `ids look like <epoch>-<seq>: ${ids.join(', ')}`);
      assert.equal(new Set(parsed.map((match) => match![1])).size, 1, 'one epoch within a bus');
      const seqs = parsed.map((match) => Number(match![2]));
      assert.ok(seqs[0]! < seqs[1]! && seqs[1]! < seqs[2]!, `seqs increase: ${seqs.join(', ')}`);
      const other = await factory.open(ROOMY);
      const otherEpoch = /^(.+)-\d+$/.exec(other.publish(logEvent(1, 1)))![1];
      assert.notEqual(otherEpoch, parsed[0]![1], 'a new bus (a restarted server) has a new epoch');
    });

    it('hands subscribers the events their filter passes, in order, with their ids', async () => {
      const bus = await factory.open(ROOMY);
      const seen: string[] = [];
      bus.subscribe((event) => event.type === 'log' && event.data.runId === 1, (event, id) => seen.push(`${textOf(event)}@${id}`));
      const ids = [bus.publish(logEvent(1, 1)), bus.publish(logEvent(2, 2)), bus.publish(runEvent(1)), bus.publish(logEvent(1, 3))];
      await factory.settle();
      assert.deepEqual(seen, [`line 1@${ids[0]}`, `line 3@${ids[3]}`]);
    });

    it('stops handing events on after unsubscribe', async () => {
      const bus = await factory.open(ROOMY);
      const seen: string[] = [];
      const unsubscribe = bus.subscribe(() => true, (event) => seen.push(textOf(event)));
      bus.publish(logEvent(1, 1));
      await factory.settle();
      unsubscribe();
      bus.publish(logEvent(1, 2));
      await factory.settle();
      assert.deepEqual(seen, ['line 1']);
    });

    it('drops a listener that throws, and the others still get every event', async () => {
      const bus = await factory.open(ROOMY);
      let thrownAt = 0;
      const seen: string[] = [];
      bus.subscribe(() => true, () => {
        thrownAt += 1;
        throw new Error('a broken listener');
      });
      bus.subscribe(() => true, (event) => seen.push(textOf(event)));
      publishLines(bus, 1, 3);
      await factory.settle();
      assert.equal(thrownAt, 1, 'called once, then dropped');
      assert.deepEqual(seen, lines(1, 3));
    });

    it('gives a reader what is published after it opens, in order, with the JSON made once', async () => {
      const bus = await factory.open(ROOMY);
      const before = publishLines(bus, 1, 2);
      const reader = bus.read();
      assert.equal(reader.after, before[1], 'it continues after the newest event');
      const ids = publishLines(bus, 3, 5);
      const items = [await reader.next(), await reader.next(), await reader.next()];
      assert.deepEqual(items.map(label), lines(3, 5));
      assert.deepEqual(items.map((item) => item?.kind === 'event' && item.id), ids);
      for (const item of items) assert.ok(item?.kind === 'event' && item.json === JSON.stringify(item.event.data));
      reader.close();
    });

    it('wakes a waiting reader when an event is published', async () => {
      const bus = await factory.open(ROOMY);
      const reader = bus.read();
      const { empty, pending } = await hasNothing(reader);
      assert.ok(empty, 'nothing to read yet');
      bus.publish(logEvent(1, 1));
      assert.equal(label(await pending), 'line 1');
      reader.close();
    });

    it('resumes a reader after an id: every later event once, then live ones', async () => {
      const bus = await factory.open(ROOMY);
      const ids = publishLines(bus, 1, 5);
      const reader = bus.read({ after: ids[1] });
      assert.equal(reader.after, ids[1]);
      assert.deepEqual(await take(reader, 3), lines(3, 5));
      publishLines(bus, 6, 6);
      assert.deepEqual(await take(reader, 1), ['line 6']);
      assert.ok((await hasNothing(reader)).empty, 'nothing repeated');
      reader.close();
    });

    it('applies the filter to what it replays and to live events', async () => {
      const bus = await factory.open(ROOMY);
      const first = bus.publish(logEvent(1, 1));
      bus.publish(logEvent(2, 2));
      bus.publish(logEvent(1, 3));
      const reader = bus.read({ after: first, filter: (event) => event.type === 'log' && event.data.runId === 1 });
      bus.publish(logEvent(2, 4));
      bus.publish(logEvent(1, 5));
      assert.deepEqual(await take(reader, 2), ['line 3', 'line 5']);
      reader.close();
    });

    it('starts with a reset for an id it cannot resume from: garbage, from the future, or of another bus', async () => {
      const bus = await factory.open(ROOMY);
      let last = publishLines(bus, 1, 2)[1]!;
      const epoch = /^(.+)-\d+$/.exec(last)![1];
      const otherBus = await factory.open(ROOMY);
      const foreign = otherBus.publish(logEvent(1, 1));
      for (const after of ['not an id', `${epoch}-999999`, foreign, '']) {
        const reader = bus.read({ after });
        assert.equal(reader.after, null, `"${after}" cannot be resumed from`);
        const reset = await reader.next();
        assert.deepEqual(reset, { kind: 'reset', id: last }, 'the reset says what follows: everything after the newest event');
        last = bus.publish(logEvent(1, 3));
        const item = await reader.next();
        assert.equal(label(item), 'line 3');
        assert.equal(item?.kind === 'event' && item.id, last);
        reader.close();
      }
    });

    it('starts with a reset when events after the id have left the replay buffer (by count)', async () => {
      const bus = await factory.open({ maxEvents: 4, maxBytes: 1024 * 1024 });
      const ids = publishLines(bus, 1, 10);
      const tooOld = bus.read({ after: ids[4] });
      assert.deepEqual(await take(tooOld, 1), ['reset'], 'line 6 is gone');
      const justInTime = bus.read({ after: ids[5] });
      assert.deepEqual(await take(justInTime, 4), lines(7, 10), 'lines 7 to 10 are kept');
      tooOld.close();
      justInTime.close();
    });

    it('bounds the replay buffer by bytes too', async () => {
      const bus = await factory.open({ maxEvents: 1000, maxBytes: 64 * 1024 });
      const big = 'x'.repeat(10 * 1024);
      const ids: string[] = [];
      for (let seq = 1; seq <= 20; seq++) ids.push(bus.publish(logEvent(1, seq, `${seq} ${big}`)));
      const reader = bus.read({ after: ids[0] });
      assert.deepEqual(await take(reader, 1), ['reset'], 'twenty 10 KiB events do not fit in 64 KiB');
      const recent = bus.read({ after: ids[18] });
      const item = await recent.next();
      assert.ok(item?.kind === 'event' && item.event.type === 'log' && item.event.data.seq === 20, 'the newest event is kept');
      reader.close();
      recent.close();
    });

    it('closes a reader that does not read once an unread event leaves the buffer, holding no one else back', async () => {
      const bus = await factory.open({ maxEvents: 4, maxBytes: 1024 * 1024 });
      let overruns = 0;
      const slow = bus.read({ onOverrun: () => (overruns += 1) });
      const fast = bus.read();
      const fastSeen: string[] = [];
      for (let seq = 1; seq <= 4; seq++) {
        publishLines(bus, seq, seq);
        fastSeen.push(...(await take(fast, 1)));
      }
      await factory.settle();
      assert.equal(overruns, 0, 'four unread events fit in a buffer of four');
      publishLines(bus, 5, 5);
      await factory.settle();
      assert.equal(overruns, 1, 'the fifth pushes out line 1, which the slow reader never read');
      fastSeen.push(...(await take(fast, 1)));
      for (let seq = 6; seq <= 10; seq++) {
        publishLines(bus, seq, seq);
        fastSeen.push(...(await take(fast, 1)));
      }
      await factory.settle();
      assert.equal(overruns, 1, 'told once');
      assert.equal(await slow.next(), null, 'the slow reader is closed');
      assert.deepEqual(fastSeen, lines(1, 10), 'the reader that reads got everything');
      fast.close();
    });

    it('closes a slow reader by the byte bound too', async () => {
      const bus = await factory.open({ maxEvents: 1000, maxBytes: 64 * 1024 });
      let overruns = 0;
      const slow = bus.read({ onOverrun: () => (overruns += 1) });
      const big = 'x'.repeat(10 * 1024);
      for (let seq = 1; seq <= 20 && overruns === 0; seq++) {
        bus.publish(logEvent(1, seq, big));
        await factory.settle();
      }
      assert.equal(overruns, 1, 'twenty 10 KiB events do not fit in 64 KiB');
      assert.equal(await slow.next(), null);
    });

    it('does not cut a filtered reader off for events it would never get', async () => {
      const bus = await factory.open({ maxEvents: 4, maxBytes: 1024 * 1024 });
      let overruns = 0;
      const reader = bus.read({ filter: (event) => event.type === 'log' && event.data.runId === 1, onOverrun: () => (overruns += 1) });
      publishLines(bus, 1, 20, 2);
      publishLines(bus, 21, 21, 1);
      await factory.settle();
      assert.equal(overruns, 0);
      assert.deepEqual(await take(reader, 1), ['line 21']);
      reader.close();
    });

    it('ends a waiting next() with null on close(), and gives nothing after', async () => {
      const bus = await factory.open(ROOMY);
      const reader = bus.read();
      const pending = reader.next();
      reader.close();
      assert.equal(await pending, null);
      bus.publish(logEvent(1, 1));
      assert.equal(await reader.next(), null);
    });

    it('closes a reader whose filter throws, as it drops such a listener', async () => {
      const bus = await factory.open(ROOMY);
      const reader = bus.read({
        filter: () => {
          throw new Error('a broken filter');
        },
      });
      const other = bus.read();
      bus.publish(logEvent(1, 1));
      assert.equal(await reader.next(), null);
      assert.deepEqual(await take(other, 1), ['line 1']);
      other.close();
    });
  });
}
