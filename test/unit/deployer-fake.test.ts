// The FakeDeployer runs the Deployer conformance suite, and its crash points leave the target
// as a real deploy cut short there would.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Release } from '../../src/core/types.ts';
import type { DeployRequest } from '../../src/deployers/deployer.ts';
import { FakeDeployer, healthyDeploy, type FakeCrashPoint, type FakeDeployScript } from '../../src/deployers/fake/deployer.ts';
import { deployerConformance } from './deployer-conformance.ts';

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

/** Like a real target: a release that is never healthy waits out its timeout or a cancel. */
function byHealth(neverHealthy: Set<number>): FakeDeployScript {
  return (request, log, signal) => {
    if (!neverHealthy.has(request.release.id)) return healthyDeploy(request, log, signal);
    return new Promise((resolve) => {
      const fail = () => {
        clearTimeout(timer);
        resolve({ trafficMoved: false, reason: `health check GET ${request.service.health} did not answer 2xx` });
      };
      const timer = setTimeout(fail, request.environment.healthTimeoutMs);
      signal.addEventListener('abort', fail, { once: true });
    });
  };
}

deployerConformance('fake', async () => {
  const neverHealthy = new Set<number>();
  return {
    deployer: new FakeDeployer(byHealth(neverHealthy)),
    service: { name: 'web', port: 8080, health: '/healthz' },
    async release(health) {
      const made = release();
      if (health === 'never-healthy') neverHealthy.add(made.id);
      return made;
    },
  };
});

describe('FakeDeployer crash points', () => {
  const request = (target: Release): DeployRequest => ({
    release: target,
    service: { name: 'web', port: 8080, health: '/healthz', variables: {} },
    environment: { name: 'staging', healthTimeoutMs: 1000, variables: {} },
  });
  const held = async (point: FakeCrashPoint) => {
    const deployer = new FakeDeployer();
    const first = release();
    const outcome = await deployer.deploy(request(first), () => {}, new AbortController().signal);
    assert.ok(outcome.trafficMoved);
    deployer.crashAt(point);
    const second = release();
    let returned = false;
    void deployer.deploy(request(second), () => {}, new AbortController().signal).then(() => (returned = true));
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(returned, false, 'a deploy cut short never returns');
    return (await deployer.listInstances()).map((instance) => [instance.releaseId, instance.proven, instance.running]);
  };

  it('leaves what the target held at each point', async () => {
    assert.deepEqual(await held('before-start'), [[nextId - 2, true, true]]);
    assert.deepEqual(await held('unproven'), [[nextId - 2, true, true], [nextId - 1, false, true]]);
    assert.deepEqual(await held('proven'), [[nextId - 2, true, true], [nextId - 1, true, true]]);
    assert.deepEqual(await held('retired'), [[nextId - 1, true, true]]);
  });

  it('stops an instance out of band, as a host reboot would', async () => {
    const deployer = new FakeDeployer();
    const outcome = await deployer.deploy(request(release()), () => {}, new AbortController().signal);
    assert.ok(outcome.trafficMoved);
    deployer.stopInstance(outcome.instance);
    assert.deepEqual((await deployer.listInstances()).map((instance) => [instance.running, instance.url]), [[false, null]]);
    assert.equal(await deployer.status('web', 'staging'), null);
  });
});
