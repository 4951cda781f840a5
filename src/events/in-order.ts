// A bus listener that does async work per event, in order, off the publisher's path: the bus
// calls listeners inside publish(), so the listener only chains the work and returns. Stopping
// unsubscribes and waits until what was heard is done. Used where live events become durable
// work (commit statuses, notifications into the outbox).

import { describeError } from '../core/errors.ts';
import type { EventBus, LiveEvent, LiveEventFilter } from './bus.ts';

export class InOrderListener {
  private chain: Promise<void> = Promise.resolve();
  private unsubscribe: (() => void) | null = null;
  private stopped = false;

  constructor(
    private readonly bus: EventBus,
    private readonly filter: LiveEventFilter,
    private readonly handle: (event: LiveEvent) => Promise<void>,
    /** Says what failed; a failure never reaches publish() and never stops the events after it. */
    private readonly onError: (event: LiveEvent, message: string) => void,
  ) {}

  /** Starts listening. A stopped listener stays stopped. */
  start(): void {
    if (this.unsubscribe || this.stopped) return;
    this.unsubscribe = this.bus.subscribe(this.filter, (event) => {
      this.chain = this.chain.then(() => this.handle(event)).catch((error: unknown) => this.onError(event, describeError(error)));
    });
  }

  /** Stops listening and resolves once the work of every event heard is done. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.unsubscribe?.();
    this.unsubscribe = null;
    await this.idle();
  }

  /** Resolves once the work of every event heard so far is done. */
  async idle(): Promise<void> {
    for (let seen: Promise<void> | null = null; seen !== this.chain; ) {
      seen = this.chain;
      await seen;
    }
  }
}
