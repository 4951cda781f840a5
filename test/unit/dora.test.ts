// The delivery metrics (delivery/dora.ts) on hand-built histories: each measure's edge cases,
// per service against the fleet, empty periods, and the trends of runs.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { deliveryMetrics, percentile, periodDays, stats, type DeploymentFacts, type MetricsInput } from '../../src/delivery/dora.ts';

const FROM = '2025-03-01T00:00:00.000Z';
const TO = '2025-03-08T00:00:00.000Z';
const HOUR = 3_600_000;
const MINUTE = 60_000;

/** `hours` after FROM, as the store writes times. */
const at = (hours: number) => new Date(Date.parse(FROM) + hours * HOUR).toISOString();

let nextId = 1;
function deployment(finishedHours: number | null, overrides: Partial<DeploymentFacts> = {}): DeploymentFacts {
  const id = nextId++;
  return {
    id,
    service: 'api',
    environment: 'production',
    releaseId: id,
    status: finishedHours === null ? 'in_progress' : 'succeeded',
    kind: 'deploy',
    finishedAt: finishedHours === null ? null : at(finishedHours),
    ...overrides,
  };
}

function input(overrides: Partial<MetricsInput> = {}): MetricsInput {
  return {
    from: FROM,
    to: TO,
    service: null,
    production: [{ service: 'api', environment: 'production' }],
    deployments: [],
    firstInProduction: [],
    commits: [],
    runs: [],
    ...overrides,
  };
}

describe('percentiles', () => {
  it('are nearest-rank: always a sample, the lower middle for an even count, null for none', () => {
    const ten = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
    assert.equal(percentile(ten, 50), 5);
    assert.equal(percentile(ten, 90), 9);
    assert.equal(percentile([1, 2], 50), 1);
    assert.equal(percentile([1, 2], 90), 2);
    assert.equal(percentile([7], 50), 7);
    assert.equal(percentile([7], 90), 7);
    assert.equal(percentile([], 50), null);
    assert.deepEqual(stats([30, 10, 20]), { count: 3, medianMs: 20, p90Ms: 30 });
    assert.deepEqual(stats([]), { count: 0, medianMs: null, p90Ms: null });
  });

  it('a period touches every UTC day it overlaps, partial ones too', () => {
    assert.deepEqual(periodDays({ from: Date.parse('2025-03-01T22:00:00Z'), to: Date.parse('2025-03-03T00:00:01Z') }), ['2025-03-01', '2025-03-02', '2025-03-03']);
    assert.deepEqual(periodDays({ from: Date.parse(FROM), to: Date.parse(FROM) }), []);
  });
});

describe('deployment frequency', () => {
  it('counts succeeded deploys and promotions into production that finished in the period, by UTC day', () => {
    const report = deliveryMetrics(
      input({
        deployments: [
          deployment(-1), // before the period
          deployment(1),
          deployment(2, { kind: 'promote' }),
          deployment(3, { kind: 'rollback' }), // a rollback is no change
          deployment(4, { status: 'failed' }),
          deployment(5, { status: 'rolled_back' }),
          deployment(null), // still in progress
          deployment(6, { environment: 'staging' }), // not production
          deployment(30),
          deployment(24 * 7), // at `to`: excluded
        ],
      }),
    );
    const frequency = report.services[0]!.deploymentFrequency;
    assert.equal(frequency.total, 3);
    assert.equal(frequency.perDay, 3 / 7);
    assert.equal(frequency.perWeek, 3);
    assert.deepEqual(frequency.days, [
      { day: '2025-03-01', count: 2 },
      { day: '2025-03-02', count: 1 },
      { day: '2025-03-03', count: 0 },
      { day: '2025-03-04', count: 0 },
      { day: '2025-03-05', count: 0 },
      { day: '2025-03-06', count: 0 },
      { day: '2025-03-07', count: 0 },
    ]);
  });
});

