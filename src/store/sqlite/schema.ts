// Table types for Kysely and the mapping between rows (snake_case, JSON as text) and the
// domain records of core/types.ts (camelCase). Kept free of dialect specifics so a Postgres
// store can reuse it.

import type { Generated, Insertable, Selectable, Updateable } from 'kysely';
import type { ApiTokenTable, CursorTable, DeliveryTable, UserTable, WebhookSecretTable } from './schema-intake.ts';
import type { ApprovalTable, EnvironmentLockTable, OutboxTable, SecretTable } from './schema-delivery.ts';
import type {
  CommitAuthor,
  ConcurrencyPolicy,
  Deployment,
  DeploymentKind,
  DeploymentStatus,
  EventRecord,
  GateWait,
  LogLine,
  LogStream,
  Release,
  Run,
  RunStatus,
  Stage,
  StageKind,
  StageStatus,
  TriggerKind,
} from '../../core/types.ts';
import { releaseOrigin } from '../../core/types.ts';
import type {
  DeploymentPatch,
  NewDeployment,
  NewEvent,
  NewRelease,
  NewRun,
  NewStage,
  RunPatch,
  StagePatch,
} from '../store.ts';

export interface RunTable {
  id: Generated<number>;
  service: string;
  ref: string;
  commit_sha: string;
  trigger_kind: TriggerKind;
  trigger_by: string;
  lane: string;
  concurrency: ConcurrencyPolicy;
  /** 0 or 1: SQLite has no boolean. */
  partial: number;
  untrusted: number;
  tag: string | null;
  /** JSON object of strings. */
  variables: string;
  origin_run_id: number | null;
  release_id: number | null;
  /** JSON CommitAuthor, or null. */
  commit_author: string | null;
  commit_title: string | null;
  /** ISO 8601 UTC. */
  committed_at: string | null;
  forced: number;
  note: string | null;
  status: RunStatus;
  reason: string | null;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
}

export interface StageTable {
  id: Generated<number>;
  run_id: number;
  position: number;
  name: string;
  kind: StageKind;
  status: StageStatus;
  command: string | null;
  environment: string | null;
  timeout_ms: number;
  exit_code: number | null;
  reason: string | null;
  handle: string | null;
  /** JSON GateWait, or null. */
  wait: string | null;
  /** The wait's `until`, apart so the due waits are found by an index. */
  wake_at: string | null;
  started_at: string | null;
  finished_at: string | null;
}

export interface LogLineTable {
  run_id: number;
  stage_id: number;
  seq: number;
  stream: LogStream;
  text: string;
  at: string;
}

export interface ReleaseTable {
  id: Generated<number>;
  service: string;
  commit_sha: string;
  image: string;
  digest: string;
  tag: string | null;
  lane: string;
  run_id: number;
  created_at: string;
}

export interface DeploymentTable {
  id: Generated<number>;
  service: string;
  environment: string;
  release_id: number;
  run_id: number | null;
  status: DeploymentStatus;
  previous_release_id: number | null;
  url: string | null;
  reason: string | null;
  kind: DeploymentKind;
  actor: string | null;
  note: string | null;
  forced: number;
  started_at: string;
  finished_at: string | null;
}

export interface EventTable {
  id: Generated<number>;
  at: string;
  type: string;
  run_id: number | null;
  service: string | null;
  actor: string | null;
  environment: string | null;
  /** JSON text. */
  data: string;
}

export interface Database {
  runs: RunTable;
  stages: StageTable;
  log_lines: LogLineTable;
  releases: ReleaseTable;
  deployments: DeploymentTable;
  events: EventTable;
  deliveries: DeliveryTable;
  webhook_secrets: WebhookSecretTable;
  cursors: CursorTable;
  users: UserTable;
  api_tokens: ApiTokenTable;
  approvals: ApprovalTable;
  environment_locks: EnvironmentLockTable;
  secrets: SecretTable;
  outbox: OutboxTable;
  routes: RouteTable;
  previews: PreviewTable;
}

