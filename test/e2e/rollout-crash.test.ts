// A server killed (SIGKILL) in the middle of a deploy behind the proxy and started again ends with
// exactly one release serving and nothing stray: killed while the new release's instances wait
// for their health check, the previous release serves on and the new instances go; killed during
// the bake, the new release (its health gate passed) serves and the previous instances go. The
// proxy is its own process, so clients sending requests all along see no failure, not even while
// no Slipway runs at all.

import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SlipwayClient } from '../../src/client/client.ts';
import type { RunDetail } from '../../src/client/api.ts';
import { isTerminalRun } from '../../src/core/types.ts';
import { ensureNodeImage } from '../../src/images/base.ts';
import { ownerOf } from '../../src/server/main.ts';
import { startServerProcess, type ServerProcess } from '../support/cli.ts';
import { requireEngine, requireRegistry } from '../support/engine.ts';
import { releaseFiles, removeOwned, repository } from '../support/fleet.ts';
import { stopProxy, testProxy, proxyYaml } from '../support/proxy.ts';
import { startTraffic, type Traffic } from '../support/traffic.ts';
import { until } from '../support/wait.ts';

const root = mkdtempSync(join(tmpdir(), 'slipway-rollout-crash-'));
const dataDir = join(root, 'data');
const repo = repository(root, 'payment');
let server: ServerProcess | null = null;
let traffic: Traffic | null = null;

async function writeConfig(bake: string): Promise<string> {
  const file = join(root, `slipway-${bake}.yml`);
  writeFileSync(
    file,
    [
      `registry: ${await requireRegistry()}`,
      'pipeline:',
      '  - stage: build',
      '  - stage: deploy-staging',
      '    environment: staging',
      'environments:',
      '  staging:',
      '    replicas: 2',
      '    health_timeout: 60s',
      '    drain_timeout: 2s',
      `    bake: ${bake}`,
      'services:',
      '  payment:',
      `    repo: ${repo.bare}`,
      '    port: 3000',
      '    health: { path: /healthz, interval: 200ms, failures: 3 }',
      ...proxyYaml(proxy),
      '',
    ].join('\n'),
  );
  return file;
}

let proxy: Awaited<ReturnType<typeof testProxy>>;
let quickBake: string;
let longBake: string;

async function start(config: string): Promise<SlipwayClient> {
  server = await startServerProcess(['--config', config, '--data', dataDir]);
  return new SlipwayClient(server.url, readFileSync(join(dataDir, 'cli-token'), 'utf8').trim());
}

async function ended(client: SlipwayClient, id: number): Promise<RunDetail> {
  return until(`run #${id} to end`, async () => {
    const run = await client.run(id);
    return isTerminalRun(run.status) ? run : null;
  }, 240_000);
}

/** payment's containers in staging: their names and release labels. */
async function instances(): Promise<Array<{ name: string; label: string; running: boolean }>> {
  const { docker } = await requireEngine();
  const listed = await docker.listContainers({ all: true, filters: { label: [`slipway.owner=${ownerOf(dataDir)}`, 'slipway.service=payment'] } });
  return Promise.all(
    listed.map(async (container) => {
      const env = (await docker.getContainer(container.Id).inspect()).Config.Env ?? [];
      const label = env.find((entry) => entry.startsWith('RELEASE='))?.slice('RELEASE='.length) ?? '?';
      return { name: container.Names[0]!.replace(/^\//, ''), label, running: container.State === 'running' };
    }),
  );
}

async function stageLog(client: SlipwayClient, id: number): Promise<string> {
  const run = await client.run(id);
  const stage = run.stages.find((candidate) => candidate.environment === 'staging');
  return stage ? (await client.logs(id, { stage: stage.id, limit: 1000 })).map((line) => line.text).join('\n') : '';
}

before(async () => {
  await ensureNodeImage((await requireEngine()).docker);
  proxy = await testProxy();
  quickBake = await writeConfig('1s');
  longBake = await writeConfig('60s');
});

after(async () => {
  await traffic?.stop();
  await server?.kill();
  await stopProxy(dataDir);
  await removeOwned(ownerOf(dataDir));
  rmSync(root, { recursive: true, force: true });
});

describe('a server killed during a deploy behind the proxy', { timeout: 600_000 }, () => {
  let client: SlipwayClient;

  it('killed while the new instances wait for their health check: the previous release serves on', async () => {
    repo.push(releaseFiles('v1'), 'v1');
    client = await start(quickBake);
    const first = await ended(client, (await client.startRun({ service: 'payment' })).id);
    assert.equal(first.status, 'succeeded', first.reason ?? '');
    const address = (await client.service('payment')).environments[0]!.address!;
    traffic = startTraffic({ url: `${address.portUrl}/`, clients: 2, websocketUrl: `${address.portUrl!.replace(/^http/, 'ws')}/ws` });

    repo.push(releaseFiles('v2', { HEALTHY_AFTER_MS: '30000' }), 'v2');
    const second = (await client.startRun({ service: 'payment' })).id;
    await until('a candidate of v2 running', async () => (await instances()).some((instance) => instance.name.endsWith('-candidate') && instance.running), 120_000);
    await server!.kill();
    client = await start(quickBake);
    const run = await ended(client, second);
    assert.equal(run.status, 'failed');
    const deployment = (await client.deployments({ service: 'payment', limit: 1 }))[0]!;
    assert.equal(deployment.status, 'failed');
    assert.match(deployment.reason ?? '', /the server stopped during this deployment, before release #\d+ passed its health check; release #\d+ serves on/);
    const left = await instances();
    assert.deepEqual(left.map((instance) => [instance.label, instance.running, instance.name.endsWith('-candidate')]), [['v1', true, false], ['v1', true, false]]);
  });

  it('killed during the bake: the new release serves, the previous instances are gone', async () => {
    await server!.kill();
    client = await start(longBake);
    repo.push(releaseFiles('v3'), 'v3');
    const third = (await client.startRun({ service: 'payment' })).id;
    await until('the bake of v3', async () => /Baking for 1m/.test(await stageLog(client, third)), 120_000);
    await server!.kill();
    client = await start(quickBake);
    const run = await ended(client, third);
    assert.equal(run.status, 'succeeded', run.reason ?? '');
    const deployment = (await client.deployments({ service: 'payment', limit: 1 }))[0]!;
    assert.equal(deployment.status, 'succeeded');
    const left = await instances();
    assert.deepEqual(left.map((instance) => [instance.label, instance.running]), [['v3', true], ['v3', true]]);
    const portUrl = (await client.service('payment')).environments[0]!.address!.portUrl;
    const answers = await Promise.all(Array.from({ length: 20 }, async () => (await (await fetch(`${portUrl}/`)).json()).release));
    assert.deepEqual(new Set(answers), new Set(['v3']), 'only v3 answers');

    const report = await traffic!.stop();
    traffic = null;
    assert.equal(report.failed, 0, JSON.stringify(report.failures.slice(0, 5)));
    assert.ok(report.answeredBy.v1 && report.answeredBy.v3 && !report.answeredBy.v2, JSON.stringify(report.answeredBy));
  });
});