describe('change failure rate and time to restore', () => {
  it('counts failed, rolled back and replaced-by-a-rollback changes; a rollback after a success makes it a failure', () => {
    const ok = deployment(1);
    const failed = deployment(2, { status: 'failed' });
    const fix = deployment(3); // restores after `failed`
    const rolledBack = deployment(4, { status: 'rolled_back' });
    const reverted = deployment(5); // went live, then a person rolled it back
    const failedAfter = deployment(6, { status: 'failed' }); // does not serve: `reverted` still does
    const rollback = deployment(7, { kind: 'rollback' }); // replaces `reverted`: restores both
    const kept = deployment(8);
    const failedRollback = deployment(9, { kind: 'rollback', status: 'failed' }); // replaces nothing
    const next = deployment(10);
    const report = deliveryMetrics(input({ deployments: [next, failedRollback, kept, rollback, failedAfter, reverted, rolledBack, fix, failed, ok] }));
    const service = report.services[0]!;

    assert.deepEqual(service.changeFailureRate, { deployments: 8, failures: 4, rate: 0.5, failed: 2, rolledBack: 1, revertedByRollback: 1 });
    assert.deepEqual(
      service.timeToRestore.samples.map((sample) => [sample.deploymentId, sample.restoredBy, sample.durationMs]),
      [
        [failed.id, fix.id, 1 * HOUR],
        [rolledBack.id, reverted.id, 1 * HOUR],
        [reverted.id, rollback.id, 2 * HOUR],
        [failedAfter.id, rollback.id, 1 * HOUR],
      ],
    );
    assert.deepEqual(service.timeToRestore.samples[0], {
      service: 'api',
      environment: 'production',
      deploymentId: failed.id,
      restoredBy: fix.id,
      failedAt: at(2),
      restoredAt: at(3),
      durationMs: HOUR,
    });
    assert.equal(service.timeToRestore.count, 4);
    assert.equal(service.timeToRestore.medianMs, HOUR);
    assert.equal(service.timeToRestore.p90Ms, 2 * HOUR);
    assert.equal(service.timeToRestore.open, 0);
  });

  it('what followed after the period counts: a later rollback, a later restore; a failure nothing followed is open', () => {
    const last = deployment(24 * 7 - 1);
    const rollback = deployment(24 * 7 + 2, { kind: 'rollback' });
    const failed = deployment(24 * 7 - 0.5, { status: 'failed', service: 'api', id: 900, releaseId: 900 });
    const report = deliveryMetrics(input({ deployments: [last, rollback] }));
    assert.equal(report.services[0]!.changeFailureRate.revertedByRollback, 1);
    assert.deepEqual(report.services[0]!.timeToRestore.samples.map((sample) => sample.durationMs), [3 * HOUR]);

    const open = deliveryMetrics(input({ deployments: [deployment(1), { ...failed }] })).services[0]!;
    assert.equal(open.changeFailureRate.failures, 1);
    assert.equal(open.timeToRestore.open, 1);
    assert.deepEqual([open.timeToRestore.count, open.timeToRestore.medianMs], [0, null]);
  });

  it('a success before the period that a rollback in it replaced is not the period’s failure, but the rollback is no deployment either', () => {
    const before = deployment(-2);
    const rollback = deployment(1, { kind: 'rollback' });
    const report = deliveryMetrics(input({ deployments: [before, rollback] }));
    assert.deepEqual(report.services[0]!.changeFailureRate, { deployments: 0, failures: 0, rate: null, failed: 0, rolledBack: 0, revertedByRollback: 0 });
    assert.equal(report.services[0]!.deploymentFrequency.total, 0);
    assert.deepEqual(report.services[0]!.timeToRestore.samples, []);
  });
});

