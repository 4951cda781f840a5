// The Deployer contract (src/deployers/deployer.ts): a health-gated deploy that moves the requests
// to the new release's instances (with replicas), the previous release standing by until retire()
// or revert() when the deployer keepsPrevious; a release that never passes its health check, or a
// deploy cancelled while it waits, leaves the previous release serving; what a deploy leaves on
// the target (listInstances, with its deployment and `proven`), serveOnly() and removeInstance()
// as a restarted server uses them; one-off tasks; environments apart. A deployer that places
// nothing this server sees (placesInstances false: a command target) answers no instances, lists
// and serves none, and its deploy's outcome alone says whether the release went out. Every
// deployer runs this suite: the fake in test/unit/deployer-fake.test.ts, the container-host
// deployer and the command target on Podman in test/e2e/deployer-conformance.test.ts.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Release } from '../../src/core/types.ts';
import type { DeployRequest, Deployer, PlacedInstance } from '../../src/deployers/deployer.ts';
import type { HealthCheck } from '../../src/routers/router.ts';

export interface DeployerSetup {
  deployer: Deployer;
  /** A new release (its own id) whose health check passes, or never does (a command target's command fails it, slowly enough to be cancelled). */
  release(health: 'healthy' | 'never-healthy'): Promise<Release>;
  /** The service as the releases' images serve it, in both environments the suite uses (ENVIRONMENTS). */
  service: { name: string; port: number; health: HealthCheck };
  /** A GET through the target, where it answers requests (a fake does not). */
  request?: (url: string) => Promise<{ status: number; body: string }>;
  /** The digests of the release images on the target's host, where it keeps them (not a command target). */
  imagesOnHost?: () => Promise<string[]>;
  /** What a task command exits with, where the target does not really run it (a fake). */
  taskExit?: (command: string, code: number) => void;
  cleanup?: () => Promise<void>;
}

/** The environments the suite deploys to; a target that needs them declared does so in its setup. */
export const ENVIRONMENTS = ['staging', 'production'] as const;
const [ENVIRONMENT, OTHER_ENVIRONMENT] = ENVIRONMENTS;
/** How long a never-healthy release is waited for: a real target fails it at this timeout. */
const SHORT_HEALTH_TIMEOUT_MS = 2_000;

