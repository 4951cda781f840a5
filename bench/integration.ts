// The integration stage against the same containers started and removed by hand through the
// Engine API. Slipway's side is a real Engine (SQLite store, ContainerSandbox, ContainerExecutor)
// running `api` with `peer` (pinned to a release) and the infrastructure `cache`: three busybox
// httpd members on a network of their own, then a suite that asks peer for / with nc. Only the
// build is faked: it answers an image pushed once at setup. By hand is what a client must do for
// the same result: an isolated network, the three members with the same aliases and labels, each
// polled over HTTP until it answers, the suite created, started and waited for, everything
// removed. Slipway runs and by-hand batches alternate, so both share the machine's conditions;
// the ratio of medians is the figure to read.
//
// The sandbox polls readiness no faster than every 250 ms, whatever the configured interval; by
// hand polls every 100 ms. That floor is part of what the stage costs, so it stays in.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type Docker from 'dockerode';
import { EngineApiBuilder } from '../src/builders/engine-api/builder.ts';
import { FakeBuilder } from '../src/builders/fake/builder.ts';
import { formatConfigErrors, parseConfig } from '../src/config/load.ts';
import { DEFAULT_RESOURCES } from '../src/config/model.ts';
import { isTerminalRun, ok } from '../src/core/types.ts';
import { pullReference } from '../src/deployers/reference.ts';
import { engineStatus } from '../src/docker/api.ts';
import type { ContainerEngine } from '../src/docker/connect.ts';
import { ensureImage } from '../src/docker/one-off.ts';
import { Engine } from '../src/engine/engine.ts';
import { MemoryEventBus } from '../src/events/bus.ts';
import { ContainerExecutor } from '../src/executors/container/executor.ts';
import { ensureBusyboxImage } from '../src/images/base.ts';
import { ContainerSandbox } from '../src/sandboxes/container/sandbox.ts';
import { FakeSource } from '../src/source/fake/source.ts';
import { openSqliteStore } from '../src/store/sqlite/store.ts';
import { round, summarize, type Summary } from './stats.ts';

const WARMUP = 1;
const REGISTRY = '127.0.0.1:5000';
const PORT = 8080;
const POLL_MS = 100;
const READY_TIMEOUT_MS = 60_000;
const MEMBERS = ['api', 'peer', 'cache'] as const;
// busybox's nc, not its wget: the static wget crashes looking a name up.
const SUITE = "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 peer 8080 | grep -q '200 OK'";
const REPOS = { api: '/bench/api.git', peer: '/bench/peer.git' };
const SHA = { api: 'a'.repeat(40), peer: 'b'.repeat(40) };

export interface IntegrationResult {
  /** What every member runs: busybox httpd, pinned to its registry digest. */
  image: string;
  members: number;
  iterations: number;
  /** The integration stage, from its stored startedAt to its finishedAt. */
  slipway: Summary;
  /** The whole run (checkout, the faked build, the integration stage), from its stored startedAt to its finishedAt. */
  slipwayRun: Summary;
  /** Network, members, readiness, suite, removal, done by hand through the Engine API. */
  byHand: Summary;
  ratio: number;
}

/** A busybox httpd image in the registry, built and pushed the way a build stage does it; also pulled by digest, as members need it. */
async function pushServerImage(container: ContainerEngine, root: string, owner: string): Promise<{ image: string; digest: string }> {
  const base = await ensureBusyboxImage(container.docker);
  const context = mkdtempSync(join(root, 'image-'));
  writeFileSync(join(context, 'index.html'), 'bench\n');
  writeFileSync(join(context, 'Dockerfile'), `FROM ${base}\nCOPY index.html /www/index.html\nEXPOSE ${PORT}\nCMD ["httpd", "-f", "-p", "${PORT}", "-h", "/www"]\n`);
  const request = { contextDir: context, dockerfile: 'Dockerfile', repository: `${REGISTRY}/${owner}`, tag: 'bench', aliases: [], labels: { 'slipway.bench': owner } };
  const built = await new EngineApiBuilder(container).build(request, () => {}, new AbortController().signal);
  if (!built.ok) throw new Error(`could not push the benchmark image: ${built.error}`);
  await ensureImage(container, `${REGISTRY}/${owner}@${built.value.digest}`, () => {}, new AbortController().signal);
  return built.value;
}

