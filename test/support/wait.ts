// Waiting in unit tests for what the engine does in the background, by polling the store.

import type { Run } from '../../src/core/types.ts';
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

/** The run once it has ended (succeeded, failed or cancelled). */
export function finished(store: Store, runId: number, timeoutMs?: number): Promise<Run> {
  return until(
    `run ${runId} to end`,
    async () => {
      const run = await store.runs.get(runId);
      return run && ['succeeded', 'failed', 'cancelled'].includes(run.status) ? run : null;
    },
    timeoutMs,
  );
}
