// What every part of the engine works with: the ports it reaches the world through, the
// configuration, the clock and the log. The engine's systems (scheduler, driver, stages,
// recovery) share one bundle, as trigger.dev's run engine does, so none holds a copy of another's.

import { mkdirSync } from 'node:fs';
import type { Builder } from '../builders/builder.ts';
import type { Config, Service } from '../config/model.ts';
import type { Run, Stage } from '../core/types.ts';
import type { Deployer } from '../deployers/deployer.ts';
import type { EventBus } from '../events/bus.ts';
import type { Executor } from '../executors/executor.ts';
import type { Source } from '../source/source.ts';
import type { Store } from '../store/store.ts';
import type { StageLog } from './stage-log.ts';

export interface EngineOptions {
  store: Store;
  bus: EventBus;
  config: Config;
  source: Source;
  executor: Executor;
  /** Null when no container engine exists; build stages then fail with `noEngineReason`. */
  builder: Builder | null;
  deployer: Deployer | null;
  noEngineReason?: string;
  /** Folder for per-run workspaces. */
  workRoot: string;
  /** Runs of different services that may run at once (runs of one service always queue). */
  maxParallelRuns?: number;
  now?: () => Date;
  log?: (message: string) => void;
}

export interface EngineResources extends Required<Omit<EngineOptions, 'noEngineReason' | 'maxParallelRuns'>> {
  noEngineReason: string;
}

export function engineResources(options: EngineOptions): EngineResources {
  mkdirSync(options.workRoot, { recursive: true });
  return {
    ...options,
    noEngineReason: options.noEngineReason ?? 'no container engine',
    now: options.now ?? (() => new Date()),
    log: options.log ?? (() => {}),
  };
}

/** How a stage ended, before it is written down. */
export type StageOutcome =
  | { status: 'succeeded'; exitCode?: number }
  | { status: 'failed'; reason: string; exitCode?: number }
  | { status: 'cancelled'; reason: string; exitCode?: number };

/** What a stage handler is given: one stage of one run, its log, and the signal that stops it. */
export interface StageContext {
  run: Run;
  stage: Stage;
  service: Service;
  workspace: string;
  log: StageLog;
  signal: AbortSignal;
  /** The stage was running when the server stopped: its step is found again, not started. */
  resuming: boolean;
}
