// What every part of the engine works with: the ports it reaches the world through, the
// configuration, the clock and the log. The engine's systems (scheduler, driver, stages,
// recovery) share one bundle, as trigger.dev's run engine does, so none holds a copy of another's.

import { mkdirSync } from 'node:fs';
import type { Builder } from '../builders/builder.ts';
import type { Config, Service } from '../config/model.ts';
import type { Release, Result, Run, Stage } from '../core/types.ts';
import type { Deployer } from '../deployers/deployer.ts';
import type { EventBus } from '../events/bus.ts';
import type { Executor } from '../executors/executor.ts';
import type { PreviewEnvironments } from '../previews/previews.ts';
import type { Sandbox } from '../sandboxes/sandbox.ts';
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
  /** Where integration stages start their containers; null when no container engine exists. */
  sandbox?: Sandbox | null;
  /** Pull requests' preview environments; null without a container engine and a proxy. */
  previews?: PreviewEnvironments | null;
  /** Environments whose target is not the container host (a `command`), with their deployer. */
  targets?: ReadonlyMap<string, Deployer>;
  noEngineReason?: string;
  /** Folder for per-run workspaces. */
  workRoot: string;
  /** Runs of different services that may run at once (runs of one service always queue). */
  maxParallelRuns?: number;
  /** An environment's secrets for a stage of it; without, no environment has any. */
  secrets?: SecretValues;
  /** How often waits that end by themselves (a soak, a window, an approval's expiry) are looked at; 5 s by default. */
  wakeEveryMs?: number;
  now?: () => Date;
  log?: (message: string) => void;
}

/** The values of an environment's secrets for one service's stage: an error names the first secret the environment needs that is not set. */
export interface SecretValues {
  valuesFor(service: string, environment: string): Promise<Result<Record<string, string>>>;
}

export interface EngineResources extends Required<Omit<EngineOptions, 'noEngineReason' | 'maxParallelRuns' | 'wakeEveryMs'>> {
  noEngineReason: string;
}

const NO_SECRETS: SecretValues = { valuesFor: async () => ({ ok: true, value: {} }) };

export function engineResources(options: EngineOptions): EngineResources {
  mkdirSync(options.workRoot, { recursive: true });
  return {
    ...options,
    noEngineReason: options.noEngineReason ?? 'no container engine',
    now: options.now ?? (() => new Date()),
    log: options.log ?? (() => {}),
    secrets: options.secrets ?? NO_SECRETS,
    targets: options.targets ?? new Map(),
    sandbox: options.sandbox ?? null,
    previews: options.previews ?? null,
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
  /** The values of its environment's secrets, for a stage that has an environment. */
  environmentSecrets: Record<string, string>;
  /** The release a deploy stage places, as its gate let it through. */
  release: Release | null;
}