export interface PreviewTable {
  id: Generated<number>;
  service: string;
  pull_request: number;
  environment: string;
  status: string;
  generation: number;
  sandbox_id: string | null;
  /** JSON: PreviewMember[]. */
  members: string;
  release_id: number | null;
  commit_sha: string;
  run_id: number;
  url: string | null;
  reason: string | null;
  created_at: string;
  updated_at: string;
  expires_at: string;
  removed_at: string | null;
}

export interface RouteTable {
  service: string;
  environment: string;
  port: number;
  created_at: string;
}

export type RunRow = Selectable<RunTable>;
export type StageRow = Selectable<StageTable>;
export type LogLineRow = Selectable<LogLineTable>;
export type ReleaseRow = Selectable<ReleaseTable>;
export type DeploymentRow = Selectable<DeploymentTable>;
export type EventRow = Selectable<EventTable>;

export function runToRow(run: NewRun, createdAt: string): Insertable<RunTable> {
  return {
    service: run.service,
    ref: run.ref,
    commit_sha: run.commitSha,
    trigger_kind: run.trigger.kind,
    trigger_by: run.trigger.by,
    lane: run.lane,
    concurrency: run.concurrency,
    partial: run.partial ? 1 : 0,
    untrusted: run.untrusted ? 1 : 0,
    tag: run.tag,
    variables: JSON.stringify(run.variables),
    origin_run_id: run.originRunId,
    release_id: run.releaseId ?? null,
    commit_author: run.commitAuthor ? JSON.stringify(run.commitAuthor) : null,
    commit_title: run.commitTitle ?? null,
    committed_at: run.committedAt ?? null,
    forced: run.forced ? 1 : 0,
    note: run.note ?? null,
    status: 'pending',
    reason: null,
    created_at: createdAt,
    started_at: null,
    finished_at: null,
  };
}

// Patches map absent fields to undefined, which Kysely leaves out of the SET clause.
export function runPatchToRow(patch: RunPatch): Updateable<RunTable> {
  return {
    status: patch.status,
    commit_sha: patch.commitSha,
    reason: patch.reason,
    started_at: patch.startedAt,
    finished_at: patch.finishedAt,
    commit_author: patch.commitAuthor === undefined ? undefined : patch.commitAuthor && JSON.stringify(patch.commitAuthor),
    commit_title: patch.commitTitle,
    committed_at: patch.committedAt,
  };
}

export function rowToRun(row: RunRow): Run {
  return {
    id: row.id,
    service: row.service,
    ref: row.ref,
    commitSha: row.commit_sha,
    trigger: { kind: row.trigger_kind, by: row.trigger_by },
    lane: row.lane,
    concurrency: row.concurrency,
    partial: row.partial === 1,
    untrusted: row.untrusted === 1,
    tag: row.tag,
    variables: JSON.parse(row.variables) as Record<string, string>,
    originRunId: row.origin_run_id,
    releaseId: row.release_id,
    commitAuthor: row.commit_author === null ? null : (JSON.parse(row.commit_author) as CommitAuthor),
    commitTitle: row.commit_title,
    committedAt: row.committed_at,
    forced: row.forced === 1,
    note: row.note,
    status: row.status,
    reason: row.reason,
    createdAt: row.created_at,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
  };
}

export function stageToRow(stage: NewStage, runId: number): Insertable<StageTable> {
  return {
    run_id: runId,
    position: stage.position,
    name: stage.name,
    kind: stage.kind,
    status: 'pending',
    command: stage.command,
    environment: stage.environment,
    timeout_ms: stage.timeoutMs,
    exit_code: null,
    reason: null,
    handle: null,
    wait: null,
    wake_at: null,
    started_at: null,
    finished_at: null,
  };
}

