// The delivery inbox: every authentic webhook is written down before it is answered, and then
// handed to the trigger service, in order per repository.
//
// Durability without an fsync per webhook: deliveries that arrive while a commit is under way
// wait for the next one and share it (group commit), so a burst costs a few transactions, not
// one per request. Each caller is answered only once its own delivery is committed. Outcomes
// of handled deliveries ride along in the same transactions.
//
// Deliveries left "received" by a server that stopped are handed over again at start().

import { describeError } from '../core/errors.ts';
import type { Delivery } from '../core/types.ts';
import type { DeliveryPatch, NewDelivery, Store } from '../store/store.ts';

/** Handles one stored delivery; resolves with one sentence on what it led to. */
export type DeliveryHandler = (delivery: Delivery) => Promise<string>;

interface Waiting {
  delivery: NewDelivery;
  resolve: (stored: Delivery | null) => void;
  reject: (error: unknown) => void;
}

const MAX_BATCH = 1000;

export class DeliveryInbox {
  private waiting: Waiting[] = [];
  /** Outcomes of handled deliveries, written with the next commit. */
  private outcomes: Array<{ id: number; patch: DeliveryPatch }> = [];
  private committing: Promise<void> | null = null;
  private readonly chains = new Map<string, Promise<void>>();
  private readonly inFlight = new Set<Promise<void>>();
  private stopped = false;

  constructor(
    private readonly store: Store,
    private readonly handle: DeliveryHandler,
    private readonly options: {
      now?: () => Date;
      log?: (message: string) => void;
      /** The outcome of a delivery known to start nothing before it is stored; it is stored processed, in one write. */
      triage?: (delivery: NewDelivery) => string | null;
    } = {},
  ) {}

  /**
   * Stores a delivery durably and queues it for handling. Resolves with the stored record, or
   * null when the same (forge, deliveryId) was stored before: a repeat, handled once only.
   */
  accept(delivery: NewDelivery): Promise<Delivery | null> {
    const outcome = this.options.triage?.(delivery) ?? undefined;
    const settled = outcome === undefined ? delivery : { ...delivery, outcome };
    const stored = new Promise<Delivery | null>((resolve, reject) => this.waiting.push({ delivery: settled, resolve, reject }));
    this.committing ??= this.commit();
    return stored.then((record) => {
      if (record?.status === 'received') this.enqueue(record);
      return record;
    });
  }

  /** Hands over the deliveries a previous process stored but did not finish handling. */
  async start(): Promise<number> {
    const left = (await this.store.deliveries.list({ statuses: ['received'], limit: 100_000 })).reverse();
    for (const delivery of left) this.enqueue(delivery);
    return left.length;
  }

  /** Stops handing over; resolves when the deliveries being handled are done. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.idle();
  }

  /** Resolves when every accepted delivery has been handled and its outcome written (for tests and benchmarks). */
  async idle(): Promise<void> {
    while (this.committing || this.inFlight.size > 0) {
      await this.committing;
      await Promise.all([...this.inFlight]);
    }
  }

  private async commit(): Promise<void> {
    // Let the requests already parsed in this turn of the event loop join the first batch.
    await new Promise((resolve) => setImmediate(resolve));
    while (this.waiting.length > 0 || this.outcomes.length > 0) {
      const batch = this.waiting.splice(0, MAX_BATCH);
      const outcomes = this.outcomes.splice(0);
      try {
        const stored = await this.store.transaction(async (tx) => {
          await tx.deliveries.updateMany(outcomes);
          return tx.deliveries.record(batch.map((waiting) => waiting.delivery));
        });
        batch.forEach((waiting, index) => waiting.resolve(stored[index] ?? null));
      } catch (error) {
        for (const waiting of batch) waiting.reject(error);
        if (outcomes.length > 0) this.options.log?.(`cannot record the outcomes of ${outcomes.length} deliveries: ${describeError(error)}`);
      }
    }
    this.committing = null;
  }

  /** Deliveries of one repository are handled one after another, in the order they arrived. */
  private enqueue(delivery: Delivery): void {
    if (this.stopped) return;
    const key = `${delivery.forge}\u0000${delivery.repository}`;
    // Handling starts git; the turn after this one lets the 202 go out first.
    const previous = this.chains.get(key) ?? new Promise<void>((resolve) => setImmediate(resolve));
    const next = previous.then(() => this.process(delivery));
    this.chains.set(key, next);
    this.inFlight.add(next);
    void next.finally(() => {
      this.inFlight.delete(next);
      if (this.chains.get(key) === next) this.chains.delete(key);
    });
  }

  private async process(delivery: Delivery): Promise<void> {
    let patch: DeliveryPatch;
    try {
      patch = { status: 'processed', outcome: await this.handle(delivery) };
    } catch (error) {
      const reason = describeError(error);
      this.options.log?.(`delivery ${delivery.deliveryId} from ${delivery.forge} failed: ${reason}`);
      patch = { status: 'failed', outcome: reason };
    }
    this.outcomes.push({ id: delivery.id, patch: { ...patch, processedAt: (this.options.now?.() ?? new Date()).toISOString() } });
    this.committing ??= this.commit();
  }
}
