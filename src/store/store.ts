// The Store persists every record. One repository object per entity, plus transaction().
//
// Contract shared by every implementation (the conformance suite in
// test/unit/store-conformance.ts checks each):
//   - Every method is async, so SQLite and Postgres implement the same interface.
//   - create* assigns ids (increasing integers) and returns the stored record.
//   - update* applies a partial patch and returns the whole record; unknown id -> null.
//   - runs.create stores the run and all its stages atomically.
//   - logs.append assigns each line the next `seq` of its run (1, 2, 3, ...) atomically.
//   - transaction(fn) runs fn against a store bound to one transaction: all or nothing.
//   - events are append-only; there is no update or delete.

import type {
  Deployment,
  DeploymentStatus,
  EventRecord,
  LogLine,
  Release,
  Run,
  RunStatus,
  Stage,
} from '../core/types.ts';

export type NewRun = Omit<Run, 'id' | 'createdAt' | 'startedAt' | 'finishedAt' | 'status' | 'reason'> & {
  createdAt?: string;
};
export type NewStage = Omit<Stage, 'id' | 'runId' | 'status' | 'exitCode' | 'reason' | 'handle' | 'startedAt' | 'finishedAt'>;
export type RunPatch = Partial<Pick<Run, 'status' | 'commitSha' | 'reason' | 'startedAt' | 'finishedAt'>>;
export type StagePatch = Partial<Pick<Stage, 'status' | 'exitCode' | 'reason' | 'handle' | 'startedAt' | 'finishedAt' | 'command'>>;
export type NewLogLine = Omit<LogLine, 'seq'>;
export type NewRelease = Omit<Release, 'id' | 'createdAt'>;
export type NewDeployment = Omit<Deployment, 'id' | 'finishedAt' | 'status' | 'url' | 'reason'>;
export type DeploymentPatch = Partial<Pick<Deployment, 'status' | 'url' | 'reason' | 'finishedAt'>>;
export type NewEvent = Omit<EventRecord, 'id' | 'at'> & { at?: string };

export interface RunRepository {
  create(run: NewRun, stages: NewStage[]): Promise<{ run: Run; stages: Stage[] }>;
  get(id: number): Promise<Run | null>;
  /** Newest first. */
  list(filter?: { service?: string; statuses?: RunStatus[]; limit?: number; beforeId?: number }): Promise<Run[]>;
  update(id: number, patch: RunPatch): Promise<Run | null>;
  /** The newest run of each service. */
  latestPerService(): Promise<Run[]>;
}

export interface StageRepository {
  /** In pipeline order. */
  listByRun(runId: number): Promise<Stage[]>;
  get(id: number): Promise<Stage | null>;
  update(id: number, patch: StagePatch): Promise<Stage | null>;
}

export interface LogRepository {
  append(lines: NewLogLine[]): Promise<LogLine[]>;
  /** In seq order. */
  list(runId: number, filter?: { afterSeq?: number; stageId?: number; limit?: number }): Promise<LogLine[]>;
  /** How many lines of one stream a stage has stored (used to skip replayed lines on re-attach). */
  count(stageId: number, stream: LogLine['stream']): Promise<number>;
}

export interface ReleaseRepository {
  create(release: NewRelease): Promise<Release>;
  get(id: number): Promise<Release | null>;
  /** Newest first. */
  list(filter?: { service?: string; limit?: number }): Promise<Release[]>;
}

export interface DeploymentRepository {
  create(deployment: NewDeployment): Promise<Deployment>;
  get(id: number): Promise<Deployment | null>;
  update(id: number, patch: DeploymentPatch): Promise<Deployment | null>;
  /** Newest first. */
  list(filter?: { service?: string; environment?: string; statuses?: DeploymentStatus[]; limit?: number }): Promise<Deployment[]>;
  /** The newest succeeded deployment of a service in an environment: what serves there. */
  current(service: string, environment: string): Promise<Deployment | null>;
}

export interface EventRepository {
  append(event: NewEvent): Promise<EventRecord>;
  /** Oldest first. */
  list(filter?: { afterId?: number; runId?: number; limit?: number }): Promise<EventRecord[]>;
}

export interface Store {
  readonly description: string;
  readonly runs: RunRepository;
  readonly stages: StageRepository;
  readonly logs: LogRepository;
  readonly releases: ReleaseRepository;
  readonly deployments: DeploymentRepository;
  readonly events: EventRepository;
  transaction<T>(fn: (store: Store) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}
