// Waiting in unit tests for what the engine does in the background, by polling the store.

import { isTerminalRun, type Run, type Stage } from '../../src/core/types.ts';
import type { Store } from '../../src/store/store.ts';

/** Polls `probe` every 5 ms until it answers something truthy; fails naming `what` after `timeoutMs`. */
export async function until<T>(what: string, probe: () => Promise<T | null | undefined | false> | T | null | undefined | false, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** The run once it has ended (succeeded, failed, cancelled, rejected or expired). */
export function finished(store: Store, runId: number, timeoutMs?: number): Promise<Run> {
  return until(
    `run ${runId} to end`,
    async () => {
      const run = await store.runs.get(runId);
      return run && isTerminalRun(run.status) ? run : null;
    },
    timeoutMs,
  );
}

/** The run once it waits at a gate, with the stage that waits. */
export function waitingAt(store: Store, runId: number, timeoutMs?: number): Promise<{ run: Run; stage: Stage }> {
  return until(
    `run ${runId} to wait at a gate`,
    async () => {
      const run = await store.runs.get(runId);
      if (run?.status !== 'waiting') return null;
      const stage = (await store.stages.listByRun(runId)).find((candidate) => candidate.status === 'waiting');
      return stage ? { run, stage } : null;
    },
    timeoutMs,
  );
}
