// Domain records shared by every part. Timestamps are ISO-8601 strings so the same
// objects travel unchanged from the store through the API to the CLI and dashboard.

export const STAGE_STATUSES = [
  'pending',
  'running',
  'succeeded',
  'failed',
  'skipped',
  'waiting',
  'cancelled',
] as const;
export type StageStatus = (typeof STAGE_STATUSES)[number];

/**
 * `waiting`: stopped at a gate (a lock, a soak, an approval, a promotion window) with its state
 * in the store, holding no executor slot; `rejected` and `expired` end a run whose approval was
 * refused or never given in time.
 */
export const RUN_STATUSES = ['pending', 'running', 'waiting', 'succeeded', 'failed', 'cancelled', 'rejected', 'expired'] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];

/**
 * What a stage does: check out the commit (always the first stage), run a command in the
 * toolchain, build and push the image, integration-test it, give a pull request its preview
 * environment, or deploy it.
 */
export type StageKind = 'checkout' | 'command' | 'build' | 'integration' | 'preview' | 'deploy';

/** `promote` and `rollback` runs deploy a release built before (Run.releaseId): they build nothing. */
export type TriggerKind = 'manual' | 'push' | 'pull_request' | 'tag' | 'schedule' | 'rerun' | 'resume' | 'promote' | 'rollback';

/** What people may be told about, per channel (notifiers/notifier.ts words each). */
export const NOTIFICATION_EVENTS = ['run.failed', 'run.fixed', 'approval.waiting', 'deployed', 'rolled_back', 'approval.expired'] as const;
export type NotificationEvent = (typeof NOTIFICATION_EVENTS)[number];

/** Runs a person asked for: `Trigger.by` names that person (the event log's actor, the run's author for approvals). */
export const PEOPLE_TRIGGERS: ReadonlySet<TriggerKind> = new Set(['manual', 'rerun', 'resume', 'promote', 'rollback']);

/** Who wrote a commit, as git records it. */
export interface CommitAuthor {
  name: string;
  email: string;
}

/** What a commit says of itself, as the Source reads it (Source.commit). */
export interface CommitInfo {
  author: CommitAuthor;
  /** The first line of the commit's message, trimmed, cut at 200 characters (source/source.ts's commitTitle). */
  title: string;
  /** When the commit was made (git's committer date), ISO 8601 in UTC. */
  committedAt: string;
}

/**
 * What happens when a run joins a lane (one service's runs for one branch, pull request or tag)
 * that already has runs in flight: `queue` waits its turn in order, `supersede` cancels the
 * older ones, `parallel` runs alongside them.
 */
export const CONCURRENCY_POLICIES = ['queue', 'supersede', 'parallel'] as const;
export type ConcurrencyPolicy = (typeof CONCURRENCY_POLICIES)[number];

export interface Trigger {
  kind: TriggerKind;
  /** Who or what asked for the run: a user name, a forge delivery id, a schedule name. */
  by: string;
}

export interface Run {
  id: number;
  service: string;
  /** The ref the user asked for (branch, tag or sha), as given. */
  ref: string;
  /** The full commit sha the ref resolved to; empty until resolved. */
  commitSha: string;
  trigger: Trigger;
  /**
   * The run's lane, the unit its concurrency policy works in: the branch name for branch
   * runs, "pr/<number>" for a pull request, "tag/<name>" for a tag.
   */
  lane: string;
  concurrency: ConcurrencyPolicy;
  /**
   * Stops after the build and never deploys: a pull request's run, a tag no `deploy_tags`
   * pattern names, a push whose commit was no longer its branch's head when it was handled.
   */
  partial: boolean;
  /**
   * Runs code nobody trusted yet (a pull request from a fork): only its command stages run,
   * only in containers, without the variables marked secret; nothing is built or pushed.
   */
  untrusted: boolean;
  /** The git tag a tag push built; the release carries it. */
  tag: string | null;
  /** Extra variables given to every step (manual runs, schedules). */
  variables: Record<string, string>;
  /** The run this one reruns or resumes. */
  originRunId: number | null;
  /** The release a promote or rollback run deploys; null for runs that build their own. */
  releaseId: number | null;
  /** The commit's author, read at checkout (or from the release's run); approvals check it. */
  commitAuthor: CommitAuthor | null;
  /** The first line of the commit's message, read at checkout with the author (or from the release's run). */
  commitTitle: string | null;
  /** When the commit was made (git's committer date, ISO 8601 UTC), read with the author; lead times start there. */
  committedAt: string | null;
  /** A promotion an admin forced past the chain's order, soak and windows (`note` says why). */
  forced: boolean;
  /** Why a person asked for a promotion or rollback. */
  note: string | null;
  status: RunStatus;
  /** Why the run ended the way it did, in one sentence, when it did not succeed. */
  reason: string | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
}