describe('lead time for changes', () => {
  it('runs from the commit to the end of the deployment that first put its release in production, for firsts in the period', () => {
    const first = deployment(10, { releaseId: 1 });
    const again = deployment(20, { releaseId: 1 }); // the same release again: no second sample
    const promoted = deployment(30, { releaseId: 2, kind: 'promote' });
    const earlier = deployment(-5, { releaseId: 3 }); // release 3 served before the period
    const back = deployment(40, { releaseId: 3, kind: 'promote' });
    const noRun = deployment(50, { releaseId: 4 });
    const report = deliveryMetrics(
      input({
        deployments: [first, again, promoted, back, noRun],
        firstInProduction: [first, promoted, earlier, noRun],
        // Release 4's commit is unknown (no sample).
        commits: [
          { releaseId: 1, runCreatedAt: at(9), committedAt: at(8) }, // 2 h
          { releaseId: 2, runCreatedAt: at(25), committedAt: null }, // before Slipway read commit times: from the run's creation, 5 h
          { releaseId: 3, runCreatedAt: at(-10), committedAt: at(-12) },
        ],
      }),
    );
    assert.deepEqual(report.services[0]!.leadTime, { count: 2, medianMs: 2 * HOUR, p90Ms: 5 * HOUR });
  });

  it('a commit dated after its deployment counts as 0', () => {
    const first = deployment(10, { releaseId: 1 });
    const report = deliveryMetrics(input({ deployments: [first], firstInProduction: [first], commits: [{ releaseId: 1, runCreatedAt: at(9), committedAt: at(11) }] }));
    assert.deepEqual(report.services[0]!.leadTime, { count: 1, medianMs: 0, p90Ms: 0 });
  });
});

describe('empty periods and scope', () => {
  it('no records: zero counts and nulls, never NaN; an empty period has no days and no rates', () => {
    const report = deliveryMetrics(input());
    const empty = {
      deploymentFrequency: {
        total: 0,
        perDay: 0,
        perWeek: 0,
        days: periodDays({ from: Date.parse(FROM), to: Date.parse(TO) }).map((day) => ({ day, count: 0 })),
      },
      leadTime: { count: 0, medianMs: null, p90Ms: null },
      changeFailureRate: { deployments: 0, failures: 0, rate: null, failed: 0, rolledBack: 0, revertedByRollback: 0 },
      timeToRestore: { count: 0, medianMs: null, p90Ms: null, samples: [], open: 0 },
    };
    assert.deepEqual(report.fleet, empty);
    assert.deepEqual(report.services, [{ service: 'api', environment: 'production', ...empty }]);
    assert.equal(report.trends.runDuration.length, 7);
    assert.deepEqual(report.trends.runDuration[0], { day: '2025-03-01', count: 0, medianMs: null, p90Ms: null });
    assert.deepEqual(report.trends.stageDuration, []);
    assert.doesNotMatch(JSON.stringify(report), /NaN|Infinity/);

    const none = deliveryMetrics(input({ to: FROM, deployments: [deployment(1)] }));
    assert.equal(none.fleet.deploymentFrequency.perDay, null);
    assert.equal(none.fleet.deploymentFrequency.perWeek, null);
    assert.deepEqual(none.fleet.deploymentFrequency.days, []);
    assert.deepEqual(deliveryMetrics(input({ production: [] })).fleet.changeFailureRate.rate, null);
  });

  it('per service against its own production; the fleet adds counts up and pools samples', () => {
    // api's production is "production"; worker's chain ends at "live"; docs deploys nowhere.
    const apiFirst = deployment(1, { releaseId: 1 });
    const apiFailed = deployment(2, { releaseId: 2, status: 'failed' });
    const apiFix = deployment(4, { releaseId: 3 });
    const workerFirst = deployment(3, { service: 'worker', environment: 'live', releaseId: 4 });
    const workerSecond = deployment(5, { service: 'worker', environment: 'live', releaseId: 5 });
    const workerStaging = deployment(6, { service: 'worker', environment: 'production', releaseId: 6 }); // not worker's production
    const report = deliveryMetrics(
      input({
        production: [
          { service: 'worker', environment: 'live' },
          { service: 'docs', environment: null },
          { service: 'api', environment: 'production' },
        ],
        deployments: [apiFirst, apiFailed, apiFix, workerFirst, workerSecond, workerStaging],
        firstInProduction: [apiFirst, apiFix, workerFirst, workerSecond, workerStaging],
        // Committed at the period's start: api 1 h and 4 h, worker 3 h and 5 h.
        commits: [1, 3, 4, 5, 6].map((releaseId) => ({ releaseId, runCreatedAt: at(0), committedAt: at(0) })),
      }),
    );
    assert.deepEqual(
      report.services.map((service) => [service.service, service.environment, service.deploymentFrequency.total, service.changeFailureRate.rate, service.leadTime.medianMs]),
      [
        ['api', 'production', 2, 1 / 3, 1 * HOUR],
        ['docs', null, 0, null, null],
        ['worker', 'live', 2, 0, 3 * HOUR],
      ],
    );
    assert.equal(report.fleet.deploymentFrequency.total, 4);
    assert.equal(report.fleet.deploymentFrequency.days[0]!.count, 4);
    assert.deepEqual(report.fleet.changeFailureRate, { deployments: 5, failures: 1, rate: 0.2, failed: 1, rolledBack: 0, revertedByRollback: 0 });
    // Pooled: 1, 3, 4, 5 hours; not a median of the services' medians.
    assert.deepEqual(report.fleet.leadTime, { count: 4, medianMs: 3 * HOUR, p90Ms: 5 * HOUR });
    assert.deepEqual(report.fleet.timeToRestore.samples.map((sample) => [sample.service, sample.durationMs]), [['api', 2 * HOUR]]);
    assert.equal(report.service, null);
    assert.equal(report.from, FROM);
    assert.equal(report.to, TO);
  });
});

