// One-off containers (src/docker/one-off.ts) on the real engine: output, exit codes, variables,
// networks, timeouts and cancels, and that no container is left behind in any case.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { EngineApiBuilder } from '../../src/builders/engine-api/builder.ts';
import type { ContainerEngine } from '../../src/docker/connect.ts';
import { ensureImage, runOneOff, type OneOffSpec } from '../../src/docker/one-off.ts';
import { requireBusybox, requireRegistry } from '../support/engine.ts';

const suffix = randomBytes(4).toString('hex');
const OWNER = `oneoff-${suffix}`;

let engine: ContainerEngine;
let busybox: string;
let nextName = 1;

before(async () => {
  ({ engine, image: busybox } = await requireBusybox());
});

interface Ran {
  exit: { exitCode: number; reason?: string };
  stdout: string[];
  stderr: string[];
}

async function run(overrides: Partial<OneOffSpec>, signal = new AbortController().signal, onLine: (line: string) => void = () => {}): Promise<Ran> {
  const spec: OneOffSpec = {
    name: `slipway-${OWNER}-${nextName++}`,
    image: busybox,
    command: 'true',
    env: {},
    labels: { 'slipway.owner': OWNER, 'slipway.task': 'test' },
    timeoutMs: 120_000,
    ...overrides,
  };
  const ran: Ran = { exit: { exitCode: NaN }, stdout: [], stderr: [] };
  ran.exit = await runOneOff(
    engine,
    spec,
    (line, stream = 'stdout') => {
      ran[stream].push(line);
      onLine(line);
    },
    signal,
  );
  return ran;
}

async function assertNoneLeft(): Promise<void> {
  const left = await engine.docker.listContainers({ all: true, filters: { label: [`slipway.owner=${OWNER}`] } });
  assert.deepEqual(
    left.map((container) => container.Names),
    [],
  );
}

describe('runOneOff on the real engine', { timeout: 300_000 }, () => {
  test('output lines arrive in order with their streams kept apart, and the exit code is passed through', async () => {
    const ran = await run({ command: 'echo one; echo err-one >&2; echo two; echo err-two >&2; echo; printf "no newline"; exit 3' });
    assert.deepEqual(ran.exit, { exitCode: 3 });
    assert.deepEqual(ran.stdout, ['one', 'two', '', 'no newline']);
    assert.deepEqual(ran.stderr, ['err-one', 'err-two']);
    await assertNoneLeft();
  });

  test('a command that succeeds answers 0 and no reason', async () => {
    const ran = await run({ command: 'echo fine' });
    assert.deepEqual(ran.exit, { exitCode: 0 });
    assert.deepEqual(ran.stdout, ['fine']);
    await assertNoneLeft();
  });

  test('the variables are in its environment, unchanged by the shell', async () => {
    const ran = await run({ command: 'echo "$GREETING"; echo "$QUOTED"; echo "[$EMPTY]"', env: { GREETING: 'hello  world', QUOTED: `it's "$HOME"`, EMPTY: '' } });
    assert.deepEqual(ran.exit, { exitCode: 0 });
    assert.deepEqual(ran.stdout, ['hello  world', `it's "$HOME"`, '[]']);
    await assertNoneLeft();
  });

  test('it joins the network it is given, with the extra hosts in /etc/hosts', async () => {
    const networkName = `slipway-${OWNER}-net`;
    const network = await engine.docker.createNetwork({ Name: networkName, Labels: { 'slipway.owner': OWNER } });
    try {
      const subnet = (await network.inspect()).IPAM?.Config?.[0]?.Subnet;
      assert.ok(subnet, 'the network has no subnet');
      const name = `slipway-${OWNER}-on-network`;
      const ran = await run({ name, command: 'cat /etc/hosts', network: networkName, extraHosts: ['db.internal:10.1.2.3'] });
      assert.deepEqual(ran.exit, { exitCode: 0 }, ran.stderr.join('\n'));
      assert.ok(ran.stdout.some((line) => /^10\.1\.2\.3\s+db\.internal$/.test(line)), ran.stdout.join('\n'));
      // The engine names the container in /etc/hosts by its address on the network.
      const own = ran.stdout.find((line) => line.split(/\s+/).includes(name));
      assert.ok(own, ran.stdout.join('\n'));
      assert.ok(inSubnet(own.split(/\s+/)[0]!, subnet), `${own} is not in ${subnet}`);
    } finally {
      await network.remove();
    }
    await assertNoneLeft();
  });

  test('a command that runs past its timeout is stopped, with the reason', async () => {
    const ran = await run({ command: 'echo started; sleep 600; echo never', timeoutMs: 2_000 });
    assert.notEqual(ran.exit.exitCode, 0);
    assert.equal(ran.exit.reason, 'timed out after 2s');
    assert.deepEqual(ran.stdout, ['started']);
    assert.deepEqual(ran.stderr, ['the command was stopped: timed out after 2s']);
    await assertNoneLeft();
  });

  test('a cancel stops it; its output arrived live, before it ended', async () => {
    const controller = new AbortController();
    // Cancelling on the first line proves that line arrived while the command still ran.
    const ran = await run({ command: 'echo started; sleep 600; echo never' }, controller.signal, (line) => line === 'started' && controller.abort());
    assert.notEqual(ran.exit.exitCode, 0);
    assert.equal(ran.exit.reason, 'cancelled');
    assert.deepEqual(ran.stdout, ['started']);
    assert.deepEqual(ran.stderr, ['the command was stopped: cancelled']);
    await assertNoneLeft();
  });

  test('a signal aborted before the start runs nothing', async () => {
    const controller = new AbortController();
    controller.abort();
    const ran = await run({ command: 'echo never' }, controller.signal);
    assert.deepEqual(ran.exit, { exitCode: -1, reason: 'cancelled' });
    assert.deepEqual(ran.stdout, []);
    await assertNoneLeft();
  });

  test('a leftover container of the same name (a crashed server) is removed first', async () => {
    const name = `slipway-${OWNER}-leftover`;
    await engine.docker.createContainer({ name, Image: busybox, Cmd: ['sleep', '600'], Labels: { 'slipway.owner': OWNER } });
    const ran = await run({ name, command: 'echo after' });
    assert.deepEqual(ran.exit, { exitCode: 0 });
    assert.deepEqual(ran.stdout, [`removed ${name}, left by an earlier run that never finished`, 'after']);
    await assertNoneLeft();
  });

  test('an engine refusal answers -1 with the reason, logged', async () => {
    const ran = await run({ command: 'echo never', network: `slipway-${OWNER}-no-such-network` });
    assert.equal(ran.exit.exitCode, -1);
    assert.match(ran.exit.reason ?? '', /^the container engine refused \(HTTP \d+\): .*no-such-network/);
    assert.deepEqual(ran.stderr, [ran.exit.reason]);
    await assertNoneLeft();
  });
});

