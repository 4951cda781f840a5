// The FakeDeployer runs the Deployer conformance suite twice, standing the previous release by
// (as behind the proxy) and not; its crash points leave the target as a real deploy cut short
// there would.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Release } from '../../src/core/types.ts';
import type { DeployRequest } from '../../src/deployers/deployer.ts';
import { FakeDeployer, healthyDeploy, type FakeCrashPoint, type FakeDeployScript } from '../../src/deployers/fake/deployer.ts';
import type { HealthCheck } from '../../src/routers/router.ts';
import { deployerConformance } from './deployer-conformance.ts';

const HEALTH: HealthCheck = { path: '/healthz', intervalMs: 1000, timeoutMs: 2000, successes: 1, failures: 2 };

let nextId = 1;

function release(id = nextId++): Release {
  return {
    id,
    service: 'web',
    commitSha: String(id).padStart(40, '0'),
    image: `registry.test/web:${id}`,
    digest: `sha256:${String(id).padStart(64, '0')}`,
    tag: null,
    origin: 'branch',
    lane: 'main',
    runId: id,
    createdAt: new Date().toISOString(),
  };
}

/** Like a real target: a release that is never healthy waits out its timeout or a cancel, and logs its last check. */
function byHealth(neverHealthy: Set<number>): FakeDeployScript {
  return (request, log, signal) => {
    if (!neverHealthy.has(request.release.id)) return healthyDeploy(request, log, signal);
    return new Promise((resolve) => {
      const fail = () => {
        clearTimeout(timer);
        const reason = `health check GET ${request.service.health.path} did not answer 2xx within ${request.environment.healthTimeoutMs}ms (last: 404)`;
        log(reason, 'stderr');
        resolve({ healthy: false, reason });
      };
      const timer = setTimeout(fail, request.environment.healthTimeoutMs);
      signal.addEventListener('abort', fail, { once: true });
    });
  };
}

for (const keepsPrevious of [true, false]) {
  deployerConformance(`fake (${keepsPrevious ? 'the previous release stands by' : 'no standby'})`, async () => {
    const neverHealthy = new Set<number>();
    const deployer = new FakeDeployer(byHealth(neverHealthy), { keepsPrevious });
    return {
      deployer,
      service: { name: 'web', port: 8080, health: HEALTH },
      async release(health) {
        const made = release();
        if (health === 'never-healthy') neverHealthy.add(made.id);
        return made;
      },
      taskExit: (command, code) => deployer.taskExits.set(command, code),
      imagesOnHost: async () => deployer.imageDigests(),
    };
  });
}

describe('FakeDeployer crash points', () => {
  let deploymentId = 1;
  const request = (target: Release): DeployRequest => ({
    deploymentId: deploymentId++,
    release: target,
    previous: null,
    service: { name: 'web', port: 8080, health: HEALTH, aliases: [], variables: {} },
    environment: { name: 'staging', healthTimeoutMs: 1000, variables: {}, replicas: 1, batch: 1, drainTimeoutMs: 1000 },
  });
  const held = async (point: FakeCrashPoint) => {
    const deployer = new FakeDeployer(healthyDeploy, { keepsPrevious: true });
    const first = request(release());
    const outcome = await deployer.deploy(first, () => {}, new AbortController().signal);
    assert.ok(outcome.trafficMoved);
    deployer.crashAt(point);
    const second = request(release());
    let returned = false;
    void deployer.deploy(second, () => {}, new AbortController().signal).then(() => (returned = true));
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(returned, false, 'a deploy cut short never returns');
    const which = (id: number) => (id === first.deploymentId ? 'old' : 'new');
    const listed = await deployer.listInstances();
    const serving = deployer.servingInstances('web', 'staging');
    return {
      listed: listed.map((instance) => [which(instance.deploymentId), instance.proven, instance.running]),
      serving: listed.filter((instance) => serving.includes(instance.instance)).map((instance) => which(instance.deploymentId)),
    };
  };

  it('leaves what the target held at each point', async () => {
    assert.deepEqual(await held('before-start'), { listed: [['old', true, true]], serving: ['old'] });
    assert.deepEqual(await held('unproven'), { listed: [['old', true, true], ['new', false, true]], serving: ['old'] });
    assert.deepEqual(await held('proven'), { listed: [['old', true, true], ['new', true, true]], serving: ['old'] }, 'proven, the requests not yet moved');
    assert.deepEqual(await held('switched'), { listed: [['old', true, true], ['new', true, true]], serving: ['new'] }, 'moved, the previous release standing by');
  });

  it('stops an instance out of band, as a host reboot would', async () => {
    const deployer = new FakeDeployer();
    const outcome = await deployer.deploy(request(release()), () => {}, new AbortController().signal);
    assert.ok(outcome.trafficMoved);
    deployer.stopInstance(outcome.instances[0]!);
    assert.deepEqual((await deployer.listInstances()).map((instance) => [instance.running, instance.url]), [[false, null]]);
    assert.equal(await deployer.status('web', 'staging'), null);
  });
});
