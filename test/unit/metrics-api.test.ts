// GET /api/metrics in process (app.request) through the typed client: the real API (createApp)
// with the real access check, over a store holding a hand-built history. Only the metrics are
// used, so the engine (its config) and the other routes' dependencies are stand-ins.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ApiError, type SlipwayClient } from '../../src/client/client.ts';
import type { NewDeployment, Store } from '../../src/store/store.ts';
import { storeApp, type StoreApp } from '../support/api-app.ts';
import { parsedConfig } from '../support/config.ts';
import { newRun } from '../support/records.ts';

// api travels staging then production; worker skips production, so staging is its production;
// docs deploys nowhere.
const CONFIG = parsedConfig(`
registry: registry.test
pipeline:
  - stage: test
    run: "{{ service.test }}"
  - stage: build
  - stage: deploy-staging
    environment: staging
  - stage: deploy-production
    environment: production
environments:
  staging: {}
  production: {}
services:
  api:
    repo: /repos/api.git
    test: make test
    port: 3000
  worker:
    repo: /repos/worker.git
    test: make test
    port: 3001
    stages:
      deploy-production:
        skip: true
  docs:
    repo: /repos/docs.git
    test: make test
    port: 3002
    stages:
      build:
        skip: true
      deploy-staging:
        skip: true
      deploy-production:
        skip: true
`);

const HOUR = 3_600_000;
const FROM = '2025-03-01T00:00:00.000Z';
const TO = '2025-03-08T00:00:00.000Z';
const at = (hours: number) => new Date(Date.parse(FROM) + hours * HOUR).toISOString();

let served: StoreApp;
let store: Store;
let admin: SlipwayClient;
let viewer: SlipwayClient;

/** A release of `service` built by a run created at `created` (committed at `committed`, when Slipway read it). */
async function release(service: string, created: number, committed: number | null, timing?: { started: number; finished: number }) {
  const { run } = await store.runs.create(newRun(service, { createdAt: at(created), committedAt: committed === null ? null : at(committed) }), []);
  if (timing) await store.runs.update(run.id, { status: 'succeeded', startedAt: at(timing.started), finishedAt: at(timing.finished) });
  return store.releases.create({ service, commitSha: 'a'.repeat(40), image: `registry.test/${service}:a`, digest: `sha256:${run.id}`, tag: null, lane: 'main', runId: run.id });
}

async function deploy(releaseId: number, environment: string, finished: number, status: 'succeeded' | 'failed' | 'rolled_back', overrides: Partial<NewDeployment> = {}) {
  const service = (await store.releases.get(releaseId))!.service;
  const created = await store.deployments.create({ service, environment, releaseId, runId: null, previousReleaseId: null, startedAt: at(finished - 0.1), ...overrides });
  return (await store.deployments.update(created.id, { status, finishedAt: at(finished) }))!;
}

before(async () => {
  served = await storeApp(CONFIG);
  ({ store, admin } = served);
  viewer = await served.userClient('vera', 'viewer');

  // Before the period: api's r0 reached production.
  const r0 = await release('api', -30, -31);
  await deploy(r0.id, 'production', -20, 'succeeded');
  // r1: committed at 8 h, in staging at 9 h, in production at 10 h: a lead time of 2 h.
  const r1 = await release('api', 8.5, 8, { started: 8.75, finished: 9 });
  await deploy(r1.id, 'staging', 9, 'succeeded');
  await deploy(r1.id, 'production', 10, 'succeeded');
  // r2 fails in production on day 2; r3 (a run from before commit times were read) restores 2 h later.
  const r2 = await release('api', 30, 29);
  await deploy(r2.id, 'production', 34, 'failed');
  const r3 = await release('api', 32, null);
  await deploy(r3.id, 'production', 36, 'succeeded', { kind: 'promote' });
  // On day 3 a person rolls r3 back to r1: r3 was a failure too, restored by the rollback 22 h on.
  await deploy(r1.id, 'production', 58, 'succeeded', { kind: 'rollback', actor: 'ada', previousReleaseId: r3.id });
  // worker's production is staging.
  const w1 = await release('worker', 1, 0);
  await deploy(w1.id, 'staging', 11, 'succeeded');
  // After the period: not counted.
  const late = await release('api', 200, 199);
  await deploy(late.id, 'production', 200, 'succeeded');
});

after(async () => {
  await store.close();
});

