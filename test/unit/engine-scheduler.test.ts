// The scheduler sees every pending run, oldest first, however many wait: a backlog larger than
// any page of runs must not starve its oldest runs.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { FakeBuilder } from '../../src/builders/fake/builder.ts';
import { FakeDeployer } from '../../src/deployers/fake/deployer.ts';
import { Engine } from '../../src/engine/engine.ts';
import { MemoryEventBus } from '../../src/events/bus.ts';
import { FakeExecutor } from '../../src/executors/fake/executor.ts';
import { FakeSource } from '../../src/source/fake/source.ts';
import { openSqliteStore } from '../../src/store/sqlite/store.ts';
import { parsedConfig } from '../support/config.ts';
import { newRun } from '../support/records.ts';
import { until } from '../support/wait.ts';

const BACKLOG = 1_205;
const CAPACITY = 2;

describe('scheduler', () => {
  const workRoot = mkdtempSync(join(tmpdir(), 'slipway-scheduler-'));
  after(() => rmSync(workRoot, { recursive: true, force: true }));

  it(`starts the oldest of ${BACKLOG} pending runs first`, async () => {
    const store = await openSqliteStore(':memory:');
    // Each run in its own lane, so nothing but age decides which go first.
    await store.transaction(async (tx) => {
      for (let index = 0; index < BACKLOG; index++) {
        await tx.runs.create(newRun('api', { lane: `lane-${index}`, ref: `lane-${index}` }), [
          { position: 0, name: 'wait', kind: 'command', command: 'wait', environment: null, timeoutMs: 600_000 },
        ]);
      }
    });
    const oldest = (await store.runs.list({ statuses: ['pending'], order: 'oldest', limit: CAPACITY })).map((run) => run.id);
    const executor = new FakeExecutor(() => ({ hang: true }));
    const config = parsedConfig('pipeline:\n  - stage: wait\n    run: wait\nservices:\n  api:\n    repo: /repos/api.git\n');
    const engine = new Engine({ store, bus: new MemoryEventBus(), config, source: new FakeSource(), executor, builder: new FakeBuilder(), deployer: new FakeDeployer(), workRoot, maxParallelRuns: CAPACITY });
    await engine.start();
    try {
      await until('the first runs to start their steps', () => executor.calls.filter((call) => call.method === 'start').length === CAPACITY, 60_000);
      // Which of them reaches its step first is up to the drivers running side by side.
      const started = executor.calls.filter((call) => call.method === 'start').map((call) => call.step!.runId).sort((a, b) => a - b);
      assert.deepEqual(started, [...oldest].sort((a, b) => a - b));
      const running = (await store.runs.list({ statuses: ['running'] })).map((run) => run.id).sort((a, b) => a - b);
      assert.deepEqual(running, oldest);
    } finally {
      // Stopping first, so cancelling the runs in flight starts no others.
      const stopped = engine.stop();
      for (const id of oldest) await engine.cancel(id);
      await stopped;
      await store.close();
    }
  });
});