interface SlipwaySide {
  /** Runs `api` to its end; throws unless it succeeded. */
  runOnce(): Promise<{ stageMs: number; runMs: number }>;
  close(): Promise<void>;
}

async function createSlipway(container: ContainerEngine, root: string, owner: string, pushed: { image: string; digest: string }, toolchain: string): Promise<SlipwaySide> {
  const store = await openSqliteStore(join(root, 'slipway.db'));
  // peer's release, recorded as a finished run of its own would have left it.
  const now = new Date().toISOString();
  const { run: peerRun } = await store.runs.create(
    { service: 'peer', ref: 'main', commitSha: SHA.peer, trigger: { kind: 'manual', by: 'bench' }, lane: 'main', concurrency: 'queue', partial: false, untrusted: false, tag: null, variables: {}, originRunId: null },
    [],
  );
  await store.runs.update(peerRun.id, { status: 'succeeded', startedAt: now, finishedAt: now });
  const peer = await store.releases.create({ service: 'peer', commitSha: SHA.peer, image: pushed.image, digest: pushed.digest, tag: null, lane: 'main', runId: peerRun.id });

  // Every member checked every 100 ms, as by hand: the string form of `health` means every second.
  const health = `{ path: /, interval: ${POLL_MS}ms }`;
  const yaml = [
    `registry: ${REGISTRY}`,
    'pipeline:',
    '  - stage: build',
    '  - stage: integration',
    '    type: integration',
    'infrastructure:',
    '  cache:',
    `    image: ${pullReference(peer)}`,
    `    port: ${PORT}`,
    `    health: ${health}`,
    'services:',
    '  api:',
    `    repo: ${REPOS.api}`,
    `    port: ${PORT}`,
    `    health: ${health}`,
    `    toolchain: ${toolchain}`,
    `    requires: [{ name: peer, release: ${peer.id} }, cache]`,
    `    stages: { integration: { run: ${JSON.stringify(SUITE)} } }`,
    '  peer:',
    `    repo: ${REPOS.peer}`,
    `    port: ${PORT}`,
    `    health: ${health}`,
  ].join('\n');
  const parsed = parseConfig(yaml, join(root, 'slipway.yml'));
  if (!parsed.ok) throw new Error(`benchmark config is invalid:\n${formatConfigErrors(parsed.errors)}`);

  const source = new FakeSource().setRef(REPOS.api, 'main', SHA.api);
  const bus = new MemoryEventBus();
  const engine = new Engine({
    store,
    bus,
    config: parsed.config,
    source,
    executor: new ContainerExecutor(container, owner),
    builder: new FakeBuilder(() => ok(pushed)),
    deployer: null,
    sandbox: new ContainerSandbox(container, owner),
    workRoot: join(root, 'work'),
    log: (message) => console.error(`engine: ${message}`),
  });
  // Subscribed before any run starts: a run can end before startRun() answers its id.
  const ended = new Map<number, () => void>();
  const early = new Set<number>();
  bus.subscribe(
    (event) => event.type === 'run',
    (event) => {
      if (event.type !== 'run' || !isTerminalRun(event.data.status)) return;
      const resolve = ended.get(event.data.id);
      if (resolve) resolve();
      else early.add(event.data.id);
    },
  );
  await engine.start();
  const span = (from: string | null, to: string | null) => Date.parse(to ?? '') - Date.parse(from ?? '');

  return {
    async runOnce() {
      const started = await engine.startRun({ service: 'api', trigger: { kind: 'manual', by: 'bench' } });
      if (!started.ok) throw new Error(`could not start a run: ${started.error.message}`);
      const id = started.value.run.id;
      if (!early.delete(id)) await new Promise<void>((resolve) => ended.set(id, resolve));
      ended.delete(id);
      const run = (await store.runs.get(id))!;
      if (run.status !== 'succeeded') {
        const log = (await store.logs.list(id)).map((line) => `    ${line.text}`).slice(-40);
        throw new Error(`benchmark run ${id} ${run.status}: ${run.reason}\n${log.join('\n')}`);
      }
      const stage = (await store.stages.listByRun(id)).find((candidate) => candidate.name === 'integration')!;
      return { stageMs: span(stage.startedAt, stage.finishedAt), runMs: span(run.startedAt, run.finishedAt) };
    },
    async close() {
      await engine.stop();
      await store.close();
    },
  };
}

