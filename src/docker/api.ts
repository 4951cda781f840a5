// Reading the Docker Engine API's answers, for every adapter that talks to the engine:
// its errors and its multiplexed output format.

/** The HTTP status of an error dockerode raised for an engine answer, if it was one. */
export function engineStatus(error: unknown): number | undefined {
  return (error as { statusCode?: number } | null)?.statusCode;
}

/** The engine itself is gone (socket missing, refused or dropped), as opposed to refusing a request. */
export function isEngineUnreachable(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === 'ENOENT' || code === 'ECONNREFUSED' || code === 'EPIPE' || code === 'ECONNRESET';
}

/**
 * Splits output in the Engine API's multiplexed format (without a TTY, each chunk carries an
 * 8-byte header naming its stream) into frames. Bytes that are not framed are stdout.
 */
export function* demultiplex(buffer: Buffer): Generator<{ stream: 'stdout' | 'stderr'; payload: Buffer }> {
  let offset = 0;
  while (offset + 8 <= buffer.length) {
    const kind = buffer[offset];
    const size = buffer.readUInt32BE(offset + 4);
    if ((kind !== 1 && kind !== 2) || offset + 8 + size > buffer.length) break;
    yield { stream: kind === 2 ? 'stderr' : 'stdout', payload: buffer.subarray(offset + 8, offset + 8 + size) };
    offset += 8 + size;
  }
  if (offset < buffer.length) yield { stream: 'stdout', payload: buffer.subarray(offset) };
}
