// The HTTP API's response shapes, shared by the server, the CLI and (later) the dashboard.

import type { Deployment, LogLine, Release, Run, Stage } from '../core/types.ts';
import type { ErrorCode } from '../core/errors.ts';

export interface RunSummary extends Run {
  /** A pending run's place in its lane's line (1: next to start); null otherwise. */
  queuePosition: number | null;
}

export interface RunDetail extends RunSummary {
  stages: Stage[];
}

export interface EnvironmentState {
  environment: string;
  /** The deployment serving now (newest succeeded), if any. */
  current: Deployment | null;
  release: Release | null;
}

export interface ServiceOverview {
  name: string;
  repo: string;
  branch: string;
  lastRun: RunDetail | null;
  environments: EnvironmentState[];
}

export interface ServerInfo {
  version: string;
  executor: string;
  /** How images are built, or why they cannot be. */
  builder: string;
  deployer: string;
  store: string;
  configFile: string;
  /** Plain-language remarks the user should see (e.g. "no container engine: ..."). */
  notices: string[];
}

export interface ApiErrorBody {
  error: { code: ErrorCode; message: string; details?: unknown };
}

export interface StartRunBody {
  service: string;
  ref?: string;
  /** Extra environment variables for every step of the run. */
  variables?: Record<string, string>;
}

export type { Deployment, LogLine, Release, Run, Stage };

export interface RegisterGitHookBody {
  /** The repository as services name it: the URL or path they clone it from. */
  repository: string;
}

/** The answer to POST /api/git-hooks (201): what a plain repository's post-receive hook needs. */
export interface GitHookRegistration {
  repository: string;
  /** The secret the hook sends in X-Slipway-Token. */
  token: string;
  /** Where the hook POSTs each ref update (the server's /hooks/git); absolute, or relative to the server's URL. */
  hookUrl: string;
  /** The services built from this repository (empty: the hook's pushes start nothing yet). */
  services: string[];
}