export interface Stage {
  id: number;
  runId: number;
  /** Position in the pipeline, from 0. */
  position: number;
  name: string;
  kind: StageKind;
  status: StageStatus;
  /** The resolved shell command for command stages; null otherwise. */
  command: string | null;
  /** Target environment for deploy stages; null otherwise. */
  environment: string | null;
  timeoutMs: number;
  exitCode: number | null;
  reason: string | null;
  /**
   * The executor's handle for the step in flight, persisted before the step starts so a
   * restarted server can find it again (see Executor.reattach).
   */
  handle: string | null;
  /** What a `waiting` deploy stage waits for; null otherwise. */
  wait: GateWait | null;
  startedAt: string | null;
  finishedAt: string | null;
}

/** What holds a release at the gate of an environment, first unmet condition first. */
export const GATE_KINDS = ['lock', 'soak', 'approval', 'window'] as const;
export type GateKind = (typeof GATE_KINDS)[number];

export interface GateWait {
  kind: GateKind;
  /** For people: "approval: 1 from role deployer or above (none given yet)". */
  detail: string;
  /** When the gate is looked at again by itself (a soak's end, a window's opening, an approval's expiry); null: only when something changes (an unlock, an approval). */
  until: string | null;
  /** Since when the run asks for approval (the expiry counts from it); null before it does. */
  approvalRequestedAt: string | null;
  /** Since when the stage waits. */
  since: string;
}

export type LogStream = 'stdout' | 'stderr' | 'system';

export interface LogLine {
  runId: number;
  stageId: number;
  /** Monotonic per run, from 1. */
  seq: number;
  stream: LogStream;
  text: string;
  at: string;
}

/**
 * Where a release's run came from. Only a release built from a branch, a tag or by hand may be
 * deployed, promoted or rolled back to; a pull request's build never is.
 */
export const RELEASE_ORIGINS = ['branch', 'tag', 'pull_request'] as const;
export type ReleaseOrigin = (typeof RELEASE_ORIGINS)[number];

/** A pull request's lane is "pr/<n>"; a tag's run carries its tag; anything else is a branch's (or a commit's, by hand). */
export function releaseOrigin(lane: string, tag: string | null): ReleaseOrigin {
  if (lane.startsWith('pr/')) return 'pull_request';
  return tag !== null ? 'tag' : 'branch';
}

export interface Release {
  id: number;
  service: string;
  commitSha: string;
  /** Repository and tag, e.g. 127.0.0.1:5000/payment:3f2a... */
  image: string;
  /** The registry's manifest digest, sha256:...; deployments run image@digest. */
  digest: string;
  /** The git tag the release was built from, when a tag push started its run. */
  tag: string | null;
  /** What the run was for, read off its lane and tag (releaseOrigin); a pull_request release is never deployed. */
  origin: ReleaseOrigin;
  /** The run's lane: "main", "pr/12", "tag/v1.2.0". */
  lane: string;
  runId: number;
  createdAt: string;
}

/** rolled_back: it went live, then failed its bake or smoke test and Slipway put the previous release back. */
export const DEPLOYMENT_STATUSES = ['in_progress', 'succeeded', 'failed', 'rolled_back'] as const;
export type DeploymentStatus = (typeof DEPLOYMENT_STATUSES)[number];

/** A run's deploy, a promotion of an earlier release, or a rollback to one. */
export const DEPLOYMENT_KINDS = ['deploy', 'promote', 'rollback'] as const;
export type DeploymentKind = (typeof DEPLOYMENT_KINDS)[number];

export interface Deployment {
  id: number;
  service: string;
  environment: string;
  releaseId: number;
  runId: number | null;
  status: DeploymentStatus;
  /** The release that was serving before; null for a first deployment. */
  previousReleaseId: number | null;
  /** Where the deployed service answers, when traffic moved to it. */
  url: string | null;
  /** Why it failed, when it did. */
  reason: string | null;
  kind: DeploymentKind;
  /** Who asked for a promotion or rollback; null for a run's own deploy. */
  actor: string | null;
  /** Why a person asked: a rollback's reason, a forced promotion's. */
  note: string | null;
  /** Placed past the gates by an admin (note says why). */
  forced: boolean;
  startedAt: string;
  finishedAt: string | null;
}

