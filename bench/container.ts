// Container stages against the raw Engine API: how much slower a stage run by the engine in a
// container is than the least a client must do to run the same command the same way. The raw
// sequence mirrors what ContainerExecutor.start/wait/cleanup send (image, Cmd, WorkingDir,
// Env, Labels, the workspace bind mount, Init) as create + start + wait + remove; what the
// engine adds on top (store writes, events, the followed log stream) is what the ratio shows.
// Engine runs and raw batches alternate, so both share the machine's conditions, which vary
// a lot on a small shared host; the ratio of medians is the figure to read.
//
// Podman 4.3 now and then leaves the log stream of a container that ran for a few milliseconds
// open after it exited; ContainerExecutor then reads the log whole after a 2 s grace. Such a
// stage is slow, and it stays in the timings: the median is the figure to read.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type Docker from 'dockerode';
import type { ContainerEngine } from '../src/docker/connect.ts';
import { ContainerExecutor } from '../src/executors/container/executor.ts';
import { ensureBusyboxImage } from '../src/images/base.ts';
import { createBenchEngine, SERVICE } from './harness.ts';
import { round, summarize, type Summary } from './stats.ts';

const STAGES = 5;
const WARMUP = 1;

export interface ContainerResult {
  image: string;
  stages: number;
  iterations: number;
  /** Per stage (a run's span divided by the number of stages), in ms. */
  engine: Summary;
  engineStageBody: Summary;
  /** Per create + start + wait + remove, in ms. */
  raw: Summary;
  ratio: number;
}

/** One step the way ContainerExecutor runs it, minus the engine and the log stream. */
async function rawStep(docker: Docker, image: string, workspace: string, owner: string, n: number): Promise<number> {
  const start = performance.now();
  const container = await docker.createContainer({
    name: `slipway-${owner}-raw${n}`,
    Image: image,
    Cmd: ['sh', '-c', 'true'],
    WorkingDir: '/workspace',
    Env: ['CI=true', 'SLIPWAY=true', `SLIPWAY_RUN_ID=${n}`, `SLIPWAY_SERVICE=${SERVICE}`, 'SLIPWAY_COMMIT_SHA=0000000000000000000000000000000000000000', 'SLIPWAY_REF=main'],
    Tty: false,
    Labels: { 'slipway.owner': owner, 'slipway.run': String(n), 'slipway.stage': '0', 'slipway.step': 'raw' },
    HostConfig: { Mounts: [{ Type: 'bind', Source: workspace, Target: '/workspace' }], Init: true },
  });
  await container.start();
  const { StatusCode } = (await container.wait()) as { StatusCode: number };
  await container.remove({ force: true });
  if (StatusCode !== 0) throw new Error(`raw container exited with ${StatusCode}`);
  return performance.now() - start;
}

/** Removes whatever this benchmark's owner left behind (only after an error, normally). */
async function sweep(docker: Docker, owner: string): Promise<void> {
  const left = await docker.listContainers({ all: true, filters: { label: [`slipway.owner=${owner}`] } });
  await Promise.all(left.map((info) => docker.getContainer(info.Id).remove({ force: true }).catch(() => {})));
}

export async function benchContainer(container: ContainerEngine, iterations: number, progress: (line: string) => void): Promise<ContainerResult> {
  const { docker } = container;
  const image = await ensureBusyboxImage(docker);
  const owner = `bench-${process.pid}`;
  const root = mkdtempSync(join(tmpdir(), 'slipway-bench-container-'));
  const rawWorkspace = mkdtempSync(join(root, 'raw-'));
  writeFileSync(join(rawWorkspace, 'README'), 'benchmark fixture\n');
  const executor = new ContainerExecutor(container, owner);
  const bench = await createBenchEngine({ root, executor, stages: STAGES, toolchain: image });
  const engine: number[] = [];
  const body: number[] = [];
  const raw: number[] = [];
  let rawCount = 0;
  try {
    for (let i = -WARMUP; i < iterations; i++) {
      const runEngine = async () => {
        const run = await bench.runOnce();
        if (i < 0) return;
        engine.push(run.spanMs / STAGES);
        body.push(...run.stageMs);
      };
      const runRaw = async () => {
        for (let n = 0; n < STAGES; n++) {
          const ms = await rawStep(docker, image, rawWorkspace, owner, ++rawCount);
          if (i >= 0) raw.push(ms);
        }
      };
      // Alternate which goes first, so neither always follows the other's leftovers.
      if (i % 2 === 0) await runEngine(), await runRaw();
      else await runRaw(), await runEngine();
      if (i >= 0) progress(`container: ${i + 1}/${iterations} runs`);
    }
  } finally {
    await bench.close();
    await sweep(docker, owner);
    rmSync(root, { recursive: true, force: true });
  }
  const engineSummary = summarize(engine);
  const rawSummary = summarize(raw);
  return {
    image,
    stages: STAGES,
    iterations,
    engine: engineSummary,
    engineStageBody: summarize(body),
    raw: rawSummary,
    ratio: round(engineSummary.medianMs / rawSummary.medianMs),
  };
}
