// Podman 4.3 sometimes leaves a follow-logs stream open after its container exited. The
// container executor must still end the step's output, without losing or repeating a line.
// The engine here is a stand-in whose follow stream never ends; the frame format and the
// demultiplexer are dockerode's own.

import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { it } from 'node:test';
import Docker from 'dockerode';
import type { ContainerEngine } from '../../src/docker/connect.ts';
import { ContainerExecutor } from '../../src/executors/container/executor.ts';
import type { StepLine } from '../../src/executors/executor.ts';

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
    logs: async (options: { follow: boolean }) => (options.follow ? follow : Buffer.concat(frames)),
    wait: async () => ({ StatusCode: 0 }),
  };
  const docker = { modem: new Docker({ socketPath: '/nonexistent' }).modem, getContainer: () => container } as unknown as Docker;
  const engine: ContainerEngine = { docker, name: 'stand-in', endpoint: 'none' };
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
    logs: (options: { follow: boolean }) => (options.follow ? new Promise(() => {}) : Promise.resolve(Buffer.concat([frame(1, 'only\n'), frame(2, 'err')]))),
    wait: async () => ({ StatusCode: 0 }),
  };
  const docker = { modem: new Docker({ socketPath: '/nonexistent' }).modem, getContainer: () => container } as unknown as Docker;
  const lines: StepLine[] = [];
  for await (const line of new ContainerExecutor({ docker, name: 'stand-in', endpoint: 'none' }, 'test').logs('c1')) lines.push(line);
  assert.deepEqual(lines, [
    { stream: 'stdout', text: 'only' },
    { stream: 'stderr', text: 'err' },
  ]);
});
