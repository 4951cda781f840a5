// Zero-downtime deploys end to end on the real thing: HAProxy driven through its runtime API,
// Podman networks per environment, images built from git commits by the real pipeline and
// pushed to the local registry. Two services (payment calls notification by name) in staging and
// production (three replicas, rolled one at a time). Clients send requests all along, with a
// long keep-alive connection and a WebSocket, across 10 deploys, 3 automatic rollbacks (one of each
// kind), a failing migration, a release never healthy and 2 manual rollbacks: no request fails.
// The deploy benchmark runs the longer marathon (20 deploys, 5 automatic and 5 manual rollbacks).

import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, describe, it } from 'node:test';
import type { LogLine } from '../../src/core/types.ts';
import { ensureNodeImage } from '../../src/images/base.ts';
import { requireEngine, requireRegistry } from '../support/engine.ts';
import { startFleet, type Fleet } from '../support/fleet.ts';
import { EACH_FLAW_ONCE, runMarathon, timeline, type MarathonResult } from '../support/marathon.ts';
import { until } from '../support/wait.ts';

let fleet: Fleet;

before(async () => {
  const registry = await requireRegistry();
  await ensureNodeImage((await requireEngine()).docker);
  fleet = await startFleet({ registry });
});

after(async () => {
  await fleet?.close();
});

/** GET through the proxy's shared port with a host name, as a browser at payment.staging.localhost would. */
function getByHost(port: number, host: string, path: string): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const sent = request({ host: '127.0.0.1', port, path, headers: { host } }, (response) => {
      let text = '';
      response.on('data', (chunk) => (text += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: text.startsWith('{') ? JSON.parse(text) : text }));
    });
    sent.on('error', reject);
    sent.end();
  });
}

async function stageLog(runId: number, environment: string): Promise<string[]> {
  const run = await fleet.admin.run(runId);
  const stage = run.stages.find((candidate) => candidate.environment === environment);
  if (!stage) return [];
  const lines: LogLine[] = await fleet.admin.logs(runId, { stage: stage.id, limit: 1000 });
  return lines.map((line) => line.text);
}