describe('run trends', () => {
  it('run duration, queue wait and stage durations of the runs created in the period, by the day they were created', () => {
    const run = (id: number, created: number, started: number | null, finished: number | null, status: 'succeeded' | 'failed' | 'cancelled' | 'running') => ({
      id,
      service: 'api',
      status,
      createdAt: at(created),
      startedAt: started === null ? null : at(started),
      finishedAt: finished === null ? null : at(finished),
    });
    const stage = (name: string, position: number, started: number, minutes: number, status: 'succeeded' | 'failed' | 'skipped' = 'succeeded') => ({
      name,
      position,
      status,
      startedAt: at(started),
      finishedAt: new Date(Date.parse(at(started)) + minutes * MINUTE).toISOString(),
    });
    const report = deliveryMetrics(
      input({
        runs: [
          { run: run(1, 1, 1.5, 2, 'succeeded'), stages: [stage('test', 1, 1.5, 20), stage('checkout', 0, 1.5, 1)] },
          { run: run(2, 2, 2.25, 3, 'failed'), stages: [stage('checkout', 0, 2.25, 3), stage('test', 1, 2.3, 10, 'failed'), stage('deploy', 2, 2.5, 0, 'skipped')] },
          { run: run(3, 3, 3, 4, 'cancelled'), stages: [] }, // cut short: no run duration, a queue wait of 0
          { run: run(4, 4, null, null, 'running'), stages: [] }, // never started: nothing
          { run: run(5, 30, 31, 33, 'succeeded'), stages: [stage('checkout', 0, 31, 2)] },
          { run: run(6, -1, -0.5, 0.5, 'succeeded'), stages: [stage('checkout', 0, -0.5, 99)] }, // created before the period
        ],
      }),
    );
    assert.deepEqual(report.trends.runDuration.slice(0, 3), [
      { day: '2025-03-01', count: 2, medianMs: 0.5 * HOUR, p90Ms: 0.75 * HOUR },
      { day: '2025-03-02', count: 1, medianMs: 2 * HOUR, p90Ms: 2 * HOUR },
      { day: '2025-03-03', count: 0, medianMs: null, p90Ms: null },
    ]);
    assert.deepEqual(report.trends.queueWait.slice(0, 2), [
      { day: '2025-03-01', count: 3, medianMs: 0.25 * HOUR, p90Ms: 0.5 * HOUR },
      { day: '2025-03-02', count: 1, medianMs: 1 * HOUR, p90Ms: 1 * HOUR },
    ]);
    assert.deepEqual(report.trends.stageDuration, [
      { stage: 'checkout', count: 3, medianMs: 2 * MINUTE, p90Ms: 3 * MINUTE },
      { stage: 'test', count: 2, medianMs: 10 * MINUTE, p90Ms: 20 * MINUTE },
    ]);
  });
});
