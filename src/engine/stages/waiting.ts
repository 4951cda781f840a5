// Ends a run that waits at a gate without driving it: a cancel, a supersede. Compare-and-set on
// the run's `waiting`, so a run another server (or the waker) just took back is left to the
// driver, which sees the same facts at the gate.

import type { RunEvent } from '../../core/transitions.ts';
import type { Run, Stage } from '../../core/types.ts';
import type { EngineResources } from '../resources.ts';

export async function endWaitingRun(
  { store, bus, now }: EngineResources,
  run: Run,
  stage: Stage,
  event: Extract<RunEvent, { type: 'cancel' | 'reject' | 'expire' | 'fail' }>,
): Promise<boolean> {
  const at = now().toISOString();
  const status = ({ cancel: 'cancelled', reject: 'rejected', expire: 'expired', fail: 'failed' } as const)[event.type];
  const ended = await store.transaction(async (tx) => {
    const updated = await tx.runs.updateIf(run.id, ['waiting'], { status, reason: event.reason, finishedAt: at });
    if (!updated) return null;
    const stages: Stage[] = [];
    for (const other of await tx.stages.listByRun(run.id)) {
      if (other.id === stage.id && other.status === 'waiting') {
        stages.push((await tx.stages.update(other.id, { status: event.type === 'cancel' ? 'cancelled' : 'failed', reason: event.reason, wait: null, finishedAt: at }))!);
      } else if (other.status === 'pending') {
        stages.push((await tx.stages.update(other.id, { status: 'skipped', reason: `the run ended at stage ${stage.name}`, finishedAt: at }))!);
      }
    }
    await tx.events.append({ type: `run.${status}`, runId: run.id, service: run.service, environment: stage.environment, data: { reason: event.reason } });
    return { run: updated, stages };
  });
  if (!ended) return false;
  for (const changed of ended.stages) bus.publish({ type: 'stage', data: changed });
  bus.publish({ type: 'run', data: ended.run });
  return true;
}
