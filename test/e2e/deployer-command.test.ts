// The command target (src/deployers/command/deployer.ts) on the real engine: the Deployer
// conformance suite, with a command that fails to roll out one release; then what its command
// is told, how its exit decides a deploy and a revert, tasks in the release's own image, and
// that none of its containers outlive the command.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { EngineApiBuilder } from '../../src/builders/engine-api/builder.ts';
import type { Release } from '../../src/core/types.ts';
import { CommandDeployer, type CommandSettings } from '../../src/deployers/command/deployer.ts';
import type { DeployRequest, Deployer } from '../../src/deployers/deployer.ts';
import type { ContainerEngine } from '../../src/docker/connect.ts';
import { requireBusybox, requireRegistry } from '../support/engine.ts';
import { deployerConformance } from '../unit/deployer-conformance.ts';

const suffix = randomBytes(4).toString('hex');
const OWNER = `command-${suffix}`;
const never = new AbortController().signal;

/** A release of service `web`: a busybox image holding its own /release file, pushed to the registry. */
async function buildRelease(engine: ContainerEngine, busybox: string, repository: string, id: number, tag: string, contexts: string[]): Promise<Release> {
  const context = mkdtempSync(join(tmpdir(), 'slipway-command-deployer-'));
  contexts.push(context);
  writeFileSync(join(context, 'release'), `${tag}\n`);
  writeFileSync(join(context, 'Dockerfile'), `FROM ${busybox}\nCOPY release /release\n`);
  const built = await new EngineApiBuilder(engine).build({ contextDir: context, dockerfile: 'Dockerfile', repository, tag, aliases: [], labels: { 'slipway.owner': OWNER } }, () => {}, never);
  if (!built.ok) throw new Error(`building release ${tag} failed: ${built.error}`);
  const { image, digest } = built.value;
  return { id, service: 'web', commitSha: String(id).padStart(40, '0'), image, digest, tag: null, origin: 'branch', lane: 'main', runId: id, createdAt: new Date().toISOString() };
}

async function removeReleases(engine: ContainerEngine, registry: string, releases: Release[], contexts: string[]): Promise<void> {
  for (const release of releases) {
    // Found by its reference, not by a listing: Podman 4.3 may fail a listing while other tests remove images.
    const id = (await engine.docker.getImage(release.image).inspect().catch(() => null))?.Id;
    if (id) await engine.docker.getImage(id).remove({ force: true }).catch(() => {});
    const [name] = release.image.slice(registry.length + 1).split(':');
    await fetch(`http://${registry}/v2/${name}/manifests/${release.digest}`, { method: 'DELETE' }).catch(() => {});
  }
  for (const dir of contexts) rmSync(dir, { recursive: true, force: true });
}

deployerConformance('command', async () => {
  const { engine, image: busybox } = await requireBusybox();
  const registry = await requireRegistry();
  const repository = `${registry}/slipway-command-conformance-${suffix}`;
  const contexts: string[] = [];
  const healthy = await buildRelease(engine, busybox, repository, 0, 'healthy', contexts);
  const neverHealthy = await buildRelease(engine, busybox, repository, 0, 'never-healthy', contexts);
  // The platform it drives never sees one release become healthy, and says so after a while.
  const run = [
    `if [ "$SLIPWAY_DIGEST" = "${neverHealthy.digest}" ]; then echo "$SLIPWAY_SERVICE release $SLIPWAY_RELEASE did not become healthy" >&2; sleep 3; exit 1; fi`,
    'echo "$SLIPWAY_SERVICE release $SLIPWAY_RELEASE is out"',
    'echo SLIPWAY_URL=https://$SLIPWAY_SERVICE.$SLIPWAY_ENVIRONMENT.example.com',
  ].join('; ');
  let nextId = 1;
  return {
    deployer: new CommandDeployer(engine, OWNER, { image: busybox, run }),
    service: { name: 'web', port: 8080, health: { path: '/healthz', intervalMs: 1000, timeoutMs: 1000, successes: 1, failures: 3 } },
    async release(health) {
      return { ...(health === 'healthy' ? healthy : neverHealthy), id: nextId++ };
    },
    cleanup: () => removeReleases(engine, registry, [healthy, neverHealthy], contexts),
  };
});

