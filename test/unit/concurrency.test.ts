// The scheduler's policy, pure: which pending runs start now (runsToStart), where a pending
// run stands in its lane (queuePosition), and which policy a lane gets from the config
// (concurrencyFor). The engine applies these; test/unit/engine-lanes.test.ts checks it does.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { concurrencyFor, type Config } from '../../src/config/model.ts';
import type { ConcurrencyPolicy, Run } from '../../src/core/types.ts';
import { queuePosition, runsToStart } from '../../src/engine/concurrency.ts';
import { parsedConfig } from '../support/config.ts';

type Laned = Pick<Run, 'id' | 'service' | 'lane' | 'concurrency'>;

function run(id: number, service: string, lane: string, concurrency: ConcurrencyPolicy = 'queue'): Laned {
  return { id, service, lane, concurrency };
}

const ids = (runs: Laned[]) => runs.map((r) => r.id);

describe('runsToStart', () => {
  it('starts only the oldest run of a queued lane, and lets other lanes and services run', () => {
    const pending = [run(1, 'api', 'main'), run(2, 'api', 'main'), run(3, 'api', 'develop'), run(4, 'web', 'main')];
    assert.deepEqual(ids(runsToStart(pending, [], 10)), [1, 3, 4]);
  });

  it('keeps a queued lane waiting while one of its runs is in flight', () => {
    const pending = [run(2, 'api', 'main'), run(3, 'api', 'main'), run(4, 'web', 'main')];
    assert.deepEqual(ids(runsToStart(pending, [run(1, 'api', 'main')], 10)), [4]);
  });

  it('treats a superseding lane like a queue of one: it waits for the run being cancelled', () => {
    const active = [run(1, 'api', 'pr/7', 'supersede')];
    assert.deepEqual(ids(runsToStart([run(2, 'api', 'pr/7', 'supersede'), run(3, 'api', 'pr/8', 'supersede')], active, 10)), [3]);
  });

  it('starts parallel runs whatever their lane is doing', () => {
    const active = [run(1, 'api', 'main', 'parallel')];
    const pending = [run(2, 'api', 'main', 'parallel'), run(3, 'api', 'main', 'parallel')];
    assert.deepEqual(ids(runsToStart(pending, active, 10)), [2, 3]);
  });

  it('never starts more runs than there is room for, oldest first', () => {
    const pending = [run(3, 'a', 'main'), run(4, 'b', 'main'), run(5, 'c', 'main', 'parallel'), run(6, 'd', 'main')];
    assert.deepEqual(ids(runsToStart(pending, [run(1, 'x', 'main'), run(2, 'y', 'main')], 4)), [3, 4]);
    assert.deepEqual(ids(runsToStart(pending, [], 1)), [3]);
  });

  it('starts nothing when the runs in flight already fill the room', () => {
    assert.deepEqual(runsToStart([run(3, 'a', 'main', 'parallel')], [run(1, 'x', 'main'), run(2, 'y', 'main')], 2), []);
  });

  it('a parallel run that starts holds its lane against the queued runs behind it', () => {
    const pending = [run(1, 'api', 'main', 'parallel'), run(2, 'api', 'main', 'queue')];
    assert.deepEqual(ids(runsToStart(pending, [], 10)), [1]);
    // ...and while it runs.
    assert.deepEqual(ids(runsToStart([run(2, 'api', 'main', 'queue')], [run(1, 'api', 'main', 'parallel')], 10)), []);
  });

  it('a lane is per service: the same branch name of two services are two lanes', () => {
    assert.deepEqual(ids(runsToStart([run(2, 'web', 'main')], [run(1, 'api', 'main')], 10)), [2]);
  });

  it('returns the very objects it was given, so the caller can launch them', () => {
    const pending = [{ ...run(1, 'api', 'main'), extra: 'kept' }];
    assert.equal(runsToStart(pending, [], 1)[0], pending[0]);
  });
});

