// The container-host deployer on the real engine behind a real HAProxy, for what the Deployer
// conformance suite (deployer-conformance.test.ts) does not show: where an instance lives (its
// environment's network, no host port, its variables) and what it answers at the stable address;
// the container's own last lines when it fails its health check; an image's own HEALTHCHECK;
// two owners on one engine; an engine that cannot be reached.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Docker from 'dockerode';
import { EngineApiBuilder } from '../../src/builders/engine-api/builder.ts';
import type { Release } from '../../src/core/types.ts';
import type { ContainerEngine } from '../../src/docker/connect.ts';
import { ContainerHostDeployer } from '../../src/deployers/container-host/deployer.ts';
import type { DeployOutcome, DeployRequest } from '../../src/deployers/deployer.ts';
import { HaproxyRouter } from '../../src/routers/haproxy/router.ts';
import type { HealthCheck } from '../../src/routers/router.ts';
import { requireBusybox, requireRegistry } from '../support/engine.ts';
import { removeOwned } from '../support/fleet.ts';
import { testProxy, type TestProxy } from '../support/proxy.ts';

const suffix = randomBytes(4).toString('hex');
const OWNER = `test-${suffix}`;
const OTHER_OWNER = `test-other-${suffix}`;
const SERVICE = 'web';
const ENVIRONMENT = 'staging';
const PORT = 8080;
const HEALTH: HealthCheck = { path: '/healthz', intervalMs: 200, timeoutMs: 1000, successes: 1, failures: 2 };

let engine: ContainerEngine;
let registry: string;
let busybox: string;
let repository: string;
let builder: EngineApiBuilder;
const contexts: string[] = [];
const pushed: string[] = [];
const routers: HaproxyRouter[] = [];
let nextId = 1;
let nextDeploymentId = 1;

/** A temp folder, removed at the end. */
function folder(): string {
  const dir = mkdtempSync(join(tmpdir(), 'slipway-deployer-'));
  contexts.push(dir);
  return dir;
}

function context(files: Record<string, string>): string {
  const dir = folder();
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), content);
  }
  return dir;
}

// httpd as PID 1 would ignore SIGTERM and every retirement would wait out the stop grace period.
const SERVE = `trap 'exit 0' TERM; httpd -f -p ${PORT} -h /www & wait`;

/** A release's image: serves /version and, unless told otherwise, /healthz; `before` runs first; `healthcheck` is its HEALTHCHECK. */
async function release(version: string, options: { healthz?: boolean; before?: string; healthcheck?: string } = {}): Promise<Release> {
  const files: Record<string, string> = {
    Dockerfile: [
      `FROM ${busybox}`,
      'COPY www /www',
      ...(options.healthcheck ? [`HEALTHCHECK --interval=1s CMD ${options.healthcheck}`] : []),
      `CMD ${JSON.stringify(['sh', '-c', [options.before, SERVE].filter(Boolean).join('; ')])}`,
      '',
    ].join('\n'),
    'www/version': `${version}\n`,
  };
  if (options.healthz !== false) files['www/healthz'] = 'ok\n';
  const lines: string[] = [];
  const built = await builder.build(
    { contextDir: context(files), dockerfile: 'Dockerfile', repository, tag: version, aliases: [], labels: { 'slipway.owner': OWNER } },
    (line) => lines.push(line),
    new AbortController().signal,
  );
  assert.ok(built.ok, `build ${version} failed: ${built.ok ? '' : built.error}\n${lines.join('\n')}`);
  pushed.push(built.value.digest);
  const id = nextId++;
  return { id, service: SERVICE, commitSha: `${id}`.padStart(40, '0'), image: built.value.image, digest: built.value.digest, tag: null, origin: 'branch', lane: 'main', runId: id, createdAt: new Date().toISOString() };
}

function deployRequest(target: Release, previous: Release | null, healthTimeoutMs = 120_000): DeployRequest {
  return {
    deploymentId: nextDeploymentId++,
    release: target,
    previous,
    service: { name: SERVICE, port: PORT, health: HEALTH, aliases: [], variables: { GREETING: 'hello' } },
    environment: { name: ENVIRONMENT, healthTimeoutMs, variables: { STAGE: ENVIRONMENT }, replicas: 1, batch: 1, drainTimeoutMs: 1_000 },
  };
}

/** A deployer of `owner` behind a proxy of its own, with the route declared. */
async function deployerOf(owner: string, proxy: TestProxy): Promise<ContainerHostDeployer> {
  const router = new HaproxyRouter({ dir: folder(), address: proxy.address, port: proxy.port, owned: true });
  routers.push(router);
  await router.start();
  const deployer = new ContainerHostDeployer(engine, owner, router);
  await deployer.declareRoutes([{ service: SERVICE, environment: ENVIRONMENT, port: proxy.route_ports.from, servicePort: PORT, aliases: [], health: HEALTH }]);
  return deployer;
}

