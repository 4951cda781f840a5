// The engine as the server wires it (SQLite store on disk, MemoryEventBus, GitSource on a tiny
// real repository, no builder or deployer), with a pipeline of N stages that each run `true`,
// and a clock on the bus: stage times come from performance.now() taken as each live 'stage'
// event arrives, which is finer than the millisecond timestamps the store keeps.

import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseConfig, formatConfigErrors } from '../src/config/load.ts';
import { isTerminalRun, type Run, type StageStatus } from '../src/core/types.ts';
import { Engine } from '../src/engine/engine.ts';
import { MemoryEventBus } from '../src/events/bus.ts';
import type { Executor } from '../src/executors/executor.ts';
import { GitSource } from '../src/source/git/source.ts';
import { openSqliteStore } from '../src/store/sqlite/store.ts';
import type { Store } from '../src/store/store.ts';

export const SERVICE = 'bench';

/** One finished run, measured from the bus. */
export interface RunTiming {
  /** From the first command stage's `running` event to the last stage's `succeeded` event. */
  spanMs: number;
  /** Each command stage from its `running` event to its `succeeded` event. */
  stageMs: number[];
}

export interface BenchEngine {
  /** Starts a run, waits for its terminal run event, and returns its timing; throws unless it succeeded. */
  runOnce(): Promise<RunTiming>;
  close(): Promise<void>;
}

/** A one-commit git repository at `dir`. */
export function makeRepo(dir: string): void {
  mkdirSync(dir, { recursive: true });
  const env = { ...process.env, GIT_AUTHOR_NAME: 'bench', GIT_AUTHOR_EMAIL: 'b@b', GIT_COMMITTER_NAME: 'bench', GIT_COMMITTER_EMAIL: 'b@b' };
  const git = (...args: string[]) => execFileSync('git', args, { cwd: dir, env, stdio: 'ignore' });
  git('init', '-q', '--initial-branch=main');
  writeFileSync(join(dir, 'README'), 'benchmark fixture\n');
  git('add', '-A');
  git('commit', '-q', '-m', 'fixture');
}

export async function createBenchEngine(options: { root: string; executor: Executor; stages: number; toolchain?: string }): Promise<BenchEngine> {
  const { root, executor, stages, toolchain } = options;
  const repo = join(root, 'repo');
  makeRepo(repo);
  const names = Array.from({ length: stages }, (_, i) => `s${i + 1}`);
  const yaml = [
    'pipeline:',
    ...names.flatMap((name) => [`  - stage: ${name}`, '    run: "true"']),
    'services:',
    `  ${SERVICE}:`,
    `    repo: ${JSON.stringify(repo)}`,
    ...(toolchain ? [`    toolchain: ${toolchain}`] : []),
  ].join('\n');
  const parsed = parseConfig(yaml, join(root, 'slipway.yml'));
  if (!parsed.ok) throw new Error(`benchmark config is invalid:\n${formatConfigErrors(parsed.errors)}`);

  const store: Store = await openSqliteStore(join(root, 'slipway.db'));
  const bus = new MemoryEventBus();
  const engine = new Engine({
    store,
    bus,
    config: parsed.config,
    source: new GitSource(join(root, 'git-cache')),
    executor,
    builder: null,
    deployer: null,
    workRoot: join(root, 'work'),
    log: (message) => console.error(`engine: ${message}`),
  });

  // Subscribed once, before any run starts: a run's first events can be published before
  // startRun() returns its id, so marks are kept per run id and read when the run ends.
  const marks = new Map<number, { name: string; status: StageStatus; at: number }[]>();
  const ended = new Map<number, (run: Run) => void>();
  const early = new Map<number, Run>();
  bus.subscribe(
    (event) => event.type === 'stage' || event.type === 'run',
    (event) => {
      const at = performance.now();
      if (event.type === 'stage') {
        const list = marks.get(event.data.runId) ?? [];
        list.push({ name: event.data.name, status: event.data.status, at });
        marks.set(event.data.runId, list);
      } else if (event.type === 'run' && isTerminalRun(event.data.status)) {
        const resolve = ended.get(event.data.id);
        if (resolve) resolve(event.data);
        else early.set(event.data.id, event.data);
      }
    },
  );
  await engine.start();

  return {
    async runOnce() {
      const started = await engine.startRun({ service: SERVICE, trigger: { kind: 'manual', by: 'bench' } });
      if (!started.ok) throw new Error(`could not start a run: ${started.error.message}`);
      const id = started.value.run.id;
      const run = early.get(id) ?? (await new Promise<Run>((resolve) => ended.set(id, resolve)));
      ended.delete(id);
      if (run.status !== 'succeeded') throw new Error(`benchmark run ${id} ${run.status}: ${run.reason}`);
      const runMarks = marks.get(id) ?? [];
      marks.delete(id);
      const at = (name: string, status: StageStatus) => {
        const mark = runMarks.find((m) => m.name === name && m.status === status);
        if (!mark) throw new Error(`run ${id}: no ${status} event for stage ${name}`);
        return mark.at;
      };
      return {
        spanMs: at(names.at(-1)!, 'succeeded') - at(names[0]!, 'running'),
        stageMs: names.map((name) => at(name, 'succeeded') - at(name, 'running')),
      };
    },
    async close() {
      await engine.stop();
      await store.close();
    },
  };
}
