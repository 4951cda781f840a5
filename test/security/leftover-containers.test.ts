// A server killed with SIGKILL in the middle of deploys must not leave releases running side
// by side after it starts again. The real thing: `slipway up` as a child process, Podman, the
// registry, HAProxy (it outlives the killed servers, as it would in production, and the next
// start adopts it), a git repository. Release 1 serves; releases 2 and 3 never pass their
// health check, and the server is killed while each deploy waits for it. After the next start
// exactly one container of this instance remains for the service and environment, it is the
// one the store says serves, and the service's address answers from it.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ServiceOverview } from '../../src/client/api.ts';
import type { Deployment } from '../../src/core/types.ts';
import { ownerOf } from '../../src/server/main.ts';
import { slipway, startServerProcess, type ServerProcess } from '../support/cli.ts';
import { removeBuiltImages, requireBusybox, requireRegistry, type requireEngine } from '../support/engine.ts';
import { removeOwned } from '../support/fleet.ts';
import { proxyYaml, stopProxy, testProxy } from '../support/proxy.ts';

type ContainerEngine = Awaited<ReturnType<typeof requireEngine>>;

const root = mkdtempSync(join(tmpdir(), 'slipway-leftovers-'));
const bare = join(root, 'shop.git');
const work = join(root, 'work');
const dataDir = join(root, 'data');
const configFile = join(root, 'slipway.yml');
const servers: ServerProcess[] = [];
const commits: string[] = [];
let engine: ContainerEngine;

function git(...args: string[]): string {
  const env = { ...process.env, GIT_AUTHOR_NAME: 'T', GIT_AUTHOR_EMAIL: 't@t', GIT_COMMITTER_NAME: 'T', GIT_COMMITTER_EMAIL: 't@t' };
  return execFileSync('git', args, { cwd: work, encoding: 'utf8', env }).trim();
}

/** A version of the service; without /healthz its health check answers 404 forever. */
function commitVersion(version: string, healthy: boolean): void {
  mkdirSync(join(work, 'www'), { recursive: true });
  writeFileSync(join(work, 'www', 'version'), `${version}\n`);
  rmSync(join(work, 'www', 'healthz'), { force: true });
  if (healthy) writeFileSync(join(work, 'www', 'healthz'), 'ok\n');
  writeFileSync(join(work, 'Dockerfile'), 'FROM localhost/slipway/busybox:latest\nCOPY www /www\nCMD ["httpd", "-f", "-p", "8080", "-h", "/www"]\n');
  git('add', '-A');
  git('commit', '-q', '-m', `version ${version}`);
  git('push', '-q', bare, 'HEAD:main');
  commits.push(git('rev-parse', 'HEAD'));
}

async function up(): Promise<ServerProcess> {
  const server = await startServerProcess(['--config', configFile, '--data', dataDir]);
  servers.push(server);
  return server;
}

/** An API GET as the CLI on this machine makes it: with the token `slipway up` keeps in the data folder, when there is one. */
async function api<T>(server: ServerProcess, path: string): Promise<T> {
  const tokenFile = join(dataDir, 'cli-token');
  const headers: Record<string, string> = existsSync(tokenFile) ? { authorization: `Bearer ${readFileSync(tokenFile, 'utf8').trim()}` } : {};
  const response = await fetch(`${server.url}/api${path}`, { headers, signal: AbortSignal.timeout(10_000) });
  assert.equal(response.status, 200, await response.clone().text());
  return (await response.json()) as T;
}

