// GET /api/events: live events as server-sent events. `?run=<id>` narrows to one run. The store
// stays the source of truth for catching up.

import type { Context } from 'hono';
import { streamSSE } from 'hono/streaming';
import { runIdOf, type EventBus, type LiveEvent } from '../events/bus.ts';
import { Id, parse } from './validation.ts';

const SSE_HEARTBEAT_MS = 15_000;

export function eventStream(bus: EventBus) {
  return (c: Context) => {
    const runFilter = c.req.query('run') ? parse(Id, c.req.query('run'), 'run') : null;
    return streamSSE(c, async (stream) => {
      const queue: LiveEvent[] = [];
      let wake: (() => void) | null = null;
      const unsubscribe = bus.subscribe(
        (event) => runFilter === null || runIdOf(event) === runFilter,
        (event) => {
          queue.push(event);
          wake?.();
        },
      );
      stream.onAbort(() => {
        unsubscribe();
        wake?.();
      });
      await stream.writeSSE({ event: 'ready', data: '{}' });
      while (!stream.aborted) {
        const event = queue.shift();
        if (event) {
          await stream.writeSSE({ event: event.type, data: JSON.stringify(event.data) });
          continue;
        }
        await new Promise<void>((resolve) => {
          const heartbeat = setTimeout(resolve, SSE_HEARTBEAT_MS);
          wake = () => {
            clearTimeout(heartbeat);
            wake = null;
            resolve();
          };
        });
        if (queue.length === 0 && !stream.aborted) await stream.write(': keep-alive\n\n');
      }
      unsubscribe();
    });
  };
}
