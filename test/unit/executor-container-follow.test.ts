// Podman 4.3 sometimes leaves a follow-logs stream open after its container exited. The
// container executor must still end the step's output, without losing or repeating a line.
// The engine here is a stand-in whose follow stream never ends, and whose whole log (read
// without following, as a stream) holds every frame; the frame format is the Engine API's.

import assert from 'node:assert/strict';
import { PassThrough, Readable } from 'node:stream';
import { it } from 'node:test';
import type Docker from 'dockerode';
import type { ContainerEngine } from '../../src/docker/connect.ts';
import { ContainerExecutor } from '../../src/executors/container/executor.ts';
import type { StepLine } from '../../src/executors/executor.ts';

/** A stand-in engine: one container, and the whole log as a stream for a request without `follow`. */
function standIn(container: object, whole: Buffer): Docker {
  const modem = {
    dial(options: { options?: { follow?: boolean } }, callback: (error: Error | null, stream: unknown) => void) {
      assert.equal(options.options?.follow, false);
      callback(null, Readable.from([whole.subarray(0, 5), whole.subarray(5)]));
    },
  };
  return { modem, getContainer: () => container } as unknown as Docker;
}

function frame(stream: 1 | 2, text: string): Buffer {
  const payload = Buffer.from(text);
  const header = Buffer.alloc(8);
  header[0] = stream;
  header.writeUInt32BE(payload.length, 4);
  return Buffer.concat([header, payload]);
}

it('ends the output of an exited container whose follow stream stays open', async () => {
  const frames = [frame(1, 'one\ntw'), frame(2, 'oops\n'), frame(1, 'o\nthree\n'), frame(1, 'last line')];
  const follow = new PassThrough();
  // The stream delivers the first two frames, then hangs open forever.
  follow.write(frames[0]);
  follow.write(frames[1]);
  const container = {
    logs: async (options: { follow: boolean }) => (options.follow ? follow : assert.fail('the whole log is read as a stream')),
    wait: async () => ({ StatusCode: 0 }),
  };
  const engine: ContainerEngine = { docker: standIn(container, Buffer.concat(frames)), name: 'stand-in', endpoint: 'none' };
  const lines: StepLine[] = [];
  for await (const line of new ContainerExecutor(engine, 'test').logs('c1')) lines.push(line);
  assert.deepEqual(lines, [
    { stream: 'stdout', text: 'one' },
    { stream: 'stderr', text: 'oops' },
    { stream: 'stdout', text: 'two' },
    { stream: 'stdout', text: 'three' },
    { stream: 'stdout', text: 'last line' },
  ]);
});

it('reads the whole log when the follow stream never even opens', async () => {
  const container = {
    logs: () => new Promise(() => {}),
    wait: async () => ({ StatusCode: 0 }),
  };
  const docker = standIn(container, Buffer.concat([frame(1, 'only\n'), frame(2, 'err')]));
  const lines: StepLine[] = [];
  for await (const line of new ContainerExecutor({ docker, name: 'stand-in', endpoint: 'none' }, 'test').logs('c1')) lines.push(line);
  assert.deepEqual(lines, [
    { stream: 'stdout', text: 'only' },
    { stream: 'stderr', text: 'err' },
  ]);
});

it('a reader that is behind is not mistaken for a log that went quiet', async () => {
  const follow = new PassThrough();
  follow.end(Buffer.concat([frame(1, 'first\n'), frame(1, 'second\n')]));
  const container = { logs: async () => follow, wait: async () => ({ StatusCode: 0 }) };
  const docker = { modem: { dial: () => assert.fail('the followed log ended by itself: nothing to read again') }, getContainer: () => container } as unknown as Docker;
  const lines: string[] = [];
  for await (const line of new ContainerExecutor({ docker, name: 'stand-in', endpoint: 'none' }, 'test').logs('c1')) {
    lines.push(line.text);
    // Longer than the grace period a quiet log gets once its container exited.
    if (lines.length === 1) await new Promise((resolve) => setTimeout(resolve, 2500));
  }
  assert.deepEqual(lines, ['first', 'second']);
});
