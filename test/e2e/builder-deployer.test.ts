// The Engine API builder and the container-host deployer against the real engine and the real
// local registry: build and push, roll forward, refuse an unhealthy release, report clearly.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Docker from 'dockerode';
import { EngineApiBuilder } from '../../src/builders/engine-api/builder.ts';
import type { BuiltImage } from '../../src/builders/builder.ts';
import type { Release } from '../../src/core/types.ts';
import type { ContainerEngine } from '../../src/docker/connect.ts';
import { ContainerHostDeployer } from '../../src/deployers/container-host/deployer.ts';
import type { DeployRequest } from '../../src/deployers/deployer.ts';
import { requireBusybox, requireRegistry } from '../support/engine.ts';

const suffix = randomBytes(4).toString('hex');
const OWNER = `test-${suffix}`;
const OTHER_OWNER = `test-other-${suffix}`;
const SERVICE = 'web';
const ENVIRONMENT = 'staging';
const PORT = 8080;

let engine: ContainerEngine;
let registry: string;
let busybox: string;
let repository: string;
let builder: EngineApiBuilder;
let deployer: ContainerHostDeployer;
const contexts: string[] = [];
const pushed: { name: string; digest: string }[] = [];

interface Captured {
  lines: string[];
  log: (line: string) => void;
}

function capture(): Captured {
  const lines: string[] = [];
  return { lines, log: (line) => lines.push(line) };
}

function context(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'slipway-build-'));
  contexts.push(dir);
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), content);
  }
  return dir;
}

// httpd as PID 1 would ignore SIGTERM and every retirement would wait out the stop grace period.
const SERVE = ['sh', '-c', `trap 'exit 0' TERM; httpd -f -p ${PORT} -h /www & wait`];

/** A web app that serves /version and, unless told otherwise, /healthz. */
function app(version: string, options: { healthz?: boolean; cmd?: string[] } = {}): Record<string, string> {
  const files: Record<string, string> = {
    Dockerfile: [
      `FROM ${busybox}`,
      'COPY www /www',
      `CMD ${JSON.stringify(options.cmd ?? SERVE)}`,
      '',
    ].join('\n'),
    'www/version': `${version}\n`,
  };
  if (options.healthz !== false) files['www/healthz'] = 'ok\n';
  return files;
}

async function build(files: Record<string, string>, tag: string, log = capture().log, signal = new AbortController().signal, aliases: string[] = []) {
  return builder.build(
    { contextDir: context(files), dockerfile: 'Dockerfile', repository, tag, aliases, labels: { 'slipway.owner': OWNER } },
    log,
    signal,
  );
}

async function buildOk(files: Record<string, string>, tag: string): Promise<BuiltImage> {
  const logs = capture();
  const result = await build(files, tag, logs.log);
  assert.ok(result.ok, `build ${tag} failed: ${result.ok ? '' : result.error}\n${logs.lines.join('\n')}`);
  pushed.push({ name: repository.slice(registry.length + 1), digest: result.value.digest });
  return result.value;
}

function release(id: number, built: BuiltImage): Release {
  return { id, service: SERVICE, commitSha: `${id}`.padStart(40, '0'), image: built.image, digest: built.digest, tag: null, origin: 'branch', lane: 'main', runId: id, createdAt: new Date().toISOString() };
}

function deployRequest(target: Release, healthTimeoutMs = 30_000): DeployRequest {
  return {
    release: target,
    service: { name: SERVICE, port: PORT, health: '/healthz', variables: { GREETING: 'hello' } },
    environment: { name: ENVIRONMENT, healthTimeoutMs, variables: { STAGE: ENVIRONMENT } },
  };
}

async function answer(url: string, path = '/version'): Promise<string> {
  const response = await fetch(`${url}${path}`, { signal: AbortSignal.timeout(2000) });
  return (await response.text()).trim();
}

async function ownContainers(owner = OWNER) {
  return engine.docker.listContainers({ all: true, filters: { label: [`slipway.owner=${owner}`] } });
}

