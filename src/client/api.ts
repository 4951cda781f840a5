// The HTTP API's response shapes, shared by the server, the CLI and (later) the dashboard.

import type { Deployment, LogLine, Release, Run, Stage } from '../core/types.ts';
import type { ErrorCode } from '../core/errors.ts';

export interface RunDetail extends Run {
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
}

export type { Deployment, LogLine, Release, Run, Stage };
