// The outbox's sender: what Slipway tells the outside world (notifications, commit statuses) is
// written to the store first (store.outbox) and sent from here, off the engine's path, retried
// with backoff, and sent after a restart if the last server stopped before it could.
//
// Each item is claimed with a lease (compare-and-set in the store), so two servers never send one
// item twice while the lease lasts; an item a killed server held is claimed again once its lease
// ends. Items sharing a key (one commit status) go out one at a time, oldest first, and one that
// a newer item replaced before its turn is not sent at all.

import { describeError } from '../core/errors.ts';
import { NotifyError } from '../notifiers/notifier.ts';
import type { NewOutboxItem, OutboxItem, OutboxTopic, Store } from '../store/store.ts';

export interface RetryPolicy {
  /** The wait after the first failed attempt; it doubles after each further one. */
  initialDelayMs: number;
  maxDelayMs: number;
  /** Attempts in all, the first included, before the item is given up. */
  maxAttempts: number;
}

/** About 37 minutes of attempts: a receiver's restart or a short outage is waited out. */
export const DEFAULT_RETRY: RetryPolicy = { initialDelayMs: 2_000, maxDelayMs: 10 * 60_000, maxAttempts: 12 };
const JITTER = 0.2;

/** The wait before the next attempt after `failedAttempts` failures: doubling, capped, up to 20% shorter at random. */
export function backoffDelay(failedAttempts: number, policy: Pick<RetryPolicy, 'initialDelayMs' | 'maxDelayMs'>, random = Math.random): number {
  const base = Math.min(policy.initialDelayMs * 2 ** (failedAttempts - 1), policy.maxDelayMs);
  return Math.round(base * (1 - JITTER * random()));
}

/** Sends the items of one topic. */
export interface OutboxSender {
  /**
   * One attempt. Rejecting with a NotifyError that is not `retryable` gives the item up; any
   * other rejection is tried again later. Must end soon after `signal` aborts.
   */
  send(item: OutboxItem, signal: AbortSignal): Promise<void>;
  /** What the event log and the server's log say the item is; never a secret. */
  describe(item: OutboxItem): ItemDescription;
}

export interface ItemDescription {
  runId: number | null;
  service: string | null;
  environment: string | null;
  /** For people: "run.failed of payment #12", "success for acme/shop@3f786850e387 (slipway/shop)". */
  summary: string;
  data: Record<string, unknown>;
}

export type OutboxEntry = Omit<NewOutboxItem, 'at'>;

export interface OutboxOptions {
  store: Store;
  senders: Record<OutboxTopic, OutboxSender>;
  retry?: Partial<RetryPolicy>;
  /** How long a claim lasts; far longer than one attempt may take (10 s). */
  leaseMs?: number;
  /** Items in flight at once. */
  concurrency?: number;
  now?: () => Date;
  log?: (message: string) => void;
}

const DEFAULT_LEASE_MS = 60_000;
const DEFAULT_CONCURRENCY = 8;
/** After the store failed (busy with another server's claim, say), the sender tries again soon, then less often. */
const STORE_RETRY = { initialDelayMs: 50, maxDelayMs: 5_000 };

type Outcome = 'sent' | 'failed' | 'retrying';

export class Outbox {
  private readonly retry: RetryPolicy;
  private readonly leaseMs: number;
  private readonly concurrency: number;
  private readonly now: () => Date;
  private readonly log: (message: string) => void;
  private readonly stopping = new AbortController();
  /** Items claimed by this server and not yet settled, by id. */
  private readonly inFlight = new Map<number, Promise<void>>();
  /** The last item claimed per topic and key: the next one of that key waits for it. */
  private readonly keyTails = new Map<string, Promise<void>>();
  private loop: Promise<void> | null = null;
  /** Set by wake(): something may be due that the sleeping loop does not know of. */
  private woken = false;
  private alarm: (() => void) | null = null;

  constructor(private readonly options: OutboxOptions) {
    this.retry = { ...DEFAULT_RETRY, ...options.retry };
    this.leaseMs = options.leaseMs ?? DEFAULT_LEASE_MS;
    this.concurrency = options.concurrency ?? DEFAULT_CONCURRENCY;
    this.now = options.now ?? (() => new Date());
    this.log = options.log ?? (() => {});
  }

