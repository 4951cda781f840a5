// The pure recovery decision (src/engine/recovery.ts): every crash point of a deploy, replicas,
// leftovers of earlier crashes (and of versions before instances named their deployment), step
// containers. Each plan is also checked against the invariant the recovery exists for: per
// service and environment, the kept instances are exactly those of one deployment, the one the
// store (as repaired) says serves, and they are the ones the plan sends the requests to.

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

/** An instance of api in staging. Deployment #N deploys release #N in these scenarios, unless `deploymentId` says otherwise. */
function instance(name: string, releaseId: number, overrides: Partial<PlacedInstance> = {}): PlacedInstance {
  return { instance: name, service: 'api', environment: 'staging', releaseId, deploymentId: releaseId, proven: true, running: true, url: `http://10.0.0.${releaseId}:3000/${name}`, ...overrides };
}

/** The stable address the target gives every service. */
const addressOf = (service: string, environment: string) => `http://${service}.${environment}.proxy.test`;

function run(id: number, overrides: Partial<Run> = {}): Run {
  return {
    ...newRun('api', { trigger: { kind: 'manual', by: 'test' } }),
    id,
    status: 'running',
    reason: null,
    releaseId: null,
    commitAuthor: null,
    commitTitle: null,
    committedAt: null,
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
  return { cutShort: [], serving: [], instances: [], running: [], steps: [], sandboxes: [], heldSandboxes: new Set(), services: new Set(['api', 'web']), address: addressOf, tracksInstances: () => true, ...overrides };
}

/**
 * Plans, then checks the invariant per service and environment: the kept instances are exactly
 * the proven instances of one deployment (the cut-short one that won, else the serving one, or
 * the serving release's from before instances named their deployment), they are the plan's
 * `serve` entry, and a repaired deployment's URL is the stable address.
 */
function plan(input: RecoveryFacts): RecoveryPlan {
  const planned = planRecovery(input);
  const removed = new Set(planned.removeInstances.map(({ instance }) => instance.instance));
  const kept = (input.instances ?? []).filter((placed) => !removed.has(placed.instance));
  const keyOf = ({ service, environment }: { service: string; environment: string }) => `${service}/${environment}`;
  const keys = new Map([...(input.instances ?? []), ...input.cutShort].map(({ service, environment }) => [keyOf({ service, environment }), { service, environment }]));
  for (const [key, { service, environment }] of keys) {
    const here = <T extends { service: string; environment: string }>(records: T[]) => records.filter((record) => keyOf(record) === key);
    const keptHere = here(kept);
    const succeeded = planned.deployments.filter((repair) => repair.status === 'succeeded' && keyOf(repair.deployment) === key);
    assert.ok(succeeded.length <= 1, `${key}: at most one cut-short deployment succeeds`);
    const served = here(planned.serve);
    if (input.instances === null) {
      assert.deepEqual(served, [], `${key}: nothing is re-routed when the deployer could not be asked`);
      continue;
    }
    assert.ok(served.length <= 1, `${key}: one serve entry`);
    const names = (list: string[]) => [...list].sort();
    assert.deepEqual(names(served[0]?.instances ?? []), names(keptHere.map((placed) => placed.instance)), `${key}: the kept instances are exactly the ones that take the requests`);
    const winner = succeeded[0]?.deployment;
    const servesNow = winner ?? input.serving.find((record) => keyOf(record) === key);
    if (keptHere.length > 0) {
      assert.ok(servesNow, `${key}: instances are kept only where the store says a deployment serves`);
      const ids = new Set(keptHere.map((placed) => placed.deploymentId));
      assert.equal(ids.size, 1, `${key}: the kept instances are of one deployment (${[...ids].join(', ')})`);
      const [id] = ids;
      assert.ok(id === servesNow.id || (!winner && id === 0), `${key}: the kept instances are the serving deployment's (kept #${id}, serving #${servesNow.id})`);
      for (const placed of keptHere) {
        assert.ok(placed.proven, `${key}: a kept instance passed its health check`);
        assert.equal(placed.releaseId, servesNow.releaseId, `${key}: a kept instance is of the release the store says serves`);
      }
      const complete = here(input.instances).filter((placed) => placed.proven && placed.running && placed.deploymentId === id);
      if (id !== 0) assert.deepEqual(names(keptHere.filter((placed) => placed.running).map((placed) => placed.instance)), names(complete.map((placed) => placed.instance)), `${key}: every running replica of the deployment is kept`);
    }
    const repair = succeeded[0];
    if (repair?.status === 'succeeded') assert.equal(repair.url, input.address(service, environment) ?? keptHere[0]?.url, `${key}: a recovered deployment's URL is the stable address`);
  }
  for (const repair of planned.deployments) assert.ok(input.cutShort.includes(repair.deployment), 'only cut-short deployments are repaired');
  assert.equal(planned.deployments.length, input.cutShort.length, 'every cut-short deployment ends');
  return planned;
}

const removedNames = (planned: RecoveryPlan) => planned.removeInstances.map(({ instance }) => instance.instance).sort();
const servedNames = (planned: RecoveryPlan) => planned.serve.map(({ service, environment, instances }) => `${service}/${environment}: ${[...instances].sort().join(' ')}`);
const outcomes = (planned: RecoveryPlan) => planned.deployments.map((repair) => [repair.deployment.id, repair.status]);

describe('recovery: a deploy cut short by a crash', () => {
  const serving = deployment(1, 1, { url: addressOf('api', 'staging') });
  const old = instance('r1', 1);
  const deploying = { run: run(2), stages: [stage(20, 2)] };

  it('before the new instance started: failed, the previous release serves on, nothing removed', () => {
    const planned = plan(facts({ cutShort: [cutShort(2, 2)], serving: [serving], instances: [old], running: [deploying] }));
    assert.deepEqual(planned.deployments.map((repair) => [repair.status, repair.status === 'failed' ? repair.reason : '']), [
      ['failed', 'the server stopped during this deployment, before release #2 passed its health check; release #1 serves on'],
    ]);
    assert.deepEqual(removedNames(planned), []);
    assert.deepEqual(servedNames(planned), ['api/staging: r1']);
  });

  it('started, never healthy: failed, and the new instance is removed', () => {
    const planned = plan(facts({ cutShort: [cutShort(2, 2)], serving: [serving], instances: [old, instance('r2', 2, { proven: false })], running: [deploying] }));
    assert.equal(planned.deployments[0]?.status, 'failed');
    assert.deepEqual(removedNames(planned), ['r2']);
    assert.match(planned.removeInstances[0]!.why, /never passed its health check/);
    assert.deepEqual(servedNames(planned), ['api/staging: r1']);
  });

  it('healthy, the old one still running: succeeded at the stable address, its deploy stage passes, the old one goes', () => {
    const planned = plan(facts({ cutShort: [cutShort(2, 2)], serving: [serving], instances: [old, instance('r2', 2)], running: [deploying] }));
    const [repair] = planned.deployments;
    assert.equal(repair?.status, 'succeeded');
    assert.equal(repair?.status === 'succeeded' && repair.url, 'http://api.staging.proxy.test');
    assert.equal(repair?.status === 'succeeded' && repair.stage?.stage.id, 20);
    assert.match(repair?.status === 'succeeded' ? repair.note : '', /after release #2 passed its health check; it serves staging at http:\/\/api\.staging\.proxy\.test/);
    assert.deepEqual(removedNames(planned), ['r1']);
    assert.match(planned.removeInstances[0]!.why, /release #1 no longer serves/);
    assert.deepEqual(servedNames(planned), ['api/staging: r2']);
  });

  it('healthy and the old one retired, the row not yet written: succeeded, nothing removed', () => {
    const planned = plan(facts({ cutShort: [cutShort(2, 2)], serving: [serving], instances: [instance('r2', 2)], running: [deploying] }));
    assert.equal(planned.deployments[0]?.status, 'succeeded');
    assert.deepEqual(removedNames(planned), []);
    assert.deepEqual(servedNames(planned), ['api/staging: r2']);
  });

  it('a first deploy: unproven fails with nothing serving; proven succeeds', () => {
    const unproven = plan(facts({ cutShort: [cutShort(2, 2)], instances: [instance('r2', 2, { proven: false })], running: [deploying] }));
    assert.deepEqual(unproven.deployments.map((repair) => repair.status === 'failed' && repair.reason), [
      'the server stopped during this deployment, before release #2 passed its health check; nothing serves staging',
    ]);
    assert.deepEqual(removedNames(unproven), ['r2']);
    assert.deepEqual(unproven.serve, []);
    const proven = plan(facts({ cutShort: [cutShort(2, 2)], instances: [instance('r2', 2)], running: [deploying] }));
    assert.equal(proven.deployments[0]?.status, 'succeeded');
    assert.deepEqual(removedNames(proven), []);
  });

  it('the serving release deployed again: the instances are told apart by the deployment that placed them', () => {
    const again = cutShort(2, 1);
    const unproven = plan(facts({ cutShort: [again], serving: [serving], instances: [old, instance('r1-new', 1, { deploymentId: 2, proven: false })], running: [deploying] }));
    assert.equal(unproven.deployments[0]?.status, 'failed');
    assert.deepEqual(removedNames(unproven), ['r1-new']);
    assert.deepEqual(servedNames(unproven), ['api/staging: r1']);
    const proven = plan(facts({ cutShort: [again], serving: [serving], instances: [old, instance('r1-new', 1, { deploymentId: 2 })], running: [deploying] }));
    assert.equal(proven.deployments[0]?.status, 'succeeded');
    assert.deepEqual(removedNames(proven), ['r1']);
    assert.match(proven.removeInstances[0]!.why, /other instances of release #1 serve/);
    assert.deepEqual(servedNames(proven), ['api/staging: r1-new']);
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

  it('a command target keeps no instances: a cut-short deploy fails and says to deploy again', () => {
    const planned = planRecovery(facts({ cutShort: [cutShort(2, 2)], serving: [serving], instances: [], running: [deploying], tracksInstances: () => false }));
    assert.equal(planned.deployments.length, 1);
    const [repair] = planned.deployments;
    assert.equal(repair!.status, 'failed');
    assert.match(repair!.status === 'failed' ? repair!.reason : '', /cannot say whether the deploy command finished: deploy release #2 again/);
    assert.deepEqual(planned.serve, []);
  });

  it('a target without a stable address: the recovered deployment is at its instance', () => {
    const planned = plan(facts({ cutShort: [cutShort(2, 2)], serving: [serving], instances: [old, instance('r2', 2)], running: [deploying], address: () => null }));
    assert.equal(planned.deployments[0]?.status === 'succeeded' && planned.deployments[0].url, 'http://10.0.0.2:3000/r2');
  });

  it('older deployments still in progress (a recovery stopped halfway) fail; the newest decides', () => {
    const planned = plan(facts({ cutShort: [cutShort(2, 2), cutShort(3, 3)], serving: [serving], instances: [old, instance('r2', 2, { proven: false }), instance('r3', 3)], running: [] }));
    assert.deepEqual(outcomes(planned).sort(), [[2, 'failed'], [3, 'succeeded']]);
    assert.deepEqual(removedNames(planned), ['r1', 'r2']);
  });

  it('when the deployer could not be asked, cut-short deployments fail and nothing is removed or re-routed', () => {
    const planned = plan(facts({ cutShort: [cutShort(2, 2)], serving: [serving], instances: null, running: [deploying] }));
    assert.deepEqual(planned.deployments.map((repair) => repair.status === 'failed' && repair.reason), ['the server stopped during this deployment']);
    assert.deepEqual(planned.removeInstances, []);
    assert.deepEqual(planned.serve, []);
  });
});

describe('recovery: replicas and one-off tasks', () => {
  const serving = deployment(1, 1, { url: addressOf('api', 'staging') });
  const olds = [instance('r1-1', 1), instance('r1-2', 1), instance('r1-3', 1)];
  const deploying = { run: run(2), stages: [stage(20, 2)] };

  it('three replicas of a cut-short deployment, all proven: all three are kept and take the requests', () => {
    const fresh = [instance('r2-1', 2), instance('r2-2', 2), instance('r2-3', 2)];
    const planned = plan(facts({ cutShort: [cutShort(2, 2)], serving: [serving], instances: [...olds, ...fresh], running: [deploying] }));
    assert.deepEqual(outcomes(planned), [[2, 'succeeded']]);
    assert.deepEqual(servedNames(planned), ['api/staging: r2-1 r2-2 r2-3']);
    assert.deepEqual(removedNames(planned), ['r1-1', 'r1-2', 'r1-3']);
  });

  it('a partial rollout (two of three new replicas proven, the old ones running): the proven new ones serve, the rest go', () => {
    const fresh = [instance('r2-1', 2), instance('r2-2', 2), instance('r2-3', 2, { proven: false })];
    const planned = plan(facts({ cutShort: [cutShort(2, 2)], serving: [serving], instances: [...olds, ...fresh], running: [deploying] }));
    assert.deepEqual(outcomes(planned), [[2, 'succeeded']]);
    assert.deepEqual(servedNames(planned), ['api/staging: r2-1 r2-2']);
    assert.deepEqual(removedNames(planned), ['r1-1', 'r1-2', 'r1-3', 'r2-3']);
  });

  it('the serving deployment keeps all its replicas, and no other deployment\'s instance of the same release', () => {
    const other = instance('r1-other', 1, { deploymentId: 4 });
    const planned = plan(facts({ serving: [serving], instances: [...olds, other] }));
    assert.deepEqual(servedNames(planned), ['api/staging: r1-1 r1-2 r1-3']);
    assert.deepEqual(planned.removeInstances.map(({ instance: placed, why }) => [placed.instance, why]), [['r1-other', 'other instances of release #1 serve']]);
  });

  it('a one-off task\'s container (never proven, of the same deployment) is removed, mid-deploy or not', () => {
    const task = instance('task-2-pre-deploy', 2, { proven: false });
    const planned = plan(facts({ cutShort: [cutShort(2, 2)], serving: [serving], instances: [olds[0]!, instance('r2-1', 2), task], running: [deploying] }));
    assert.deepEqual(outcomes(planned), [[2, 'succeeded']]);
    assert.deepEqual(servedNames(planned), ['api/staging: r2-1']);
    assert.deepEqual(removedNames(planned), ['r1-1', 'task-2-pre-deploy']);
    assert.match(planned.removeInstances.find(({ instance: placed }) => placed === task)!.why, /a one-off task/);
    const settled = plan(facts({ serving: [serving], instances: [...olds, instance('task-1-post-deploy', 1, { proven: false })] }));
    assert.deepEqual(removedNames(settled), ['task-1-post-deploy']);
    assert.deepEqual(servedNames(settled), ['api/staging: r1-1 r1-2 r1-3']);
  });

  it('instances placed before they named their deployment (deploymentId 0) of the serving release are kept', () => {
    const unlabelled = [instance('r1-1', 1, { deploymentId: 0 }), instance('r1-2', 1, { deploymentId: 0 })];
    const settled = plan(facts({ serving: [serving], instances: [...unlabelled, instance('r0', 0, { deploymentId: 0 })] }));
    assert.deepEqual(servedNames(settled), ['api/staging: r1-1 r1-2']);
    assert.deepEqual(removedNames(settled), ['r0']);
    // The first deploy after the upgrade, cut short before its instance passed its health check.
    const cut = plan(facts({ cutShort: [cutShort(2, 2)], serving: [serving], instances: [...unlabelled, instance('r2', 2, { proven: false })], running: [deploying] }));
    assert.deepEqual(outcomes(cut), [[2, 'failed']]);
    assert.deepEqual(servedNames(cut), ['api/staging: r1-1 r1-2']);
    assert.deepEqual(removedNames(cut), ['r2']);
  });
});

describe('recovery: leftovers of earlier crashes', () => {
  const serving = deployment(1, 1, { url: addressOf('api', 'staging') });

  it('keeps only the serving release of each service and environment', () => {
    // What an earlier version left after two crashes mid-deploy: releases that never became healthy, running on.
    const instances = [
      instance('r1', 1),
      instance('r2', 2),
      instance('r3', 3),
      instance('web-r5', 5, { service: 'web', environment: 'production', deploymentId: 7 }),
      instance('web-r4', 4, { service: 'web', environment: 'production', running: false, url: null }),
    ];
    const planned = plan(facts({ serving: [serving, deployment(7, 5, { service: 'web', environment: 'production' })], instances }));
    assert.deepEqual(removedNames(planned), ['r2', 'r3', 'web-r4']);
    assert.deepEqual(servedNames(planned), ['api/staging: r1', 'web/production: web-r5']);
    assert.deepEqual(planned.deployments, []);
    assert.deepEqual(planned.notes, []);
  });

  it('removes every instance of a service and environment the store knows nothing of', () => {
    const planned = plan(facts({ instances: [instance('x1', 1, { service: 'gone' }), instance('x2', 2, { service: 'gone', proven: false })] }));
    assert.deepEqual(removedNames(planned), ['x1', 'x2']);
    assert.deepEqual(planned.serve, []);
  });

  it('keeps the serving release when it is stopped (a host reboot), and says so', () => {
    const stopped = plan(facts({ serving: [serving], instances: [instance('r1', 1, { running: false, url: null }), instance('r2', 2)] }));
    assert.deepEqual(removedNames(stopped), ['r2']);
    assert.deepEqual(servedNames(stopped), ['api/staging: r1']);
    assert.deepEqual(stopped.notes, ['api in staging: release #1 serves, but its instance r1 is not running']);
  });

  it('never keeps an unproven instance, even of the serving release', () => {
    const planned = plan(facts({ serving: [serving], instances: [instance('r1', 1, { proven: false })] }));
    assert.deepEqual(removedNames(planned), ['r1']);
    assert.deepEqual(planned.serve, []);
    assert.deepEqual(planned.notes, ['api in staging: release #1 is recorded as serving, but its instances are gone']);
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

describe('recovery: sandboxes', () => {
  it('removes every sandbox found, since no integration stage goes on after a restart', () => {
    const running = [{ run: run(1), stages: [stage(10, 1, { name: 'integration', kind: 'integration', environment: null })] }];
    const sandboxes = [
      { id: 'it10', runId: 1, stageId: 10 },
      { id: 'it7', runId: 9, stageId: 7 },
    ];
    assert.deepEqual(
      plan(facts({ running, sandboxes })).removeSandboxes.map(({ sandbox }) => sandbox.id),
      ['it10', 'it7'],
    );
  });

  it('removes none when the engine could not be asked', () => {
    assert.deepEqual(plan(facts({ sandboxes: null })).removeSandboxes, []);
  });

  it("keeps the sandboxes live previews serve from, and removes a preview's generation that was still starting", () => {
    const sandboxes = [
      { id: 'pv3-1', runId: 4, stageId: 12 },
      { id: 'pv3-2', runId: 5, stageId: 20 },
      { id: 'it7', runId: 9, stageId: 7 },
    ];
    assert.deepEqual(
      plan(facts({ sandboxes, heldSandboxes: new Set(['pv3-1']) })).removeSandboxes.map(({ sandbox }) => sandbox.id),
      ['pv3-2', 'it7'],
    );
  });
});
