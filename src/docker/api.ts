// Reading the Docker Engine API's answers, for every adapter that talks to the engine:
// its errors and its multiplexed output format.

import { setTimeout as sleep } from 'node:timers/promises';

/** The HTTP status of an error dockerode raised for an engine answer, if it was one. */
export function engineStatus(error: unknown): number | undefined {
  return (error as { statusCode?: number } | null)?.statusCode;
}

/**
 * Podman 4.3 loses track of an image or a layer now and then while another client removes an
 * image at the same time ("image not known", "layer not known"); the same request a moment later
 * succeeds.
 */
export const STORAGE_RACE = /(image|layer) not known/;

/** Runs `work`, again after a moment when the engine failed it in such a race (an HTTP 500). */
export async function retryStorageRace<T>(work: () => Promise<T>, attempts = 3): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await work();
    } catch (error) {
      const raced = engineStatus(error) === 500 && STORAGE_RACE.test(String((error as Error | null)?.message));
      if (!raced || attempt >= attempts) throw error;
      await sleep(250 * attempt);
    }
  }
}

/** The engine itself is gone (socket missing, refused or dropped), as opposed to refusing a request. */
export function isEngineUnreachable(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === 'ENOENT' || code === 'ECONNREFUSED' || code === 'EPIPE' || code === 'ECONNRESET';
}

export type FrameStream = 'stdout' | 'stderr';

const HEADER_BYTES = 8;
const STDOUT = 1;
const STDERR = 2;
const STDIN = 0;

/**
 * Reads output in the Engine API's multiplexed format (without a TTY, each frame carries an
 * 8-byte header naming its stream and its size) as it arrives: a frame's payload is handed on
 * in the pieces it came in, so memory stays bounded by a chunk whatever size a frame claims.
 * Output that turns out not to be framed (a TTY, a misaligned stream) is all stdout.
 */
export class FrameReader {
  private readonly header = Buffer.alloc(HEADER_BYTES);
  private headerBytes = 0;
  private payloadLeft = 0;
  private current: FrameStream = 'stdout';
  /** The output is not multiplexed after all: all of it is stdout. */
  private raw = false;

  constructor(private readonly deliver: (stream: FrameStream, payload: Buffer) => void) {}

  push(chunk: Buffer): void {
    let offset = 0;
    while (offset < chunk.length) {
      if (this.raw) {
        this.deliver('stdout', chunk.subarray(offset));
        return;
      }
      if (this.payloadLeft > 0) {
        const end = Math.min(chunk.length, offset + this.payloadLeft);
        this.deliver(this.current, chunk.subarray(offset, end));
        this.payloadLeft -= end - offset;
        offset = end;
        continue;
      }
      const taken = Math.min(HEADER_BYTES - this.headerBytes, chunk.length - offset);
      chunk.copy(this.header, this.headerBytes, offset, offset + taken);
      this.headerBytes += taken;
      offset += taken;
      if (this.headerBytes < HEADER_BYTES) return;
      this.headerBytes = 0;
      const kind = this.header[0];
      if (kind !== STDOUT && kind !== STDERR && kind !== STDIN) {
        this.raw = true;
        this.deliver('stdout', Buffer.from(this.header));
        continue;
      }
      this.current = kind === STDERR ? 'stderr' : 'stdout';
      this.payloadLeft = this.header.readUInt32BE(4);
    }
  }
}

/** The frames of a whole buffer of multiplexed output. */
export function demultiplex(buffer: Buffer): Array<{ stream: FrameStream; payload: Buffer }> {
  const frames: Array<{ stream: FrameStream; payload: Buffer }> = [];
  new FrameReader((stream, payload) => frames.push({ stream, payload })).push(buffer);
  return frames;
}