export function stagePatchToRow(patch: StagePatch): Updateable<StageTable> {
  return {
    status: patch.status,
    exit_code: patch.exitCode,
    reason: patch.reason,
    handle: patch.handle,
    wait: patch.wait === undefined ? undefined : patch.wait && JSON.stringify(patch.wait),
    wake_at: patch.wait === undefined ? undefined : (patch.wait?.until ?? null),
    started_at: patch.startedAt,
    finished_at: patch.finishedAt,
    command: patch.command,
  };
}

export function rowToStage(row: StageRow): Stage {
  return {
    id: row.id,
    runId: row.run_id,
    position: row.position,
    name: row.name,
    kind: row.kind,
    status: row.status,
    command: row.command,
    environment: row.environment,
    timeoutMs: row.timeout_ms,
    exitCode: row.exit_code,
    reason: row.reason,
    handle: row.handle,
    wait: row.wait === null ? null : (JSON.parse(row.wait) as GateWait),
    startedAt: row.started_at,
    finishedAt: row.finished_at,
  };
}

export function logLineToRow(line: LogLine): LogLineRow {
  return { run_id: line.runId, stage_id: line.stageId, seq: line.seq, stream: line.stream, text: line.text, at: line.at };
}

export function rowToLogLine(row: LogLineRow): LogLine {
  return { runId: row.run_id, stageId: row.stage_id, seq: row.seq, stream: row.stream, text: row.text, at: row.at };
}

export function releaseToRow(release: NewRelease, createdAt: string): Insertable<ReleaseTable> {
  return {
    service: release.service,
    commit_sha: release.commitSha,
    image: release.image,
    digest: release.digest,
    tag: release.tag,
    lane: release.lane,
    run_id: release.runId,
    created_at: createdAt,
  };
}

export function rowToRelease(row: ReleaseRow): Release {
  return {
    id: row.id,
    service: row.service,
    commitSha: row.commit_sha,
    image: row.image,
    digest: row.digest,
    tag: row.tag,
    origin: releaseOrigin(row.lane, row.tag),
    lane: row.lane,
    runId: row.run_id,
    createdAt: row.created_at,
  };
}

export function deploymentToRow(deployment: NewDeployment): Insertable<DeploymentTable> {
  return {
    service: deployment.service,
    environment: deployment.environment,
    release_id: deployment.releaseId,
    run_id: deployment.runId,
    status: 'in_progress',
    previous_release_id: deployment.previousReleaseId,
    url: null,
    reason: null,
    kind: deployment.kind ?? 'deploy',
    actor: deployment.actor ?? null,
    note: deployment.note ?? null,
    forced: deployment.forced ? 1 : 0,
    started_at: deployment.startedAt,
    finished_at: null,
  };
}

export function deploymentPatchToRow(patch: DeploymentPatch): Updateable<DeploymentTable> {
  return { status: patch.status, url: patch.url, reason: patch.reason, finished_at: patch.finishedAt };
}

export function rowToDeployment(row: DeploymentRow): Deployment {
  return {
    id: row.id,
    service: row.service,
    environment: row.environment,
    releaseId: row.release_id,
    runId: row.run_id,
    status: row.status,
    previousReleaseId: row.previous_release_id,
    url: row.url,
    reason: row.reason,
    kind: row.kind,
    actor: row.actor,
    note: row.note,
    forced: row.forced === 1,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
  };
}

/** `undefined` data has no JSON form; it is stored, and read back, as null. */
export function eventToRow(event: NewEvent, at: string): Insertable<EventTable> {
  return {
    at,
    type: event.type,
    run_id: event.runId,
    service: event.service,
    actor: event.actor ?? null,
    environment: event.environment ?? null,
    data: JSON.stringify(event.data ?? null),
  };
}

export function rowToEvent(row: EventRow): EventRecord {
  return {
    id: row.id,
    at: row.at,
    type: row.type,
    runId: row.run_id,
    service: row.service,
    actor: row.actor,
    environment: row.environment,
    data: JSON.parse(row.data) as unknown,
  };
}