describe('queuePosition', () => {
  const pending = [
    run(2, 'api', 'main'),
    run(3, 'api', 'develop'),
    run(4, 'api', 'main', 'parallel'),
    run(5, 'web', 'main'),
    run(6, 'api', 'main'),
  ];

  it('is 1 for the next run of a lane and counts the queued runs ahead of it', () => {
    assert.equal(queuePosition(pending[0]!, pending), 1);
    assert.equal(queuePosition(pending[4]!, pending), 2);
  });

  it('counts neither other lanes, other services nor parallel runs', () => {
    assert.equal(queuePosition(pending[1]!, pending), 1);
    assert.equal(queuePosition(pending[3]!, pending), 1);
  });

  it('is null for a parallel run, which waits for nothing but room', () => {
    assert.equal(queuePosition(pending[2]!, pending), null);
  });
});

describe('concurrencyFor', () => {
  function config(concurrency: { pipeline?: string; service?: string } = {}): Config {
    const text = `
pipeline:
  - stage: test
    run: make test
${concurrency.pipeline ? `concurrency:\n${indent(concurrency.pipeline, 2)}\n` : ''}services:
  api:
    repo: https://git.example.com/acme/api.git
${concurrency.service ? `    concurrency:\n${indent(concurrency.service, 6)}\n` : ''}  web:
    repo: https://git.example.com/acme/web.git
`;
    return parsedConfig(text);
  }

  const indent = (text: string, by: number) =>
    text
      .trim()
      .split('\n')
      .map((line) => ' '.repeat(by) + line)
      .join('\n');

  const pr = { pullRequest: true, branch: 'feature/x' };
  const branch = (name: string) => ({ pullRequest: false, branch: name });

  it('by default pull requests supersede and branches queue', () => {
    const c = config();
    assert.equal(concurrencyFor(c, 'api', pr), 'supersede');
    assert.equal(concurrencyFor(c, 'api', branch('main')), 'queue');
  });

  it('takes the pipeline setting over the default', () => {
    const c = config({ pipeline: 'pull_requests: queue\nbranches: parallel' });
    assert.equal(concurrencyFor(c, 'api', pr), 'queue');
    assert.equal(concurrencyFor(c, 'api', branch('main')), 'parallel');
  });

  it("takes the service's setting over the pipeline's, for that service only", () => {
    const c = config({ pipeline: 'pull_requests: queue\nbranches: parallel', service: 'pull_requests: parallel\nbranches: supersede' });
    assert.equal(concurrencyFor(c, 'api', pr), 'parallel');
    assert.equal(concurrencyFor(c, 'api', branch('main')), 'supersede');
    assert.equal(concurrencyFor(c, 'web', pr), 'queue');
    assert.equal(concurrencyFor(c, 'web', branch('main')), 'parallel');
  });

  it('lets a service set only one of the two and inherit the other', () => {
    const c = config({ pipeline: 'pull_requests: queue\nbranches: parallel', service: 'branches: supersede' });
    assert.equal(concurrencyFor(c, 'api', pr), 'queue');
    assert.equal(concurrencyFor(c, 'api', branch('main')), 'supersede');
  });

  it('matches branch patterns in order, the first match winning', () => {
    const c = config({ pipeline: 'branches:\n  main: supersede\n  "release/*": parallel\n  "release/1.x": supersede\n  "*": queue' });
    assert.equal(concurrencyFor(c, 'api', branch('main')), 'supersede');
    assert.equal(concurrencyFor(c, 'api', branch('release/1.x')), 'parallel');
    assert.equal(concurrencyFor(c, 'api', branch('release/2.0')), 'parallel');
    assert.equal(concurrencyFor(c, 'api', branch('develop')), 'queue');
  });

  it("falls through a service's patterns to the pipeline's, then to the default", () => {
    const c = config({ pipeline: 'branches:\n  "hotfix/*": parallel', service: 'branches:\n  main: supersede' });
    assert.equal(concurrencyFor(c, 'api', branch('main')), 'supersede');
    assert.equal(concurrencyFor(c, 'api', branch('hotfix/login')), 'parallel');
    assert.equal(concurrencyFor(c, 'api', branch('develop')), 'queue');
    // A single-segment glob does not reach across "/".
    assert.equal(concurrencyFor(c, 'api', branch('hotfix/a/b')), 'queue');
  });

  it('does not apply branch settings to pull requests', () => {
    const c = config({ pipeline: 'branches: parallel' });
    assert.equal(concurrencyFor(c, 'api', pr), 'supersede');
  });
});