describe('zero-downtime deploys behind the proxy', { timeout: 1_500_000 }, () => {
  it('serves both services in both environments at stable addresses, each calling its own environment\'s peer by name', async () => {
    for (const service of ['notification', 'payment'] as const) {
      const run = await fleet.run(service);
      assert.equal(run.status, 'succeeded', `${service}: ${run.reason}`);
    }
    for (const environment of ['staging', 'production']) {
      const url = await fleet.routeUrl('payment', environment);
      const answer = await (await fetch(`${url}/peer`)).json();
      assert.equal(answer.peer.service, 'notification');
      assert.equal(answer.peer.environment, environment, `payment in ${environment} reached ${answer.peer.environment}'s notification`);
      const byHost = await getByHost(fleet.proxy.port, `payment.${environment}.localhost`, '/');
      assert.equal(byHost.status, 200);
      assert.deepEqual([byHost.body.service, byHost.body.environment], ['payment', environment]);
    }
    const overview = await fleet.admin.service('payment');
    const staging = overview.environments.find((state) => state.environment === 'staging')!;
    assert.equal(staging.address?.url, `http://payment.staging.localhost:${fleet.proxy.port}`);
    assert.equal(staging.address?.portUrl, await fleet.routeUrl('payment', 'staging'));
    assert.equal(staging.current?.url, staging.address?.url, 'the deployment records the stable address');
  });

  let marathon: MarathonResult;

  it('10 deploys, 3 automatic and 2 manual rollbacks, a failing migration and a release never healthy: no request fails', async () => {
    marathon = await runMarathon(fleet, { goodRuns: 5, badReleases: EACH_FLAW_ONCE, manualRollbacks: 2 });
    const { staging, production } = marathon;
    // With each step's times, so a failure's `at` says which deploy step it fell in.
    const failures = (report: typeof staging) => `${JSON.stringify(report.failures.slice(0, 10), null, 1)}\nsteps:\n${timeline(marathon.steps)}`;
    assert.ok(staging.sent > 500 && production.sent > 250, `too few requests: ${staging.sent}, ${production.sent}`);
    assert.equal(staging.failed, 0, `staging: ${staging.failed} of ${staging.sent} failed: ${failures(staging)}`);
    assert.equal(production.failed, 0, `production: ${production.failed} of ${production.sent} failed: ${failures(production)}`);
    assert.equal(staging.keepAlive.failed, 0);
    assert.ok(staging.keepAlive.sent > 100);
    assert.equal(staging.websocket.failed, 0);
    assert.ok(staging.websocket.echoed > 100, `the WebSocket echoed ${staging.websocket.echoed} messages`);

    const deploys = marathon.steps.filter((step) => step.what.endsWith(' deploys'));
    assert.equal(deploys.length, 5);
    for (const step of deploys) {
      assert.equal(step.run.status, 'succeeded', `${step.what}: ${step.run.reason}`);
      assert.deepEqual(step.deployments.map((deployment) => [deployment.environment, deployment.status]), [['staging', 'succeeded'], ['production', 'succeeded']]);
    }
    const rolledBack = marathon.steps.filter((step) => step.deployments.some((deployment) => deployment.status === 'rolled_back'));
    assert.equal(rolledBack.length, 3, marathon.steps.map((step) => `${step.what}: ${step.deployments.map((d) => d.status)}`).join('\n'));
    for (const step of rolledBack) assert.match(step.run.reason ?? '', /was rolled back/);

    const migration = marathon.steps.find((step) => step.what.includes('migration'))!;
    assert.equal(migration.run.status, 'failed');
    assert.match(migration.run.reason ?? '', /pre-deploy command .* exited with code 1/);
    const neverHealthy = marathon.steps.find((step) => step.what.includes('never passes'))!;
    assert.equal(neverHealthy.deployments[0]?.status, 'failed');
    for (const label of [migration.what, neverHealthy.what].map((what) => what.split(' ')[0]!)) {
      assert.equal(staging.answeredBy[label], undefined, `${label} never took a request`);
    }

    const manual = marathon.steps.filter((step) => step.what.startsWith('manual rollback'));
    assert.equal(manual.length, 2);
    for (const step of manual) assert.equal(step.run.status, 'succeeded', `${step.what}: ${step.run.reason}`);
    assert.ok(marathon.canary.errors > 0, 'the canary saw the broken endpoint answer errors before the rollback');
  });

  it('leaves the evidence of an automatic rollback in the stage log', async () => {
    const unhealthy = marathon.steps.find((step) => step.what.includes('health check during the bake'))!;
    const log = (await stageLog(unhealthy.run.id, 'staging')).join('\n');
    assert.match(log, /failed its health check: /);
    assert.match(log, /Last \d+ output lines of instance/);
    assert.match(log, /Rolled back: release #\d+ serves staging again/);
    const errors = marathon.steps.find((step) => step.what.includes('errors after the switch'))!;
    // Its errors, or (on a machine busy with the whole suite) a health check timing out first: either rolls it back.
    assert.match((await stageLog(errors.run.id, 'staging')).join('\n'), /the proxy saw \d+ errors? from the new release|failed its health check: L7TOUT/);
    const smoke = marathon.steps.find((step) => step.what.includes('smoke test'))!;
    assert.match((await stageLog(smoke.run.id, 'staging')).join('\n'), /smoke: GET .*\/orders answered 500/);
  });

  it('rolls production\'s three replicas one at a time', async () => {
    const deploy = marathon.steps.find((step) => step.what.endsWith(' deploys'))!;
    const log = (await stageLog(deploy.run.id, 'production')).join('\n');
    for (const count of [1, 2, 3]) assert.match(log, new RegExp(`${count} of 3 instances of release #\\d+ take requests; ${count} of 3 previous on standby`));
  });

  it('keeps the images of recent releases on the host and prunes older ones', async () => {
    const { docker } = await requireEngine();
    const payment = (await fleet.admin.releases({ service: 'payment', limit: 100 })).map((release) => release.digest);
    assert.ok(payment.length > 5, `${payment.length} payment releases: more than the host keeps`);
    // Podman answers a listing with an error now and then while other tests remove images: asked again.
    const paymentImages = async () =>
      (await docker.listImages().catch(() => null))?.filter((image) => (image.RepoDigests ?? []).some((reference) => payment.includes(reference.split('@')[1]!))) ?? null;
    // keep_images 3, plus what serves in each environment; pruning runs after each deploy, in the background.
    const onHost = await until('older payment images pruned', async () => {
      const images = await paymentImages();
      return images && images.length <= 5 ? images : null;
    }, 300_000).catch((error: Error) => {
      throw new Error(`${error.message}; the server said:\n${fleet.serverLog.filter((line) => /prune/.test(line)).slice(-10).join('\n')}`);
    });
    for (const environment of ['staging', 'production']) {
      const serving = (await fleet.admin.service('payment')).environments.find((state) => state.environment === environment)!.release!;
      assert.ok(onHost.some((image) => image.RepoDigests?.some((reference) => reference.endsWith(serving.digest))), `the image serving ${environment} is kept`);
    }
  });
});
