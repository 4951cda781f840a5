// The whole path on the real thing: a git repository holding a small HTTP service, the
// `slipway` CLI and server as child processes, Podman through its Docker API, the local
// registry and HAProxy. Each commit goes checkout -> quality -> test -> build -> push -> deploy,
// and the service answers at one address whatever release serves.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { RunDetail, ServiceOverview } from '../../src/client/api.ts';
import { ownerOf } from '../../src/server/main.ts';
import { slipway, startServerProcess, type ServerProcess } from '../support/cli.ts';
import { webServiceRepository } from '../support/repository.ts';
import { removeBuiltImages, requireBusybox, requireRegistry, type requireEngine } from '../support/engine.ts';
import { removeOwned } from '../support/fleet.ts';
import { proxyYaml, stopProxy, testProxy } from '../support/proxy.ts';

type Engine = Awaited<ReturnType<typeof requireEngine>>;

const root = mkdtempSync(join(tmpdir(), 'slipway-e2e-'));
const dataDir = join(root, 'data');
const configFile = join(root, 'slipway.yml');
let engine: Engine;
let server: ServerProcess;

const repository = webServiceRepository(root);
const bare = repository.bare;

/** Commits a version of the service: /version answers `version`; tests and health can be broken on purpose. */
function commitVersion(version: string, options: { testPasses?: boolean; healthy?: boolean } = {}): string {
  const test = options.testPasses === false ? 'echo "expected version to be a number" >&2\nexit 1\n' : 'grep -qx "[0-9]*" www/version && echo "version ok"\n';
  return repository.commit(version, { healthy: options.healthy, files: { 'test.sh': test } });
}

async function staging(): Promise<ServiceOverview['environments'][number]> {
  const status = await slipway(['status', '--json'], { server: server.url });
  assert.equal(status.code, 0, status.stderr);
  const [shop] = JSON.parse(status.stdout) as ServiceOverview[];
  return shop!.environments.find((environment) => environment.environment === 'staging')!;
}

/** What the service answers in staging, on its route's own port (no host name needed). */
async function answer(state: ServiceOverview['environments'][number]): Promise<string> {
  const response = await fetch(`${state.address!.portUrl}/version`, { signal: AbortSignal.timeout(5000) });
  return (await response.text()).trim();
}

const shopContainers = () => engine.docker.listContainers({ all: true, filters: { label: [`slipway.owner=${ownerOf(dataDir)}`, 'slipway.service=shop'] } });

