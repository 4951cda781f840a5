// The words of each notification, built from plain facts. Pure: no clock, no store. `at` is when
// the thing happened as recorded (not when the notification is built), so building the same
// event's notification again gives the same words and the same id.

import type { Run } from '../core/types.ts';
import type { Notification, NotificationEvent } from './notifier.ts';

type RunFacts = Pick<Run, 'id' | 'service' | 'ref' | 'commitSha'>;

export interface RunFailedFacts {
  run: RunFacts & Pick<Run, 'reason'>;
  /** The stage that failed; null when the run failed before any (its commit did not resolve). */
  failedStage: string | null;
  link: string | null;
  at: string;
}

export function runFailed({ run, failedStage, link, at }: RunFailedFacts): Notification {
  const title = failedStage ? `${run.service} #${run.id} failed at stage ${failedStage}` : `${run.service} #${run.id} failed`;
  return aboutRun('run.failed', run, title, lines(commitLine(run), run.reason), link, at);
}

export interface RunFixedFacts {
  run: RunFacts;
  /** The last run of the same service and ref, which had failed. */
  failedRunId: number;
  link: string | null;
  at: string;
}

export function runFixed({ run, failedRunId, link, at }: RunFixedFacts): Notification {
  const title = `${run.service} #${run.id} passed on ${run.ref} again`;
  return aboutRun('run.fixed', run, title, lines(commitLine(run), `the run before it, #${failedRunId}, had failed`), link, at);
}

export interface ApprovalWaitingFacts {
  runId: number;
  service: string;
  environment: string;
  releaseId: number;
  digest: string;
  commitSha: string;
  /** Who may approve, in words: "1 of role deployer". */
  waitingFor: string;
  /** When the request lapses; null when it does not. */
  expiresAt: string | null;
  /** Where to approve. */
  link: string | null;
  /** The approvers' e-mail addresses. */
  recipients: string[];
  at: string;
}

export function approvalWaiting(facts: ApprovalWaitingFacts): Notification {
  const { runId, service, environment, releaseId, expiresAt } = facts;
  return {
    event: 'approval.waiting',
    title: `${service} #${runId} is waiting for approval to enter ${environment}`,
    text: lines(
      `release #${releaseId} (${shortDigest(facts.digest)}), commit ${shortSha(facts.commitSha)}`,
      `waiting for ${facts.waitingFor}`,
      expiresAt ? `the request expires at ${expiresAt}` : null,
    ),
    link: facts.link,
    service,
    environment,
    runId,
    recipients: [...facts.recipients],
    id: idOf('approval.waiting', facts.at, runId, environment, releaseId),
    at: facts.at,
  };
}

export interface ApprovalExpiredFacts {
  runId: number;
  service: string;
  environment: string;
  releaseId: number;
  /** Who could have approved, in words, as asked. */
  waitingFor: string;
  link: string | null;
  at: string;
}

export function approvalExpired(facts: ApprovalExpiredFacts): Notification {
  const { runId, service, environment, releaseId } = facts;
  return {
    event: 'approval.expired',
    title: `${service} #${runId}: the approval to enter ${environment} expired`,
    text: lines(`release #${releaseId} was not approved in time (it needed ${facts.waitingFor})`),
    link: facts.link,
    service,
    environment,
    runId,
    recipients: [],
    id: idOf('approval.expired', facts.at, runId, environment, releaseId),
    at: facts.at,
  };
}

export interface DeployedFacts {
  service: string;
  environment: string;
  releaseId: number;
  digest: string;
  /** Where the release serves; null when the target does not say. */
  url: string | null;
  /** The run that deployed it; null for a deploy no run made. */
  runId: number | null;
  link: string | null;
  at: string;
}

export function deployed(facts: DeployedFacts): Notification {
  const { service, environment, releaseId, runId } = facts;
  return {
    event: 'deployed',
    title: `${service} release #${releaseId} is live in ${environment}`,
    text: lines(
      facts.url ? `serving at ${facts.url}` : null,
      `image ${shortDigest(facts.digest)}`,
      runId !== null ? `deployed by run #${runId}` : null,
    ),
    link: facts.link,
    service,
    environment,
    runId,
    recipients: [],
    id: idOf('deployed', facts.at, service, environment, releaseId),
    at: facts.at,
  };
}

export interface RolledBackFacts {
  service: string;
  environment: string;
  fromReleaseId: number;
  toReleaseId: number;
  reason: string | null;
  /** Slipway rolled back by itself (a release failed after it went live), not a person. */
  automatic: boolean;
  /** Who rolled back, when a person did. */
  actor: string | null;
  /** The run that deployed the older release again, if one did. */
  runId: number | null;
  link: string | null;
  at: string;
}

export function rolledBack(facts: RolledBackFacts): Notification {
  const { service, environment, fromReleaseId, toReleaseId } = facts;
  const who = facts.automatic ? 'automatically' : `by ${facts.actor ?? 'someone'}`;
  return {
    event: 'rolled_back',
    title: `${service} in ${environment} was rolled back from release #${fromReleaseId} to #${toReleaseId}`,
    text: lines(facts.reason ? `${who}: ${facts.reason}` : who),
    link: facts.link,
    service,
    environment,
    runId: facts.runId,
    recipients: [],
    id: idOf('rolled_back', facts.at, service, environment, fromReleaseId, toReleaseId),
    at: facts.at,
  };
}

function aboutRun(event: NotificationEvent, run: RunFacts, title: string, text: string, link: string | null, at: string): Notification {
  return { event, title, text, link, service: run.service, environment: null, runId: run.id, recipients: [], id: idOf(event, at, run.id), at };
}

/**
 * What tells this event from every other: its kind, what it is about, and when it happened (a
 * resumed run can fail at the same stage twice; a service can be rolled back between the same
 * two releases twice).
 */
function idOf(event: NotificationEvent, at: string, ...key: (string | number)[]): string {
  return [event, ...key, at].join('/');
}

function commitLine(run: RunFacts): string {
  // A commit that never resolved has no sha to show.
  return run.commitSha ? `${run.ref} at ${shortSha(run.commitSha)}` : run.ref;
}

function lines(...parts: (string | null)[]): string {
  return parts.filter((part): part is string => part !== null && part !== '').join('\n');
}

function shortSha(sha: string): string {
  return sha.slice(0, 7);
}

/** "sha256:" and the first 12 hex digits, as registries and `docker images` show it. */
function shortDigest(digest: string): string {
  const [algorithm, hex] = digest.split(':', 2);
  return hex === undefined ? digest.slice(0, 12) : `${algorithm}:${hex.slice(0, 12)}`;
}
