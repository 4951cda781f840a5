// The Deployer contract (src/deployers/deployer.ts) as a restarted server relies on it: what a
// deploy leaves on the target at each point (listInstances, with `proven`), what status() says
// serves, and removeInstance(). Every deployer runs this suite: the fake in
// test/unit/deployer-fake.test.ts, the container-host deployer on Podman in
// test/e2e/deployer-conformance.test.ts.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Release } from '../../src/core/types.ts';
import type { DeployRequest, Deployer, PlacedInstance } from '../../src/deployers/deployer.ts';

export interface DeployerSetup {
  deployer: Deployer;
  /** A new release (its own id) whose health check passes, or never does. */
  release(health: 'healthy' | 'never-healthy'): Promise<Release>;
  /** The service's port and health path in the releases' images. */
  service: { name: string; port: number; health: string };
  cleanup?: () => Promise<void>;
}

const ENVIRONMENT = 'staging';
const OTHER_ENVIRONMENT = 'production';

export function deployerConformance(name: string, setup: () => Promise<DeployerSetup>): void {
  describe(`Deployer conformance: ${name}`, { timeout: 600_000 }, () => {
    let deployer: Deployer;
    let setupDone: DeployerSetup;

    before(async () => {
      setupDone = await setup();
      deployer = setupDone.deployer;
    });

    after(async () => {
      await setupDone?.cleanup?.();
    });

    function request(release: Release, environment = ENVIRONMENT, healthTimeoutMs = 120_000): DeployRequest {
      return { release, service: { ...setupDone.service, variables: {} }, environment: { name: environment, healthTimeoutMs, variables: {} } };
    }

    async function deployed(release: Release, environment = ENVIRONMENT) {
      const lines: string[] = [];
      const outcome = await deployer.deploy(request(release, environment), (line) => lines.push(line), new AbortController().signal);
      assert.ok(outcome.trafficMoved, outcome.trafficMoved ? '' : `${outcome.reason}\n${lines.join('\n')}`);
      return outcome;
    }

    async function placed(environment = ENVIRONMENT): Promise<PlacedInstance[]> {
      return (await deployer.listInstances()).filter((instance) => instance.service === setupDone.service.name && instance.environment === environment);
    }

    let serving: Release;
    let servingUrl: string;

    test('a healthy deploy leaves one proven, running instance, the one status() reports', async () => {
      serving = await setupDone.release('healthy');
      const outcome = await deployed(serving);
      assert.deepEqual(await placed(), [
        { instance: outcome.instance, service: setupDone.service.name, environment: ENVIRONMENT, releaseId: serving.id, proven: true, running: true, url: outcome.url },
      ]);
      assert.deepEqual(await deployer.status(setupDone.service.name, ENVIRONMENT), { releaseId: serving.id, digest: serving.digest, url: outcome.url, instance: outcome.instance });
      servingUrl = outcome.url;
    });

    test('while the new release is not yet healthy it is listed unproven beside the serving one, and is gone once the deploy fails', async () => {
      const waiting = await setupDone.release('never-healthy');
      const controller = new AbortController();
      const outcome = deployer.deploy(request(waiting), () => {}, controller.signal);
      let candidate: PlacedInstance | undefined;
      try {
        const deadline = Date.now() + 120_000;
        while (!candidate) {
          // Listed once it runs: between its creation and its start it is listed too, not yet running.
          candidate = (await placed()).find((instance) => instance.releaseId === waiting.id && instance.running);
          assert.ok(candidate || Date.now() < deadline, 'the new instance was never listed running');
          if (!candidate) await new Promise((resolve) => setTimeout(resolve, 100));
        }
        assert.equal(candidate.proven, false);
        assert.equal(candidate.running, true);
        assert.notEqual(candidate.url, servingUrl, 'two running instances never share a URL');
        const serving_ = (await placed()).find((instance) => instance.releaseId === serving.id);
        assert.equal(serving_?.proven, true);
        assert.equal((await deployer.status(setupDone.service.name, ENVIRONMENT))?.releaseId, serving.id, 'an unproven instance never serves');
      } finally {
        controller.abort();
      }
      assert.deepEqual(await outcome, { trafficMoved: false, reason: 'deploy cancelled' });
      assert.deepEqual((await placed()).map((instance) => [instance.releaseId, instance.proven, instance.url]), [[serving.id, true, servingUrl]]);
    });

    test('rolling forward leaves only the new release; redeploying it replaces its instance', async () => {
      const next = await setupDone.release('healthy');
      const moved = await deployed(next);
      assert.deepEqual((await placed()).map((instance) => [instance.instance, instance.releaseId, instance.proven]), [[moved.instance, next.id, true]]);
      const again = await deployed(next);
      assert.notEqual(again.instance, moved.instance);
      assert.deepEqual((await placed()).map((instance) => [instance.instance, instance.releaseId, instance.proven, instance.url]), [[again.instance, next.id, true, again.url]]);
      serving = next;
      servingUrl = again.url;
    });

    test('instances are listed per environment, oldest first, and removeInstance removes one (twice is safe)', async () => {
      const other = await deployed(serving, OTHER_ENVIRONMENT);
      const all = (await deployer.listInstances()).filter((instance) => instance.service === setupDone.service.name);
      assert.deepEqual(all.map((instance) => instance.environment), [ENVIRONMENT, OTHER_ENVIRONMENT]);
      await deployer.removeInstance(other.instance);
      await deployer.removeInstance(other.instance);
      assert.deepEqual(await placed(OTHER_ENVIRONMENT), []);
      assert.equal(await deployer.status(setupDone.service.name, OTHER_ENVIRONMENT), null);
      assert.equal((await placed()).length, 1, 'the other environment is untouched');
    });
  });
}
