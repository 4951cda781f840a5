// Every status against every event: the full table of legal moves, and everything else refused.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { afterStage, nextRunStatus, nextStageStatus, type RunEvent, type StageEvent } from '../../src/core/transitions.ts';
import { RUN_STATUSES, STAGE_STATUSES, type RunStatus, type StageStatus } from '../../src/core/types.ts';

const STAGE_EVENTS: StageEvent[] = [
  { type: 'start' },
  { type: 'succeed' },
  { type: 'fail', reason: 'r' },
  { type: 'skip', reason: 'r' },
  { type: 'cancel', reason: 'r' },
  { type: 'wait' },
];

const LEGAL_STAGE_MOVES: Record<string, StageStatus> = {
  'pending+start': 'running',
  'pending+fail': 'failed',
  'pending+skip': 'skipped',
  'pending+cancel': 'cancelled',
  'pending+wait': 'waiting',
  'running+succeed': 'succeeded',
  'running+fail': 'failed',
  'running+cancel': 'cancelled',
  'waiting+start': 'running',
  'waiting+fail': 'failed',
  'waiting+cancel': 'cancelled',
};

const RUN_EVENTS: RunEvent[] = [
  { type: 'start' },
  { type: 'succeed' },
  { type: 'fail', reason: 'r' },
  { type: 'cancel', reason: 'r' },
  { type: 'wait' },
  { type: 'wake' },
  { type: 'reject', reason: 'r' },
  { type: 'expire', reason: 'r' },
];

const LEGAL_RUN_MOVES: Record<string, RunStatus> = {
  'pending+start': 'running',
  'pending+fail': 'failed',
  'pending+cancel': 'cancelled',
  'running+succeed': 'succeeded',
  'running+fail': 'failed',
  'running+cancel': 'cancelled',
  'running+wait': 'waiting',
  'waiting+wake': 'pending',
  'waiting+fail': 'failed',
  'waiting+cancel': 'cancelled',
  'waiting+reject': 'rejected',
  'waiting+expire': 'expired',
  'running+reject': 'rejected',
  'running+expire': 'expired',
};

describe('stage transitions', () => {
  for (const status of STAGE_STATUSES) {
    for (const event of STAGE_EVENTS) {
      const expected = LEGAL_STAGE_MOVES[`${status}+${event.type}`];
      it(`${status} + ${event.type} -> ${expected ?? 'refused'}`, () => {
        const next = nextStageStatus(status, event);
        if (expected) assert.deepEqual(next, { ok: true, status: expected });
        else assert.deepEqual(next, { ok: false, error: `cannot ${event.type} a stage that is ${status}` });
      });
    }
  }
});

describe('run transitions', () => {
  for (const status of RUN_STATUSES) {
    for (const event of RUN_EVENTS) {
      const expected = LEGAL_RUN_MOVES[`${status}+${event.type}`];
      it(`${status} + ${event.type} -> ${expected ?? 'refused'}`, () => {
        const next = nextRunStatus(status, event);
        if (expected) assert.deepEqual(next, { ok: true, status: expected });
        else assert.equal(next.ok, false);
      });
    }
  }
});

describe('what a run does after a stage', () => {
  it('carries on after a succeeded or skipped stage', () => {
    assert.deepEqual(afterStage('succeeded', 'test', null), { next: 'continue' });
    assert.deepEqual(afterStage('skipped', 'lint', 'no lint'), { next: 'continue' });
  });
  it('fails the run with the stage and its reason', () => {
    assert.deepEqual(afterStage('failed', 'test', 'command exited with code 1'), {
      next: 'finish',
      run: { type: 'fail', reason: 'stage test failed: command exited with code 1' },
    });
  });
  it('cancels the run when the stage was cancelled', () => {
    assert.deepEqual(afterStage('cancelled', 'test', 'cancelled by a user'), { next: 'finish', run: { type: 'cancel', reason: 'cancelled by a user' } });
  });
  it('refuses a stage that has not ended', () => {
    for (const status of ['pending', 'running', 'waiting'] as const) assert.throws(() => afterStage(status, 'x', null), /has not ended/);
  });
});
