// GET /api/events: live events as server-sent events. `?run=<id>` narrows to one run and
// `?types=run,stage` to those kinds of event (a page of the whole fleet wants no log lines). The store
// stays the source of truth for catching up.
//
// The protocol:
//   - `ready` comes first, once the subscription is in place (read the store after it and
//     nothing is missed). It carries the `id:` the stream continues after, unless a reset follows.
//   - every event carries `id: <epoch>-<seq>`; resume with the `Last-Event-ID` header (what
//     EventSource sends on reconnect) or `?after=<id>` (the header wins: on a browser's reconnect
//     it is newer than the URL). Every event after that id follows, none twice.
//   - `reset` (data `{}`, with an `id:`) when that id can no longer be resumed from (left the
//     replay buffer, or from before a restart): catch up from the store (GET /api/runs/:id,
//     /logs?after=<seq>), then carry on with the events that follow it.
//   - a client that stops reading is disconnected once an event it has not read would leave
//     the bus's replay buffer (DEFAULT_REPLAY_LIMITS: count and approximate bytes); reconnecting
//     with its Last-Event-ID gets the rest, or a reset.
//
// The body is pulled: a frame is made only when the socket takes more, so a reader that does
// not read holds nothing here, only a position in the bus's shared buffer.

import type { HttpBindings } from '@hono/node-server';
import type { Context } from 'hono';
import type { Socket } from 'node:net';
import { assertNever, LIVE_EVENT_TYPES } from '../core/types.ts';
import { runIdOf, type EventBus, type EventId, type ReaderItem } from '../events/bus.ts';
import { z } from 'zod';
import { Id, parse } from './validation.ts';

/** "run,stage,deployment". */
const EventTypes = z.string().transform((text) => text.split(',')).pipe(z.array(z.enum(LIVE_EVENT_TYPES)));

const SSE_HEARTBEAT_MS = 15_000;
/** EventSource's header; also how a browser's reconnect says where it was. */
const LAST_EVENT_ID = 'last-event-id';

export function eventStream(bus: EventBus) {
  return (c: Context) => {
    const runFilter = c.req.query('run') ? parse(Id, c.req.query('run'), 'run') : null;
    const types = c.req.query('types') ? new Set(parse(EventTypes, c.req.query('types'), 'types')) : null;
    const after = c.req.header(LAST_EVENT_ID) || c.req.query('after') || undefined;
    const socket = nodeSocketOf(c);
    const reader = bus.read({
      filter:
        runFilter === null && types === null ? undefined : (event) => (runFilter === null || runIdOf(event) === runFilter) && (types === null || types.has(event.type)),
      after,
      // Whatever the kernel still holds for this client goes too: a reset frees it now.
      onOverrun: () => socket?.resetAndDestroy(),
    });
    const encoder = new TextEncoder();
    let pending: Promise<ReaderItem | null> | null = null;
    const body = new ReadableStream<Uint8Array>(
      {
        start(controller) {
          controller.enqueue(encoder.encode(frame('ready', '{}', reader.after)));
        },
        async pull(controller) {
          pending ??= reader.next();
          const item = await withHeartbeat(pending);
          if (item === HEARTBEAT) {
            controller.enqueue(encoder.encode(': keep-alive\n\n'));
            return;
          }
          pending = null;
          if (item === null) controller.close();
          else controller.enqueue(encoder.encode(frameOf(item)));
        },
        cancel() {
          reader.close();
        },
      },
      // Nothing is made ahead of the socket: what waits, waits in the bus.
      { highWaterMark: 0 },
    );
    return c.body(body, 200, {
      'content-type': 'text/event-stream',
      'cache-control': 'no-cache',
      // Chunked from the start: @hono/node-server then streams at once instead of reading ahead.
      'transfer-encoding': 'chunked',
      // Proxies such as nginx would otherwise hold events back to fill their buffers.
      'x-accel-buffering': 'no',
    });
  };
}

function frameOf(item: ReaderItem): string {
  switch (item.kind) {
    case 'event':
      return frame(item.event.type, item.json, item.id);
    case 'reset':
      return frame('reset', '{}', item.id);
    default:
      return assertNever(item, 'reader item');
  }
}

/** One SSE frame; `data` is JSON, which never holds a raw newline, so it is one `data:` line. */
function frame(event: string, data: string, id: EventId | null): string {
  return `event: ${event}\n${id === null ? '' : `id: ${id}\n`}data: ${data}\n\n`;
}

const HEARTBEAT = Symbol('heartbeat');

/** The item, or HEARTBEAT when none came for a while (proxies close idle connections). */
function withHeartbeat(pending: Promise<ReaderItem | null>): Promise<ReaderItem | null | typeof HEARTBEAT> {
  let timer: NodeJS.Timeout | undefined;
  const heartbeat = new Promise<typeof HEARTBEAT>((resolve) => (timer = setTimeout(resolve, SSE_HEARTBEAT_MS, HEARTBEAT)));
  return Promise.race([pending, heartbeat]).finally(() => clearTimeout(timer));
}

/** The TCP socket under the request when @hono/node-server serves it; none in app.request(). */
function nodeSocketOf(c: Context): Socket | undefined {
  return (c.env as Partial<HttpBindings> | undefined)?.incoming?.socket;
}
