import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DEFAULT_RESOURCES } from '../../src/config/model.ts';
import { findContainerEngine, followProgress, type ContainerEngine } from '../../src/docker/connect.ts';
import tar from 'tar-fs';
import { ContainerExecutor } from '../../src/executors/container/executor.ts';
import type { StepLine, StepSpec } from '../../src/executors/executor.ts';
import { requireBusybox } from '../support/engine.ts';
import { executorConformance, textOf } from '../unit/executor-conformance.ts';

const root = mkdtempSync(join(tmpdir(), 'slipway-container-executor-'));
after(() => rmSync(root, { recursive: true, force: true }));
const workspace = (): string => mkdtempSync(join(root, 'workspace-'));

// The pid keeps test runs that share the engine apart.
const conformanceOwner = `conformance${process.pid}`;
const owner = `test${process.pid}`;

const builtImages: string[] = [];
after(async () => {
  const { engine } = await requireBusybox();
  for (const image of builtImages) await engine.docker.getImage(image).remove({ force: true }).catch(() => undefined);
});

/** An image whose own command prints a line: FROM the busybox image, built here, removed after. */
async function imageWithCommand(engine: ContainerEngine, base: string): Promise<{ image: string; prints: string }> {
  const image = `localhost/slipway-test/own-command:${process.pid}`;
  const prints = 'the image says hello';
  const context = mkdtempSync(join(root, 'context-'));
  writeFileSync(join(context, 'Dockerfile'), `FROM ${base}\nCMD ["echo", "${prints}"]\n`);
  // tar-fs streams are streamx streams; dockerode only reads them.
  await followProgress(engine.docker, await engine.docker.buildImage(tar.pack(context) as unknown as NodeJS.ReadableStream, { t: image }));
  builtImages.push(image);
  return { image, prints };
}

executorConformance('container', async () => {
  const { engine, image } = await requireBusybox();
  const network = async () => {
    const name = `slipway-${conformanceOwner}-net${Math.floor(Math.random() * 1e6)}`;
    await engine.docker.createNetwork({ Name: name, Driver: 'bridge' });
    const info = (await engine.docker.getNetwork(name).inspect()) as { IPAM?: { Config?: Array<{ Subnet?: string }> } };
    const subnet = info.IPAM?.Config?.find((entry) => entry.Subnet && !entry.Subnet.includes(':'))?.Subnet ?? '';
    // "10.89.3.0/24" -> "10.89.3."
    return { name, subnetPrefix: subnet.split('.').slice(0, 3).join('.') + '.', remove: () => engine.docker.getNetwork(name).remove() };
  };
  return { executor: new ContainerExecutor(engine, conformanceOwner), image, workspace, isolated: true, containers: { network, imageWithCommand: await imageWithCommand(engine, image) } };
});

