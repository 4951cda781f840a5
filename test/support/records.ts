// Records for tests that write to a store directly: the defaults of a push to main.

import type { NewRun } from '../../src/store/store.ts';

export function newRun(service = 'payment', overrides: Partial<NewRun> = {}): NewRun {
  return {
    service,
    ref: 'main',
    commitSha: 'a'.repeat(40),
    trigger: { kind: 'push', by: 'delivery-1' },
    lane: 'main',
    concurrency: 'queue',
    partial: false,
    tag: null,
    variables: {},
    originRunId: null,
    ...overrides,
  };
}
