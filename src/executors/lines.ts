// Turns a step's byte streams into lines, for every executor, in time proportional to the bytes
// and memory bounded by the line limit, whatever the step prints: a line past the limit is cut
// there with a marker, and the rest of it (up to its newline) is dropped as it arrives.

import type { StepLine } from './executor.ts';

/** The default of slipway.yml's `logs.line`. */
export const DEFAULT_LINE_LIMIT = 64 * 1024;

const NEWLINE = 0x0a;
const CARRIAGE_RETURN = 0x0d;
/** The line buffer starts small and doubles up to the limit: most lines are short. */
const INITIAL_LINE_BUFFER = 1024;

/** 65536 -> "64 KiB", 52428800 -> "50 MiB", 1536 -> "1.5 KiB". */
export function formatBytes(bytes: number): string {
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${Number.isInteger(value) ? value : value.toFixed(1)} ${units[unit]}`;
}

/** What a cut line ends with. */
export function cutMarker(limitBytes: number): string {
  return `… (line cut at ${formatBytes(limitBytes)})`;
}

/** Splits a byte stream into lines; a line may span chunks, and the last may lack its newline. */
export class LineSplitter {
  private line = Buffer.allocUnsafe(0);
  private length = 0;
  /** The current line was cut: its bytes are dropped up to the next newline. */
  private discarding = false;

  constructor(
    private readonly stream: StepLine['stream'],
    private readonly emit: (line: StepLine) => void,
    private readonly limitBytes = DEFAULT_LINE_LIMIT,
  ) {
    if (!(limitBytes >= 1)) throw new Error(`a line limit must be at least one byte, not ${limitBytes}`);
  }

  push(chunk: Buffer): void {
    let start = 0;
    while (start < chunk.length) {
      const newline = chunk.indexOf(NEWLINE, start);
      if (newline === -1) {
        if (!this.discarding) this.append(chunk, start, chunk.length);
        return;
      }
      // A "\r\n" ending is not part of the line, so it does not count towards the limit.
      const end = newline > start && chunk[newline - 1] === CARRIAGE_RETURN ? newline - 1 : newline;
      if (!this.discarding) {
        // A line wholly in this chunk needs no copy.
        if (this.length === 0 && end - start <= this.limitBytes) this.emit({ stream: this.stream, text: chunk.toString('utf8', start, end) });
        else if (this.append(chunk, start, end)) this.emitLine();
      }
      // The newline ends the line, cut or not.
      this.discarding = false;
      start = newline + 1;
    }
  }

  /** Emits the last line when the output did not end with a newline. */
  end(): void {
    if (!this.discarding && this.length > 0) this.emitLine();
    this.discarding = false;
    this.length = 0;
  }

  /** Adds bytes to the current line; false when they went past the limit and the line was cut. */
  private append(chunk: Buffer, start: number, end: number): boolean {
    const room = this.limitBytes - this.length;
    const taken = Math.min(room, end - start);
    this.reserve(this.length + taken);
    chunk.copy(this.line, this.length, start, start + taken);
    this.length += taken;
    if (end - start <= room) return true;
    this.cut(chunk[start + taken]!);
    return false;
  }

  /** Emits the line cut at the limit, never in the middle of a UTF-8 character. */
  private cut(nextByte: number): void {
    if (isContinuationByte(nextByte)) {
      // The character straddling the limit starts at the last lead byte kept: drop it whole.
      while (this.length > 0 && isContinuationByte(this.line[this.length - 1]!)) this.length--;
      if (this.length > 0) this.length--;
    }
    this.emit({ stream: this.stream, text: this.line.toString('utf8', 0, this.length) + cutMarker(this.limitBytes) });
    this.length = 0;
    this.discarding = true;
  }

  private emitLine(): void {
    // The "\r" of a "\r\n" split across two chunks arrives with the line.
    const end = this.length > 0 && this.line[this.length - 1] === CARRIAGE_RETURN ? this.length - 1 : this.length;
    this.emit({ stream: this.stream, text: this.line.toString('utf8', 0, end) });
    this.length = 0;
  }

  private reserve(size: number): void {
    if (size <= this.line.length) return;
    let capacity = Math.max(INITIAL_LINE_BUFFER, this.line.length);
    while (capacity < size) capacity *= 2;
    const grown = Buffer.allocUnsafe(Math.min(capacity, this.limitBytes));
    this.line.copy(grown, 0, 0, this.length);
    this.line = grown;
  }
}

function isContinuationByte(byte: number): boolean {
  return (byte & 0xc0) === 0x80;
}
