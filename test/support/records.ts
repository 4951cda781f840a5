// Records for tests that write to a store directly, and a store's cursors kept in a Map.

import type { Deployment } from '../../src/core/types.ts';
import type { CursorRepository, NewRun } from '../../src/store/store.ts';

/** Cursors a test can read and set directly through `values`. */
export class MapCursors implements CursorRepository {
  readonly values = new Map<string, string>();
  async get(key: string): Promise<string | null> {
    return this.values.get(key) ?? null;
  }
  async set(key: string, value: string): Promise<void> {
    this.values.set(key, value);
  }
}

/** A run as a push to main stores it. */
export function newRun(service = 'payment', overrides: Partial<NewRun> = {}): NewRun {
  return {
    service,
    ref: 'main',
    commitSha: 'a'.repeat(40),
    trigger: { kind: 'push', by: 'delivery-1' },
    lane: 'main',
    concurrency: 'queue',
    partial: false,
    untrusted: false,
    tag: null,
    variables: {},
    originRunId: null,
    ...overrides,
  };
}

/** A deployment as the store answers it: a run's deploy of release `releaseId` that succeeded at `at`. */
export function deploymentRecord(id: number, releaseId: number, at: string, overrides: Partial<Deployment> = {}): Deployment {
  return {
    id,
    service: 'payment',
    environment: 'staging',
    releaseId,
    runId: id,
    status: 'succeeded',
    previousReleaseId: null,
    url: `http://127.0.0.1:${40_000 + id}`,
    reason: null,
    kind: 'deploy',
    actor: null,
    note: null,
    forced: false,
    startedAt: at,
    finishedAt: at,
    ...overrides,
  };
}
