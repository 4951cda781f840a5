// The gate in front of an environment: whether a release may enter it now, must wait (and for
// what, until when), or never will. Pure: the I/O shell (engine/stages/gate.ts) gathers the
// facts from the store and the configuration, and writes down what this decides.
//
// Conditions are looked at in this order, the first unmet one deciding:
//   lock      the environment (or this service in it) is locked: wait until someone unlocks
//   previous  the release never served the previous environment of the chain: it never will
//             through this run, so the run fails (an admin may force a promotion)
//   soak      it has not yet served there as long as the previous environment's soak asks:
//             wait until it has; replaced there before that, it never will
//   approval  the policy's rules are not all met: wait for people, until the policy's expiry
//   window    outside the promotion windows or inside a freeze: wait until the next opening
// A forced promotion skips previous, soak and window; a rollback skips all but the lock and,
// where the environment asks for it, the approval. Locks do not hold rollbacks back: a
// rollback is how people leave an incident.

import type { GateWait } from '../core/types.ts';
import { approvalProgress, describeWaiting, type ApprovalPolicy, type GivenApproval } from './approval-policy.ts';
import { windowState, type Freeze, type Window } from './windows.ts';

export interface GateFacts {
  now: Date;
  environment: string;
  releaseId: number;
  kind: 'deploy' | 'promote' | 'rollback';
  forced: boolean;
  /** Locks on the environment that hold this service (its own or every service's). */
  locks: Array<{ service: string | null; reason: string; actor: string }>;
  /** The chain's previous environment and how the release served there; null: first in the chain. */
  previous: { environment: string; soakMs: number | null; servedSince: string | null; servedUntil: string | null } | null;
  /** The environment's approval policy; null: no approval needed. */
  approval: ApprovalPolicy | null;
  /** Whether a rollback here needs approval too. */
  rollbackApproval: boolean;
  /** Approvals given at this stage for this release's digest. */
  approvals: GivenApproval[];
  /** A rejection given at this stage, if any. */
  rejection: { user: string; comment: string | null } | null;
  windows: Window[];
  freezes: Freeze[];
  /** The stage's current wait, when it already waits (keeps since and the approval's start). */
  waiting: GateWait | null;
}

export type GateDecision =
  | { verdict: 'open' }
  | { verdict: 'wait'; wait: GateWait }
  | { verdict: 'fail'; reason: string }
  | { verdict: 'reject'; reason: string }
  | { verdict: 'expire'; reason: string };

export function decideGate(facts: GateFacts): GateDecision {
  const { now, environment } = facts;
  const at = now.toISOString();
  const since = facts.waiting?.since ?? at;
  const wait = (kind: GateWait['kind'], detail: string, until: Date | null, approvalRequestedAt: string | null = facts.waiting?.approvalRequestedAt ?? null): GateDecision => ({
    verdict: 'wait',
    wait: { kind, detail, until: until?.toISOString() ?? null, approvalRequestedAt, since },
  });

  if (facts.rejection) {
    const comment = facts.rejection.comment ? `: ${facts.rejection.comment}` : '';
    return { verdict: 'reject', reason: `rejected by ${facts.rejection.user}${comment}` };
  }
  const rollback = facts.kind === 'rollback';
  const lock = rollback ? undefined : facts.locks[0];
  if (lock) {
    const scope = lock.service === null ? environment : `${lock.service} in ${environment}`;
    return wait('lock', `${scope} is locked by ${lock.actor}: ${lock.reason}`, null);
  }
  const skipOrder = rollback || facts.forced;
  if (facts.previous && !skipOrder) {
    const { environment: previous, soakMs, servedSince, servedUntil } = facts.previous;
    if (servedSince === null) return { verdict: 'fail', reason: `release #${facts.releaseId} has not served ${previous}, which comes before ${environment}; promote it there first` };
    if (soakMs !== null) {
      const soakEnds = Date.parse(servedSince) + soakMs;
      if (servedUntil !== null && Date.parse(servedUntil) < soakEnds) {
        return { verdict: 'fail', reason: `release #${facts.releaseId} stopped serving ${previous} at ${servedUntil}, before its soak of ${formatSpan(soakMs)} there ended` };
      }
      if (now.getTime() < soakEnds) {
        return wait('soak', `release #${facts.releaseId} soaks in ${previous} until ${new Date(soakEnds).toISOString()} (${formatSpan(soakMs)})`, new Date(soakEnds));
      }
    }
  }
  const policy = rollback && !facts.rollbackApproval ? null : facts.approval;
  if (policy && !approvalProgress(policy, facts.approvals).met) {
    const requestedAt = facts.waiting?.approvalRequestedAt ?? at;
    const expires = Date.parse(requestedAt) + policy.expiresMs;
    if (now.getTime() >= expires) {
      return { verdict: 'expire', reason: `no approval to enter ${environment} within ${formatSpan(policy.expiresMs)} (asked at ${requestedAt})` };
    }
    return wait('approval', `approval to enter ${environment}: ${describeWaiting(policy, facts.approvals)}`, new Date(expires), requestedAt);
  }
  if (!skipOrder) {
    const window = windowState(facts.windows, facts.freezes, now);
    if (!window.open) return wait('window', window.reason, window.until);
  }
  return { verdict: 'open' };
}

/** "2d", "36h", "90m", "45s": the largest whole unit. */
export function formatSpan(ms: number): string {
  for (const [unit, size] of [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1000]] as const) {
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return ms >= 3_600_000 ? `${(ms / 3_600_000).toFixed(1)}h` : `${Math.round(ms / 1000)}s`;
}