describe('CommandDeployer on the real engine', { timeout: 300_000 }, () => {
  let engine: ContainerEngine;
  let busybox: string;
  let registry: string;
  let repository: string;
  /** Two releases of one service, each image holding its own /release file. */
  let older: Release;
  let newer: Release;
  const contexts: string[] = [];

  before(async () => {
    ({ engine, image: busybox } = await requireBusybox());
    registry = await requireRegistry();
    repository = `${registry}/slipway-command-${suffix}`;
    older = await buildRelease(engine, busybox, repository, 1, 'one', contexts);
    newer = await buildRelease(engine, busybox, repository, 2, 'two', contexts);
  });

  afterEach(async () => {
    const left = await engine.docker.listContainers({ all: true, filters: { label: [`slipway.owner=${OWNER}`] } });
    assert.deepEqual(
      left.map((container) => container.Names),
      [],
    );
  });

  after(async () => {
    await removeReleases(engine, registry, [older, newer].filter(Boolean), contexts);
  });

  function request(current: Release, previous: Release | null): DeployRequest {
    return {
      deploymentId: 7,
      release: current,
      previous,
      service: {
        name: 'web',
        port: 8080,
        health: { path: '/healthz', intervalMs: 1000, timeoutMs: 1000, successes: 1, failures: 3 },
        aliases: [],
        variables: { LOG_LEVEL: 'debug', REGION: 'from-service', SLIPWAY_IMAGE: 'a user cannot replace it' },
      },
      environment: {
        name: 'production',
        healthTimeoutMs: 60_000,
        // API_TOKEN stands for an environment secret: the engine merges those into the variables.
        variables: { REGION: 'eu-west', API_TOKEN: 's3cr3t value' },
        replicas: 3,
        batch: 1,
        drainTimeoutMs: 30_000,
      },
    };
  }

  function deployer(run: string, settings: Partial<CommandSettings> = {}): CommandDeployer {
    return new CommandDeployer(engine, OWNER, { image: busybox, run, ...settings });
  }

  /** Collects a log; `variables` reads the KEY=VALUE lines `env` printed. */
  function collect() {
    const lines = { stdout: [] as string[], stderr: [] as string[] };
    const log = (line: string, stream: 'stdout' | 'stderr' = 'stdout') => void lines[stream].push(line);
    const variables = () => Object.fromEntries(lines.stdout.filter((line) => /^[A-Z_]+=/.test(line)).map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]));
    return { lines, log, variables };
  }

  const reference = (of: Release) => `${repository}@${of.digest}`;

  test('the deploy command is told the release, the previous one and the variables; exit 0 moves traffic to the URL it printed', async () => {
    const { log, lines, variables } = collect();
    const outcome = await deployer('env; echo SLIPWAY_URL=http://first.invalid; echo SLIPWAY_URL=https://$SLIPWAY_SERVICE.example.com/').deploy(request(newer, older), log, never);
    assert.deepEqual(outcome, { trafficMoved: true, url: 'https://web.example.com/', instances: [] }, lines.stderr.join('\n'));
    const told = variables();
    assert.equal(told.SLIPWAY_IMAGE, reference(newer));
    assert.equal(told.SLIPWAY_DIGEST, newer.digest);
    assert.equal(told.SLIPWAY_RELEASE, '2');
    assert.equal(told.SLIPWAY_SERVICE, 'web');
    assert.equal(told.SLIPWAY_ENVIRONMENT, 'production');
    assert.equal(told.SLIPWAY_PORT, '8080');
    assert.equal(told.SLIPWAY_REPLICAS, '3');
    assert.equal(told.SLIPWAY_PREVIOUS_IMAGE, reference(older));
    assert.equal(told.SLIPWAY_PREVIOUS_DIGEST, older.digest);
    assert.equal(told.SLIPWAY_PREVIOUS_RELEASE, '1');
    assert.equal(told.LOG_LEVEL, 'debug');
    assert.equal(told.API_TOKEN, 's3cr3t value');
    // The environment's value wins over the service's.
    assert.equal(told.REGION, 'eu-west');
    assert.equal(lines.stdout[0], `running the deploy command in ${busybox} for release 2`);
  });

  test('a first deploy is told empty previous variables, and no printed URL answers an empty one', async () => {
    const { log, variables } = collect();
    const outcome = await deployer('env').deploy(request(older, null), log, never);
    assert.deepEqual(outcome, { trafficMoved: true, url: '', instances: [] });
    const told = variables();
    assert.equal(told.SLIPWAY_IMAGE, reference(older));
    assert.equal(told.SLIPWAY_PREVIOUS_IMAGE, '');
    assert.equal(told.SLIPWAY_PREVIOUS_DIGEST, '');
    assert.equal(told.SLIPWAY_PREVIOUS_RELEASE, '');
  });

  test('while it runs, the command is a task of this owner, never a deployed instance', async () => {
    const target = deployer('echo started; sleep 600');
    const controller = new AbortController();
    let labels: Array<Record<string, string>> = [];
    const { log } = collect();
    const outcome = await target.deploy(
      request(newer, older),
      (line, stream) => {
        log(line, stream);
        if (line !== 'started') return;
        void engine.docker
          .listContainers({ filters: { label: [`slipway.owner=${OWNER}`] } })
          .then((running) => (labels = running.map((container) => container.Labels)))
          .finally(() => controller.abort());
      },
      controller.signal,
    );
    assert.deepEqual(outcome, { trafficMoved: false, reason: 'deploy cancelled' });
    assert.equal(labels.length, 1);
    assert.equal(labels[0]!['slipway.task'], 'deploy');
    assert.deepEqual(await target.listInstances(), []);
  });

  test('a non-zero exit fails the deploy with its code; its output is in the log', async () => {
    const { log, lines } = collect();
    const outcome = await deployer('echo rolling out; echo "error: deployment web not found" >&2; exit 1').deploy(request(newer, older), log, never);
    assert.deepEqual(outcome, { trafficMoved: false, reason: 'the deploy command exited with code 1' });
    assert.deepEqual(lines.stdout.slice(1), ['rolling out']);
    assert.deepEqual(lines.stderr, ['error: deployment web not found']);
  });

  test('a command that runs past its timeout fails the deploy', async () => {
    const { log } = collect();
    const outcome = await deployer('sleep 600', { timeoutMs: 2_000 }).deploy(request(newer, older), log, never);
    assert.deepEqual(outcome, { trafficMoved: false, reason: 'the deploy command did not finish: timed out after 2s' });
  });

  test('a release without a valid digest fails the deploy before anything runs', async () => {
    const { log, lines } = collect();
    const outcome = await deployer('echo never').deploy(request({ ...newer, digest: 'latest' }, older), log, never);
    assert.deepEqual(outcome, { trafficMoved: false, reason: 'release 2 has no valid digest ("latest")' });
    assert.deepEqual(lines.stdout, []);
  });

  test('revert runs the same command with the older release, the reverted one as its previous', async () => {
    const { log, variables } = collect();
    const result = await deployer('env').revert(request(newer, older), [], log, never);
    assert.deepEqual(result, { reverted: true });
    const told = variables();
    assert.equal(told.SLIPWAY_IMAGE, reference(older));
    assert.equal(told.SLIPWAY_DIGEST, older.digest);
    assert.equal(told.SLIPWAY_RELEASE, '1');
    assert.equal(told.SLIPWAY_PREVIOUS_IMAGE, reference(newer));
    assert.equal(told.SLIPWAY_PREVIOUS_RELEASE, '2');
  });

  test('a revert whose command fails, or that has no previous release, says why', async () => {
    const { log } = collect();
    assert.deepEqual(await deployer('exit 5').revert(request(newer, older), [], log, never), { reverted: false, reason: 'the revert command exited with code 5' });
    assert.deepEqual(await deployer('echo never').revert(request(newer, null), [], log, never), { reverted: false, reason: 'no previous release to go back to' });
  });

  test("a task runs in the release's own image with the deploy's variables and its own, its exit code passed through", async () => {
    const { log, lines } = collect();
    const task = { name: 'pre-deploy', command: 'cat /release; echo "$SLIPWAY_RELEASE $API_TOKEN $SLIPWAY_URL"; exit 4', env: { SLIPWAY_URL: 'http://web.invalid' }, timeoutMs: 60_000 };
    // The deploy command's image is busybox: the task must not run there.
    const exit = await deployer('echo not this').runTask(request(newer, older), task, log, never);
    assert.deepEqual(exit, { exitCode: 4 });
    assert.deepEqual(
      lines.stdout.filter((line) => !line.startsWith('pull')),
      ['two', '2 s3cr3t value http://web.invalid'],
    );
  });

  test('nothing stands by and nothing is placed: the platform the command drives keeps its own', async () => {
    // Through the port, as the engine calls it.
    const target: Deployer = deployer('true');
    const req = request(newer, older);
    assert.equal(target.keepsPrevious, false);
    assert.deepEqual(await target.observe(req, []), []);
    assert.deepEqual(await target.lastLines('anything', 10), []);
    await target.retire(req, [], () => {});
    assert.equal(await target.status('web', 'production'), null);
    assert.deepEqual(await target.listInstances(), []);
    await target.serveOnly('web', 'production', []);
    await target.removeInstance('anything');
    assert.equal(await target.pruneImages([], []), 0);
    assert.equal(target.address('web', 'production'), null);
  });
});
