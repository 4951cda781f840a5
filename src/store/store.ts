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
  ApiToken,
  Delivery,
  DeliveryStatus,
  Deployment,
  DeploymentStatus,
  EventRecord,
  LogLine,
  Release,
  Run,
  RunStatus,
  Role,
  Stage,
  User,
} from '../core/types.ts';

export type NewRun = Omit<Run, 'id' | 'createdAt' | 'startedAt' | 'finishedAt' | 'status' | 'reason'> & {
  createdAt?: string;
};
export type NewStage = Omit<Stage, 'id' | 'runId' | 'status' | 'exitCode' | 'reason' | 'handle' | 'startedAt' | 'finishedAt'>;
export type RunPatch = Partial<Pick<Run, 'status' | 'commitSha' | 'reason' | 'startedAt' | 'finishedAt'>>;
export type StagePatch = Partial<Pick<Stage, 'status' | 'exitCode' | 'reason' | 'handle' | 'startedAt' | 'finishedAt' | 'command'>>;
export type NewLogLine = Omit<LogLine, 'seq'>;
/** Where a release came from is read off its lane and tag, not stored apart. */
export type NewRelease = Omit<Release, 'id' | 'createdAt' | 'origin'>;
export type NewDeployment = Omit<Deployment, 'id' | 'finishedAt' | 'status' | 'url' | 'reason'>;
export type DeploymentPatch = Partial<Pick<Deployment, 'status' | 'url' | 'reason' | 'finishedAt'>>;
export type NewEvent = Omit<EventRecord, 'id' | 'at' | 'actor'> & { at?: string; actor?: string | null };
/**
 * A delivery to store. With an outcome it is stored processed at once (known to start nothing:
 * an ignored event, a branch no service builds); without, received, for the inbox to handle.
 */
export type NewDelivery = Omit<Delivery, 'id' | 'status' | 'outcome' | 'processedAt'> & { outcome?: string };
export type DeliveryPatch = Partial<Pick<Delivery, 'status' | 'outcome' | 'processedAt'>>;

export interface RunRepository {
  create(run: NewRun, stages: NewStage[]): Promise<{ run: Run; stages: Stage[] }>;
  get(id: number): Promise<Run | null>;
  /** Newest first, unless `order` is 'oldest' (the scheduler reads pending runs oldest first). */
  list(filter?: { service?: string; lane?: string; statuses?: RunStatus[]; limit?: number; beforeId?: number; order?: 'newest' | 'oldest' }): Promise<Run[]>;
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
  list(filter?: { service?: string; runId?: number; limit?: number }): Promise<Release[]>;
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

export interface DeliveryRepository {
  /**
   * Stores each delivery whose (forge, deliveryId) and (forge, bodyDigest) are both new, all in
   * one transaction, and answers in input order with the stored record, or null for a repeat
   * (the same id or the same body, already stored or earlier in the same batch). Batching lets
   * concurrent webhooks share one durable commit.
   */
  record(deliveries: NewDelivery[]): Promise<Array<Delivery | null>>;
  get(id: number): Promise<Delivery | null>;
  /** Newest first. */
  list(filter?: { statuses?: DeliveryStatus[]; limit?: number; beforeId?: number }): Promise<Delivery[]>;
  /** Applies each patch, all in one transaction; an unknown id is skipped. */
  updateMany(updates: Array<{ id: number; patch: DeliveryPatch }>): Promise<void>;
}

/** Webhook secrets set through the API, per forge and repository (sealed by the caller). */
export interface WebhookSecretRepository {
  get(forge: string, repository: string): Promise<string | null>;
  /** Replaces any secret the repository had. */
  set(forge: string, repository: string, sealed: string): Promise<void>;
  delete(forge: string, repository: string): Promise<boolean>;
  list(): Promise<Array<{ forge: string; repository: string; sealed: string }>>;
}

export type NewUser = { name: string; role: Role; passwordHash: string | null };
export type UserPatch = Partial<Pick<NewUser, 'role' | 'passwordHash'>>;

export interface UserRepository {
  /** Null when the name is taken (names are unique, compared as given). */
  create(user: NewUser): Promise<User | null>;
  get(id: number): Promise<User | null>;
  byName(name: string): Promise<User | null>;
  /** By name. */
  list(): Promise<User[]>;
  update(id: number, patch: UserPatch): Promise<User | null>;
  /** Removes the user and its tokens; false when there was none. */
  delete(id: number): Promise<boolean>;
  /** The stored password hash, or null (no such user, or no password). */
  passwordHash(id: number): Promise<string | null>;
  count(): Promise<number>;
}

export type NewApiToken = { userId: number; name: string; hash: string };

export interface ApiTokenRepository {
  create(token: NewApiToken): Promise<ApiToken>;
  /** The token with this hash and its user, or null (never created, or revoked). */
  byHash(hash: string): Promise<{ token: ApiToken; user: User } | null>;
  /** Oldest first; one user's, or everyone's. */
  list(filter?: { userId?: number }): Promise<ApiToken[]>;
  get(id: number): Promise<ApiToken | null>;
  /** Revokes (deletes) a token; false when there was none. */
  delete(id: number): Promise<boolean>;
  /**
   * Records a use at `at`, unless one was recorded after `notBefore` (compare-and-set, so a busy
   * token costs one write a minute, not one per request). True when it wrote.
   */
  touch(id: number, at: string, notBefore: string): Promise<boolean>;
}

/** Small durable facts triggers remember across restarts (a schedule's last tick, a polled head). */
export interface CursorRepository {
  get(key: string): Promise<string | null>;
  set(key: string, value: string): Promise<void>;
}

export interface Store {
  readonly description: string;
  readonly runs: RunRepository;
  readonly stages: StageRepository;
  readonly logs: LogRepository;
  readonly releases: ReleaseRepository;
  readonly deployments: DeploymentRepository;
  readonly events: EventRepository;
  readonly deliveries: DeliveryRepository;
  readonly webhookSecrets: WebhookSecretRepository;
  readonly cursors: CursorRepository;
  readonly users: UserRepository;
  readonly tokens: ApiTokenRepository;
  transaction<T>(fn: (store: Store) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}
