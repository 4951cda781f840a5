// The EventBus carries live changes to whoever listens (SSE clients, `slipway run --wait`).
// It is not the record of truth: the store is. Publishing after the store write means a
// listener that misses an event can always catch up from the store.
//
// Every published event gets an id, "<epoch>-<seq>": seq counts up within one bus, and the
// epoch is drawn afresh for each bus, so an id handed out before a restart is never taken for
// one of the new server's events. The bus keeps a bounded replay buffer of recent events so a
// reader can resume after the last id it saw. That buffer is a cache, lost with the process,
// and no coordination state lives in it: when an id has left it, or comes from another epoch,
// the reader is told to reset (catch up from the store) instead.

import { randomBytes } from 'node:crypto';
import { assertNever, type Deployment, type LiveEventType, type LogLine, type Release, type Run, type Stage } from '../core/types.ts';

/** A run asks for approval to enter an environment (notifications tell the approvers). */
export interface ApprovalRequest {
  runId: number;
  stageId: number;
  service: string;
  environment: string;
  releaseId: number;
  /** Who may approve and what is given: "1 from role deployer or above (none given yet)". */
  detail: string;
  expiresAt: string | null;
  /** When it asked: the expiry counts from it, and the same request is told once. */
  requestedAt: string;
}

/** What each kind of live event carries; exactly the kinds of LIVE_EVENT_TYPES (core/types.ts). */
export interface LiveEventMap extends Record<LiveEventType, unknown> {
  run: Run;
  stage: Stage;
  log: LogLine;
  release: Release;
  deployment: Deployment;
  approval: ApprovalRequest;
}

export type LiveEvent = { [K in keyof LiveEventMap]: { type: K; data: LiveEventMap[K] } }[keyof LiveEventMap];

export type LiveEventFilter = (event: LiveEvent) => boolean;

/** "<epoch>-<seq>"; opaque to clients, who only hand it back. */
export type EventId = string;

/** What a reader gets, in order: a reset (at most once, first) and then events. */
export type ReaderItem =
  /** `json` is JSON.stringify(event.data), made once at publish for every reader. */
  | { kind: 'event'; id: EventId; event: LiveEvent; json: string }
  /**
   * Events the reader asked to resume after are gone (evicted, or of another epoch): catch up
   * from the store, then carry on with what follows, which is every event after `id`.
   */
  | { kind: 'reset'; id: EventId };

export interface ReadOptions {
  filter?: LiveEventFilter;
  /** Resume after this id (an SSE client's Last-Event-ID); absent: from what is published next. */
  after?: string;
  /**
   * Called once, inside publish(), when an event this reader has not read yet has to leave the
   * replay buffer: the reader fell too far behind and is closed. Must not throw or block.
   */
  onOverrun?: () => void;
}

/**
 * A subscriber that pulls at its own pace; what it has not read waits in the bus's replay
 * buffer. It gets every event after its start that passes its filter, in publish order, once.
 */
export interface EventReader {
  /**
   * The id this reader continues after without a gap (the newest event at opening, or the
   * `after` it resumed from); null when its first item is a reset.
   */
  readonly after: EventId | null;
  /** The next item, waiting until there is one; null once closed. One call at a time. */
  next(): Promise<ReaderItem | null>;
  close(): void;
}

export interface EventBus {
  /** Numbers the event and hands it on. Never waits for a subscriber, however slow. */
  publish(event: LiveEvent): EventId;
  /**
   * An in-process listener, called synchronously inside publish(). Returns the unsubscribe
   * function. Listeners must not throw; a throwing one (or one whose filter throws) is dropped.
   */
  subscribe(filter: LiveEventFilter, listener: (event: LiveEvent, id: EventId) => void): () => void;
  /**
   * A reader for a consumer that may fall behind (an SSE client). It costs no memory of its
   * own: it is a position in the shared replay buffer, bounded by count and bytes, and it is
   * closed (onOverrun) as soon as one of its unread events would have to be dropped.
   */
  read(options?: ReadOptions): EventReader;
}

