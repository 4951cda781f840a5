// Per-stage orchestration overhead with the process executor: what the engine adds around a
// command (store writes, events, log capture, spawning with pipes) when the command itself
// costs almost nothing. A 10-stage pipeline of `true` is timed from the first command stage
// starting to the last one ending (the checkout stage, a git clone, is left out), and set
// against the cheapest way to run the same 10 commands: a shell loop running `sh -c true`
// ten times, plus ten awaited spawns from node. Iterations interleave engine and baselines so
// all three see the same machine conditions.

import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { ProcessExecutor } from '../src/executors/process/executor.ts';
import { createBenchEngine } from './harness.ts';
import { round, summarize, type Summary } from './stats.ts';

const STAGES = 10;
const WARMUP = 2;

export interface ProcessResult {
  stages: number;
  iterations: number;
  /** Every figure is per stage (a run's span divided by the number of stages), in ms. */
  engine: Summary;
  /** One stage alone, running -> succeeded: the part of the engine's cost spent inside a stage. */
  engineStageBody: Summary;
  shellLoop: Summary;
  nodeSpawn: Summary;
  overheadPerStageMs: number;
}

async function timed(work: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await work();
  return performance.now() - start;
}

async function sh(script: string): Promise<void> {
  const child = spawn('sh', ['-c', script]);
  const [code] = (await once(child, 'close')) as [number | null];
  if (code !== 0) throw new Error(`sh -c '${script}' exited with ${code}`);
}

const LOOP = `for i in ${Array.from({ length: STAGES }, (_, i) => i + 1).join(' ')}; do sh -c true; done`;

export async function benchProcess(iterations: number, progress: (line: string) => void): Promise<ProcessResult> {
  const root = mkdtempSync(join(tmpdir(), 'slipway-bench-process-'));
  const bench = await createBenchEngine({ root, executor: new ProcessExecutor(), stages: STAGES });
  const engine: number[] = [];
  const body: number[] = [];
  const shellLoop: number[] = [];
  const nodeSpawn: number[] = [];
  try {
    for (let i = -WARMUP; i < iterations; i++) {
      const run = await bench.runOnce();
      const loop = await timed(() => sh(LOOP));
      const spawns = await timed(async () => {
        for (let n = 0; n < STAGES; n++) await sh('true');
      });
      if (i < 0) continue;
      engine.push(run.spanMs / STAGES);
      body.push(...run.stageMs);
      shellLoop.push(loop / STAGES);
      nodeSpawn.push(spawns / STAGES);
      if ((i + 1) % 10 === 0) progress(`process: ${i + 1}/${iterations} runs`);
    }
  } finally {
    await bench.close();
    rmSync(root, { recursive: true, force: true });
  }
  const result = { engine: summarize(engine), shellLoop: summarize(shellLoop) };
  return {
    stages: STAGES,
    iterations,
    engine: result.engine,
    engineStageBody: summarize(body),
    shellLoop: result.shellLoop,
    nodeSpawn: summarize(nodeSpawn),
    // The samples are already per stage, so the difference of medians is the per-stage
    // overhead, i.e. (engine run median - shell loop median) / 10.
    overheadPerStageMs: round(result.engine.medianMs - result.shellLoop.medianMs),
  };
}