/** A deploy that must move the traffic, with its log; the previous release is retired, as after a bake. */
async function deployed(deployer: ContainerHostDeployer, request: DeployRequest): Promise<{ outcome: DeployOutcome & { trafficMoved: true }; lines: string[] }> {
  const lines: string[] = [];
  const outcome = await deployer.deploy(request, (line) => lines.push(line), new AbortController().signal);
  assert.ok(outcome.trafficMoved, `${outcome.trafficMoved ? '' : outcome.reason}\n${lines.join('\n')}`);
  await deployer.retire(request, outcome.instances, () => {});
  return { outcome, lines };
}

async function failed(deployer: ContainerHostDeployer, request: DeployRequest): Promise<{ reason: string; lines: string[] }> {
  const lines: string[] = [];
  const outcome = await deployer.deploy(request, (line) => lines.push(line), new AbortController().signal);
  assert.ok(!outcome.trafficMoved, `release #${request.release.id} took the traffic:\n${lines.join('\n')}`);
  return { reason: outcome.reason, lines };
}

/** What the service answers on its route's own port, as a client that sends no host name. */
async function answer(deployer: ContainerHostDeployer): Promise<string> {
  const response = await fetch(`${deployer.address(SERVICE, ENVIRONMENT)!.portUrl}/version`, { signal: AbortSignal.timeout(5000) });
  return (await response.text()).trim();
}

/** What the proxy's shared port answers for a host name. */
function answerByName(port: number, host: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const request = httpRequest({ host: '127.0.0.1', port, path: '/version', headers: { host }, timeout: 5000 }, (response) => {
      let body = '';
      response.on('data', (chunk) => (body += chunk));
      response.on('end', () => resolve(body.trim()));
    });
    request.on('timeout', () => request.destroy(new Error(`${host} did not answer on port ${port}`)));
    request.on('error', reject);
    request.end();
  });
}

async function releasesPlaced(deployer: ContainerHostDeployer): Promise<number[]> {
  return (await deployer.listInstances()).map((instance) => instance.releaseId);
}

