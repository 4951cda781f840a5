// Tables and row mappings of delivery: approvals, environment locks, environment secrets and
// the outbox of notifications and commit statuses.

import type { Generated, Insertable, Selectable } from 'kysely';
import type { Approval, EnvironmentLock, Role } from '../../core/types.ts';
import type { NewApproval, OutboxItem, OutboxTopic, SealedSecret } from '../store.ts';

/** An environment-wide lock or secret is stored under this service, so (environment, service) can be a key. */
export const EVERY_SERVICE = '*';

export interface ApprovalTable {
  id: Generated<number>;
  run_id: number;
  stage_id: number;
  service: string;
  environment: string;
  release_id: number;
  digest: string;
  user_name: string;
  role: Role;
  decision: Approval['decision'];
  comment: string | null;
  at: string;
}

export interface EnvironmentLockTable {
  environment: string;
  service: string;
  reason: string;
  actor: string;
  at: string;
}

export interface SecretTable {
  environment: string;
  service: string;
  name: string;
  sealed: string;
  updated_at: string;
  updated_by: string;
}

export interface OutboxTable {
  id: Generated<number>;
  topic: OutboxTopic;
  destination: string;
  key: string | null;
  /** JSON. */
  payload: string;
  status: OutboxItem['status'];
  attempts: number;
  next_attempt_at: string;
  lease_until: string | null;
  last_error: string | null;
  created_at: string;
  done_at: string | null;
}

export function approvalToRow(approval: NewApproval): Insertable<ApprovalTable> {
  return {
    run_id: approval.runId,
    stage_id: approval.stageId,
    service: approval.service,
    environment: approval.environment,
    release_id: approval.releaseId,
    digest: approval.digest,
    user_name: approval.user,
    role: approval.role,
    decision: approval.decision,
    comment: approval.comment,
    at: approval.at,
  };
}

export function rowToApproval(row: Selectable<ApprovalTable>): Approval {
  return {
    id: row.id,
    runId: row.run_id,
    stageId: row.stage_id,
    service: row.service,
    environment: row.environment,
    releaseId: row.release_id,
    digest: row.digest,
    user: row.user_name,
    role: row.role,
    decision: row.decision,
    comment: row.comment,
    at: row.at,
  };
}

export function lockToRow(lock: EnvironmentLock): EnvironmentLockTable {
  return { environment: lock.environment, service: lock.service ?? EVERY_SERVICE, reason: lock.reason, actor: lock.actor, at: lock.at };
}

export function rowToLock(row: EnvironmentLockTable): EnvironmentLock {
  return { environment: row.environment, service: row.service === EVERY_SERVICE ? null : row.service, reason: row.reason, actor: row.actor, at: row.at };
}

export function rowToSecret(row: SecretTable): SealedSecret {
  return {
    environment: row.environment,
    service: row.service === EVERY_SERVICE ? null : row.service,
    name: row.name,
    sealed: row.sealed,
    updatedAt: row.updated_at,
    updatedBy: row.updated_by,
  };
}

export function rowToOutboxItem(row: Selectable<OutboxTable>): OutboxItem {
  return {
    id: row.id,
    topic: row.topic,
    destination: row.destination,
    key: row.key,
    payload: JSON.parse(row.payload) as unknown,
    status: row.status,
    attempts: row.attempts,
    nextAttemptAt: row.next_attempt_at,
    leaseUntil: row.lease_until,
    lastError: row.last_error,
    createdAt: row.created_at,
    doneAt: row.done_at,
  };
}