  /** Starts sending, items left from before the last stop first. A stopped outbox stays stopped. */
  start(): void {
    if (this.loop || this.stopping.signal.aborted) return;
    this.loop = this.run();
  }

  /**
   * Stops claiming, aborts what is in flight (it goes back to pending, due at once, for the next
   * server) and resolves when nothing is in flight. Items waiting for a retry stay in the store.
   */
  async stop(): Promise<void> {
    this.stopping.abort();
    this.wake();
    await this.loop;
    while (this.inFlight.size > 0) await Promise.all(this.inFlight.values());
  }

  /** Stores the items (replacing unsent ones of the same topic and key), then wakes the sender: the only part a caller awaits. */
  async enqueue(items: OutboxEntry[]): Promise<OutboxItem[]> {
    if (items.length === 0) return [];
    const at = this.now().toISOString();
    const stored = await this.options.store.outbox.enqueue(items.map((item) => ({ ...item, at })));
    this.wake();
    return stored;
  }

  private wake(): void {
    this.woken = true;
    this.alarm?.();
  }

  private async run(): Promise<void> {
    for (let storeFailures = 0; !this.stopping.signal.aborted; ) {
      this.woken = false;
      let pauseMs: number | null;
      try {
        pauseMs = await this.claimSome();
        storeFailures = 0;
      } catch (error) {
        storeFailures += 1;
        this.log(`outbox: cannot read what is due: ${describeError(error)}`);
        pauseMs = backoffDelay(storeFailures, STORE_RETRY);
      }
      if (pauseMs !== 0) await this.sleep(pauseMs);
    }
  }

  /** Claims what is due and may be sent now; answers how long to sleep (null: until woken). */
  private async claimSome(): Promise<number | null> {
    const room = this.concurrency - this.inFlight.size;
    if (room <= 0) return null;
    const now = this.now();
    const claimed = await this.options.store.outbox.claim(now.toISOString(), new Date(now.getTime() + this.leaseMs).toISOString(), room);
    for (const item of claimed) this.begin(item);
    return claimed.length === room ? 0 : this.untilDue(now);
  }

  /**
   * How long until another item may be claimed. Items past due that could not be claimed are
   * leased (by this server, whose settling wakes it, or by another, until its lease ends). Never
   * more than a lease: another server may have stored items this one was not woken for.
   */
  private async untilDue(now: Date): Promise<number> {
    const { outbox } = this.options.store;
    const due = await outbox.nextDue();
    let at = due === null ? Infinity : Date.parse(due);
    if (at <= now.getTime()) {
      at = Infinity;
      for (const item of await outbox.list({ statuses: ['pending'] })) {
        if (this.inFlight.has(item.id)) continue;
        // A claim takes a lease that ended before `now`, so the first moment after it.
        const leaseEnds = item.leaseUntil === null ? -Infinity : Date.parse(item.leaseUntil) + 1;
        at = Math.min(at, Math.max(Date.parse(item.nextAttemptAt), leaseEnds));
      }
    }
    return Math.max(0, Math.min(at - now.getTime(), this.leaseMs));
  }

