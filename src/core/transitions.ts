// Pure status transitions. The engine asks these functions what a status becomes; it never
// assigns a status by hand, so every illegal move is caught in one place.

import { assertNever, type RunStatus, type StageStatus } from './types.ts';

export type StageEvent =
  | { type: 'start' }
  | { type: 'succeed' }
  | { type: 'fail'; reason: string }
  | { type: 'skip'; reason: string }
  | { type: 'cancel'; reason: string }
  /** A deploy stage stops at its environment's gate; it starts from there once the gate opens. */
  | { type: 'wait' };

export type Transition<S> = { ok: true; status: S } | { ok: false; error: string };

function illegal<S>(from: S, event: { type: string }): Transition<S> {
  return { ok: false, error: `cannot ${event.type} a stage that is ${String(from)}` };
}

export function nextStageStatus(from: StageStatus, event: StageEvent): Transition<StageStatus> {
  switch (event.type) {
    case 'start':
      return from === 'pending' || from === 'waiting' ? { ok: true, status: 'running' } : illegal(from, event);
    case 'succeed':
      return from === 'running' ? { ok: true, status: 'succeeded' } : illegal(from, event);
    case 'fail':
      return from === 'running' || from === 'pending' || from === 'waiting' ? { ok: true, status: 'failed' } : illegal(from, event);
    case 'skip':
      return from === 'pending' ? { ok: true, status: 'skipped' } : illegal(from, event);
    case 'cancel':
      return from === 'pending' || from === 'running' || from === 'waiting' ? { ok: true, status: 'cancelled' } : illegal(from, event);
    case 'wait':
      return from === 'pending' ? { ok: true, status: 'waiting' } : illegal(from, event);
    default:
      return assertNever(event, 'stage event');
  }
}

/**
 * A run waits at a gate (`wait`), holding nothing but its stored state; when the gate may have
 * opened it is woken (`wake`) back to pending, and the scheduler drives it again from the
 * waiting stage. A refused approval ends it `rejected`, one never given in time `expired`.
 */
export type RunEvent =
  | { type: 'start' }
  | { type: 'succeed' }
  | { type: 'fail'; reason: string }
  | { type: 'cancel'; reason: string }
  | { type: 'wait' }
  | { type: 'wake' }
  | { type: 'reject'; reason: string }
  | { type: 'expire'; reason: string };

export function nextRunStatus(from: RunStatus, event: RunEvent): Transition<RunStatus> {
  const unfinished = from === 'running' || from === 'pending' || from === 'waiting';
  switch (event.type) {
    case 'start':
      return from === 'pending' ? { ok: true, status: 'running' } : illegal(from, event);
    case 'succeed':
      return from === 'running' ? { ok: true, status: 'succeeded' } : illegal(from, event);
    case 'fail':
      return unfinished ? { ok: true, status: 'failed' } : illegal(from, event);
    case 'cancel':
      return unfinished ? { ok: true, status: 'cancelled' } : illegal(from, event);
    case 'wait':
      return from === 'running' ? { ok: true, status: 'waiting' } : illegal(from, event);
    case 'wake':
      return from === 'waiting' ? { ok: true, status: 'pending' } : illegal(from, event);
    // From running too: the driver finds the refusal or the expiry when it looks at the gate again.
    case 'reject':
      return from === 'waiting' || from === 'running' ? { ok: true, status: 'rejected' } : illegal(from, event);
    case 'expire':
      return from === 'waiting' || from === 'running' ? { ok: true, status: 'expired' } : illegal(from, event);
    default:
      return assertNever(event, 'run event');
  }
}

/**
 * What a run does after one of its stages ends: carry on with the next stage, or end the run.
 * A failed or cancelled stage ends the run; the engine then skips every later stage. When the
 * last stage carries on, the run has succeeded.
 */
export type AfterStage = { next: 'continue' } | { next: 'finish'; run: RunEvent };

export function afterStage(stageStatus: StageStatus, stageName: string, reason: string | null): AfterStage {
  switch (stageStatus) {
    case 'succeeded':
    case 'skipped':
      return { next: 'continue' };
    case 'failed':
      return { next: 'finish', run: { type: 'fail', reason: `stage ${stageName} failed: ${reason ?? 'no reason given'}` } };
    case 'cancelled':
      return { next: 'finish', run: { type: 'cancel', reason: reason ?? 'cancelled' } };
    case 'pending':
    case 'running':
    case 'waiting':
      throw new Error(`stage ${stageName} has not ended (${stageStatus})`);
    default:
      return assertNever(stageStatus, 'stage status');
  }
}