export interface ReplayLimits {
  maxEvents: number;
  /** Approximate: see approximateBytes. */
  maxBytes: number;
}

/**
 * Readers pull after publish() returns, so what is published at once must fit with room to
 * spare: the engine publishes a stage's log in batches (up to 500 lines and 1 MiB, see
 * engine/stage-log.ts), several stages at a time. 32 MiB still holds 256 events of 64 KiB
 * lines. One buffer for every reader, however many there are.
 */
export const DEFAULT_REPLAY_LIMITS: ReplayLimits = { maxEvents: 10_000, maxBytes: 32 * 1024 * 1024 };

type Entry = Extract<ReaderItem, { kind: 'event' }> & { seq: number; bytes: number };

/** The in-process bus, for one server. */
export class MemoryEventBus implements EventBus {
  private readonly epoch = randomBytes(6).toString('hex');
  private readonly buffer: ReplayBuffer;
  private readonly listeners = new Set<{ filter: LiveEventFilter; listener: (event: LiveEvent, id: EventId) => void }>();
  private readonly readers = new Set<MemoryReader>();

  constructor(options: { replay?: Partial<ReplayLimits> } = {}) {
    this.buffer = new ReplayBuffer({ ...DEFAULT_REPLAY_LIMITS, ...options.replay });
  }

  publish(event: LiveEvent): EventId {
    const seq = this.buffer.lastSeq + 1;
    const json = JSON.stringify(event.data);
    const entry: Entry = { kind: 'event', id: this.idOf(seq), event, json, seq, bytes: approximateBytes(json) };
    this.buffer.push(entry, (evicted) => {
      for (const reader of this.readers) reader.losing(evicted);
    });
    for (const subscription of this.listeners) {
      try {
        if (subscription.filter(event)) subscription.listener(event, entry.id);
      } catch {
        this.listeners.delete(subscription);
      }
    }
    for (const reader of this.readers) reader.wake();
    return entry.id;
  }

  subscribe(filter: LiveEventFilter, listener: (event: LiveEvent, id: EventId) => void): () => void {
    const subscription = { filter, listener };
    this.listeners.add(subscription);
    return () => this.listeners.delete(subscription);
  }

  read({ filter = () => true, after, onOverrun = () => {} }: ReadOptions = {}): EventReader {
    const resumeSeq = after === undefined ? this.buffer.lastSeq : this.resumableSeq(after);
    const startSeq = resumeSeq ?? this.buffer.lastSeq;
    const reader = new MemoryReader({
      buffer: this.buffer,
      filter,
      onOverrun,
      onEnd: () => this.readers.delete(reader),
      startId: this.idOf(startSeq),
      startsWithReset: resumeSeq === null,
      nextSeq: startSeq + 1,
    });
    this.readers.add(reader);
    return reader;
  }

  private idOf(seq: number): EventId {
    return `${this.epoch}-${seq}`;
  }

  /** The seq to resume after, or null when events after `id` are gone or were never this bus's. */
  private resumableSeq(id: string): number | null {
    const match = /^([0-9a-f]+)-(\d{1,15})$/.exec(id);
    if (!match || match[1] !== this.epoch) return null;
    const seq = Number(match[2]);
    return seq <= this.buffer.lastSeq && seq >= this.buffer.oldestSeq() - 1 ? seq : null;
  }
}

/** Recent events, oldest first, within a count and an approximate byte size. */
class ReplayBuffer {
  /** Slots before `first` are dropped events, compacted away now and then. */
  private entries: (Entry | undefined)[] = [];
  private first = 0;
  private bytes = 0;
  lastSeq = 0;

  constructor(private readonly limits: ReplayLimits) {}

  push(entry: Entry, evicting: (entry: Entry) => void): void {
    this.entries.push(entry);
    this.lastSeq = entry.seq;
    this.bytes += entry.bytes;
    // The newest event always stays, however big, so a reader can resume after it.
    while (this.size() > 1 && (this.size() > this.limits.maxEvents || this.bytes > this.limits.maxBytes)) {
      const evicted = this.entries[this.first]!;
      this.entries[this.first++] = undefined;
      this.bytes -= evicted.bytes;
      evicting(evicted);
    }
    if (this.first > 1024 && this.first * 2 > this.entries.length) {
      this.entries = this.entries.slice(this.first);
      this.first = 0;
    }
  }

