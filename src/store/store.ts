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
//   - what coordinates work across servers (a run leaving `waiting`, an approval, a lock, an
//     outbox claim) is a compare-and-set: it says whether it won, and a loser changes nothing.

import type {
  ApiToken,
  Approval,
  CommitAuthor,
  EnvironmentLock,
  SecretEntry,
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
import type { Preview, PreviewStatus } from '../core/previews.ts';

export type NewRun = Omit<
  Run,
  'id' | 'createdAt' | 'startedAt' | 'finishedAt' | 'status' | 'reason' | 'releaseId' | 'commitAuthor' | 'commitTitle' | 'committedAt' | 'forced' | 'note'
> & {
  createdAt?: string;
  releaseId?: number | null;
  commitAuthor?: CommitAuthor | null;
  commitTitle?: string | null;
  committedAt?: string | null;
  forced?: boolean;
  note?: string | null;
};
export type NewStage = Omit<Stage, 'id' | 'runId' | 'status' | 'exitCode' | 'reason' | 'handle' | 'wait' | 'startedAt' | 'finishedAt'>;
export type RunPatch = Partial<Pick<Run, 'status' | 'commitSha' | 'reason' | 'startedAt' | 'finishedAt' | 'commitAuthor' | 'commitTitle' | 'committedAt'>>;
export type StagePatch = Partial<Pick<Stage, 'status' | 'exitCode' | 'reason' | 'handle' | 'wait' | 'startedAt' | 'finishedAt' | 'command'>>;
export type NewLogLine = Omit<LogLine, 'seq'>;
/** Where a release came from is read off its lane and tag, not stored apart. */
export type NewRelease = Omit<Release, 'id' | 'createdAt' | 'origin'>;
export type NewDeployment = Omit<Deployment, 'id' | 'finishedAt' | 'status' | 'url' | 'reason' | 'kind' | 'actor' | 'note' | 'forced'> &
  Partial<Pick<Deployment, 'kind' | 'actor' | 'note' | 'forced'>>;
export type DeploymentPatch = Partial<Pick<Deployment, 'status' | 'url' | 'reason' | 'finishedAt'>>;
export type NewEvent = Omit<EventRecord, 'id' | 'at' | 'actor' | 'environment'> & { at?: string; actor?: string | null; environment?: string | null };
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
  /** Compare-and-set: applies the patch only while the run's status is one of `from`; null when it is not (another server got there first). */
  updateIf(id: number, from: RunStatus[], patch: RunPatch): Promise<Run | null>;
  /** The newest run of each service. */
  latestPerService(): Promise<Run[]>;
  /** These runs, by id; unknown ids are left out. One query however many. */
  byIds(ids: readonly number[]): Promise<Run[]>;
  /**
   * The runs created in [from, to) (ISO times as toISOString writes them), of one service or
   * every one, oldest first, each with its stages' times in pipeline order; a fixed number of
   * queries however many runs (the delivery metrics' trends read it).
   */
  timings(filter: { from: string; to: string; service?: string }): Promise<RunTimings[]>;
}

/** What the metrics read of a run and its stages: when each was created, started and finished, and how it ended. */
export interface RunTimings {
  run: Pick<Run, 'id' | 'service' | 'status' | 'createdAt' | 'startedAt' | 'finishedAt'>;
  stages: Array<Pick<Stage, 'name' | 'position' | 'status' | 'startedAt' | 'finishedAt'>>;
}

export interface StageRepository {
  /** In pipeline order. */
  listByRun(runId: number): Promise<Stage[]>;
  get(id: number): Promise<Stage | null>;
  update(id: number, patch: StagePatch): Promise<Stage | null>;
  /** Waiting stages with their runs, oldest first: of one service and environment, or those whose wait ends at or before `dueBy`. */
  waiting(filter?: { service?: string; environment?: string; dueBy?: string }): Promise<Array<{ run: Run; stage: Stage }>>;
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
  /** Newest first; `runIds`: built by any of these runs. */
  list(filter?: { service?: string; runId?: number; runIds?: readonly number[]; limit?: number }): Promise<Release[]>;
  /** These releases, by id; unknown ids are left out. One query however many. */
  byIds(ids: readonly number[]): Promise<Release[]>;
  /**
   * When the commit of each of these releases was made, as the run that built it read it (null
   * for a run from before Slipway read it), and when that run was created; by release id,
   * unknown ids left out. One query however many (the delivery metrics' lead time reads it).
   */
  commitTimes(releaseIds: readonly number[]): Promise<Array<{ releaseId: number; committedAt: string | null; runCreatedAt: string }>>;
}