export function deployerConformance(name: string, setup: () => Promise<DeployerSetup>): void {
  describe(`Deployer conformance: ${name}`, { timeout: 600_000 }, () => {
    let deployer: Deployer;
    let setupDone: DeployerSetup;
    let nextDeploymentId = 1;
    /** What serves in ENVIRONMENT after each test: the next one builds on it. */
    let serving: { release: Release; instances: string[]; request: DeployRequest };

    before(async () => {
      setupDone = await setup();
      deployer = setupDone.deployer;
    });

    after(async () => {
      await setupDone?.cleanup?.();
    });

    function request(release: Release, options: { environment?: string; replicas?: number; healthTimeoutMs?: number; previous?: Release | null } = {}): DeployRequest {
      return {
        deploymentId: nextDeploymentId++,
        release,
        previous: options.previous ?? null,
        service: { ...setupDone.service, aliases: [], variables: {} },
        environment: {
          name: options.environment ?? ENVIRONMENT,
          healthTimeoutMs: options.healthTimeoutMs ?? 120_000,
          variables: {},
          replicas: options.replicas ?? 1,
          batch: 1,
          drainTimeoutMs: 1_000,
        },
      };
    }

    const noLog = () => {};
    const signal = () => new AbortController().signal;

    async function deployed(made: DeployRequest) {
      const lines: string[] = [];
      const outcome = await deployer.deploy(made, (line) => lines.push(line), signal());
      assert.ok(outcome.trafficMoved, outcome.trafficMoved ? '' : `${outcome.reason}\n${lines.join('\n')}`);
      assert.equal(outcome.instances.length, deployer.placesInstances ? made.environment.replicas : 0, 'one instance per replica, where it places them');
      assert.equal(new Set(outcome.instances).size, outcome.instances.length, 'instances have ids of their own');
      return outcome;
    }

    async function placed(environment: string = ENVIRONMENT): Promise<PlacedInstance[]> {
      return (await deployer.listInstances()).filter((instance) => instance.service === setupDone.service.name && instance.environment === environment);
    }

    const idsOf = (instances: PlacedInstance[]) => instances.map((instance) => instance.instance).sort();
    const sorted = (ids: string[]) => [...ids].sort();

    /** Where the target answers requests: the stable address answers the health check. */
    async function answers(url: string): Promise<void> {
      if (!setupDone.request) return;
      const { status } = await setupDone.request(`${url}${setupDone.service.health.path}`);
      assert.ok(status >= 200 && status < 300, `${url} answered ${status}`);
    }

    async function assertServes(release: Release, instances: string[], environment: string = ENVIRONMENT): Promise<void> {
      if (!deployer.placesInstances) {
        assert.equal(await deployer.status(setupDone.service.name, environment), null, 'what its platform serves is not seen here');
        return;
      }
      const status = await deployer.status(setupDone.service.name, environment);
      assert.equal(status?.releaseId, release.id, `release #${release.id} serves ${environment}`);
      assert.equal(status?.digest, release.digest);
      assert.ok(instances.includes(status!.instance), 'status() names one of its instances');
      const address = deployer.address(setupDone.service.name, environment);
      if (address) assert.equal(status?.url, address.url, 'status() answers the stable address');
      await answers(status!.url);
    }

    test('before any deploy nothing is listed and nothing serves', async () => {
      assert.deepEqual(await placed(), []);
      assert.equal(await deployer.status(setupDone.service.name, ENVIRONMENT), null);
    });

    test('a healthy first deploy: a proven, running instance carrying its deployment, serving at the stable address', async () => {
      const release = await setupDone.release('healthy');
      const made = request(release);
      const outcome = await deployed(made);
      const address = deployer.address(setupDone.service.name, ENVIRONMENT);
      if (address) assert.equal(outcome.url, address.url, 'the outcome is at the stable address');
      serving = { release, instances: outcome.instances, request: made };
      if (!deployer.placesInstances) {
        assert.deepEqual(await placed(), []);
        await assertServes(release, []);
        assert.deepEqual(await deployer.observe(made, outcome.instances), []);
        await deployer.retire(made, outcome.instances, noLog);
        return;
      }
      const [listed, ...more] = await placed();
      assert.deepEqual(more, []);
      assert.deepEqual({ ...listed, url: null }, {
        instance: outcome.instances[0],
        service: setupDone.service.name,
        environment: ENVIRONMENT,
        releaseId: release.id,
        deploymentId: made.deploymentId,
        proven: true,
        running: true,
        url: null,
      });
      assert.equal(typeof listed?.url, 'string', 'a running instance is listed with where it answers');
      assert.deepEqual(await deployer.status(setupDone.service.name, ENVIRONMENT), { releaseId: release.id, digest: release.digest, url: outcome.url, instance: outcome.instances[0] });
      await answers(outcome.url);
      const observed = await deployer.observe(made, outcome.instances);
      assert.deepEqual(observed.map((health) => [health.instance, health.healthy]), [[outcome.instances[0], true]]);
      const lines = await deployer.lastLines(outcome.instances[0]!, 5);
      assert.ok(Array.isArray(lines) && lines.length <= 5);
      await deployer.retire(made, outcome.instances, noLog);
      assert.deepEqual(idsOf(await placed()), outcome.instances, 'retire() keeps what it is told to');
    });

    test('a second release: the previous one stands by (when the deployer keeps it) until retire()', async () => {
      const release = await setupDone.release('healthy');
      const made = request(release, { previous: serving.release });
      const outcome = await deployed(made);
      await assertServes(release, outcome.instances);
      const after = await placed();
      const standby = deployer.keepsPrevious ? serving.instances : [];
      assert.deepEqual(idsOf(after), sorted([...standby, ...outcome.instances]));
      for (const instance of after) assert.ok(instance.proven && instance.running, `${instance.instance} is proven and running`);
      await deployer.retire(made, outcome.instances, noLog);
      assert.deepEqual(idsOf(await placed()), sorted(outcome.instances), 'only the new release is left');
      await assertServes(release, outcome.instances);
      serving = { release, instances: outcome.instances, request: made };
    });

    test('with replicas 2, two instances of the release carry its deployment and take the requests', async () => {
      const release = await setupDone.release('healthy');
      const made = request(release, { replicas: 2, previous: serving.release });
      const outcome = await deployed(made);
      await assertServes(release, outcome.instances);
      const ofRelease = (await placed()).filter((instance) => instance.releaseId === release.id);
      assert.deepEqual(idsOf(ofRelease), sorted(outcome.instances));
      for (const instance of ofRelease) assert.deepEqual([instance.deploymentId, instance.proven, instance.running], [made.deploymentId, true, true]);
      if (deployer.placesInstances) assert.notEqual(ofRelease[0]!.url, ofRelease[1]!.url, 'two running instances never share a URL');
      await deployer.retire(made, outcome.instances, noLog);
      assert.deepEqual(idsOf(await placed()), sorted(outcome.instances));
      serving = { release, instances: outcome.instances, request: made };
    });

    test('revert(): the previous release takes the requests again and the new one is removed', async (t) => {
      if (!deployer.keepsPrevious) {
        t.skip('the deployer keeps no previous release to revert to');
        return;
      }
      const release = await setupDone.release('healthy');
      const made = request(release, { previous: serving.release });
      const outcome = await deployed(made);
      await assertServes(release, outcome.instances);
      assert.deepEqual(await deployer.revert(made, outcome.instances, noLog, signal()), { reverted: true });
      await assertServes(serving.release, serving.instances);
      assert.deepEqual(idsOf(await placed()), sorted(serving.instances), 'the new release is gone');
    });

    test('revert() with nothing to go back to answers reverted false with a reason, and what serves serves on', async () => {
      const reverted = await deployer.revert({ ...serving.request, previous: null }, serving.instances, noLog, signal());
      assert.equal(reverted.reverted, false);
      assert.ok(reverted.reason, 'it says why');
      await assertServes(serving.release, serving.instances);
      assert.deepEqual(idsOf(await placed()), sorted(serving.instances));
    });

    test('a never-healthy release: trafficMoved false with a reason and the health check\'s output logged; its instance is gone, the previous release serves on', async () => {
      const release = await setupDone.release('never-healthy');
      const lines: string[] = [];
      const outcome = await deployer.deploy(request(release, { healthTimeoutMs: SHORT_HEALTH_TIMEOUT_MS, previous: serving.release }), (line) => lines.push(line), signal());
      assert.equal(outcome.trafficMoved, false);
      assert.ok(!outcome.trafficMoved && outcome.reason.length > 0, 'it says why');
      assert.ok(lines.length > 0, 'the log says what happened');
      assert.deepEqual(idsOf(await placed()), sorted(serving.instances));
      await assertServes(serving.release, serving.instances);
    });

    test('while a release waits for its health check it is listed unproven beside the serving one; a cancel ends the deploy', async () => {
      const release = await setupDone.release('never-healthy');
      const controller = new AbortController();
      const made = request(release, { previous: serving.release });
      let underWay = () => {};
      const logged = new Promise<void>((resolve) => (underWay = resolve));
      const outcome = deployer.deploy(made, () => underWay(), controller.signal);
      let candidate: PlacedInstance | undefined;
      try {
        // Where nothing is placed, cancelled once it says it is under way.
        if (!deployer.placesInstances) await logged;
        const deadline = Date.now() + 120_000;
        while (deployer.placesInstances && !candidate) {
          // Listed once it runs: between its creation and its start it is listed too, not yet running.
          candidate = (await placed()).find((instance) => instance.releaseId === release.id && instance.running);
          assert.ok(candidate || Date.now() < deadline, 'the new instance was never listed running');
          if (!candidate) await new Promise((resolve) => setTimeout(resolve, 100));
        }
        if (candidate) {
          assert.deepEqual([candidate.deploymentId, candidate.proven], [made.deploymentId, false]);
          const servingUrls = (await placed()).filter((instance) => serving.instances.includes(instance.instance)).map((instance) => instance.url);
          assert.ok(!servingUrls.includes(candidate.url), 'two running instances never share a URL');
        }
        await assertServes(serving.release, serving.instances);
      } finally {
        controller.abort();
      }
      assert.deepEqual(await outcome, { trafficMoved: false, reason: 'deploy cancelled' });
      assert.deepEqual(idsOf(await placed()), sorted(serving.instances));
      await assertServes(serving.release, serving.instances);
    });

    test('serveOnly() settles which instances take the requests; removeInstance() removes one (twice is safe)', async () => {
      const release = await setupDone.release('healthy');
      const made = request(release, { previous: serving.release });
      const outcome = await deployed(made);
      const standby = idsOf(await placed()).filter((id) => !outcome.instances.includes(id));
      assert.deepEqual(standby, deployer.keepsPrevious ? sorted(serving.instances) : []);
      if (standby.length > 0) {
        // A restart that settles on the previous release, as recovery does when the new one never proved itself.
        await deployer.serveOnly(setupDone.service.name, ENVIRONMENT, standby);
        await assertServes(serving.release, standby);
      }
      await deployer.serveOnly(setupDone.service.name, ENVIRONMENT, outcome.instances);
      await assertServes(release, outcome.instances);
      for (const id of standby) {
        await deployer.removeInstance(id);
        await deployer.removeInstance(id);
      }
      assert.deepEqual(idsOf(await placed()), sorted(outcome.instances));
      await assertServes(release, outcome.instances);
      serving = { release, instances: outcome.instances, request: made };
    });

    test('runTask() answers the command\'s exit code, and leaves nothing behind', async () => {
      setupDone.taskExit?.('exit 3', 3);
      setupDone.taskExit?.('true', 0);
      const before = idsOf(await placed());
      const made = request(serving.release, { previous: serving.release });
      const task = (command: string) => ({ name: 'pre-deploy', command, env: { SLIPWAY_URL: 'http://unused.invalid' }, timeoutMs: 120_000 });
      assert.deepEqual(await deployer.runTask(made, task('exit 3'), noLog, signal()), { exitCode: 3 });
      assert.deepEqual(await deployer.runTask(made, task('true'), noLog, signal()), { exitCode: 0 });
      assert.deepEqual(idsOf(await placed()), before, 'a task is no instance, and does not outlive its run');
      await assertServes(serving.release, serving.instances);
    });

    test('environments are apart: a deploy to another leaves this one alone; oldest first', async () => {
      const outcome = await deployed(request(serving.release, { environment: OTHER_ENVIRONMENT }));
      await assertServes(serving.release, outcome.instances, OTHER_ENVIRONMENT);
      const all = (await deployer.listInstances()).filter((instance) => instance.service === setupDone.service.name);
      assert.deepEqual(
        all.map((instance) => instance.environment),
        [...serving.instances.map(() => ENVIRONMENT), ...outcome.instances.map(() => OTHER_ENVIRONMENT)],
      );
      assert.deepEqual(idsOf(await placed()), sorted(serving.instances), `${ENVIRONMENT} is untouched`);
      await assertServes(serving.release, serving.instances);
      for (const id of outcome.instances) {
        await deployer.removeInstance(id);
        await deployer.removeInstance(id);
      }
      assert.deepEqual(await placed(OTHER_ENVIRONMENT), []);
      assert.equal(await deployer.status(setupDone.service.name, OTHER_ENVIRONMENT), null);
      assert.deepEqual(idsOf(await placed()), sorted(serving.instances), `${ENVIRONMENT} is untouched`);
      await assertServes(serving.release, serving.instances);
    });

    test('pruneImages() removes the images of dropped releases, never one a kept release shares or an instance runs', async () => {
      // A release whose deploy failed: its image came to the host, and no instance runs it.
      const unused = await setupDone.release('never-healthy');
      await deployer.deploy(request(unused, { healthTimeoutMs: SHORT_HEALTH_TIMEOUT_MS, previous: serving.release }), noLog, signal());
      const onHost = setupDone.imagesOnHost;
      if (onHost) assert.ok((await onHost()).includes(unused.digest), 'the failed release\'s image is on the host');
      const sharing = { ...unused, id: unused.id + 1000 };
      assert.equal(await deployer.pruneImages([sharing], [unused]), 0, 'a kept release shares its image');
      assert.equal(await deployer.pruneImages([], [serving.release]), 0, 'the serving release\'s image is in use');
      assert.equal(await deployer.pruneImages([serving.release], [unused]), onHost ? 1 : 0);
      if (onHost) {
        const left = await onHost();
        assert.ok(!left.includes(unused.digest), 'the dropped image is gone');
        assert.ok(left.includes(serving.release.digest), 'the serving image stays');
      }
      assert.equal(await deployer.pruneImages([serving.release], [unused]), 0, 'an image already gone is no error');
      await assertServes(serving.release, serving.instances);
    });
  });
}