/** Append-only record of a state change: the audit log and the live feed. */
export interface EventRecord {
  id: number;
  at: string;
  type: string;
  runId: number | null;
  service: string | null;
  /** Who made the change: a user's name for changes made through the API, null for Slipway's own. */
  actor: string | null;
  /** The environment the change concerns, when it concerns one (deploys, approvals, locks, secrets). */
  environment: string | null;
  data: unknown;
}

/** One person's decision at one run's gate, bound to the release's digest. */
export interface Approval {
  id: number;
  runId: number;
  stageId: number;
  service: string;
  environment: string;
  releaseId: number;
  digest: string;
  user: string;
  role: Role;
  decision: 'approve' | 'reject';
  comment: string | null;
  at: string;
}

/** Stops promotions into an environment (all services, or one) until unlocked. */
export interface EnvironmentLock {
  environment: string;
  /** Null: every service. */
  service: string | null;
  reason: string;
  actor: string;
  at: string;
}

/** A secret as it is listed: its name and when it changed, never its value. */
export interface SecretEntry {
  environment: string;
  /** Null: every service in the environment; a service's own value wins over it. */
  service: string | null;
  name: string;
  updatedAt: string;
  updatedBy: string;
}

/** A webhook delivery, kept raw and verified, before and after the trigger service read it. */
export interface Delivery {
  id: number;
  forge: string;
  /** The forge's id for the delivery; a repeated one is answered once. */
  deliveryId: string;
  repository: string;
  /** What the forge adapter made of it: push, tag, pull_request, ping, or ignored. */
  event: string;
  /** The verified event as the forge adapter read it (JSON): what the trigger service acts on. */
  parsed: unknown;
  /** The request's headers, less those that carry a secret (GitLab's token, for one). */
  headers: Record<string, string>;
  /** The body exactly as received (the signature covers these bytes). */
  body: Buffer;
  /** "sha256:<hex>" of the body: a body seen before is a replay, whatever its delivery id. */
  bodyDigest: string;
  status: DeliveryStatus;
  /** What the delivery led to, in one sentence ("started run #4 of payment"). */
  outcome: string | null;
  receivedAt: string;
  processedAt: string | null;
}

export const DELIVERY_STATUSES = ['received', 'processed', 'failed'] as const;
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number];

export const ROLES = ['viewer', 'developer', 'deployer', 'admin'] as const;
/**
 * What a user may do; each role may do all that the ones before it may. viewer: read everything
 * but secrets. developer: also start, cancel, rerun and resume runs. deployer: also approve,
 * promote and roll back. admin: also users, tokens, secrets and webhook settings.
 */
export type Role = (typeof ROLES)[number];

export interface User {
  id: number;
  name: string;
  role: Role;
  /** Whether the user can log in with a password (only its hash is kept). */
  hasPassword: boolean;
  /** Where notifications for this user go (approval requests); null when not known. */
  email: string | null;
  createdAt: string;
}

/** An API token as it is listed: never its value, which is shown once when it is created. */
export interface ApiToken {
  id: number;
  userId: number;
  name: string;
  createdAt: string;
  lastUsedAt: string | null;
}

export type Result<T, E = import('./errors.ts').SlipwayError> =
  | { ok: true; value: T }
  | { ok: false; error: E };

export const ok = <T>(value: T): { ok: true; value: T } => ({ ok: true, value });
export const err = <E>(error: E): { ok: false; error: E } => ({ ok: false, error });

export function isTerminalStage(status: StageStatus): boolean {
  return status === 'succeeded' || status === 'failed' || status === 'skipped' || status === 'cancelled';
}

export function isTerminalRun(status: RunStatus): boolean {
  switch (status) {
    case 'succeeded':
    case 'failed':
    case 'cancelled':
    case 'rejected':
    case 'expired':
      return true;
    case 'pending':
    case 'running':
    case 'waiting':
      return false;
    default:
      return assertNever(status, 'run status');
  }
}

export function assertNever(value: never, what = 'value'): never {
  throw new Error(`unexpected ${what}: ${JSON.stringify(value)}`);
}

/** Every kind of live event (events/bus.ts's LiveEventMap), as the event stream's `types` filter names them. */
export const LIVE_EVENT_TYPES = ['run', 'stage', 'log', 'release', 'deployment', 'approval'] as const;
export type LiveEventType = (typeof LIVE_EVENT_TYPES)[number];
