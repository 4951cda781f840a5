// Waiting in tests for what the engine does in the background, by polling the store (or a
// server's API, at a pace that leaves the machine to the server).

import type { RunDetail } from '../../src/client/api.ts';
import type { SlipwayClient } from '../../src/client/client.ts';
import { isTerminalRun, type Run, type Stage } from '../../src/core/types.ts';
import type { Store } from '../../src/store/store.ts';

/** Polls `probe` every `intervalMs` until it answers something truthy; fails naming `what` after `timeoutMs`. */
export async function until<T>(what: string, probe: () => Promise<T | null | undefined | false> | T | null | undefined | false, timeoutMs = 5000, intervalMs = 5): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** A server's run once it has ended, asked of its API four times a second. */
export function runEnded(client: Pick<SlipwayClient, 'run'>, id: number, timeoutMs = 300_000): Promise<RunDetail> {
  return until(
    `run #${id} to end`,
    async () => {
      const detail = await client.run(id).catch(() => null);
      return detail && isTerminalRun(detail.status) ? detail : null;
    },
    timeoutMs,
    250,
  );
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
