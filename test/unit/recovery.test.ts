// The pure recovery decision (src/engine/recovery.ts): every crash point of a deploy, leftovers
// of earlier crashes, step containers. Each plan is also checked against the invariant the
// recovery exists for: per service and environment, at most one instance is kept, and it is the
// one the store (as repaired) says serves.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Deployment, Run, Stage } from '../../src/core/types.ts';
import type { PlacedInstance } from '../../src/deployers/deployer.ts';
import { planRecovery, type RecoveryFacts, type RecoveryPlan } from '../../src/engine/recovery.ts';
import { deploymentRecord, newRun } from '../support/records.ts';

const AT = '2026-12-01T10:00:00.000Z';

function deployment(id: number, releaseId: number, overrides: Partial<Deployment> = {}): Deployment {
  return deploymentRecord(id, releaseId, AT, { service: 'api', ...overrides });
}

const cutShort = (id: number, releaseId: number, overrides: Partial<Deployment> = {}) =>
  deployment(id, releaseId, { status: 'in_progress', url: null, finishedAt: null, ...overrides });

function instance(name: string, releaseId: number, overrides: Partial<PlacedInstance> = {}): PlacedInstance {
  return { instance: name, service: 'api', environment: 'staging', releaseId, proven: true, running: true, url: `http://127.0.0.1:${name.length * 1000 + releaseId}`, ...overrides };
}

function run(id: number, overrides: Partial<Run> = {}): Run {
  return {
    ...newRun('api', { trigger: { kind: 'manual', by: 'test' } }),
    id,
    status: 'running',
    reason: null,
    releaseId: null,
    commitAuthor: null,
    forced: false,
    note: null,
    createdAt: AT,
    startedAt: AT,
    finishedAt: null,
    ...overrides,
  };
}

function stage(id: number, runId: number, overrides: Partial<Stage> = {}): Stage {
  return {
    id,
    runId,
    position: 1,
    name: 'deploy',
    kind: 'deploy',
    status: 'running',
    command: null,
    environment: 'staging',
    timeoutMs: 600_000,
    exitCode: null,
    reason: null,
    handle: null,
    wait: null,
    startedAt: AT,
    finishedAt: null,
    ...overrides,
  };
}

function facts(overrides: Partial<RecoveryFacts>): RecoveryFacts {
  return { cutShort: [], serving: [], instances: [], running: [], steps: [], services: new Set(['api', 'web']), ...overrides };
}

/** Plans, then checks the invariant: what is kept per service and environment is what the repaired store says serves. */
function plan(input: RecoveryFacts): RecoveryPlan {
  const planned = planRecovery(input);
  const removed = new Set(planned.removeInstances.map(({ instance }) => instance.instance));
  const kept = (input.instances ?? []).filter((placed) => !removed.has(placed.instance));
  const keys = new Set([...(input.instances ?? []), ...input.cutShort].map(({ service, environment }) => `${service}/${environment}`));
  for (const key of keys) {
    const keptHere = kept.filter(({ service, environment }) => `${service}/${environment}` === key);
    const succeeded = planned.deployments.filter((repair) => repair.status === 'succeeded' && `${repair.deployment.service}/${repair.deployment.environment}` === key);
    const servesNow = succeeded.length > 0 ? { releaseId: succeeded[0]!.deployment.releaseId, url: succeeded[0]!.status === 'succeeded' ? succeeded[0]!.url : null } : input.serving.find(({ service, environment }) => `${service}/${environment}` === key);
    assert.ok(succeeded.length <= 1, `${key}: at most one cut-short deployment succeeds`);
    if (input.instances === null) continue;
    assert.ok(keptHere.length <= 1, `${key}: ${keptHere.length} instances kept`);
    if (keptHere[0]) {
      assert.equal(keptHere[0].releaseId, servesNow?.releaseId, `${key}: the kept instance is of the release the store says serves`);
      assert.ok(keptHere[0].proven, `${key}: a kept instance passed its health check`);
    }
    if (succeeded.length > 0) assert.equal(keptHere[0]?.url, servesNow?.url, `${key}: a recovered deployment's URL is its instance's`);
  }
  for (const repair of planned.deployments) assert.ok(input.cutShort.includes(repair.deployment), 'only cut-short deployments are repaired');
  assert.equal(planned.deployments.length, input.cutShort.length, 'every cut-short deployment ends');
  return planned;
}

const removedNames = (planned: RecoveryPlan) => planned.removeInstances.map(({ instance }) => instance.instance).sort();

