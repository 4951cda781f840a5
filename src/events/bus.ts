// The EventBus carries live changes to whoever listens (SSE clients, `slipway run --wait`).
// It is not the record of truth: the store is. Publishing after the store write means a
// listener that misses an event can always catch up from the store.

import { assertNever, type Deployment, type LogLine, type Release, type Run, type Stage } from '../core/types.ts';

export interface LiveEventMap {
  run: Run;
  stage: Stage;
  log: LogLine;
  release: Release;
  deployment: Deployment;
}

export type LiveEvent = { [K in keyof LiveEventMap]: { type: K; data: LiveEventMap[K] } }[keyof LiveEventMap];

export type LiveEventFilter = (event: LiveEvent) => boolean;

export interface EventBus {
  publish(event: LiveEvent): void;
  /** Returns the unsubscribe function. Listeners must not throw; a throwing one is dropped. */
  subscribe(filter: LiveEventFilter, listener: (event: LiveEvent) => void): () => void;
}

/** The in-process bus, for one server. */
export class MemoryEventBus implements EventBus {
  private readonly listeners = new Set<{ filter: LiveEventFilter; listener: (event: LiveEvent) => void }>();

  publish(event: LiveEvent): void {
    for (const entry of this.listeners) {
      if (!entry.filter(event)) continue;
      try {
        entry.listener(event);
      } catch {
        this.listeners.delete(entry);
      }
    }
  }

  subscribe(filter: LiveEventFilter, listener: (event: LiveEvent) => void): () => void {
    const entry = { filter, listener };
    this.listeners.add(entry);
    return () => this.listeners.delete(entry);
  }
}

/** The run a live event belongs to, for per-run subscriptions. */
export function runIdOf(event: LiveEvent): number | null {
  switch (event.type) {
    case 'run':
      return event.data.id;
    case 'stage':
    case 'log':
      return event.data.runId;
    case 'release':
      return event.data.runId;
    case 'deployment':
      return event.data.runId;
    default:
      return assertNever(event, 'live event');
  }
}