  oldestSeq(): number {
    return this.entries[this.first]?.seq ?? this.lastSeq + 1;
  }

  /** The first event from `seq` on that `wants`, and the seq to look from next. */
  find(seq: number, wants: LiveEventFilter): { entry: Entry | null; nextSeq: number } {
    for (let index = this.first + Math.max(0, seq - this.oldestSeq()); index < this.entries.length; index++) {
      const entry = this.entries[index]!;
      if (wants(entry.event)) return { entry, nextSeq: entry.seq + 1 };
    }
    return { entry: null, nextSeq: this.lastSeq + 1 };
  }

  private size(): number {
    return this.entries.length - this.first;
  }
}

interface MemoryReaderOptions {
  buffer: ReplayBuffer;
  filter: LiveEventFilter;
  onOverrun: () => void;
  onEnd: () => void;
  /** The id the reader continues after; a reset item carries it too. */
  startId: EventId;
  startsWithReset: boolean;
  nextSeq: number;
}

class MemoryReader implements EventReader {
  readonly after: EventId | null;
  private nextSeq: number;
  private pendingReset: boolean;
  private waiting: ((item: ReaderItem | null) => void) | null = null;
  private closed = false;

  constructor(private readonly options: MemoryReaderOptions) {
    this.after = options.startsWithReset ? null : options.startId;
    this.nextSeq = options.nextSeq;
    this.pendingReset = options.startsWithReset;
  }

  next(): Promise<ReaderItem | null> {
    if (this.waiting) throw new Error('EventReader.next() was called again before the previous call resolved');
    const item = this.take();
    if (item !== undefined) return Promise.resolve(item);
    return new Promise((resolve) => (this.waiting = resolve));
  }

  close(): void {
    this.end();
  }

  /** An event was published: hand it to a waiting next(). */
  wake(): void {
    if (!this.waiting) return;
    const item = this.take();
    if (item === undefined) return;
    const resolve = this.waiting;
    this.waiting = null;
    resolve(item);
  }

  /** `evicted` leaves the buffer: already read or not wanted is fine; unread and wanted is an overrun. */
  losing(evicted: Entry): void {
    if (this.nextSeq > evicted.seq) return;
    if (!this.wants(evicted.event)) {
      this.nextSeq = evicted.seq + 1;
      return;
    }
    this.end();
    try {
      this.options.onOverrun();
    } catch {
      // The callback only has to cut a connection; its failure must not reach publish().
    }
  }

  /** The next item now; null when closed, undefined when there is none yet. */
  private take(): ReaderItem | null | undefined {
    if (this.closed) return null;
    if (this.pendingReset) {
      this.pendingReset = false;
      return { kind: 'reset', id: this.options.startId };
    }
    const { entry, nextSeq } = this.options.buffer.find(this.nextSeq, (event) => this.wants(event));
    this.nextSeq = nextSeq;
    if (this.closed) return null;
    return entry ?? undefined;
  }

  /** A filter that throws ends the reader, as a throwing listener is dropped. */
  private wants(event: LiveEvent): boolean {
    try {
      return this.options.filter(event);
    } catch {
      this.end();
      return false;
    }
  }

  private end(): void {
    if (this.closed) return;
    this.closed = true;
    this.options.onEnd();
    const resolve = this.waiting;
    this.waiting = null;
    resolve?.(null);
  }
}

/**
 * What a buffered event costs, roughly: its JSON and the object it was made from, each about as
 * long as the JSON. Exact heap sizes are not knowable from JavaScript; the bound only has to
 * scale with the payload, since a log event can carry a 64 KiB line.
 */
function approximateBytes(json: string): number {
  return json.length * 2;
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
    case 'approval':
      return event.data.runId;
    default:
      return assertNever(event, 'live event');
  }
}