async function timed<T>(what: string, action: () => Promise<T>): Promise<T> {
  const started = performance.now();
  const result = await action();
  console.log(`${what}: ${Math.round(performance.now() - started)} ms`);
  return result;
}

describe('engine-api builder and container-host deployer', { timeout: 300_000 }, () => {
  let v1: Release;
  let v2: Release;
  let v2Url: string;

  before(async () => {
    ({ engine, image: busybox } = await requireBusybox());
    registry = await requireRegistry();
    repository = `${registry}/slipway-test-${suffix}`;
    builder = new EngineApiBuilder(engine);
    deployer = new ContainerHostDeployer(engine, OWNER);
  });

  after(async () => {
    for (const owner of [OWNER, OTHER_OWNER]) {
      for (const container of await ownContainers(owner)) await engine.docker.getContainer(container.Id).remove({ force: true });
    }
    const images = await engine.docker.listImages({ filters: { label: [`slipway.owner=${OWNER}`] } });
    for (const image of images) await engine.docker.getImage(image.Id).remove({ force: true }).catch(() => {});
    for (const { name, digest } of pushed) await fetch(`http://${registry}/v2/${name}/manifests/${digest}`, { method: 'DELETE' }).catch(() => {});
    for (const dir of contexts) rmSync(dir, { recursive: true, force: true });
  });

  it('builds and pushes an image, honouring .dockerignore, and reports the registry digest', async () => {
    const files = {
      ...app('v1'),
      'Dockerfile': [`FROM ${busybox}`, 'COPY . /context', 'RUN test ! -e /context/secret.txt && test ! -e /context/notes/drop.md && test -e /context/notes/keep.md', 'COPY www /www', `CMD ${JSON.stringify(SERVE)}`, ''].join('\n'),
      '.dockerignore': '# local only\nsecret.txt\nnotes/\n!notes/keep.md\n',
      'secret.txt': 'do not send',
      'notes/drop.md': 'dropped',
      'notes/keep.md': 'kept',
    };
    const logs = capture();
    const result = await timed('build+push v1', () => build(files, 'v1', logs.log, undefined, ['v1.0.0']));
    assert.ok(result.ok, result.ok ? '' : `${result.error}\n${logs.lines.join('\n')}`);
    pushed.push({ name: repository.slice(registry.length + 1), digest: result.value.digest });
    assert.equal(result.value.image, `${repository}:v1`);
    assert.match(result.value.digest, /^sha256:[0-9a-f]{64}$/);
    assert.ok(logs.lines.some((line) => line.includes('COPY www /www')), 'build output is streamed to the log');

    for (const tag of ['v1', 'v1.0.0']) {
      const head = await fetch(`http://${repository.replace(registry, `${registry}/v2`)}/manifests/${tag}`, {
        method: 'HEAD',
        headers: { Accept: 'application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json' },
      });
      assert.equal(head.headers.get('docker-content-digest'), result.value.digest, `tag ${tag} names the built image`);
    }
    v1 = release(1, result.value);
  });

  it('deploys a release and reports it as serving', async () => {
    const logs = capture();
    const outcome = await timed('deploy v1', () => deployer.deploy(deployRequest(v1), logs.log, new AbortController().signal));
    assert.ok(outcome.trafficMoved, outcome.trafficMoved ? '' : `${outcome.reason}\n${logs.lines.join('\n')}`);
    assert.match(outcome.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(await answer(outcome.url), 'v1');

    const info = await engine.docker.getContainer(outcome.instance).inspect();
    assert.equal(info.Name.replace(/^\//, ''), `slipway-${OWNER}-${SERVICE}-${ENVIRONMENT}-r1`);
    assert.ok(info.Config.Env.includes('GREETING=hello') && info.Config.Env.includes(`STAGE=${ENVIRONMENT}`));
    assert.equal(info.Config.Labels['slipway.digest'], v1.digest);

    assert.deepEqual(await deployer.status(SERVICE, ENVIRONMENT), { releaseId: 1, digest: v1.digest, url: outcome.url, instance: outcome.instance });
  });

  it('rolls forward to a new release and retires the previous container', async () => {
    const before = await deployer.status(SERVICE, ENVIRONMENT);
    v2 = release(2, await buildOk(app('v2'), 'v2'));
    const outcome = await deployer.deploy(deployRequest(v2), capture().log, new AbortController().signal);
    assert.ok(outcome.trafficMoved, outcome.trafficMoved ? '' : outcome.reason);
    assert.equal(await answer(outcome.url), 'v2');
    v2Url = outcome.url;

    const remaining = await ownContainers();
    assert.deepEqual(remaining.map((container) => container.Id), [outcome.instance]);
    await assert.rejects(engine.docker.getContainer(before!.instance).inspect(), /no such container/i);
    assert.equal((await deployer.status(SERVICE, ENVIRONMENT))?.releaseId, 2);
  });

  it('keeps the previous release serving when the new one never answers its health check', async () => {
    const unhealthy = release(3, await buildOk(app('v3', { healthz: false }), 'v3'));
    const logs = capture();
    const started = Date.now();
    const outcome = await deployer.deploy(deployRequest(unhealthy, 1_500), logs.log, new AbortController().signal);
    assert.equal(outcome.trafficMoved, false);
    assert.equal(outcome.trafficMoved ? '' : outcome.reason, 'health check GET /healthz did not answer 2xx within 1.5s (last: HTTP 404)');
    assert.ok(Date.now() - started < 10_000);
    assert.ok(logs.lines.some((line) => /^last response: HTTP 404/.test(line)), logs.lines.join('\n'));

    assert.equal(await answer(v2Url), 'v2');
    const remaining = await ownContainers();
    assert.equal(remaining.length, 1);
    assert.equal(remaining[0]!.Labels['slipway.release'], '2');
    assert.equal((await deployer.status(SERVICE, ENVIRONMENT))?.releaseId, 2);
  });

  it('fails fast, with the container output in the log, when the new release exits', async () => {
    const crashing = release(4, await buildOk(app('v4', { cmd: ['sh', '-c', 'echo booting; echo missing DATABASE_URL >&2; exit 3'] }), 'v4'));
    const logs = capture();
    const started = Date.now();
    const outcome = await deployer.deploy(deployRequest(crashing, 60_000), logs.log, new AbortController().signal);
    assert.equal(outcome.trafficMoved, false);
    // Seen exited (code 3), or already started again by its restart policy.
    assert.match(outcome.trafficMoved ? '' : outcome.reason, /^health check GET \/healthz failed: the container (exited with code 3|exited and was restarted \d+ times?) before answering 2xx/);
    assert.ok(Date.now() - started < 15_000, 'an exited container does not wait for the full health timeout');
    assert.ok(logs.lines.some((line) => line.includes('missing DATABASE_URL')), logs.lines.join('\n'));
    assert.equal(await answer(v2Url), 'v2');
    assert.deepEqual((await ownContainers()).map((container) => container.Labels['slipway.release']), ['2']);
  });

  it('cancels a deploy, leaving the previous release serving', async () => {
    const waiting = release(5, await buildOk(app('v5', { healthz: false }), 'v5'));
    const controller = new AbortController();
    const outcome = await deployer.deploy(
      deployRequest(waiting, 60_000),
      (line) => {
        if (line.startsWith('health check')) controller.abort();
      },
      controller.signal,
    );
    assert.deepEqual(outcome, { trafficMoved: false, reason: 'deploy cancelled' });
    assert.equal(await answer(v2Url), 'v2');
    assert.deepEqual((await ownContainers()).map((container) => container.Labels['slipway.release']), ['2']);
  });

  it('redeploys the serving release without a gap', async () => {
    const serving = await deployer.status(SERVICE, ENVIRONMENT);
    const outcome = await deployer.deploy(deployRequest(v2), capture().log, new AbortController().signal);
    assert.ok(outcome.trafficMoved, outcome.trafficMoved ? '' : outcome.reason);
    assert.notEqual(outcome.instance, serving?.instance);
    assert.equal(await answer(outcome.url), 'v2');
    const remaining = await ownContainers();
    assert.deepEqual(remaining.map((container) => container.Names[0]), [`/slipway-${OWNER}-${SERVICE}-${ENVIRONMENT}-r2`]);
    v2Url = outcome.url;
  });

  it("never touches another owner's containers on the same engine", async () => {
    const other = new ContainerHostDeployer(engine, OTHER_OWNER);
    const outcome = await other.deploy(deployRequest(v1), capture().log, new AbortController().signal);
    assert.ok(outcome.trafficMoved, outcome.trafficMoved ? '' : outcome.reason);
    assert.equal(await answer(v2Url), 'v2');
    assert.equal((await deployer.status(SERVICE, ENVIRONMENT))?.releaseId, 2);
    assert.equal((await other.status(SERVICE, ENVIRONMENT))?.releaseId, 1);
  });

  it('reports a failing RUN step', async () => {
    const result = await build({ Dockerfile: `FROM ${busybox}\nRUN echo compiling && exit 7\n` }, 'broken-run');
    assert.equal(result.ok, false);
    assert.match(result.ok ? '' : result.error, /^image build failed: building at STEP "RUN echo compiling && exit 7": .*exit status 7/);
  });

  it('reports a Dockerfile syntax error', async () => {
    const result = await build({ Dockerfile: `FROM ${busybox}\nCOPPY www /www\n` }, 'broken-syntax');
    assert.equal(result.ok, false);
    assert.match(result.ok ? '' : result.error, /^image build failed: .*Unknown instruction: "COPPY"$/);
  });

  it('reports a missing Dockerfile', async () => {
    const result = await build({ 'www/version': 'v0' }, 'no-dockerfile');
    assert.equal(result.ok, false);
    assert.match(result.ok ? '' : result.error, /^Dockerfile Dockerfile not found in build context /);
  });

  it('reports a registry that is down', async () => {
    const down = `127.0.0.1:5999/slipway-test-${suffix}`;
    const result = await builder.build(
      { contextDir: context(app('v1')), dockerfile: 'Dockerfile', repository: down, tag: 'v1', aliases: [], labels: { 'slipway.owner': OWNER } },
      () => {},
      new AbortController().signal,
    );
    assert.deepEqual(result, { ok: false, error: 'push to 127.0.0.1:5999 failed: the registry could not be reached (connection refused)' });
  });

  it('reports an engine that cannot be reached', async () => {
    const gone: ContainerEngine = { docker: new Docker({ socketPath: '/nonexistent/engine.sock' }), name: 'docker 0', endpoint: '/nonexistent/engine.sock' };
    const built = await new EngineApiBuilder(gone).build(
      { contextDir: context(app('v1')), dockerfile: 'Dockerfile', repository, tag: 'unreachable', aliases: [], labels: {} },
      () => {},
      new AbortController().signal,
    );
    assert.match(built.ok ? '' : built.error, /^the container engine at \/nonexistent\/engine\.sock could not be reached \(.*ENOENT/);
    const deployed = await new ContainerHostDeployer(gone, OWNER).deploy(deployRequest(v1), () => {}, new AbortController().signal);
    assert.match(deployed.trafficMoved ? '' : deployed.reason, /^the container engine at \/nonexistent\/engine\.sock could not be reached \(.*ENOENT/);
  });

  it('cancels a build', async () => {
    const controller = new AbortController();
    const result = await build(
      { Dockerfile: `FROM ${busybox}\nRUN echo started && sleep 5\n` },
      'slow',
      (line) => {
        if (line === 'started') controller.abort();
      },
      controller.signal,
    );
    assert.deepEqual(result, { ok: false, error: 'build cancelled' });
  });
});
