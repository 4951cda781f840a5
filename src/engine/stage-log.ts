// Collects a stage's output lines and writes them to the store in batches, then publishes
// them live. Batching keeps a chatty step from costing one transaction per line; the short
// flush delay keeps `logs -f` feeling live.
//
// Whatever a step prints, the log holds bounded memory and storage: line() answers at once
// while little is unwritten and waits (backpressure) while more than a bound is, a line longer
// than the line limit is cut, and past the stage limit the step's lines are no longer kept (one
// system line says so; Slipway's own lines still are). Secret values are replaced by "***"
// before a line is kept anywhere.

import type { LogLimits } from '../config/model.ts';
import type { LogStream } from '../core/types.ts';
import type { EventBus } from '../events/bus.ts';
import { cutMarker, formatBytes } from '../executors/lines.ts';
import type { NewLogLine, Store } from '../store/store.ts';

const FLUSH_DELAY_MS = 25;
const MAX_BATCH_LINES = 500;
const MAX_BATCH_BYTES = 1024 * 1024;
/** Past either, line() waits until the writes in flight are done. */
const MAX_UNWRITTEN_LINES = 4 * MAX_BATCH_LINES;
const MAX_UNWRITTEN_BYTES = 4 * MAX_BATCH_BYTES;
const MASK = '***';
const READY: Promise<void> = Promise.resolve();

export interface StageLogOptions {
  limits: LogLimits;
  /** Values never to be kept as they are: each occurrence in a line becomes "***". */
  secrets: readonly string[];
}

export class StageLog {
  private buffer: NewLogLine[] = [];
  private bufferBytes = 0;
  /** Lines and bytes given to line() or system() and not yet written (buffered or in flight). */
  private unwrittenLines = 0;
  private unwrittenBytes = 0;
  /** Bytes of the step's output kept so far, against the stage limit. */
  private keptBytes = 0;
  private full = false;
  private timer: NodeJS.Timeout | null = null;
  private writing: Promise<void> = Promise.resolve();
  /** line() callers waiting for the unwritten lines to fall under the bounds. */
  private waiting: Array<() => void> = [];
  /** The first failed write; the stage's final flush reports it. */
  private failure: unknown = null;
  private readonly secrets: RegExp | null;
  private readonly secretValues: string[];
  private readonly marker: string;
  /** Longer than any line an executor cuts at the limit, so such a line is never cut twice. */
  private readonly maxLineChars: number;

  constructor(
    private readonly store: Store,
    private readonly bus: EventBus,
    private readonly runId: number,
    private readonly stageId: number,
    private readonly now: () => Date,
    private readonly options: StageLogOptions,
  ) {
    this.secretValues = secretValues(options.secrets);
    this.secrets = secretPattern(this.secretValues);
    this.marker = cutMarker(options.limits.line);
    this.maxLineChars = options.limits.line + this.marker.length;
  }

  /**
   * Keeps a line of the step's output (or of a build or deploy). Resolves at once while little
   * is unwritten; otherwise once the writes in flight are done, so a caller that awaits it
   * holds its producer back.
   */
  line(stream: LogStream, text: string): Promise<void> {
    if (this.full) return READY;
    const kept = this.mask(text.length > this.maxLineChars ? text.slice(0, this.options.limits.line) + this.marker : text);
    const bytes = Buffer.byteLength(kept);
    if (this.keptBytes + bytes > this.options.limits.stage) {
      this.full = true;
      const marker = `… the rest of this step's output is not kept: the stage's log reached its limit of ${formatBytes(this.options.limits.stage)}`;
      this.keep('system', marker, Buffer.byteLength(marker));
    } else {
      this.keptBytes += bytes;
      this.keep(stream, kept, bytes);
    }
    if (this.unwrittenLines <= MAX_UNWRITTEN_LINES && this.unwrittenBytes <= MAX_UNWRITTEN_BYTES) return READY;
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  /** Slipway's own remarks about the stage (what runs, why it failed), kept apart from the step's output, and past the stage limit too. */
  system(text: string): void {
    for (const line of text.split('\n')) {
      const kept = this.mask(line);
      this.keep('system', kept, Buffer.byteLength(kept));
    }
  }

  /**
   * Waits for the writes in flight and hands over the lines not written yet, so the caller can
   * store them in the same transaction as the stage's end (one write instead of two).
   */
  async drain(): Promise<NewLogLine[]> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.writing;
    if (this.failure) throw this.failure;
    const batch = this.buffer;
    const bytes = this.bufferBytes;
    this.buffer = [];
    this.bufferBytes = 0;
    this.written(batch.length, bytes);
    return batch;
  }

  private keep(stream: LogStream, text: string, bytes: number): void {
    this.buffer.push({ runId: this.runId, stageId: this.stageId, stream, text, at: this.now().toISOString() });
    this.bufferBytes += bytes;
    this.unwrittenLines++;
    this.unwrittenBytes += bytes;
    if (this.buffer.length >= MAX_BATCH_LINES || this.bufferBytes >= MAX_BATCH_BYTES) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), FLUSH_DELAY_MS);
  }

  private mask(text: string): string {
    if (!this.secrets) return text;
    const masked = text.replace(this.secrets, MASK);
    return masked.endsWith(this.marker) ? maskCutSecret(masked.slice(0, -this.marker.length), this.secretValues) + this.marker : masked;
  }

  /** Starts writing what is buffered, after the writes already in flight; a failure is kept for drain(). */
  private flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const batch = this.buffer;
    const bytes = this.bufferBytes;
    this.buffer = [];
    this.bufferBytes = 0;
    if (batch.length === 0) return;
    this.writing = this.writing.then(async () => {
      try {
        const stored = await this.store.logs.append(batch);
        for (const line of stored) this.bus.publish({ type: 'log', data: line });
      } catch (error) {
        this.failure ??= error;
      } finally {
        this.written(batch.length, bytes);
      }
    });
  }

  private written(lines: number, bytes: number): void {
    this.unwrittenLines -= lines;
    this.unwrittenBytes -= bytes;
    if (this.unwrittenLines > MAX_UNWRITTEN_LINES || this.unwrittenBytes > MAX_UNWRITTEN_BYTES) return;
    const waiting = this.waiting;
    this.waiting = [];
    for (const resolve of waiting) resolve();
  }
}

/** The values to hide, longest first. A multi-line value is also hidden line by line, as logs are kept by line. */
function secretValues(secrets: readonly string[]): string[] {
  const values = new Set<string>();
  for (const secret of secrets) {
    values.add(secret);
    if (secret.includes('\n')) for (const line of secret.split(/\r?\n/)) values.add(line);
  }
  values.delete('');
  return [...values].sort((a, b) => b.length - a.length);
}

/** One pattern for every value, longest first so a secret that contains another is hidden whole. */
function secretPattern(values: string[]): RegExp | null {
  if (values.length === 0) return null;
  return new RegExp(values.map((value) => value.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|'), 'g');
}

/** A line cut at the limit may end in the first part of a secret: that part is hidden too. */
function maskCutSecret(text: string, values: string[]): string {
  let longest = 0;
  for (const value of values) {
    for (let length = Math.min(value.length - 1, text.length); length > longest; length--) {
      if (text.endsWith(value.slice(0, length))) {
        longest = length;
        break;
      }
    }
  }
  return longest > 0 ? text.slice(0, -longest) + MASK : text;
}