export interface DeploymentRepository {
  create(deployment: NewDeployment): Promise<Deployment>;
  get(id: number): Promise<Deployment | null>;
  update(id: number, patch: DeploymentPatch): Promise<Deployment | null>;
  /** Newest first, unless `order` is 'oldest'; `afterId`: only those placed after that deployment. */
  list(filter?: { service?: string; environment?: string; releaseId?: number; statuses?: DeploymentStatus[]; afterId?: number; order?: 'newest' | 'oldest'; limit?: number }): Promise<Deployment[]>;
  /** The newest succeeded deployment of a service in an environment: what serves there. */
  current(service: string, environment: string): Promise<Deployment | null>;
  /**
   * The newest deployment of each service in each environment (of those with one of `statuses`,
   * when given; `succeeded` answers what serves everywhere); one query however many.
   */
  latestPerTarget(filter?: { statuses?: DeploymentStatus[] }): Promise<Deployment[]>;
  /**
   * Deployments into any of `environments` that finished at or after `from` and, when `to` is
   * given, before it (ISO times as toISOString writes them); oldest first (by id). `service`
   * narrows. One still in progress has not finished.
   */
  finished(filter: { environments: readonly string[]; from: string; to?: string; service?: string }): Promise<Deployment[]>;
  /**
   * For each of these releases, in each of these environments where one of its deployments
   * succeeded, the first that did (the lowest id); by id. One query however many.
   */
  firstSucceeded(filter: { releaseIds: readonly number[]; environments: readonly string[] }): Promise<Deployment[]>;
}

/** What the audit log is read by; every field narrows. */
export interface EventFilter {
  afterId?: number;
  /** Newest first below this id (the audit log pages backwards). */
  beforeId?: number;
  runId?: number;
  /** Types equal to one of these, or starting with one ending in "." ("approval."). */
  types?: string[];
  actor?: string;
  /** Only changes people made (an actor is recorded). */
  byPeople?: boolean;
  service?: string;
  environment?: string;
  /** ISO times, inclusive. */
  since?: string;
  until?: string;
  limit?: number;
  /** Oldest first by default. */
  order?: 'oldest' | 'newest';
}

export interface EventRepository {
  append(event: NewEvent): Promise<EventRecord>;
  list(filter?: EventFilter): Promise<EventRecord[]>;
}

export type NewApproval = Omit<Approval, 'id'>;

export interface ApprovalRepository {
  /** Records a decision; null when this user already decided at this stage (one decision each). */
  record(approval: NewApproval): Promise<Approval | null>;
  /** Oldest first. */
  list(filter: { runId?: number; stageId?: number }): Promise<Approval[]>;
}

export interface LockRepository {
  /** Locks, unless that environment (and service) is already locked: then null and nothing changes. */
  acquire(lock: EnvironmentLock): Promise<EnvironmentLock | null>;
  /** Removes the lock; null when there was none. */
  release(environment: string, service: string | null): Promise<EnvironmentLock | null>;
  /** By environment, then service. */
  list(filter?: { environment?: string }): Promise<EnvironmentLock[]>;
}

export interface SealedSecret extends SecretEntry {
  sealed: string;
}

export interface SecretRepository {
  /** Creates or replaces the secret (environment, service, name). */
  set(secret: SealedSecret): Promise<void>;
  delete(environment: string, service: string | null, name: string): Promise<boolean>;
  /** By environment, service (every service's first) and name. */
  list(filter?: { environment?: string }): Promise<SealedSecret[]>;
  /** Replaces the sealed value of secrets that still exist, leaving their dates alone (key rotation). */
  reseal(updates: Array<{ environment: string; service: string | null; name: string; sealed: string }>): Promise<void>;
}

export const OUTBOX_TOPICS = ['notification', 'commit_status'] as const;
export type OutboxTopic = (typeof OUTBOX_TOPICS)[number];

