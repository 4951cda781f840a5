// GET /api/events through a real socket (the handler served by @hono/node-server, as `slipway
// up` serves it): event ids, resuming with Last-Event-ID or ?after=, resets, and the typed
// client's reconnection.

import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { getRequestListener } from '@hono/node-server';
import { Hono } from 'hono';
import { SlipwayClient, type EventStreamItem } from '../../src/client/client.ts';
import type { LogLine } from '../../src/core/types.ts';
import { MemoryEventBus, type LiveEvent } from '../../src/events/bus.ts';
import { eventStream } from '../../src/server/events.ts';

/** Small, so that a test can push an id out of the replay buffer. */
const REPLAY = { maxEvents: 50, maxBytes: 1024 * 1024 };

let bus: MemoryEventBus;
let server: Server;
let base: string;
let nextLine = 1;

before(async () => {
  bus = new MemoryEventBus({ replay: REPLAY });
  const app = new Hono();
  app.get('/api/events', eventStream(bus));
  server = createServer(getRequestListener(app.fetch));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

function logEvent(runId: number, text: string): LiveEvent {
  return { type: 'log', data: { runId, stageId: 1, seq: nextLine, stream: 'stdout', text, at: '2025-03-10T12:00:00.000Z' } };
}

/** Publishes a log line of `runId` and returns its text and id. */
function publishLine(runId = 1): { text: string; id: string } {
  const text = `line ${nextLine++}`;
  return { text, id: bus.publish(logEvent(runId, text)) };
}

interface Frame {
  event: string;
  id: string | undefined;
  data: string;
}

/** One SSE connection, read frame by frame (comments skipped). */
class Connection {
  private readonly frames: AsyncGenerator<Frame>;

  private constructor(
    body: ReadableStream<Uint8Array>,
    private readonly abort: AbortController,
  ) {
    this.frames = readFrames(body);
  }

  static async open(query = '', headers: Record<string, string> = {}): Promise<Connection> {
    const abort = new AbortController();
    const response = await fetch(`${base}/api/events${query}`, { headers, signal: abort.signal });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('content-type'), 'text/event-stream');
    return new Connection(response.body!, abort);
  }

  async next(): Promise<Frame> {
    const next = await this.frames.next();
    assert.ok(!next.done, 'the stream ended');
    return next.value;
  }

  /** The next `count` frames as "event text@id" (a log event's text, `{}` for markers). */
  async take(count: number): Promise<string[]> {
    const taken: string[] = [];
    for (let index = 0; index < count; index++) {
      const frame = await this.next();
      const shown = frame.event === 'log' ? (JSON.parse(frame.data) as LogLine).text : frame.data;
      taken.push(`${frame.event} ${shown}@${frame.id ?? '-'}`);
    }
    return taken;
  }

  close(): void {
    this.abort.abort();
  }
}

async function* readFrames(body: ReadableStream<Uint8Array>): AsyncGenerator<Frame> {
  const decoder = new TextDecoder();
  let buffer = '';
  for await (const chunk of body) {
    buffer += decoder.decode(chunk, { stream: true });
    let boundary: number;
    while ((boundary = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, boundary);
      buffer = buffer.slice(boundary + 2);
      if (block.startsWith(':')) continue;
      const field = (name: string) => block.split('\n').find((line) => line.startsWith(`${name}: `))?.slice(name.length + 2);
      yield { event: field('event') ?? 'message', id: field('id'), data: field('data') ?? '' };
    }
  }
}

const logFrame = (line: { text: string; id: string }) => `log ${line.text}@${line.id}`;

describe('GET /api/events', () => {
  it('sends ready with the id it continues after, then each event with its own id', async () => {
    const before = publishLine();
    const connection = await Connection.open();
    assert.deepEqual(await connection.take(1), [`ready {}@${before.id}`]);
    const published = [publishLine(), publishLine()];
    assert.deepEqual(await connection.take(2), published.map(logFrame));
    connection.close();
  });

  it('resumes after Last-Event-ID with exactly the events missed, then live ones', async () => {
    const first = await Connection.open();
    await first.take(1);
    const published = [publishLine(), publishLine(), publishLine()];
    assert.deepEqual(await first.take(1), [logFrame(published[0]!)]);
    first.close();
    published.push(publishLine(), publishLine());

    const resumed = await Connection.open('', { 'last-event-id': published[0]!.id });
    assert.deepEqual(await resumed.take(1), [`ready {}@${published[0]!.id}`]);
    assert.deepEqual(await resumed.take(4), published.slice(1).map(logFrame));
    const live = publishLine();
    assert.deepEqual(await resumed.take(1), [logFrame(live)], 'nothing repeated between the replay and live events');
    resumed.close();
  });

  it('resumes after ?after= too, and Last-Event-ID wins over it', async () => {
    const published = [publishLine(), publishLine(), publishLine()];
    const byQuery = await Connection.open(`?after=${published[0]!.id}`);
    assert.deepEqual(await byQuery.take(3), [`ready {}@${published[0]!.id}`, ...published.slice(1).map(logFrame)]);
    byQuery.close();
    // A browser's EventSource keeps its first URL and sends the newer position as the header.
    const both = await Connection.open(`?after=${published[0]!.id}`, { 'last-event-id': published[1]!.id });
    assert.deepEqual(await both.take(2), [`ready {}@${published[1]!.id}`, logFrame(published[2]!)]);
    both.close();
  });

  it('sends a reset first for an id it cannot resume from, then live events', async () => {
    const restarted = new MemoryEventBus();
    const fromBeforeARestart = restarted.publish(logEvent(1, 'before the restart'));
    const evicted = publishLine();
    for (let index = 0; index < REPLAY.maxEvents; index++) publishLine();
    for (const unknown of ['nonsense', fromBeforeARestart, evicted.id]) {
      const newest = publishLine();
      const connection = await Connection.open('', { 'last-event-id': unknown });
      assert.deepEqual(await connection.take(2), ['ready {}@-', `reset {}@${newest.id}`], `"${unknown}" cannot be resumed from`);
      const live = publishLine();
      assert.deepEqual(await connection.take(1), [logFrame(live)]);
      connection.close();
    }
  });

  it('narrows the replay and live events to one run with ?run=', async () => {
    const start = publishLine(7);
    const replayed = [publishLine(8), publishLine(7)];
    const connection = await Connection.open(`?run=7&after=${start.id}`);
    await connection.take(1);
    const live = [publishLine(8), publishLine(7)];
    assert.deepEqual(await connection.take(2), [logFrame(replayed[1]!), logFrame(live[1]!)]);
    connection.close();
  });
});

describe('the typed client on GET /api/events', () => {
  const client = () => new SlipwayClient(base);

  /** The next `count` items as "type text" (a log event's text). */
  async function take(events: AsyncIterator<EventStreamItem>, count: number): Promise<string[]> {
    const taken: string[] = [];
    for (let index = 0; index < count; index++) {
      const next = await events.next();
      assert.ok(!next.done, 'the stream ended');
      taken.push(next.value.type === 'log' ? `log ${next.value.data.text}` : next.value.type);
    }
    return taken;
  }

  it('reconnects with Last-Event-ID when the connection drops: nothing missed, nothing repeated, no second ready', async () => {
    const abort = new AbortController();
    const events = client().events({}, abort.signal)[Symbol.asyncIterator]();
    assert.deepEqual(await take(events, 1), ['ready']);
    const published = [publishLine(), publishLine()];
    assert.deepEqual(await take(events, 1), [`log ${published[0]!.text}`]);
    server.closeAllConnections();
    published.push(publishLine(), publishLine());
    assert.deepEqual(await take(events, 3), published.slice(1).map((line) => `log ${line.text}`));
    const live = publishLine();
    assert.deepEqual(await take(events, 1), [`log ${live.text}`]);
    abort.abort();
    assert.equal((await events.next()).done, true, 'an abort ends it');
  });

  it('is cut off when it falls behind the replay buffer, reconnects, and yields a reset', async () => {
    const abort = new AbortController();
    const events = client().events({}, abort.signal)[Symbol.asyncIterator]();
    assert.deepEqual(await take(events, 1), ['ready']);
    // Published at once, the burst outruns the buffer before the stream can send more than
    // its first event (taken inside publish() by the stream's waiting read).
    for (let index = 0; index < REPLAY.maxEvents + 2; index++) publishLine();
    assert.deepEqual(await take(events, 1), ['reset']);
    const live = publishLine();
    assert.deepEqual(await take(events, 1), [`log ${live.text}`]);
    abort.abort();
  });
});
