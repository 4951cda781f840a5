// Collects a stage's output lines and writes them to the store in batches, then publishes
// them live. Batching keeps a chatty step from costing one transaction per line; the short
// flush delay keeps `logs -f` feeling live.

import type { LogStream } from '../core/types.ts';
import type { EventBus } from '../events/bus.ts';
import type { NewLogLine, Store } from '../store/store.ts';

const FLUSH_DELAY_MS = 25;
const MAX_BATCH = 500;
const MAX_LINE_CHARS = 16 * 1024;

export class StageLog {
  private buffer: NewLogLine[] = [];
  private timer: NodeJS.Timeout | null = null;
  private writing: Promise<void> = Promise.resolve();
  /** The first failed write; the stage's final flush reports it. */
  private failure: unknown = null;

  constructor(
    private readonly store: Store,
    private readonly bus: EventBus,
    private readonly runId: number,
    private readonly stageId: number,
    private readonly now: () => Date,
  ) {}

  line(stream: LogStream, text: string): void {
    const clipped = text.length > MAX_LINE_CHARS ? `${text.slice(0, MAX_LINE_CHARS)}… (line cut at ${MAX_LINE_CHARS} characters)` : text;
    this.buffer.push({ runId: this.runId, stageId: this.stageId, stream, text: clipped, at: this.now().toISOString() });
    if (this.buffer.length >= MAX_BATCH) void this.flush().catch(() => {});
    else this.timer ??= setTimeout(() => void this.flush().catch(() => {}), FLUSH_DELAY_MS);
  }

  /** Slipway's own remarks about the stage (what runs, why it failed), kept apart from the step's output. */
  system(text: string): void {
    for (const line of text.split('\n')) this.line('system', line);
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
    this.buffer = [];
    return batch;
  }

  /**
   * Writes what is buffered; resolves once every line given so far is stored and published,
   * and rejects if any write since the stage began failed.
   */
  private async flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const batch = this.buffer;
    this.buffer = [];
    if (batch.length > 0) {
      this.writing = this.writing.then(async () => {
        try {
          const stored = await this.store.logs.append(batch);
          for (const line of stored) this.bus.publish({ type: 'log', data: line });
        } catch (error) {
          this.failure ??= error;
        }
      });
    }
    await this.writing;
    if (this.failure) throw this.failure;
  }
}