describe('recovery: a deploy cut short by a crash', () => {
  const serving = deployment(1, 1, { url: 'http://127.0.0.1:40001' });
  const old = instance('r1', 1, { url: 'http://127.0.0.1:40001' });
  const deploying = { run: run(2), stages: [stage(20, 2)] };

  it('before the new instance started: failed, the previous release serves on, nothing removed', () => {
    const planned = plan(facts({ cutShort: [cutShort(2, 2)], serving: [serving], instances: [old], running: [deploying] }));
    assert.deepEqual(planned.deployments.map((repair) => [repair.status, repair.status === 'failed' ? repair.reason : '']), [
      ['failed', 'the server stopped during this deployment, before release #2 passed its health check; release #1 serves on'],
    ]);
    assert.deepEqual(removedNames(planned), []);
  });

  it('started, never healthy: failed, and the new instance is removed', () => {
    const planned = plan(facts({ cutShort: [cutShort(2, 2)], serving: [serving], instances: [old, instance('r2', 2, { proven: false })], running: [deploying] }));
    assert.equal(planned.deployments[0]?.status, 'failed');
    assert.deepEqual(removedNames(planned), ['r2']);
    assert.match(planned.removeInstances[0]!.why, /never passed its health check/);
  });

  it('healthy, the old one still running: succeeded at the new URL, its deploy stage passes, the old one goes', () => {
    const fresh = instance('r2', 2, { url: 'http://127.0.0.1:40002' });
    const planned = plan(facts({ cutShort: [cutShort(2, 2)], serving: [serving], instances: [old, fresh], running: [deploying] }));
    const [repair] = planned.deployments;
    assert.equal(repair?.status, 'succeeded');
    assert.equal(repair?.status === 'succeeded' && repair.url, 'http://127.0.0.1:40002');
    assert.equal(repair?.status === 'succeeded' && repair.stage?.stage.id, 20);
    assert.match(repair?.status === 'succeeded' ? repair.note : '', /after release #2 passed its health check; it serves staging at http:\/\/127\.0\.0\.1:40002/);
    assert.deepEqual(removedNames(planned), ['r1']);
  });

  it('healthy and the old one retired, the row not yet written: succeeded, nothing removed', () => {
    const fresh = instance('r2', 2, { url: 'http://127.0.0.1:40002' });
    const planned = plan(facts({ cutShort: [cutShort(2, 2)], serving: [serving], instances: [fresh], running: [deploying] }));
    assert.equal(planned.deployments[0]?.status, 'succeeded');
    assert.deepEqual(removedNames(planned), []);
  });

  it('a first deploy: unproven fails with nothing serving; proven succeeds', () => {
    const unproven = plan(facts({ cutShort: [cutShort(2, 2)], instances: [instance('r2', 2, { proven: false })], running: [deploying] }));
    assert.deepEqual(unproven.deployments.map((repair) => repair.status === 'failed' && repair.reason), [
      'the server stopped during this deployment, before release #2 passed its health check; nothing serves staging',
    ]);
    assert.deepEqual(removedNames(unproven), ['r2']);
    const proven = plan(facts({ cutShort: [cutShort(2, 2)], instances: [instance('r2', 2)], running: [deploying] }));
    assert.equal(proven.deployments[0]?.status, 'succeeded');
    assert.deepEqual(removedNames(proven), []);
  });

  it('the serving release deployed again: the instance at the recorded URL is the old one', () => {
    const again = cutShort(2, 1);
    const unproven = plan(facts({ cutShort: [again], serving: [serving], instances: [old, instance('r1-new', 1, { proven: false })], running: [deploying] }));
    assert.equal(unproven.deployments[0]?.status, 'failed');
    assert.deepEqual(removedNames(unproven), ['r1-new']);
    const proven = plan(facts({ cutShort: [again], serving: [serving], instances: [old, instance('r1-new', 1, { url: 'http://127.0.0.1:40009' })], running: [deploying] }));
    assert.equal(proven.deployments[0]?.status === 'succeeded' && proven.deployments[0].url, 'http://127.0.0.1:40009');
    assert.deepEqual(removedNames(proven), ['r1']);
  });

  it('a proven instance that is not running does not move traffic', () => {
    const planned = plan(facts({ cutShort: [cutShort(2, 2)], serving: [serving], instances: [old, instance('r2', 2, { running: false, url: null })], running: [deploying] }));
    assert.equal(planned.deployments[0]?.status, 'failed');
    assert.deepEqual(removedNames(planned), ['r2']);
  });

  it('a succeeded deployment whose run is no longer running names no stage', () => {
    const planned = plan(facts({ cutShort: [cutShort(2, 2)], serving: [serving], instances: [instance('r2', 2)], running: [] }));
    assert.equal(planned.deployments[0]?.status === 'succeeded' && planned.deployments[0].stage, null);
  });

  it('older deployments still in progress (a recovery stopped halfway) fail; the newest decides', () => {
    const planned = plan(facts({ cutShort: [cutShort(2, 2), cutShort(3, 3)], serving: [serving], instances: [old, instance('r2', 2, { proven: false }), instance('r3', 3)], running: [] }));
    assert.deepEqual(planned.deployments.map((repair) => [repair.deployment.id, repair.status]).sort(), [[2, 'failed'], [3, 'succeeded']]);
    assert.deepEqual(removedNames(planned), ['r1', 'r2']);
  });

  it('when the deployer could not be asked, cut-short deployments fail and nothing is removed', () => {
    const planned = plan(facts({ cutShort: [cutShort(2, 2)], serving: [serving], instances: null, running: [deploying] }));
    assert.deepEqual(planned.deployments.map((repair) => repair.status === 'failed' && repair.reason), ['the server stopped during this deployment']);
    assert.deepEqual(planned.removeInstances, []);
  });
});

describe('recovery: leftovers of earlier crashes', () => {
  const serving = deployment(1, 1, { url: 'http://127.0.0.1:40001' });

  it('keeps only the serving release of each service and environment', () => {
    // What an earlier version left after two crashes mid-deploy: releases that never became healthy, running on.
    const instances = [
      instance('r1', 1, { url: 'http://127.0.0.1:40001' }),
      instance('r2', 2),
      instance('r3', 3),
      instance('web-r5', 5, { service: 'web', environment: 'production' }),
      instance('web-r4', 4, { service: 'web', environment: 'production', running: false, url: null }),
    ];
    const planned = plan(facts({ serving: [serving, deployment(7, 5, { service: 'web', environment: 'production' })], instances }));
    assert.deepEqual(removedNames(planned), ['r2', 'r3', 'web-r4']);
    assert.deepEqual(planned.deployments, []);
    assert.deepEqual(planned.notes, []);
  });

  it('removes every instance of a service and environment the store knows nothing of', () => {
    const planned = plan(facts({ instances: [instance('x1', 1, { service: 'gone' }), instance('x2', 2, { service: 'gone', proven: false })] }));
    assert.deepEqual(removedNames(planned), ['x1', 'x2']);
  });

  it('keeps a second instance of the serving release only once: the one at the recorded URL', () => {
    const planned = plan(facts({ serving: [serving], instances: [instance('r1', 1, { url: 'http://127.0.0.1:40001' }), instance('r1-b', 1)] }));
    assert.deepEqual(removedNames(planned), ['r1-b']);
    assert.match(planned.removeInstances[0]!.why, /another instance of release #1 serves/);
  });

  it('keeps the serving release when its port changed, or when it is stopped (a host reboot), and says so', () => {
    const moved = plan(facts({ serving: [serving], instances: [instance('r1', 1, { url: 'http://127.0.0.1:45555' })] }));
    assert.deepEqual(removedNames(moved), []);
    const stopped = plan(facts({ serving: [serving], instances: [instance('r1', 1, { running: false, url: null }), instance('r2', 2)] }));
    assert.deepEqual(removedNames(stopped), ['r2']);
    assert.deepEqual(stopped.notes, ['api in staging: release #1 serves, but its instance r1 is not running']);
  });

  it('never keeps an unproven instance, even of the serving release', () => {
    const planned = plan(facts({ serving: [serving], instances: [instance('r1', 1, { proven: false })] }));
    assert.deepEqual(removedNames(planned), ['r1']);
    assert.deepEqual(planned.notes, ['api in staging: release #1 is recorded as serving, but its instance is gone']);
  });
});

describe('recovery: step containers', () => {
  const command = (id: number, runId: number, overrides: Partial<Stage> = {}) => stage(id, runId, { name: 'test', kind: 'command', environment: null, command: 'make test', ...overrides });

  it('keeps the step a running stage will re-attach and removes every other', () => {
    const running = [
      { run: run(1), stages: [command(10, 1, { handle: 'h-attach' })] },
      { run: run(2), stages: [command(20, 2, { status: 'succeeded', handle: 'h-done' }), command(21, 2, { handle: null })] },
      { run: run(3, { service: 'removed' }), stages: [command(30, 3, { handle: 'h-unconfigured' })] },
    ];
    const steps = [
      { handle: 'h-attach', runId: 1, stageId: 10 },
      { handle: 'h-finished-run', runId: 9, stageId: 90 },
      { handle: 'h-other', runId: 1, stageId: 10 },
      { handle: 'h-done', runId: 2, stageId: 20 },
      { handle: 'h-unstored', runId: 2, stageId: 21 },
      { handle: 'h-unconfigured', runId: 3, stageId: 30 },
    ];
    const planned = plan(facts({ running, steps }));
    assert.deepEqual(
      planned.removeSteps.map(({ step, why }) => [step.handle, why]),
      [
        ['h-finished-run', 'run #9 is no longer running'],
        ['h-other', 'no stage of run #1 will re-attach it'],
        ['h-done', 'no stage of run #2 will re-attach it'],
        ['h-unstored', 'no stage of run #2 will re-attach it'],
        ['h-unconfigured', 'service removed is no longer in the configuration'],
      ],
    );
  });

  it('removes nothing when the executor could not be asked', () => {
    assert.deepEqual(plan(facts({ steps: null })).removeSteps, []);
  });
});
