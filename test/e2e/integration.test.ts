// The integration stage end to end on the real engine: a server process, three git repositories
// built by the real pipeline into the local registry, `payment` calling `notification` by name
// and notification calling a mail API (an infrastructure container). payment's suite is a
// test-suite service of its own repository; notification's is a command in its toolchain image.
// A broken dependency fails the stage with its own log lines; the suite passes against the
// release serving in staging; two runs' stages run side by side; and nothing is left (containers,
// networks) after a pass, a failure, a cancel, or a server killed mid-stage and started again.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SlipwayClient } from '../../src/client/client.ts';
import type { RunDetail } from '../../src/client/api.ts';
import type { ContainerEngine } from '../../src/docker/connect.ts';
import { BUSYBOX_IMAGE, ensureNodeImage, NODE_IMAGE } from '../../src/images/base.ts';
import { ownerOf } from '../../src/server/main.ts';
import { startServerProcess, type ServerProcess } from '../support/cli.ts';
import { removeBuiltImages, requireBusybox, requireRegistry } from '../support/engine.ts';
import { removeImages, removeOwned, repository } from '../support/fleet.ts';
import { notificationFiles, paymentFiles, suiteFiles } from '../support/integration-apps.ts';
import { proxyYaml, stopProxy, testProxy } from '../support/proxy.ts';
import { runEnded, until } from '../support/wait.ts';

const root = mkdtempSync(join(tmpdir(), 'slipway-integration-'));
const dataDir = join(root, 'data');
const configFile = join(root, 'slipway.yml');
const repositories = { payment: repository(root, 'payment'), notification: repository(root, 'notification'), 'payment-tests': repository(root, 'payment-tests') };
let engine: ContainerEngine;
let server: ServerProcess;
let client: SlipwayClient;

async function up(): Promise<void> {
  server = await startServerProcess(['--config', configFile, '--data', dataDir]);
  client = new SlipwayClient(server.url, readFileSync(join(dataDir, 'cli-token'), 'utf8').trim());
}

const waitRun = (id: number, timeoutMs?: number): Promise<RunDetail> => runEnded(client, id, timeoutMs);

async function integrationLog(run: RunDetail): Promise<string[]> {
  const stage = run.stages.find((candidate) => candidate.name === 'integration')!;
  return (await client.logs(run.id, { stage: stage.id, limit: 1000 })).map((line) => line.text);
}

/** What integration stages left: their containers and networks (found by label), and step containers. */
async function leftovers(): Promise<string[]> {
  const owner = `slipway.owner=${ownerOf(dataDir)}`;
  const containers = await engine.docker.listContainers({ all: true, filters: { label: [owner] } });
  const networks = await engine.docker.listNetworks({ filters: { label: [owner, 'slipway.sandbox'] } });
  return [
    ...containers.filter((container) => container.Labels['slipway.sandbox'] || container.Labels['slipway.step']).map((container) => container.Names[0]!),
    ...networks.map((network) => network.Name),
  ];
}

async function nothingLeft(): Promise<void> {
  await until('integration stages to leave nothing behind', async () => (await leftovers()).length === 0, 30_000).catch(async (error: Error) => {
    throw new Error(`${error.message}: ${(await leftovers()).join(', ')}`);
  });
}

/** Waits until the run's suite is running. */
async function suiteRunning(id: number): Promise<void> {
  await until(`run #${id}'s suite to run`, async () => (await integrationLog(await client.run(id))).some((line) => line.startsWith('Running the suite')), 180_000);
}