/** Starts a run and kills the server (SIGKILL) once its deploy waits for the new container's health check. */
async function killDuringDeploy(server: ServerProcess): Promise<number> {
  const started = await slipway(['run', 'shop', '--json'], { server: server.url });
  assert.equal(started.code, 0, started.stderr);
  const id = (JSON.parse(started.stdout) as { id: number }).id;
  const deadline = Date.now() + 240_000;
  for (;;) {
    const logs = await slipway(['logs', String(id)], { server: server.url });
    if (/deploy\s+│ waiting up to/.test(logs.stdout)) break;
    assert.ok(Date.now() < deadline, `the deploy of run ${id} never started waiting:\n${logs.stdout}${logs.stderr}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  await server.kill();
  return id;
}

const ownContainers = () => engine.docker.listContainers({ all: true, filters: { label: [`slipway.owner=${ownerOf(dataDir)}`] } });

describe('leftover containers after crashes during deploys', { timeout: 900_000 }, () => {
  before(async () => {
    ({ engine } = await requireBusybox());
    const registry = await requireRegistry();
    const proxy = await testProxy();
    execFileSync('git', ['init', '-q', '--bare', '--initial-branch=main', bare]);
    mkdirSync(work);
    git('init', '-q', '--initial-branch=main');
    writeFileSync(
      configFile,
      [
        `registry: ${registry}`,
        'pipeline:',
        '  - stage: build',
        '  - stage: deploy',
        '    environment: staging',
        'environments:',
        '  staging:',
        '    health_timeout: 10m',
        '    drain_timeout: 2s',
        '    bake: 0',
        'services:',
        '  shop:',
        `    repo: ${bare}`,
        '    port: 8080',
        '    health: { path: /healthz, interval: 200ms }',
        ...proxyYaml(proxy),
        '',
      ].join('\n'),
    );
  });

  after(async () => {
    for (const server of servers) await server.kill();
    await stopProxy(dataDir);
    if (engine) {
      await removeOwned(ownerOf(dataDir));
      await removeBuiltImages(commits);
    }
    rmSync(root, { recursive: true, force: true });
  });

  it('keeps exactly the container the store says serves', async () => {
    commitVersion('1', true);
    const first = await up();
    const served = await slipway(['run', 'shop', '--wait'], { server: first.url, timeoutMs: 300_000 });
    assert.equal(served.code, 0, served.stdout + served.stderr);

    commitVersion('2', false);
    const cut = [await killDuringDeploy(first)];
    commitVersion('3', false);
    cut.push(await killDuringDeploy(await up()));
    const last = await up();

    const deployments = await api<Deployment[]>(last, '/deployments?service=shop&environment=staging');
    assert.deepEqual(deployments.filter((deployment) => deployment.status === 'in_progress'), [], 'no deployment stays in progress');
    const serving = deployments.find((deployment) => deployment.status === 'succeeded');
    assert.ok(serving?.url, 'a release serves staging');
    for (const id of cut) {
      const run = await api<{ status: string }>(last, `/runs/${id}`);
      assert.notEqual(run.status, 'running', `run ${id} is over`);
    }

    const containers = await ownContainers();
    const described = containers.map((container) => `${container.Names[0]} release ${container.Labels['slipway.release']} ${container.State}`).join(', ');
    assert.equal(containers.length, 1, `exactly one container of this instance remains for shop in staging, found: ${described}`);
    const [remaining] = containers;
    assert.equal(remaining!.Labels['slipway.service'], 'shop');
    assert.equal(remaining!.Labels['slipway.environment'], 'staging');
    assert.equal(Number(remaining!.Labels['slipway.release']), serving.releaseId, 'the container left is the release the store says serves');
    assert.equal(remaining!.State, 'running');
    assert.deepEqual(remaining!.Names, [`/slipway-${ownerOf(dataDir)}-shop-staging-d${serving.id}-1`], 'the instance that deployment placed and proved');
    const [staging] = (await api<ServiceOverview>(last, '/services/shop')).environments;
    assert.equal(serving.url, staging!.address!.url, 'the store says it serves at the stable address');
    const answer = await fetch(`${staging!.address!.portUrl}/version`, { signal: AbortSignal.timeout(5000) });
    assert.equal((await answer.text()).trim(), '1', 'and the proxy sends the requests there');
  });
});
