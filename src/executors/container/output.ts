// Reading a container's output stream as lines, pulled one at a time: the stream is read only
// while the reader of the lines asks for more, so a reader that is behind (the engine waiting
// for the store) holds the engine's HTTP stream back, and the container's writes block, instead
// of lines piling up in memory.

import type { StepLine } from '../executor.ts';
import { LineSplitter } from '../lines.ts';
import { FrameReader } from '../../docker/api.ts';

/** Decides per line whether to give it on (false: skipped, or given already). */
export type LineOffer = (line: StepLine) => boolean;

/**
 * Gives the stream's lines that `offer` accepts. Returns true when the stream ended, false when
 * `quiet` said it went quiet after the container exited (the caller then reads the log again).
 */
export async function* linesOf(stream: NodeJS.ReadableStream, lineLimit: number, offer: LineOffer, quiet: QuietAfterExit | null): AsyncGenerator<StepLine, boolean> {
  // One chunk's lines at most: each chunk is split before the next one is read.
  const ready: StepLine[] = [];
  const splitters = { stdout: new LineSplitter('stdout', (line) => ready.push(line), lineLimit), stderr: new LineSplitter('stderr', (line) => ready.push(line), lineLimit) };
  // One reader for both streams keeps the engine's frame order, the closest to chronological order available.
  const frames = new FrameReader((kind, payload) => splitters[kind].push(payload));
  const chunks = (stream as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
  for (;;) {
    const next = quiet ? await quiet.race(chunks.next()) : await chunks.next();
    if (next === QuietAfterExit.QUIET) return false;
    if (next.done) {
      // Flushes each stream's last line, which may lack its newline.
      splitters.stdout.end();
      splitters.stderr.end();
    } else {
      frames.push(next.value);
    }
    for (const line of ready) if (offer(line)) yield line;
    ready.length = 0;
    if (next.done) return true;
  }
}

/**
 * Tells when a stream went quiet after its container exited: a race of a read against the
 * clock, where the clock runs only while a read is awaited and the container has exited, so a
 * reader that is behind is never mistaken for a stream that stopped.
 */
export class QuietAfterExit {
  static readonly QUIET: unique symbol = Symbol('quiet');
  private exited = false;
  /** Starts the clock of the read awaited now, if any. */
  private armWaiting: (() => void) | null = null;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    exit: Promise<unknown>,
    private readonly graceMs: number,
  ) {
    exit.then(
      () => {
        this.exited = true;
        this.armWaiting?.();
      },
      // A wait that failed says nothing about the stream, which then ends (or fails) by itself.
      () => undefined,
    );
  }

  race<T>(read: Promise<T>): Promise<T | typeof QuietAfterExit.QUIET> {
    return new Promise((resolve, reject) => {
      let settled = false;
      const settle = () => {
        settled = true;
        this.dispose();
      };
      const arm = () => {
        if (settled) return;
        this.timer = setTimeout(() => {
          settle();
          resolve(QuietAfterExit.QUIET);
        }, this.graceMs);
      };
      this.armWaiting = arm;
      if (this.exited) arm();
      read.then(
        (value) => {
          if (settled) return;
          settle();
          resolve(value);
        },
        (error: unknown) => {
          if (settled) return;
          settle();
          reject(error);
        },
      );
    });
  }

  /** Stops the clock of the read awaited now. */
  dispose(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.armWaiting = null;
  }
}