/** Something to send to the outside world, kept until it is sent or given up: never lost in a restart. */
export interface OutboxItem {
  id: number;
  topic: OutboxTopic;
  /** Where it goes: a notification channel's name, a forge and repository. */
  destination: string;
  /** Items with the same key replace each other while unsent: only the newest state matters (a commit status). */
  key: string | null;
  payload: unknown;
  status: 'pending' | 'sent' | 'failed';
  attempts: number;
  nextAttemptAt: string;
  /** A claim's end: until then one sender owns the item. */
  leaseUntil: string | null;
  lastError: string | null;
  createdAt: string;
  doneAt: string | null;
}

export type NewOutboxItem = Pick<OutboxItem, 'topic' | 'destination' | 'key' | 'payload'> & { at: string };

export interface OutboxRepository {
  /** Adds items; an unsent item with the same topic and key is replaced (its attempts start over). */
  enqueue(items: NewOutboxItem[]): Promise<OutboxItem[]>;
  /** Compare-and-set claim of up to `limit` pending items due by `now` and not leased: leased until `leaseUntil`. */
  claim(now: string, leaseUntil: string, limit: number): Promise<OutboxItem[]>;
  /** Ends a claimed item: sent, failed for good, or back to pending for another attempt at `nextAttemptAt`. */
  settle(id: number, outcome: { status: 'sent' | 'failed'; at: string; error?: string } | { status: 'pending'; nextAttemptAt: string; error: string }): Promise<OutboxItem | null>;
  /** The earliest attempt due among pending items, or null. */
  nextDue(): Promise<string | null>;
  list(filter?: { topic?: OutboxTopic; statuses?: OutboxItem['status'][]; limit?: number }): Promise<OutboxItem[]>;
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

export type NewUser = { name: string; role: Role; passwordHash: string | null; email?: string | null };
export type UserPatch = Partial<Pick<NewUser, 'role' | 'passwordHash' | 'email'>>;

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

/** A service's stable address in one environment: its own port on the proxy, kept for good. */
export interface RouteRecord {
  service: string;
  environment: string;
  port: number;
  createdAt: string;
}

export interface RouteRepository {
  /**
   * The route's port: the one it has, else the lowest port of `range` no route holds, taken by
   * compare-and-set (a unique port), so two servers never hand one port out twice. Null when
   * the range is full.
   */
  assign(service: string, environment: string, range: { from: number; to: number }, at: string): Promise<RouteRecord | null>;
  /** By environment, then service. */
  list(): Promise<RouteRecord[]>;
  /** Gives the route's port back (a preview's, when it is removed); false when it had none. */
  release(service: string, environment: string): Promise<boolean>;
}

export type NewPreview = Pick<Preview, 'service' | 'pullRequest' | 'environment' | 'commitSha' | 'runId' | 'createdAt' | 'expiresAt'>;

export type PreviewPatch = Partial<
  Pick<Preview, 'status' | 'generation' | 'sandboxId' | 'members' | 'releaseId' | 'commitSha' | 'runId' | 'url' | 'reason' | 'updatedAt' | 'expiresAt' | 'removedAt'>
>;

/** Pull requests' preview environments; every change is compare-and-set. */
export interface PreviewRepository {
  /** A new preview, `starting` at generation 1; null when its environment already has a live one (LIVE_PREVIEW_STATUSES). */
  create(preview: NewPreview): Promise<Preview | null>;
  get(id: number): Promise<Preview | null>;
  /** The live preview of an environment, if any. */
  live(environment: string): Promise<Preview | null>;
  /** Oldest first; `statuses` narrows. */
  list(filter?: { statuses?: readonly PreviewStatus[]; service?: string; limit?: number }): Promise<Preview[]>;
  /**
   * Applies `patch` only while the preview still has one of `expected.statuses` and, when
   * given, `expected.generation`; null when it does not (someone else changed it first).
   */
  update(id: number, expected: { statuses: readonly PreviewStatus[]; generation?: number }, patch: PreviewPatch): Promise<Preview | null>;
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
  readonly approvals: ApprovalRepository;
  readonly locks: LockRepository;
  readonly secrets: SecretRepository;
  readonly outbox: OutboxRepository;
  readonly routes: RouteRepository;
  readonly previews: PreviewRepository;
  transaction<T>(fn: (store: Store) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}