  private sleep(ms: number | null): Promise<void> {
    if (this.woken) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = ms === null ? null : setTimeout(done, ms);
      // The process may exit while nothing is due: what is stored is sent after the next start.
      timer?.unref();
      this.alarm = done;
      function done(): void {
        if (timer) clearTimeout(timer);
        resolve();
      }
    }).finally(() => {
      this.alarm = null;
    });
  }

  /** Sends the item once the item claimed before it with the same key has settled. */
  private begin(item: OutboxItem): void {
    const tailKey = item.key === null ? null : `${item.topic}\n${item.key}`;
    const before = (tailKey && this.keyTails.get(tailKey)) || Promise.resolve();
    const settled: Promise<void> = before
      .then(() => this.deliver(item))
      .catch((error: unknown) => this.log(`outbox: ${item.topic} #${item.id}: ${describeError(error)}`))
      .finally(() => {
        this.inFlight.delete(item.id);
        if (tailKey && this.keyTails.get(tailKey) === settled) this.keyTails.delete(tailKey);
        this.wake();
      });
    this.inFlight.set(item.id, settled);
    if (tailKey) this.keyTails.set(tailKey, settled);
  }

  private async deliver(item: OutboxItem): Promise<void> {
    const { store } = this.options;
    if (this.stopping.signal.aborted) {
      await store.outbox.settle(item.id, { status: 'pending', nextAttemptAt: item.nextAttemptAt, error: item.lastError ?? 'the server stopped before sending it' });
      return;
    }
    if (await this.replaced(item)) return;
    try {
      await this.options.senders[item.topic].send(item, this.stopping.signal);
    } catch (error) {
      await this.failed(item, error);
      return;
    }
    await store.outbox.settle(item.id, { status: 'sent', at: this.now().toISOString() });
    await this.record(item, 'sent', {});
  }

  private async failed(item: OutboxItem, error: unknown): Promise<void> {
    const { store } = this.options;
    const message = describeError(error);
    if (this.stopping.signal.aborted) {
      // Stopping is not the receiver failing: the next server sends it at once.
      await store.outbox.settle(item.id, { status: 'pending', nextAttemptAt: this.now().toISOString(), error: message });
      return;
    }
    const permanent = error instanceof NotifyError && !error.retryable;
    if (permanent || item.attempts >= this.retry.maxAttempts) {
      await store.outbox.settle(item.id, { status: 'failed', at: this.now().toISOString(), error: message });
      const { summary } = this.describe(item);
      this.log(`gave up sending ${summary} to ${item.destination} after ${item.attempts} ${item.attempts === 1 ? 'attempt' : 'attempts'}: ${message}`);
      await this.record(item, 'failed', { error: message });
      return;
    }
    const nextAttemptAt = new Date(this.now().getTime() + backoffDelay(item.attempts, this.retry)).toISOString();
    // One transaction: a newer item stored meanwhile is seen here, or finds this one unleased and replaces it.
    const retrying = await store.transaction(async (tx) => {
      if (await this.replaced(item, tx)) return false;
      await tx.outbox.settle(item.id, { status: 'pending', nextAttemptAt, error: message });
      return true;
    });
    if (retrying) await this.record(item, 'retrying', { error: message, nextAttemptAt });
  }

  /**
   * Whether a newer item of the same topic and key waits: then this one is ended unsent, as the
   * store's enqueue would have replaced it had it not been claimed (only the newest state matters).
   */
  private async replaced(item: OutboxItem, store = this.options.store): Promise<boolean> {
    if (item.key === null) return false;
    const pending = await store.outbox.list({ topic: item.topic, statuses: ['pending'] });
    const newer = pending.find((other) => other.key === item.key && other.id > item.id);
    if (!newer) return false;
    await store.outbox.settle(item.id, { status: 'failed', at: this.now().toISOString(), error: `replaced by #${newer.id} before it was sent` });
    return true;
  }

  private describe(item: OutboxItem): ItemDescription {
    try {
      return this.options.senders[item.topic].describe(item);
    } catch (error) {
      return { runId: null, service: null, environment: null, summary: `${item.topic} #${item.id}`, data: { unreadable: describeError(error) } };
    }
  }

  /** The outcome in the event log; a store that fails here loses the record, not the item's state. */
  private async record(item: OutboxItem, outcome: Outcome, extra: { error?: string; nextAttemptAt?: string }): Promise<void> {
    const about = this.describe(item);
    try {
      await this.options.store.events.append({
        type: `${item.topic}.${outcome}`,
        runId: about.runId,
        service: about.service,
        environment: about.environment,
        data: { ...about.data, outboxId: item.id, destination: item.destination, attempts: item.attempts, ...extra },
      });
    } catch (error) {
      this.log(`outbox: cannot record that ${about.summary} ${outcome === 'retrying' ? 'is retried' : `was ${outcome}`}: ${describeError(error)}`);
    }
  }
}
