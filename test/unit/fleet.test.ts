// The fleet view (deployments/fleet.ts) from hand-made records: what serves where with its
// commit, health from the placed instances, waiting runs and their releases, locks, drift, and
// the environments a service skips.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Deployment, Release, Run, Stage } from '../../src/core/types.ts';
import type { PlacedInstance } from '../../src/deployers/deployer.ts';
import { environmentOrder, fleetView, type FleetRecords } from '../../src/deployments/fleet.ts';
import { parsedConfig } from '../support/config.ts';

const config = parsedConfig(
  [
    'registry: 127.0.0.1:5000',
    'pipeline:',
    '  - stage: build',
    '  - stage: staging',
    '    environment: staging',
    '  - stage: production',
    '    environment: production',
    'environments:',
    '  production: {}',
    '  staging: {}',
    '  sandbox: {}',
    'services:',
    '  payment:',
    '    repo: /repos/payment.git',
    '    port: 8080',
    '  ledger:',
    '    repo: /repos/ledger.git',
    '    port: 8081',
    '    stages:',
    '      production: { skip: true }',
    '',
  ].join('\n'),
);

const AT = '2026-01-01T00:00:00.000Z';
const run = (id: number, service: string, extra: Partial<Run> = {}): Run =>
  ({ id, service, status: 'succeeded', lane: 'main', commitSha: `${id}`.repeat(40).slice(0, 40), commitTitle: `commit of run ${id}`, commitAuthor: { name: 'Ada', email: 'ada@example.com' }, createdAt: AT, finishedAt: AT, releaseId: null, ...extra }) as Run;
const release = (id: number, service: string, runId: number, digest: string): Release =>
  ({ id, service, runId, digest, commitSha: `${runId}`.repeat(40).slice(0, 40), tag: null }) as Release;
const deployment = (id: number, service: string, environment: string, releaseId: number, status: Deployment['status'] = 'succeeded'): Deployment =>
  ({ id, service, environment, releaseId, status, kind: 'deploy', reason: status === 'failed' ? 'health check failed' : null, startedAt: AT, finishedAt: AT }) as Deployment;
const instance = (deploymentId: number, service: string, environment: string, running: boolean): PlacedInstance =>
  ({ instance: `${service}-${deploymentId}-${running}`, service, environment, releaseId: 0, deploymentId, proven: true, running, url: null }) as PlacedInstance;

function records(overrides: Partial<FleetRecords> = {}): FleetRecords {
  const serving = [deployment(1, 'payment', 'staging', 11), deployment(2, 'payment', 'production', 10), deployment(3, 'ledger', 'staging', 20)];
  return {
    config,
    serving,
    latest: serving,
    releases: [release(10, 'payment', 100, 'sha256:old'), release(11, 'payment', 101, 'sha256:new'), release(20, 'ledger', 200, 'sha256:ledger')],
    runs: [run(100, 'payment'), run(101, 'payment'), run(200, 'ledger')],
    latestRuns: [run(101, 'payment'), run(200, 'ledger')],
    waiting: [],
    waitingReleases: new Map(),
    locks: [],
    instances: new Map([
      ['staging', [instance(1, 'payment', 'staging', true), instance(3, 'ledger', 'staging', true), instance(3, 'ledger', 'staging', false)]],
      ['production', [instance(2, 'payment', 'production', false)]],
      ['sandbox', null],
    ]),
    ...overrides,
  };
}

const cell = (fleet: ReturnType<typeof fleetView>, service: string, environment: string) =>
  fleet.services.find((row) => row.name === service)!.cells.find((candidate) => candidate.environment === environment)!;

describe('fleet view', () => {
  it('orders environments as the pipeline deploys to them, those no stage names last', () => {
    assert.deepEqual(environmentOrder(config), ['staging', 'production', 'sandbox']);
    assert.deepEqual(fleetView(records()).environments, ['staging', 'production', 'sandbox']);
  });

  it('shows the serving release with its commit, services by name', () => {
    const fleet = fleetView(records());
    assert.deepEqual(fleet.services.map((service) => service.name), ['ledger', 'payment']);
    const staging = cell(fleet, 'payment', 'staging');
    assert.equal(staging.serving?.id, 11);
    assert.equal(staging.serving?.commitTitle, 'commit of run 101');
    assert.equal(staging.serving?.commitAuthor?.name, 'Ada');
    assert.equal(fleet.services.find((service) => service.name === 'payment')!.lastRun?.id, 101);
  });

  it('reads health from the serving deployment\'s instances', () => {
    const fleet = fleetView(records());
    assert.equal(cell(fleet, 'payment', 'staging').health, 'healthy');
    assert.deepEqual(cell(fleet, 'ledger', 'staging').instances, { running: 1, placed: 2 });
    assert.equal(cell(fleet, 'ledger', 'staging').health, 'degraded');
    assert.equal(cell(fleet, 'payment', 'production').health, 'down');
    assert.equal(cell(fleet, 'payment', 'sandbox').health, 'unknown', 'nothing serves there');
  });

  it('marks drift where the environment before serves another image, naming the release to promote', () => {
    const fleet = fleetView(records());
    assert.deepEqual(cell(fleet, 'payment', 'production').drift, { from: 'staging', releaseId: 11 });
    assert.equal(cell(fleet, 'payment', 'staging').drift, null, 'the first environment has nothing before it');
    const same = fleetView(records({ serving: [deployment(1, 'payment', 'staging', 11), deployment(2, 'payment', 'production', 11)] }));
    assert.equal(cell(same, 'payment', 'production').drift, null);
  });

  it('leaves environments a service skips empty, and shows a deploy in progress beside what serves', () => {
    const inProgress = deployment(9, 'payment', 'staging', 12, 'in_progress');
    const fleet = fleetView(records({ latest: [inProgress, deployment(2, 'payment', 'production', 10)] }));
    assert.equal(cell(fleet, 'ledger', 'production').deploys, false);
    assert.equal(cell(fleet, 'payment', 'staging').latest?.status, 'in_progress');
    assert.equal(cell(fleet, 'payment', 'staging').serving?.id, 11, 'the previous release serves meanwhile');
    assert.equal(cell(fleet, 'payment', 'production').latest, null, 'the newest deployment is the serving one');
  });

  it('lists the runs waiting at a gate with their release, and the lock that holds the service', () => {
    const wait = { kind: 'approval' as const, detail: 'approval: 1 from role deployer', until: null, approvalRequestedAt: AT, since: AT };
    const waitingRun = run(102, 'payment', { status: 'waiting' });
    const fleet = fleetView(
      records({
        waiting: [{ run: waitingRun, stage: { environment: 'production', wait } as Stage }],
        waitingReleases: new Map([[102, 11]]),
        locks: [
          { environment: 'production', service: null, reason: 'freeze', actor: 'ops', at: AT },
          { environment: 'production', service: 'payment', reason: 'incident', actor: 'dora', at: AT },
        ],
      }),
    );
    assert.deepEqual(cell(fleet, 'payment', 'production').waiting, [{ runId: 102, releaseId: 11, wait }]);
    assert.equal(cell(fleet, 'payment', 'production').lock?.reason, 'incident', 'its own lock before every service\'s');
    assert.equal(cell(fleet, 'ledger', 'production').lock, null, 'ledger does not deploy there');
    assert.equal(cell(fleet, 'payment', 'staging').lock, null);
  });
});