describe('integration stage end to end (Podman, registry, git)', { timeout: 1_200_000 }, () => {
  before(async () => {
    ({ engine } = await requireBusybox());
    const registry = await requireRegistry();
    await ensureNodeImage(engine.docker);
    const proxy = await testProxy();
    writeFileSync(
      configFile,
      [
        `registry: ${registry}`,
        'pipeline:',
        '  - stage: build',
        '  - stage: integration',
        '    type: integration',
        '  - stage: deploy',
        '    environment: staging',
        'environments:',
        '  staging: { health_timeout: 30s, drain_timeout: 1s, bake: 0 }',
        'infrastructure:',
        '  mail:',
        `    image: ${BUSYBOX_IMAGE}`,
        '    command: [sh, -c, "mkdir -p /www && echo accepted > /www/index.html && exec httpd -f -p 8025 -h /www"]',
        '    port: 8025',
        '    aliases: [smtp-api]',
        '    health: /',
        'services:',
        '  payment:',
        `    repo: ${repositories.payment.bare}`,
        '    port: 3000',
        '    health: { path: /healthz, interval: 200ms }',
        '    requires: [notification]',
        '    variables: { NOTIFY_URL: "http://notification:3000" }',
        '    stages: { integration: { suite: payment-tests } }',
        '  notification:',
        `    repo: ${repositories.notification.bare}`,
        '    port: 3000',
        '    health: { path: /healthz, interval: 200ms }',
        '    requires: [mail]',
        `    toolchain: ${NODE_IMAGE}`,
        '    variables: { MAIL_URL: "http://smtp-api:8025/" }',
        '    stages: { integration: { run: node check.js } }',
        '  payment-tests:',
        `    repo: ${repositories['payment-tests'].bare}`,
        '    test_suite: true',
        ...proxyYaml(proxy),
        '',
      ].join('\n'),
    );
    repositories.payment.push(paymentFiles(), 'payment v1');
    repositories['payment-tests'].push(suiteFiles(), 'suite v1');
    repositories.notification.push(notificationFiles({ broken: 'its mail API key is missing' }), 'notification v1, broken');
    await up();
  });

  after(async () => {
    const releases = client ? await Promise.all(['payment', 'notification', 'payment-tests'].map((service) => client.releases({ service, limit: 100 }).catch(() => []))) : [];
    await server?.kill();
    await stopProxy(dataDir);
    if (engine) {
      await removeOwned(ownerOf(dataDir));
      await removeImages(new Set(releases.flat().map((release) => release.digest)));
      // What the stage built from branch heads is no release.
      const heads = Object.values(repositories).flatMap((repo) => execFileSync('git', ['--git-dir', repo.bare, 'log', '--format=%H', 'main'], { encoding: 'utf8' }).trim().split('\n'));
      await removeBuiltImages(heads);
    }
    rmSync(root, { recursive: true, force: true });
  });

  it('builds a test suite like any service and never deploys it', async () => {
    const run = await waitRun((await client.startRun({ service: 'payment-tests' })).id);
    assert.equal(run.status, 'succeeded', run.reason ?? '');
    const statuses = Object.fromEntries(run.stages.map((stage) => [stage.name, stage.status]));
    assert.deepEqual(statuses, { checkout: 'succeeded', build: 'succeeded', integration: 'skipped', deploy: 'skipped' });
  });

  it('builds a dependency with no release from its branch head; broken, it fails the stage with its own last lines, and nothing is left', async () => {
    const run = await waitRun((await client.startRun({ service: 'payment' })).id);
    assert.equal(run.status, 'failed');
    const stage = run.stages.find((candidate) => candidate.name === 'integration')!;
    assert.equal(stage.status, 'failed');
    assert.match(stage.reason ?? '', /notification exited with code 1 before it was ready/);
    const log = await integrationLog(run);
    assert.ok(log.includes('notification has no release serving in staging: building it from the head of main'), log.join('\n'));
    assert.ok(log.includes('notification | notification: refusing to start: its mail API key is missing'), log.join('\n'));
    await nothingLeft();
  });

  it("passes against the release serving in staging, payment calling notification and notification the mail API by name, and leaves nothing", async () => {
    repositories.notification.push(notificationFiles(), 'notification v2');
    const notification = await waitRun((await client.startRun({ service: 'notification' })).id);
    assert.equal(notification.status, 'succeeded', notification.reason ?? '');
    assert.ok((await integrationLog(notification)).includes('check: notification reached the mail API'));
    const [serving] = await client.releases({ service: 'notification', limit: 1 });

    const payment = await waitRun((await client.startRun({ service: 'payment' })).id);
    assert.equal(payment.status, 'succeeded', payment.reason ?? '');
    const log = await integrationLog(payment);
    assert.ok(log.includes(`notification: release #${serving!.id}, serving in staging`), log.join('\n'));
    assert.ok(log.some((line) => /^suite: notification heard of payment \d+$/.test(line)), log.join('\n'));
    await nothingLeft();
  });

  it("runs two runs' integration stages side by side", async () => {
    const variables = { SUITE_SLEEP_MS: '6000' };
    const started = await Promise.all(['payment', 'notification'].map((service) => client.startRun({ service, variables })));
    await until('two integration environments at once', async () => (await engine.docker.listNetworks({ filters: { label: [`slipway.owner=${ownerOf(dataDir)}`, 'slipway.sandbox'] } })).length >= 2, 240_000);
    for (const run of await Promise.all(started.map((run) => waitRun(run.id)))) assert.equal(run.status, 'succeeded', `${run.service}: ${run.reason}`);
    await nothingLeft();
  });

  it('a cancel removes everything the stage started', async () => {
    const { id } = await client.startRun({ service: 'payment', variables: { SUITE_SLEEP_MS: '600000' } });
    await suiteRunning(id);
    assert.ok((await leftovers()).length > 0);
    await client.cancelRun(id);
    assert.equal((await waitRun(id, 60_000)).status, 'cancelled');
    await nothingLeft();
  });

  it('a server killed mid-stage finds what the stage left at start-up and removes it', async () => {
    const { id } = await client.startRun({ service: 'payment', variables: { SUITE_SLEEP_MS: '600000' } });
    await suiteRunning(id);
    await server.kill();
    assert.ok((await leftovers()).length > 0, 'the killed server left its integration environment');
    await up();
    const run = await waitRun(id, 60_000);
    assert.equal(run.status, 'failed');
    assert.match(run.stages.find((stage) => stage.name === 'integration')!.reason ?? '', /server stopped while this integration stage ran/);
    await nothingLeft();
  });
});
