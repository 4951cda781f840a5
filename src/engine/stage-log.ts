// Collects a stage's output lines and writes them to the store in batches, then publishes
// them live. Batching keeps a chatty step from costing one transaction per line; the short
// flush delay keeps `logs -f` feeling live.
//
// Whatever a step prints, the log holds bounded memory and storage: line() answers at once
// while little is unwritten and waits (backpressure) while more than a bound is, a line longer
// than the line limit is cut, and past the stage limit the step's lines are no longer kept (one
// system line says so; Slipway's own lines still are). Secret values are replaced by "***"
// before a line is kept anywhere. A secret may be printed across two lines, so while there are
// secrets each stream's last line is held back until the next one comes (the pair is checked
// together) or the flush delay passes.

import type { LogLimits } from '../config/model.ts';
import type { LogStream } from '../core/types.ts';
import type { EventBus } from '../events/bus.ts';
import { cutMarker, formatBytes } from '../executors/lines.ts';
import { MASK, SecretMasker } from '../secrets/mask.ts';
import type { NewLogLine, Store } from '../store/store.ts';

const FLUSH_DELAY_MS = 25;
/**
 * How long the last line of a stream is held back, where a stage has secrets, for the line after
 * it: a secret printed in two halves by two commands comes as two lines some milliseconds apart
 * (more on a busy machine), and both halves must be known before either is kept.
 */
const HOLD_MS = 250;
const MAX_BATCH_LINES = 500;
const MAX_BATCH_BYTES = 1024 * 1024;
/** Past either, line() waits until the writes in flight are done. */
const MAX_UNWRITTEN_LINES = 4 * MAX_BATCH_LINES;
const MAX_UNWRITTEN_BYTES = 4 * MAX_BATCH_BYTES;
const READY: Promise<void> = Promise.resolve();

export interface StageLogOptions {
  limits: LogLimits;
  /** Values never to be kept as they are: each occurrence in a line becomes "***". */
  secrets: readonly string[];
}

/** A line of the step's output not kept yet, as it may end in the first part of a secret the next line ends. */
interface Held {
  stream: LogStream;
  text: string;
  /** How many characters at its start end a secret the line before it began. */
  maskedTo: number;
  /** performance.now() when it came. */
  since: number;
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
  private readonly masker: SecretMasker | null;
  /** At most one line per stream, oldest first; only while there are secrets. */
  private held: Held[] = [];
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
    this.masker = SecretMasker.of(options.secrets);
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
    const cut = text.length > this.maxLineChars ? text.slice(0, this.options.limits.line) + this.marker : text;
    if (this.masker) this.hold(stream, cut, this.masker);
    else this.output(stream, cut);
    if (this.unwrittenLines <= MAX_UNWRITTEN_LINES && this.unwrittenBytes <= MAX_UNWRITTEN_BYTES) return READY;
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  /** Slipway's own remarks about the stage (what runs, why it failed), kept apart from the step's output, and past the stage limit too. */
  system(text: string): void {
    // The step's lines held back came first.
    this.release(0);
    for (const line of text.split('\n')) {
      const kept = this.masker ? this.masker.mask(line) : line;
      this.keep('system', kept, Buffer.byteLength(kept));
    }
  }

  /**
   * Waits for the writes in flight and hands over the lines not written yet, so the caller can
   * store them in the same transaction as the stage's end (one write instead of two).
   */
  async drain(): Promise<NewLogLine[]> {
    this.release(0);
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

  /** Holds the line back, and keeps the one before it on its stream, checked together for a secret split between them. */
  private hold(stream: LogStream, text: string, masker: SecretMasker): void {
    const index = this.held.findIndex((line) => line.stream === stream);
    let maskedTo = 0;
    if (index !== -1) {
      const before = this.held[index]!;
      const split = masker.split(before.text, text);
      // The lines of other streams that came before it are kept first, so the order stays.
      for (const line of this.held.splice(0, index + 1)) this.output(line.stream, this.masked(line, line === before && split ? split[0] : line.text.length));
      maskedTo = split ? split[1] : 0;
    }
    this.held.push({ stream, text, maskedTo, since: performance.now() });
    this.timer ??= setTimeout(this.tick, FLUSH_DELAY_MS);
  }

  /** The held line as kept: its start up to maskedTo and its end from `maskedFrom` are parts of a secret split across lines. */
  private masked({ text, maskedTo }: Held, maskedFrom: number): string {
    const masker = this.masker!;
    const whole = maskedTo === 0 && maskedFrom === text.length;
    if (!whole && maskedTo >= maskedFrom) return MASK;
    const middle = text.slice(maskedTo, maskedFrom);
    const kept = middle.endsWith(this.marker)
      ? masker.maskCut(middle.slice(0, -this.marker.length)) + this.marker
      : whole
        ? masker.maskLine(middle)
        : masker.mask(middle);
    return (maskedTo > 0 ? MASK : '') + kept + (maskedFrom < text.length ? MASK : '');
  }

  /** Keeps the held lines that came at least `age` ms ago (the rest came after them), with nothing after them to pair with. */
  private release(age: number): void {
    const before = performance.now() - age;
    while (this.held[0] && this.held[0].since <= before) {
      const line = this.held.shift()!;
      this.output(line.stream, this.masked(line, line.text.length));
    }
  }

  /** Keeps a line of the step's output, against the stage's limit. */
  private output(stream: LogStream, text: string): void {
    if (this.full) return;
    const bytes = Buffer.byteLength(text);
    if (this.keptBytes + bytes > this.options.limits.stage) {
      this.full = true;
      const marker = `… the rest of this step's output is not kept: the stage's log reached its limit of ${formatBytes(this.options.limits.stage)}`;
      this.keep('system', marker, Buffer.byteLength(marker));
    } else {
      this.keptBytes += bytes;
      this.keep(stream, text, bytes);
    }
  }

  private keep(stream: LogStream, text: string, bytes: number): void {
    this.buffer.push({ runId: this.runId, stageId: this.stageId, stream, text, at: this.now().toISOString() });
    this.bufferBytes += bytes;
    this.unwrittenLines++;
    this.unwrittenBytes += bytes;
    if (this.buffer.length >= MAX_BATCH_LINES || this.bufferBytes >= MAX_BATCH_BYTES) this.flush();
    else this.timer ??= setTimeout(this.tick, FLUSH_DELAY_MS);
  }

  /** The flush delay passed: writes what is buffered and keeps the lines held HOLD_MS; those held since come on a later tick. */
  private readonly tick = (): void => {
    this.timer = null;
    this.release(HOLD_MS);
    this.flush();
    if (this.held[0]) this.timer = setTimeout(this.tick, Math.max(0, this.held[0].since + HOLD_MS - performance.now()));
  };

  /** Starts writing what is buffered, after the writes already in flight; a failure is kept for drain(). */
  private flush(): void {
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
