// The I/O shell of core/transitions.ts: a run's or stage's next status, written to the store
// with its event in one transaction, then published live. The engine never sets a status any
// other way.

import { nextRunStatus, nextStageStatus, type RunEvent, type StageEvent } from '../core/transitions.ts';
import { isTerminalRun, type GateWait, type Run, type Stage } from '../core/types.ts';
import type { NewLogLine } from '../store/store.ts';
import type { EngineResources } from './resources.ts';

export async function transitionRun({ store, bus, now }: EngineResources, run: Run, event: RunEvent): Promise<Run> {
  const next = nextRunStatus(run.status, event);
  if (!next.ok) throw new Error(`run ${run.id}: ${next.error}`);
  const at = now().toISOString();
  const reason = 'reason' in event ? event.reason : null;
  const updated = await store.transaction(async (tx) => {
    const stored = await tx.runs.update(run.id, {
      status: next.status,
      reason,
      ...(next.status === 'running' ? { startedAt: run.startedAt ?? at } : isTerminalRun(next.status) ? { finishedAt: at } : {}),
    });
    await tx.events.append({ type: `run.${next.status}`, runId: run.id, service: run.service, data: { reason } });
    return stored!;
  });
  bus.publish({ type: 'run', data: updated });
  return updated;
}

/** `lines`: log lines stored in the same transaction, published before the stage's change. */
export async function transitionStage(
  { store, bus, now }: EngineResources,
  run: Run,
  stage: Stage,
  event: StageEvent,
  extra: { exitCode?: number | null; wait?: GateWait | null } = {},
  lines: NewLogLine[] = [],
): Promise<Stage> {
  const next = nextStageStatus(stage.status, event);
  if (!next.ok) throw new Error(`stage ${stage.name} of run ${run.id}: ${next.error}`);
  const at = now().toISOString();
  const reason = 'reason' in event ? event.reason : null;
  const { updated, storedLines } = await store.transaction(async (tx) => {
    const storedLines = lines.length > 0 ? await tx.logs.append(lines) : [];
    const stored = await tx.stages.update(stage.id, {
      status: next.status,
      reason,
      ...extra,
      ...(next.status === 'running' ? { startedAt: at } : next.status === 'waiting' ? {} : { finishedAt: at }),
      // A wait lasts only while the stage waits.
      ...(stage.status === 'waiting' && next.status !== 'waiting' ? { wait: null } : {}),
    });
    await tx.events.append({
      type: `stage.${next.status}`,
      runId: run.id,
      service: run.service,
      environment: stage.environment,
      data: { stageId: stage.id, name: stage.name, reason, ...(extra.wait ? { wait: extra.wait } : {}) },
    });
    return { updated: stored!, storedLines };
  });
  for (const line of storedLines) bus.publish({ type: 'log', data: line });
  bus.publish({ type: 'stage', data: updated });
  return updated;
}