/** What by-hand runs need, found once: `nanoCpus` is the suite's CPU limit as the executor computes it. */
type HandWork = { docker: Docker; owner: string; image: string; toolchain: string; workspace: string; nanoCpus: number };

/** Until GET / at the address answers 200, every POLL_MS. */
async function untilAnswers(address: string, what: string): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    const response = await fetch(`http://${address}:${PORT}/`, { signal: AbortSignal.timeout(2000) }).catch(() => null); // not listening yet
    await response?.body?.cancel();
    if (response?.ok) return;
    if (Date.now() >= deadline) throw new Error(`${what} did not answer within ${READY_TIMEOUT_MS} ms`);
    await sleep(POLL_MS);
  }
}

/** One integration stage's containers by hand: the same options ContainerSandbox and ContainerExecutor send. */
async function byHand(work: HandWork, n: number): Promise<number> {
  const { docker, owner, image } = work;
  const start = performance.now();
  const id = `hand${n}`;
  const network = `slipway-${owner}-${id}`;
  const labels = { 'slipway.owner': owner, 'slipway.sandbox': id, 'slipway.run': String(n), 'slipway.stage': String(n) };
  await docker.createNetwork({ Name: network, Driver: 'bridge', Options: { isolate: 'true' }, Labels: labels });
  const members: Docker.Container[] = [];
  try {
    await Promise.all(
      MEMBERS.map(async (name) => {
        const member = await docker.createContainer({
          name: `${network}-${name}`,
          Image: image,
          Labels: { ...labels, 'slipway.member': name },
          ExposedPorts: { [`${PORT}/tcp`]: {} },
          HostConfig: { NetworkMode: network, Init: true },
          NetworkingConfig: { EndpointsConfig: { [network]: { Aliases: [name] } } },
        });
        members.push(member);
        await member.start();
        const address = (await member.inspect()).NetworkSettings.Networks[network]?.IPAddress;
        if (!address) throw new Error(`${name} has no address on ${network}`);
        await untilAnswers(address, name);
      }),
    );
    const suite = await docker.createContainer({
      name: `${network}-suite`,
      Image: work.toolchain,
      Cmd: ['sh', '-c', SUITE],
      WorkingDir: '/workspace',
      Env: ['CI=true', 'SLIPWAY=true', `SLIPWAY_URL=http://api:${PORT}`],
      Labels: { 'slipway.owner': owner, 'slipway.run': String(n), 'slipway.stage': String(n), 'slipway.step': 'integration' },
      HostConfig: {
        Mounts: [{ Type: 'bind', Source: work.workspace, Target: '/workspace' }],
        Init: true,
        NetworkMode: network,
        SecurityOpt: ['no-new-privileges'],
        Memory: DEFAULT_RESOURCES.memory,
        MemorySwap: DEFAULT_RESOURCES.memory,
        NanoCpus: work.nanoCpus,
        PidsLimit: DEFAULT_RESOURCES.pids,
      },
    });
    await suite.start();
    const { StatusCode } = (await suite.wait()) as { StatusCode: number };
    await suite.remove({ force: true });
    if (StatusCode !== 0) throw new Error(`the suite by hand exited with ${StatusCode}`);
  } finally {
    await Promise.all(members.map((member) => member.remove({ force: true, v: true })));
    await docker.getNetwork(network).remove();
  }
  return performance.now() - start;
}