async function runWait(): Promise<{ code: number; stdout: string; run: RunDetail }> {
  const result = await slipway(['run', 'shop', '--wait'], { server: server.url });
  const id = Number(/Run #(\d+)/.exec(result.stdout)?.[1]);
  const run = JSON.parse((await slipway(['show', String(id), '--json'], { server: server.url })).stdout) as RunDetail;
  return { code: result.code, stdout: result.stdout + result.stderr, run };
}

const stageStatuses = (run: RunDetail) => Object.fromEntries(run.stages.map((stage) => [stage.name, stage.status]));

describe('pipeline end to end (Podman, registry, git)', () => {
  before(async () => {
    ({ engine } = await requireBusybox());
    const registry = await requireRegistry();
    const proxy = await testProxy();
    writeFileSync(
      configFile,
      [
        `registry: ${registry}`,
        'pipeline:',
        '  - stage: quality',
        '    run: "{{ service.lint }}"',
        '  - stage: test',
        '    run: "{{ service.test }}"',
        '  - stage: build',
        '  - stage: deploy',
        '    environment: staging',
        'environments:',
        '  staging:',
        '    health_timeout: 5s',
        '    drain_timeout: 2s',
        '    bake: 0',
        'services:',
        '  shop:',
        `    repo: ${bare}`,
        '    toolchain: localhost/slipway/busybox:latest',
        // The checkout borrows the mirror's objects: the container sees them at the same path.
        '    lint: test -s www/version && test -s Dockerfile && test -d "$(cat .git/objects/info/alternates)/pack"',
        '    test: sh test.sh',
        '    port: 8080',
        '    health: { path: /healthz, interval: 200ms }',
        ...proxyYaml(proxy),
        '',
      ].join('\n'),
    );
    commitVersion('1');
    server = await startServerProcess(['--config', configFile, '--data', dataDir]);
  });

  after(async () => {
    await server?.kill();
    await stopProxy(dataDir);
    if (engine) {
      await removeOwned(ownerOf(dataDir));
      await removeBuiltImages(repository.commits);
    }
    rmSync(root, { recursive: true, force: true });
  });

  it('takes a commit from git to a healthy running container', async () => {
    const { code, stdout, run } = await runWait();
    assert.equal(code, 0, stdout);
    assert.match(stdout, /✓ test/);
    assert.match(stdout, /Run #\d+ succeeded/);
    assert.deepEqual(stageStatuses(run), { checkout: 'succeeded', quality: 'succeeded', test: 'succeeded', build: 'succeeded', deploy: 'succeeded' });
    const state = await staging();
    assert.match(state.release!.digest, /^sha256:[0-9a-f]{64}$/);
    assert.equal(state.release!.commitSha, run.commitSha);
    assert.equal(state.current!.url, state.address!.url, 'the deployment is at the stable address');
    assert.equal(await answer(state), '1');
    const logs = await slipway(['logs', String(run.id)], { server: server.url });
    assert.match(logs.stdout, /test\s+│ version ok/);
  });

  it('deploys a second commit at the same address and replaces the first container', async () => {
    const first = await staging();
    const sha = commitVersion('2');
    const { code, stdout, run } = await runWait();
    assert.equal(code, 0, stdout);
    assert.equal(run.commitSha, sha);
    const second = await staging();
    assert.notEqual(second.release!.id, first.release!.id);
    assert.equal(second.current!.url, first.current!.url, 'the address stays the same across releases');
    assert.equal(await answer(second), '2');
    const containers = await shopContainers();
    assert.deepEqual(containers.map((container) => Number(container.Labels['slipway.release'])), [second.release!.id], 'exactly one container, of the new release, is left');
  });

  it('fails a run at the test stage and deploys nothing', async () => {
    const serving = await staging();
    commitVersion('3', { testPasses: false });
    const { code, stdout, run } = await runWait();
    assert.equal(code, 1);
    assert.match(stdout, /✗ test command exited with code 1/);
    assert.match(stdout, /expected version to be a number/);
    assert.deepEqual(stageStatuses(run), { checkout: 'succeeded', quality: 'succeeded', test: 'failed', build: 'skipped', deploy: 'skipped' });
    const after = await staging();
    assert.equal(after.current!.id, serving.current!.id);
    assert.equal(await answer(after), '2');
  });

  it('leaves version 2 serving when a release fails its health check', async () => {
    const serving = await staging();
    commitVersion('4', { healthy: false });
    const { code, stdout, run } = await runWait();
    assert.equal(code, 1);
    // The reason names the instance, what it failed and the proxy's last check of it; the log
    // has the checks before it (the last one may have been cut short on a loaded machine).
    const failure = /slipway-\w+-shop-staging-d\d+-1: health check GET \/healthz did not pass within 5s \(last: [^)]+\)/;
    assert.match(stdout, new RegExp(`✗ deploy ${failure.source}`));
    assert.match(stdout, /health check GET \/healthz: L7STS\/404 in \d+ms: Not Found/);
    assert.equal(stageStatuses(run).deploy, 'failed');
    assert.match(run.reason ?? '', new RegExp(`^stage deploy failed: ${failure.source}`));
    const logs = await slipway(['logs', String(run.id)], { server: server.url });
    assert.match(logs.stdout, /deploy\s+│ .*health check/);
    const after = await staging();
    assert.equal(after.current!.id, serving.current!.id);
    assert.equal(await answer(after), '2');
    assert.deepEqual((await shopContainers()).map((container) => Number(container.Labels['slipway.release'])), [serving.release!.id], 'the failed release left no container');
  });

  it('says what is wrong with an unknown service or ref, in one sentence', async () => {
    const unknown = await slipway(['run', 'nope', '--wait'], { server: server.url });
    assert.equal(unknown.code, 1);
    assert.equal(unknown.stderr.trim(), 'slipway: unknown service nope (known services: shop)');
    const badRef = await slipway(['run', 'shop', '--ref', 'no-such-branch'], { server: server.url });
    assert.equal(badRef.code, 1);
    assert.equal(badRef.stderr.trim(), `slipway: ref no-such-branch does not exist in ${bare}`);
  });
});