describe('ensureImage on the real engine', { timeout: 300_000 }, () => {
  let registry: string;
  let repository: string;
  let pushed: { image: string; digest: string };
  let imageId: string;
  const contexts: string[] = [];
  const reference = () => `${repository}@${pushed.digest}`;

  before(async () => {
    registry = await requireRegistry();
    repository = `${registry}/slipway-oneoff-${suffix}`;
    const context = mkdtempSync(join(tmpdir(), 'slipway-one-off-'));
    contexts.push(context);
    // Its own label makes it an image of its own, not another name for busybox.
    writeFileSync(join(context, 'Dockerfile'), `FROM ${busybox}\nLABEL slipway.test=${suffix}\n`);
    const built = await new EngineApiBuilder(engine).build(
      { contextDir: context, dockerfile: 'Dockerfile', repository, tag: 'pulled', aliases: [], labels: { 'slipway.owner': OWNER } },
      () => {},
      new AbortController().signal,
    );
    if (!built.ok) throw new Error(`building the test image failed: ${built.error}`);
    pushed = built.value;
    imageId = (await engine.docker.getImage(pushed.image).inspect()).Id;
  });

  after(async () => {
    if (imageId) await engine.docker.getImage(imageId).remove({ force: true }).catch(() => {});
    if (pushed) await fetch(`http://${registry}/v2/slipway-oneoff-${suffix}/manifests/${pushed.digest}`, { method: 'DELETE' }).catch(() => {});
    for (const dir of contexts) rmSync(dir, { recursive: true, force: true });
  });

  // By id, not by listing: Podman 4.3 may fail a listing while other tests remove images.
  async function removeLocally(): Promise<void> {
    await engine.docker
      .getImage(imageId)
      .remove({ force: true })
      .catch((error: { statusCode?: number }) => {
        if (error.statusCode !== 404) throw error;
      });
    await assert.rejects(engine.docker.getImage(reference()).inspect(), (error: { statusCode?: number }) => error.statusCode === 404);
  }

  test('an image that is not on the host is pulled, and one that is is not pulled again', async () => {
    await removeLocally();
    const first: string[] = [];
    await ensureImage(engine, reference(), (line) => first.push(line), new AbortController().signal);
    assert.deepEqual(first, [`pulling ${reference()}`, `pulled ${reference()}`]);
    assert.ok(await engine.docker.getImage(reference()).inspect());

    const second: string[] = [];
    await ensureImage(engine, reference(), (line) => second.push(line), new AbortController().signal);
    assert.deepEqual(second, []);
  });

  test('a pull that fails throws with the engine\'s reason', async () => {
    const missing = `${repository}@sha256:${'0'.repeat(64)}`;
    await assert.rejects(ensureImage(engine, missing, () => {}, new AbortController().signal), (error: Error) => {
      assert.match(error.message, new RegExp(`^pull of ${missing.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} failed: .*manifest unknown`));
      return true;
    });
  });

  test('runOneOff pulls its image first, and a failed pull answers -1 with the reason', async () => {
    await removeLocally();
    const ran = await run({ image: reference(), command: 'echo from the pulled image' });
    assert.deepEqual(ran.exit, { exitCode: 0 });
    assert.deepEqual(ran.stdout, [`pulling ${reference()}`, `pulled ${reference()}`, 'from the pulled image']);

    const missing = await run({ image: `${repository}@sha256:${'0'.repeat(64)}`, command: 'echo never' });
    assert.equal(missing.exit.exitCode, -1);
    assert.match(missing.exit.reason ?? '', /^pull of .* failed: .*manifest unknown/);
    assert.deepEqual(missing.stderr, [missing.exit.reason]);
    await assertNoneLeft();
  });
});

/** Whether an IPv4 address is inside a CIDR subnet. */
function inSubnet(address: string, cidr: string): boolean {
  const [base, bits] = cidr.split('/');
  const toNumber = (ip: string) => ip.split('.').reduce((sum, octet) => sum * 256 + Number(octet), 0);
  const size = 2 ** (32 - Number(bits));
  return Math.floor(toNumber(address) / size) === Math.floor(toNumber(base!) / size);
}