/** Containers and networks this benchmark's owner left behind (only after an error, normally). */
async function sweep(docker: Docker, owner: string): Promise<void> {
  const containers = await docker.listContainers({ all: true, filters: { label: [`slipway.owner=${owner}`] } });
  await Promise.all(containers.map((info) => docker.getContainer(info.Id).remove({ force: true, v: true }).catch(() => {})));
  const networks = await docker.listNetworks({ filters: { label: [`slipway.owner=${owner}`] } });
  await Promise.all(networks.map((info) => docker.getNetwork(info.Id).remove().catch(() => {})));
}

/** The pushed manifest, then the local image (its tag and its digest reference are one image). */
async function removeServerImage(docker: Docker, owner: string, digest: string | null, progress: (line: string) => void): Promise<void> {
  if (digest) {
    const response = await fetch(`http://${REGISTRY}/v2/${owner}/manifests/${digest}`, { method: 'DELETE' }).catch(() => null);
    if (response?.status !== 202) progress(`integration: the registry kept ${owner}@${digest} (${response ? `HTTP ${response.status}` : 'no answer'})`);
  }
  const images = await docker.listImages({ filters: { label: [`slipway.bench=${owner}`] } });
  for (const image of images) {
    await docker.getImage(image.Id).remove({ force: true }).catch((error: unknown) => {
      if (engineStatus(error) !== 404) progress(`integration: could not remove image ${image.Id}: ${String(error)}`);
    });
  }
}

export async function benchIntegration(container: ContainerEngine, iterations: number, progress: (line: string) => void): Promise<IntegrationResult> {
  const { docker } = container;
  const owner = `bench-it-${process.pid}`;
  const root = mkdtempSync(join(tmpdir(), 'slipway-bench-integration-'));
  let digest: string | null = null;
  let slipway: SlipwaySide | null = null;
  const stage: number[] = [];
  const whole: number[] = [];
  const hand: number[] = [];
  try {
    const toolchain = await ensureBusyboxImage(docker);
    progress('integration: building and pushing the members\' image');
    const pushed = await pushServerImage(container, root, owner);
    digest = pushed.digest;
    const image = `${REGISTRY}/${owner}@${digest}`;
    slipway = await createSlipway(container, root, owner, pushed, toolchain);
    const { NCPU } = (await docker.info()) as { NCPU?: number };
    const nanoCpus = Math.round(Math.min(DEFAULT_RESOURCES.cpus, NCPU && NCPU > 0 ? NCPU : Number.POSITIVE_INFINITY) * 1e9);
    const work: HandWork = { docker, owner, image, toolchain, workspace: mkdtempSync(join(root, 'hand-')), nanoCpus };
    let handCount = 0;
    for (let i = -WARMUP; i < iterations; i++) {
      const runSlipway = async () => {
        const run = await slipway!.runOnce();
        if (i < 0) return;
        stage.push(run.stageMs);
        whole.push(run.runMs);
      };
      const runHand = async () => {
        const ms = await byHand(work, ++handCount);
        if (i >= 0) hand.push(ms);
      };
      // Alternate which goes first, so neither always follows the other's leftovers.
      if (i % 2 === 0) await runSlipway(), await runHand();
      else await runHand(), await runSlipway();
      progress(i < 0 ? 'integration: warm-up done' : `integration: ${i + 1}/${iterations} runs`);
    }
    const slipwaySummary = summarize(stage);
    const handSummary = summarize(hand);
    return {
      image,
      members: MEMBERS.length,
      iterations,
      slipway: slipwaySummary,
      slipwayRun: summarize(whole),
      byHand: handSummary,
      ratio: round(slipwaySummary.medianMs / handSummary.medianMs),
    };
  } finally {
    await slipway?.close().catch((error: unknown) => progress(`integration: could not stop the engine: ${String(error)}`));
    await sweep(docker, owner).catch((error: unknown) => progress(`integration: could not sweep ${owner}: ${String(error)}`));
    await removeServerImage(docker, owner, digest, progress).catch((error: unknown) => progress(`integration: could not remove the image: ${String(error)}`));
    rmSync(root, { recursive: true, force: true });
  }
}
