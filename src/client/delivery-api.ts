// The delivery part of the HTTP API's shapes: approvals, promotions and rollbacks, releases and
// where they serve, environment locks, secrets (names only) and the audit log.

import type { Approval, EnvironmentLock, EventRecord, GateWait, Release, SecretEntry } from '../core/types.ts';
import type { RunDetail } from './api.ts';

export type { Approval, EnvironmentLock, EventRecord, GateWait, SecretEntry };

/** POST /api/runs/:id/approve and /reject. */
export interface DecisionBody {
  /** Required to reject. */
  comment?: string;
}

/** GET /api/runs/:id/approval: what a run waits for at its gate, and who may let it through. */
export interface ApprovalState {
  runId: number;
  service: string;
  environment: string;
  release: Release | null;
  /** Null when the run is not waiting. */
  wait: GateWait | null;
  /** Whether the environment asks approvals of this run at all. */
  needsApproval: boolean;
  decisions: Approval[];
  /** The rules, each with who approved toward it and how many are missing. */
  rules: Array<{ roles: string[]; users: string[]; count: number; approvedBy: string[]; missing: number }>;
  /** Users who may approve it now (not the run's or the commit's author unless allowed). */
  eligible: string[];
  /** Whether the caller may approve, and if not why. */
  you: { mayApprove: boolean; reason: string | null };
}

/** POST /api/services/:name/promote (201). */
export interface PromoteBody {
  release: number;
  environment: string;
  /** Admins only, with a reason: past the chain's order, soak and windows. */
  force?: boolean;
  reason?: string;
}

/** POST /api/services/:name/rollback (201). */
export interface RollbackBody {
  environment: string;
  /** The release to go back to; the one before the current one when omitted. */
  to?: number;
  reason?: string;
}

/** The run a promotion or rollback started. */
export interface DeliveryStarted extends RunDetail {
  /** For a rollback: the release it leaves and the one it goes back to. */
  from?: number;
  to?: number;
}

/** GET /api/services/:name/releases: each release with where it serves now and served before. */
export interface ReleasePlacement {
  release: Release;
  serving: string[];
  servedBefore: Array<{ environment: string; until: string }>;
}

/** POST /api/locks. */
export interface LockBody {
  environment: string;
  service?: string;
  reason: string;
}

/** PUT /api/secrets/:environment/:name. */
export interface SetSecretBody {
  value: string;
  /** One service's own value; every service of the environment when omitted. */
  service?: string;
}

/** POST /api/secrets/rotate-key. */
export interface KeyRotation {
  resealed: number;
  keyId: string;
}

/** GET /api/audit: filters, all optional. */
export interface AuditQuery {
  actor?: string;
  /** Types, or prefixes ending in "." ("approval."), comma-separated. */
  type?: string;
  service?: string;
  environment?: string;
  since?: string;
  until?: string;
  /** Newest first below this event id. */
  before?: number;
  limit?: number;
  /** Also changes Slipway made by itself, not only those people made. */
  all?: boolean;
}
