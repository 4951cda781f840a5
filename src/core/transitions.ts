// Pure status transitions. The engine asks these functions what a status becomes; it never
// assigns a status by hand, so every illegal move is caught in one place.

import { assertNever, type RunStatus, type StageStatus } from './types.ts';

export type StageEvent =
  | { type: 'start' }
  | { type: 'succeed' }
  | { type: 'fail'; reason: string }
  | { type: 'skip'; reason: string }
  | { type: 'cancel'; reason: string }
  | { type: 'await_approval' }
  | { type: 'approve' };

export type Transition<S> = { ok: true; status: S } | { ok: false; error: string };

function illegal<S>(from: S, event: { type: string }): Transition<S> {
  return { ok: false, error: `cannot ${event.type} a stage that is ${String(from)}` };
}

export function nextStageStatus(from: StageStatus, event: StageEvent): Transition<StageStatus> {
  switch (event.type) {
    case 'start':
      return from === 'pending' ? { ok: true, status: 'running' } : illegal(from, event);
    case 'succeed':
      return from === 'running' ? { ok: true, status: 'succeeded' } : illegal(from, event);
    case 'fail':
      return from === 'running' || from === 'pending' || from === 'awaiting_approval'
        ? { ok: true, status: 'failed' }
        : illegal(from, event);
    case 'skip':
      return from === 'pending' ? { ok: true, status: 'skipped' } : illegal(from, event);
    case 'cancel':
      return from === 'pending' || from === 'running' || from === 'awaiting_approval'
        ? { ok: true, status: 'cancelled' }
        : illegal(from, event);
    case 'await_approval':
      return from === 'pending' ? { ok: true, status: 'awaiting_approval' } : illegal(from, event);
    case 'approve':
      return from === 'awaiting_approval' ? { ok: true, status: 'running' } : illegal(from, event);
    default:
      return assertNever(event, 'stage event');
  }
}

export type RunEvent =
  | { type: 'start' }
  | { type: 'succeed' }
  | { type: 'fail'; reason: string }
  | { type: 'cancel'; reason: string };

export function nextRunStatus(from: RunStatus, event: RunEvent): Transition<RunStatus> {
  switch (event.type) {
    case 'start':
      return from === 'pending' ? { ok: true, status: 'running' } : illegal(from, event);
    case 'succeed':
      return from === 'running' ? { ok: true, status: 'succeeded' } : illegal(from, event);
    case 'fail':
      return from === 'running' || from === 'pending' ? { ok: true, status: 'failed' } : illegal(from, event);
    case 'cancel':
      return from === 'running' || from === 'pending' ? { ok: true, status: 'cancelled' } : illegal(from, event);
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
    case 'awaiting_approval':
      throw new Error(`stage ${stageName} has not ended (${stageStatus})`);
    default:
      return assertNever(stageStatus, 'stage status');
  }
}