describe('GET /api/metrics', () => {
  it('answers the four measures per service and for the fleet, and the trends of runs', async () => {
    const report = await viewer.metrics({ from: FROM, to: TO });
    assert.equal(report.from, FROM);
    assert.equal(report.to, TO);
    assert.equal(report.service, null);
    assert.deepEqual(
      report.services.map((service) => [service.service, service.environment]),
      [
        ['api', 'production'],
        ['docs', null],
        ['worker', 'staging'],
      ],
    );
    const api = report.services[0]!;
    assert.equal(api.deploymentFrequency.total, 2);
    assert.deepEqual(
      api.deploymentFrequency.days.slice(0, 3).map((day) => day.count),
      [1, 1, 0],
    );
    assert.deepEqual(api.changeFailureRate, { deployments: 3, failures: 2, rate: 2 / 3, failed: 1, rolledBack: 0, revertedByRollback: 1 });
    // r1: 2 h from its commit; r3: 4 h from its run's creation (no commit time).
    assert.deepEqual(api.leadTime, { count: 2, medianMs: 2 * HOUR, p90Ms: 4 * HOUR });
    assert.deepEqual(
      api.timeToRestore.samples.map((sample) => sample.durationMs),
      [2 * HOUR, 22 * HOUR],
    );
    assert.equal(api.timeToRestore.open, 0);

    const worker = report.services[2]!;
    assert.equal(worker.deploymentFrequency.total, 1);
    assert.deepEqual(worker.leadTime, { count: 1, medianMs: 11 * HOUR, p90Ms: 11 * HOUR });

    assert.equal(report.fleet.deploymentFrequency.total, 3);
    assert.equal(report.fleet.deploymentFrequency.perWeek, 3);
    assert.deepEqual(report.fleet.leadTime, { count: 3, medianMs: 4 * HOUR, p90Ms: 11 * HOUR });
    assert.equal(report.fleet.changeFailureRate.rate, 0.5);

    assert.equal(report.trends.runDuration.length, 7);
    assert.deepEqual(report.trends.runDuration[0], { day: '2025-03-01', count: 1, medianMs: 0.25 * HOUR, p90Ms: 0.25 * HOUR });
    assert.deepEqual(report.trends.queueWait[0], { day: '2025-03-01', count: 1, medianMs: 0.25 * HOUR, p90Ms: 0.25 * HOUR });
  });

  it('narrows to one service; dates read as UTC midnight', async () => {
    const report = await admin.metrics({ from: '2025-03-01', to: '2025-03-08', service: 'worker' });
    assert.equal(report.from, FROM);
    assert.equal(report.service, 'worker');
    assert.deepEqual(
      report.services.map((service) => service.service),
      ['worker'],
    );
    assert.equal(report.fleet.deploymentFrequency.total, 1);
    assert.deepEqual(
      report.trends.runDuration.map((day) => day.count),
      [0, 0, 0, 0, 0, 0, 0],
    );
  });

  it('defaults to the last 30 days', async () => {
    const before = Date.now();
    const report = await viewer.metrics();
    const to = Date.parse(report.to);
    assert.ok(to >= before && to <= Date.now(), report.to);
    assert.equal(to - Date.parse(report.from), 30 * 24 * HOUR);
    assert.equal(report.fleet.deploymentFrequency.total, 0);
    assert.equal(report.fleet.changeFailureRate.rate, null);
  });

  it('refuses a bad date, a backwards or too long period with BAD_REQUEST naming the parameter, and an unknown service', async () => {
    const refusal = async (query: Parameters<SlipwayClient['metrics']>[0], code: string, message: RegExp) => {
      await assert.rejects(viewer.metrics(query), (error: unknown) => {
        assert.ok(error instanceof ApiError);
        assert.equal(error.code, code);
        assert.match(error.message, message);
        return true;
      });
    };
    await refusal({ from: 'yesterday' }, 'BAD_REQUEST', /^query\.from: expected an ISO date-time/);
    await refusal({ to: '2025-13-01' }, 'BAD_REQUEST', /^query\.to: expected an ISO date-time/);
    await refusal({ from: TO, to: FROM }, 'BAD_REQUEST', /^query\.from: the period must start before it ends/);
    await refusal({ from: '2024-01-01', to: '2025-03-01' }, 'BAD_REQUEST', /^query\.from: the period may be at most 366 days/);
    await refusal({ to: '2025-03-01', from: '2024-02-28' }, 'BAD_REQUEST', /at most 366 days/);
    await refusal({ service: 'nope' }, 'SERVICE_NOT_FOUND', /^unknown service nope \(known services: api, worker, docs\)$/);
    const response = await served.app.request('/api/metrics?period=7d', { headers: { authorization: `Bearer ${served.adminToken}` } });
    assert.equal(response.status, 400);
    assert.equal(((await response.json()) as { error: { code: string } }).error.code, 'BAD_REQUEST');
  });

  it('needs a token', async () => {
    await assert.rejects(served.clientFor().metrics(), (error: unknown) => error instanceof ApiError && error.status === 401);
  });
});