describe('ContainerExecutor on the real engine', () => {
  let engine: ContainerEngine;
  let image: string;
  let executor: ContainerExecutor;
  let nextStageId = 1;

  before(async () => {
    ({ engine, image } = await requireBusybox());
    executor = new ContainerExecutor(engine, owner);
  });

  after(async () => {
    for (const handle of await containersOf(owner)) await executor.cleanup(handle);
  });

  function stepFor(command: string, overrides: Partial<StepSpec> = {}): StepSpec {
    return { runId: 42, stageId: nextStageId++, name: 'unit-test', command, image, workspace: workspace(), mounts: [], limits: { ...DEFAULT_RESOURCES }, env: {}, ...overrides };
  }

  async function containersOf(someOwner: string): Promise<string[]> {
    const containers = await engine.docker.listContainers({ all: true, filters: { label: [`slipway.owner=${someOwner}`] } });
    return containers.map((container) => container.Id);
  }

  test('the description names the engine', () => {
    assert.match(executor.description, /^container \((podman|docker) \d/);
    assert.equal(executor.usesImages, true);
  });

  test('a running step is found again by a new executor; its logs resume after the stored lines', async () => {
    const step = stepFor('echo one; echo err-one >&2; while [ ! -e go ]; do sleep 0.1; done; echo two; echo err-two >&2; exit 4');
    const handle = await executor.start(step);
    const seen: StepLine[] = [];
    for await (const line of executor.logs(handle)) {
      seen.push(line);
      if (seen.length === 2) break;
    }
    assert.deepEqual(seen.map((line) => line.text).sort(), ['err-one', 'one']);

    // A new client and executor, as after a server restart.
    const lookup = await findContainerEngine();
    assert.ok(lookup.ok);
    const restarted = new ContainerExecutor(lookup.engine, owner);
    assert.equal(await restarted.reattach(handle), handle);
    assert.equal((await lookup.engine.docker.getContainer(handle).inspect()).State.Running, true);

    writeFileSync(join(step.workspace, 'go'), '');
    const rest = restarted.logs(handle, { skip: { stdout: 1, stderr: 1 } });
    const lines: StepLine[] = [];
    for await (const line of rest) lines.push(line);
    assert.deepEqual(textOf(lines, 'stdout'), ['two']);
    assert.deepEqual(textOf(lines, 'stderr'), ['err-two']);
    assert.deepEqual(await restarted.wait(handle), { exitCode: 4 });
    await restarted.cleanup(handle);
    assert.equal(await restarted.reattach(handle), null);
  });

  test('another owner neither reattaches to nor collides with our containers', async () => {
    const step = stepFor('sleep 60');
    const handle = await executor.start(step);
    const neighbour = new ContainerExecutor(engine, `${owner}neighbour`);
    try {
      assert.equal(await neighbour.reattach(handle), null);
      const theirs = await neighbour.start(step);
      await neighbour.cleanup(theirs);
      assert.equal((await engine.docker.getContainer(handle).inspect()).State.Running, true);
    } finally {
      await executor.cleanup(handle);
    }
  });

  test('a missing image fails start with one sentence and leaves no container', async () => {
    const missing = 'localhost/slipway/does-not-exist:1';
    await assert.rejects(executor.start(stepFor('true', { image: missing })), (error: Error) => {
      assert.match(error.message, /^image localhost\/slipway\/does-not-exist:1 is not available: \S.*$/);
      assert.doesNotMatch(error.message, /\n/);
      return true;
    });
    assert.deepEqual(await containersOf(owner), []);
  });

  test('containers carry their labels and name', async () => {
    // Running while inspected: Podman 4.3's inspect of a container exiting that moment may fail.
    const step = stepFor('sleep 60', { name: 'lint' });
    const handle = await executor.start(step);
    try {
      const info = await engine.docker.getContainer(handle).inspect();
      assert.equal(info.Name.replace(/^\//, ''), `slipway-${owner}-run42-stage${step.stageId}`);
      const labels = Object.entries(info.Config.Labels ?? {}).filter(([key]) => key.startsWith('slipway.'));
      assert.deepEqual(Object.fromEntries(labels), {
        'slipway.owner': owner,
        'slipway.run': '42',
        'slipway.stage': String(step.stageId),
        'slipway.step': 'lint',
      });
    } finally {
      await executor.cleanup(handle);
    }
  });

  test('a container gets exactly the workspace and the mounts, its limits, and no new privileges', async () => {
    const borrowed = mkdtempSync(join(root, 'borrowed-'));
    const step = stepFor('sleep 60', { mounts: [borrowed], limits: { memory: 96 * 1024 * 1024, cpus: 0.5, pids: 32 } });
    const handle = await executor.start(step);
    try {
      const { HostConfig, Mounts } = await engine.docker.getContainer(handle).inspect();
      const mounts = Mounts.map(({ Type, Source, Destination, RW }) => ({ Type, Source, Destination, RW })).sort((a, b) => a.Destination.localeCompare(b.Destination));
      assert.deepEqual(
        mounts,
        [
          { Type: 'bind', Source: step.workspace, Destination: '/workspace', RW: true },
          { Type: 'bind', Source: borrowed, Destination: borrowed, RW: false },
        ].sort((a, b) => a.Destination.localeCompare(b.Destination)),
      );
      assert.deepEqual(HostConfig.SecurityOpt, ['no-new-privileges']);
      const limits = HostConfig as { Memory?: number; MemorySwap?: number; NanoCpus?: number; PidsLimit?: number };
      assert.deepEqual(
        { Memory: limits.Memory, MemorySwap: limits.MemorySwap, NanoCpus: limits.NanoCpus, PidsLimit: limits.PidsLimit },
        { Memory: 96 * 1024 * 1024, MemorySwap: 96 * 1024 * 1024, NanoCpus: 500_000_000, PidsLimit: 32 },
      );
    } finally {
      await executor.cleanup(handle);
    }
  });

  test('a mount given as a relative path is refused before anything starts', async () => {
    await assert.rejects(executor.start(stepFor('true', { mounts: ['objects'] })), /absolute host path/);
    assert.deepEqual(await containersOf(owner), []);
  });

  test('a container left behind under the same name is replaced', async () => {
    const step = stepFor('sleep 60');
    const leftover = await executor.start(step);
    const handle = await executor.start({ ...step, command: 'echo fresh' });
    try {
      assert.notEqual(handle, leftover);
      assert.equal(await executor.reattach(leftover), null);
      assert.deepEqual(await executor.wait(handle), { exitCode: 0 });
    } finally {
      await executor.cleanup(handle);
    }
  });

  test('cleanup removes the containers', async () => {
    const handles = [await executor.start(stepFor('true')), await executor.start(stepFor('sleep 60'))];
    assert.deepEqual((await containersOf(owner)).sort(), [...handles].sort());
    for (const handle of handles) await executor.cleanup(handle);
    assert.deepEqual(await containersOf(owner), []);
  });
});