describe('container-host deployer behind HAProxy', { timeout: 600_000 }, () => {
  let proxy: TestProxy;
  let deployer: ContainerHostDeployer;
  /** What serves staging after each test: the next one builds on it. */
  let serving: Release;

  before(async () => {
    ({ engine, image: busybox } = await requireBusybox());
    registry = await requireRegistry();
    repository = `${registry}/slipway-deployer-${suffix}`;
    builder = new EngineApiBuilder(engine);
    proxy = await testProxy();
    deployer = await deployerOf(OWNER, proxy);
  });

  after(async () => {
    for (const router of routers) await router.stop().catch(() => {});
    for (const owner of [OWNER, OTHER_OWNER]) await removeOwned(owner);
    for (const image of await engine.docker.listImages({ filters: { label: [`slipway.owner=${OWNER}`] } })) {
      await engine.docker.getImage(image.Id).remove({ force: true }).catch(() => {});
    }
    for (const digest of pushed) await fetch(`http://${repository.replace(registry, `${registry}/v2`)}/manifests/${digest}`, { method: 'DELETE' }).catch(() => {});
    for (const dir of contexts) rmSync(dir, { recursive: true, force: true });
  });

  it("runs a release on its environment's network with its variables, on no host port, answering at the stable address", async () => {
    const v1 = await release('v1');
    const request = deployRequest(v1, null);
    const { outcome } = await deployed(deployer, request);
    assert.equal(outcome.url, `http://${SERVICE}.${ENVIRONMENT}.localhost:${proxy.port}`);
    assert.equal(await answer(deployer), 'v1');
    assert.equal(await answerByName(proxy.port, `${SERVICE}.${ENVIRONMENT}.localhost`), 'v1');

    const info = await engine.docker.getContainer(outcome.instances[0]!).inspect();
    assert.equal(info.Name.replace(/^\//, ''), `slipway-${OWNER}-${SERVICE}-${ENVIRONMENT}-d${request.deploymentId}-1`);
    assert.ok(info.Config.Env.includes('GREETING=hello') && info.Config.Env.includes(`STAGE=${ENVIRONMENT}`), info.Config.Env.join(' '));
    assert.equal(info.Config.Labels['slipway.digest'], v1.digest);
    assert.deepEqual(Object.keys(info.NetworkSettings.Networks), [`slipway-${OWNER}-${ENVIRONMENT}`]);
    const published = Object.values(info.NetworkSettings.Ports ?? {}).flatMap((bindings) => bindings ?? []);
    assert.deepEqual(published, [], 'reached through the proxy only');
    serving = v1;
  });

  it('a new release answers at the same address, the previous one retired', async () => {
    const v2 = await release('v2');
    const { outcome } = await deployed(deployer, deployRequest(v2, serving));
    assert.equal(outcome.url, deployer.address(SERVICE, ENVIRONMENT)!.url, 'the URL stays the same across releases');
    assert.equal(await answer(deployer), 'v2');
    assert.deepEqual(await releasesPlaced(deployer), [v2.id]);
    serving = v2;
  });

  it('a release whose container exits fails without waiting out its health timeout, its last output lines in the log', async () => {
    const crashing = await release('v3', { before: 'echo booting; echo missing DATABASE_URL >&2; exit 3' });
    const { reason, lines } = await failed(deployer, deployRequest(crashing, serving));
    // Seen exited, or already started again by its restart policy.
    assert.match(reason, /health check GET \/healthz failed: the container exited \(code \d+(, restarted \d+ times?)?\) before passing/);
    assert.ok(lines.includes('  booting') && lines.includes('  [stderr] missing DATABASE_URL'), lines.join('\n'));
    assert.equal(await answer(deployer), 'v2');
    assert.deepEqual(await releasesPlaced(deployer), [serving.id], lines.join('\n'));
  });

  it("a release that never passes its health check fails at the timeout, naming the proxy's last check, with its last output lines in the log", async () => {
    const unhealthy = await release('v4', { healthz: false, before: 'echo listening without a health check' });
    const { reason, lines } = await failed(deployer, deployRequest(unhealthy, serving, 2_000));
    // L7STS: an answer that is no 2xx or 3xx (a 404, or under load now and then one HAProxy could not read, code 0).
    assert.match(reason, /health check GET \/healthz did not pass within 2s \(last: L7STS\//);
    assert.ok(lines.includes('  listening without a health check'), lines.join('\n'));
    assert.equal(await answer(deployer), 'v2');
    assert.deepEqual(await releasesPlaced(deployer), [serving.id], lines.join('\n'));
  });

  it("an image's own HEALTHCHECK must pass too: a failing one keeps the release from the traffic, a passing one is run and let through", async () => {
    const notReady = await release('v5', { healthcheck: 'test -e /www/ready' });
    const { reason, lines } = await failed(deployer, deployRequest(notReady, serving, 3_000));
    assert.ok(lines.some((line) => line.includes('and its HEALTHCHECK (sh -c test -e /www/ready)')), lines.join('\n'));
    assert.match(reason, /did not pass within 3s \(last: its HEALTHCHECK command failed\)/);
    assert.equal(await answer(deployer), 'v2');
    assert.deepEqual(await releasesPlaced(deployer), [serving.id]);

    const ready = await release('v6', { healthcheck: 'test -e /www/healthz' });
    const passed = await deployed(deployer, deployRequest(ready, serving));
    assert.ok(passed.lines.some((line) => line.includes('and its HEALTHCHECK (sh -c test -e /www/healthz)')), passed.lines.join('\n'));
    assert.equal(await answer(deployer), 'v6');
    serving = ready;
  });

  it("another owner's deployer on the same engine never touches this one's instances or network", async () => {
    const other = await deployerOf(OTHER_OWNER, await testProxy());
    const theirs = await release('theirs');
    const { outcome } = await deployed(other, deployRequest(theirs, null));
    const info = await engine.docker.getContainer(outcome.instances[0]!).inspect();
    assert.deepEqual(Object.keys(info.NetworkSettings.Networks), [`slipway-${OTHER_OWNER}-${ENVIRONMENT}`]);
    // retire() above kept only its own instance: this owner's serving one is not among what it saw.
    assert.deepEqual(await releasesPlaced(other), [theirs.id]);
    assert.deepEqual(await releasesPlaced(deployer), [serving.id]);
    assert.equal((await deployer.status(SERVICE, ENVIRONMENT))?.releaseId, serving.id);
    assert.equal(await answer(deployer), 'v6');
    assert.equal(await answer(other), 'theirs');
  });

  it('an engine that cannot be reached fails the deploy and a task with a clear reason; what serves serves on', async () => {
    const gone: ContainerEngine = { docker: new Docker({ socketPath: '/nonexistent/engine.sock' }), name: 'docker 0', endpoint: '/nonexistent/engine.sock' };
    const unreachable = new ContainerHostDeployer(gone, OWNER, routers[0]!);
    const unreached = /^the container engine at \/nonexistent\/engine\.sock could not be reached \(.*ENOENT/;
    const { reason } = await failed(unreachable, deployRequest(serving, serving));
    assert.match(reason, unreached);
    const lines: string[] = [];
    const task = await unreachable.runTask(deployRequest(serving, serving), { name: 'pre-deploy', command: 'true', env: {}, timeoutMs: 10_000 }, (line) => lines.push(line), new AbortController().signal);
    assert.equal(task.exitCode, -1);
    assert.match(lines.join('\n'), /^pre-deploy could not run: the container engine at \/nonexistent\/engine\.sock could not be reached/m);
    assert.equal(await answer(deployer), 'v6');
  });
});
