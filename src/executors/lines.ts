// Turns a step's byte streams into lines, for every executor.

import { StringDecoder } from 'node:string_decoder';
import { Writable } from 'node:stream';
import type { StepLine } from './executor.ts';

/** Splits a byte stream into lines; a line may span chunks, and the last may lack its newline. */
export class LineSplitter {
  private readonly decoder = new StringDecoder('utf8');
  private partial = '';

  constructor(
    private readonly stream: StepLine['stream'],
    private readonly emit: (line: StepLine) => void,
  ) {}

  push(chunk: Buffer): void {
    const parts = (this.partial + this.decoder.write(chunk)).split('\n');
    this.partial = parts.pop()!;
    for (const part of parts) this.emitLine(part);
  }

  end(): void {
    const rest = this.partial + this.decoder.end();
    this.partial = '';
    if (rest) this.emitLine(rest);
  }

  /** demuxStream writes each frame synchronously, so frames from both streams keep their order. */
  sink(): Writable {
    return new Writable({
      write: (chunk: Buffer, _encoding, done) => {
        this.push(chunk);
        done();
      },
    });
  }

  private emitLine(text: string): void {
    this.emit({ stream: this.stream, text: text.endsWith('\r') ? text.slice(0, -1) : text });
  }
}
