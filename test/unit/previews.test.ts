// Pull requests' previews (previews/previews.ts, engine/stages/preview.ts) on the real Engine
// and SQLite store with fake ports: who runs in a preview and from which image, its routes on the
// proxy (reached from outside only, one port each, the same across commits), a new commit's
// generation replacing the serving one only once it is up, a failing one leaving the previous
// serving, removal by a closed pull request, by age and to make room, and what a restart finds.
// test/e2e/previews.test.ts runs them on Podman and HAProxy.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, it } from 'node:test';
import { FakeBuilder } from '../../src/builders/fake/builder.ts';
import type { Config } from '../../src/config/model.ts';
import { LIVE_PREVIEW_STATUSES, type Preview } from '../../src/core/previews.ts';
import type { Release, Run } from '../../src/core/types.ts';
import { FakeDeployer, healthyDeploy } from '../../src/deployers/fake/deployer.ts';
import { pullReference } from '../../src/deployers/reference.ts';
import { Engine } from '../../src/engine/engine.ts';
import { MemoryEventBus } from '../../src/events/bus.ts';
import { FakeExecutor } from '../../src/executors/fake/executor.ts';
import { PreviewEnvironments } from '../../src/previews/previews.ts';
import { FakeRouter } from '../../src/routers/fake/router.ts';
import type { Backend, RouteKey, RouteSpec } from '../../src/routers/router.ts';
import { SharedRouter } from '../../src/routers/shared.ts';
import { FakeSandbox } from '../../src/sandboxes/fake/sandbox.ts';
import { FakeSource } from '../../src/source/fake/source.ts';
import type { Store } from '../../src/store/store.ts';
import { openSqliteStore } from '../../src/store/sqlite/store.ts';
import { parsedConfig } from '../support/config.ts';
import { finished } from '../support/wait.ts';

const SHA = ['a', 'b', 'c', 'd', 'e', 'f'].map((char) => char.repeat(40));
const REPOS: Record<string, string> = { payment: '/repos/payment.git', notification: '/repos/notification.git', web: '/repos/web.git' };
const PORTS = { from: 21000, to: 21009 };

function config(previews: string[] = []): Config {
  return parsedConfig(
    [
      'registry: registry.test',
      'pipeline:',
      '  - stage: build',
      '  - stage: preview',
      '    type: preview',
      '  - stage: deploy-staging',
      '    environment: staging',
      'environments:',
      '  staging: { bake: 0 }',
      'infrastructure:',
      '  db: { image: localhost/postgres:15, port: 5432 }',
      'services:',
      '  payment:',
      `    repo: ${REPOS.payment}`,
      '    port: 3000',
      '    requires: [notification, db]',
      '  notification:',
      `    repo: ${REPOS.notification}`,
      '    port: 4000',
      '  web:',
      `    repo: ${REPOS.web}`,
      '    port: 8000',
      ...(previews.length ? ['previews:', ...previews.map((line) => `  ${line}`)] : []),
    ].join('\n'),
  );
}

/** A proxy whose checks pass at once for every backend added. */
class HealthyRouter extends FakeRouter {
  routesDeclared: RouteSpec[] = [];
  override async declare(routes: RouteSpec[]): Promise<void> {
    await super.declare(routes);
    this.routesDeclared = routes;
  }
  override async add(key: RouteKey, backend: Backend): Promise<void> {
    await super.add(key, backend);
    this.setHealth(key, backend.id, 'up');
  }
}

interface Harness {
  store: Store;
  sandbox: FakeSandbox;
  router: HealthyRouter;
  previews: PreviewEnvironments;
  clock: { now: Date };
  run(service: string, sha: string, pullRequest?: number): Promise<{ run: Run; release: Release | null; log: string[] }>;
  preview(environment: string): Promise<Preview>;
  serving(service: string, environment: string): Promise<string[]>;
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function harness(cfg: Config): Promise<Harness> {
  const dir = mkdtempSync(join(tmpdir(), 'slipway-previews-'));
  const store = await openSqliteStore(join(dir, 'slipway.db'));
  const sandbox = new FakeSandbox();
  const router = new HealthyRouter();
  const source = new FakeSource();
  // Every service's branch has a head: one with no release is built from it.
  for (const repo of Object.values(REPOS)) source.setRef(repo, 'main', SHA[5]!);
  const clock = { now: new Date('2026-12-01T10:00:00Z') };
  const shared = new SharedRouter(router, ['previews']);
  const previews = new PreviewEnvironments({ config: cfg, store, sandbox, router: shared.view('previews'), routePorts: PORTS, now: () => clock.now });
  const executor = new FakeExecutor(() => ({}), { usesImages: true });
  const engine = new Engine({ store, bus: new MemoryEventBus(), config: cfg, source, executor, builder: new FakeBuilder(), deployer: new FakeDeployer(healthyDeploy), sandbox, previews, workRoot: join(dir, 'work'), now: () => clock.now });
  await engine.start();
  await previews.start();
  cleanups.push(async () => {
    previews.stop();
    await engine.stop();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return {
    store,
    sandbox,
    router,
    previews,
    clock,
    async run(service, sha, pullRequest) {
      source.setRef(REPOS[service]!, pullRequest ? 'feature' : 'main', sha);
      const request = pullRequest ? { ref: 'feature', pullRequest, trigger: { kind: 'pull_request' as const, by: 'octocat' } } : { trigger: { kind: 'manual' as const, by: 'test' } };
      const started = await engine.startRun({ service, ...request });
      assert.ok(started.ok, started.ok ? '' : started.error.message);
      const run = await finished(store, started.value.run.id, 30_000);
      const [release] = await store.releases.list({ runId: run.id });
      return { run, release: release ?? null, log: (await store.logs.list(run.id)).map((line) => line.text) };
    },
    async preview(environment) {
      const preview = await store.previews.live(environment);
      assert.ok(preview, `${environment} has a live preview`);
      return preview;
    },
    async serving(service, environment) {
      return (await router.backends({ service, environment })).filter((backend) => backend.mode === 'serving').map((backend) => backend.id);
    },
  };
}

describe('previews', () => {
  it("a pull request's run starts its release with every deployable service at the release serving in staging, reached through the proxy", async () => {
    const h = await harness(config());
    const notification = await h.run('notification', SHA[0]!);
    assert.equal(notification.run.status, 'succeeded', notification.run.reason ?? '');
    const pushed = await h.store.stages.listByRun(notification.run.id);
    assert.equal(pushed.find((stage) => stage.name === 'preview')?.reason, 'only pull requests get a preview');

    const pr = await h.run('payment', SHA[1]!, 7);
    assert.equal(pr.run.status, 'succeeded', `${pr.run.reason}\n${pr.log.join('\n')}`);
    const spec = h.sandbox.started.at(-1)!;
    assert.equal(spec.id, 'pv1-1');
    assert.deepEqual(
      spec.members.map((member) => member.name),
      ['payment', 'notification', 'web', 'db'],
      'services first, then infrastructure',
    );
    assert.equal(spec.members[0]!.image, pullReference(pr.release!));
    assert.equal(spec.members[1]!.image, pullReference(notification.release!));
    assert.equal(spec.members[3]!.image, 'localhost/postgres:15');
    assert.match(spec.members[2]!.image, /^registry\.test\/web@/, 'web, with no release anywhere, is built from its branch head');
    assert.ok(pr.log.includes('web has no release serving in staging: building it from the head of main'), pr.log.join('\n'));

    const preview = await h.preview('pr7-payment');
    assert.equal(preview.status, 'ready');
    assert.equal(preview.url, 'http://payment.pr7-payment.localhost:8080');
    assert.equal(preview.commitSha, SHA[1]);
    assert.equal(preview.releaseId, pr.release!.id);
    assert.deepEqual(
      preview.members.map((member) => [member.name, member.kind, member.releaseId, member.url]),
      [
        ['payment', 'service', pr.release!.id, 'http://payment.pr7-payment.localhost:8080'],
        ['notification', 'service', notification.release!.id, 'http://notification.pr7-payment.localhost:8080'],
        ['web', 'service', null, 'http://web.pr7-payment.localhost:8080'],
        ['db', 'infrastructure', null, null],
      ],
    );
    const routes = h.router.routesDeclared.filter((route) => route.environment === 'pr7-payment');
    assert.deepEqual(routes.map((route) => [route.service, route.network, route.servicePort]), [
      ['payment', null, 3000],
      ['notification', null, 4000],
      ['web', null, 8000],
    ]);
    assert.ok(routes.every((route) => route.port >= PORTS.from && route.port <= PORTS.to));
    assert.deepEqual(await h.serving('payment', 'pr7-payment'), ['pv1-1']);
    assert.equal((await h.store.deployments.list({ service: 'payment' })).length, 0, 'a pull request deploys nowhere');
    assert.ok(pr.log.some((line) => line.startsWith('The preview pr7-payment serves bbbbbbbbbbbb at http://payment.pr7-payment.localhost:8080')), pr.log.join('\n'));
  });

  it('`services: required` starts only what the service requires', async () => {
    const h = await harness(config(['services: required']));
    const pr = await h.run('payment', SHA[1]!, 7);
    assert.equal(pr.run.status, 'succeeded', pr.run.reason ?? '');
    assert.deepEqual(h.sandbox.started.at(-1)!.members.map((member) => member.name), ['payment', 'notification', 'db']);
  });

  it("a new commit starts a new generation beside the serving one and moves requests to it once it is up, at the same address", async () => {
    const h = await harness(config(['services: required']));
    await h.run('payment', SHA[1]!, 7);
    const first = await h.preview('pr7-payment');
    const portsBefore = h.router.routesDeclared.map((route) => `${route.service}:${route.port}`);

    const second = await h.run('payment', SHA[2]!, 7);
    assert.equal(second.run.status, 'succeeded', second.run.reason ?? '');
    const updated = await h.preview('pr7-payment');
    assert.equal(updated.id, first.id, 'the same preview');
    assert.equal(updated.generation, 2);
    assert.equal(updated.sandboxId, 'pv1-2');
    assert.equal(updated.commitSha, SHA[2]);
    assert.equal(updated.url, first.url);
    assert.deepEqual(await h.serving('payment', 'pr7-payment'), ['pv1-2']);
    assert.deepEqual((await h.router.backends({ service: 'payment', environment: 'pr7-payment' })).map((backend) => backend.id), ['pv1-2'], 'the previous generation left the proxy');
    assert.deepEqual((await h.sandbox.list()).map((found) => found.id), ['pv1-2'], "and its containers went");
    assert.deepEqual(h.router.routesDeclared.map((route) => `${route.service}:${route.port}`), portsBefore, 'each route kept its port');
  });

  it('a new commit whose containers never get ready leaves the previous one serving; a first one that fails leaves the preview failed', async () => {
    const h = await harness(config(['services: required']));
    await h.run('payment', SHA[1]!, 7);
    h.sandbox.image('localhost/postgres:15', { state: 'never-ready', lines: ['FATAL: no space left on device'] });
    const broken = await h.run('payment', SHA[2]!, 7);
    assert.equal(broken.run.status, 'failed');
    assert.match(broken.run.reason ?? '', /db was not ready in time; the previous commit's preview still serves/);
    assert.ok(broken.log.includes('db | FATAL: no space left on device'), broken.log.join('\n'));
    const preview = await h.preview('pr7-payment');
    assert.equal(preview.status, 'ready');
    assert.equal(preview.commitSha, SHA[1]);
    assert.equal(preview.sandboxId, 'pv1-1');
    assert.match(preview.reason ?? '', /^commit aaaa|^commit bbbbbbbbbbbb still serves; a newer one failed: db was not ready in time/);
    assert.deepEqual(await h.serving('payment', 'pr7-payment'), ['pv1-1']);
    assert.deepEqual((await h.sandbox.list()).map((found) => found.id), ['pv1-1']);

    const other = await h.run('payment', SHA[3]!, 8);
    assert.equal(other.run.status, 'failed');
    const failed = await h.preview('pr8-payment');
    assert.equal(failed.status, 'failed');
    assert.equal(failed.url, null);
    assert.match(failed.reason ?? '', /db was not ready in time/);

    h.sandbox.image('localhost/postgres:15', { state: 'ready' });
    const fixed = await h.run('payment', SHA[4]!, 8);
    assert.equal(fixed.run.status, 'succeeded', fixed.run.reason ?? '');
    assert.equal((await h.preview('pr8-payment')).status, 'ready');
  });

  it('a closed pull request removes its preview: containers, backends, routes and their ports', async () => {
    const h = await harness(config(['services: required']));
    await h.run('payment', SHA[1]!, 7);
    const removed = await h.previews.removeFor(['payment', 'notification'], 7, 'pull request #7 was merged');
    assert.deepEqual(removed.map((preview) => [preview.environment, preview.status, preview.reason, preview.url]), [['pr7-payment', 'removed', 'pull request #7 was merged', null]]);
    assert.equal(await h.store.previews.live('pr7-payment'), null);
    assert.deepEqual(await h.sandbox.list(), []);
    assert.deepEqual(h.router.routesDeclared, []);
    assert.deepEqual((await h.store.routes.list()).filter((route) => route.environment === 'pr7-payment'), []);
    assert.deepEqual(await h.previews.removeFor(['payment'], 7, 'again'), [], 'removing twice removes nothing');

    const again = await h.run('payment', SHA[2]!, 7);
    assert.equal(again.run.status, 'succeeded', 'a reopened pull request gets a new preview');
    assert.equal((await h.preview('pr7-payment')).generation, 1);
  });

  it('a preview not updated within its time to live is removed by the sweep', async () => {
    const h = await harness(config(['services: required', 'ttl: 2h']));
    await h.run('payment', SHA[1]!, 7);
    h.clock.now = new Date(h.clock.now.getTime() + 90 * 60_000);
    await h.run('payment', SHA[2]!, 8);
    h.clock.now = new Date(h.clock.now.getTime() + 60 * 60_000);
    await h.previews.sweep();
    assert.equal(await h.store.previews.live('pr7-payment'), null, '2.5 hours without a commit');
    const [gone] = await h.store.previews.list({ statuses: ['removed'] });
    assert.equal(gone?.reason, 'no new commit within 2h');
    assert.equal((await h.preview('pr8-payment')).status, 'ready', 'one hour old, it stays');
  });

  it('making one more than `max` removes the least recently updated', async () => {
    const h = await harness(config(['services: required', 'max: 2']));
    await h.run('payment', SHA[1]!, 1);
    h.clock.now = new Date(h.clock.now.getTime() + 60_000);
    await h.run('payment', SHA[2]!, 2);
    h.clock.now = new Date(h.clock.now.getTime() + 60_000);
    await h.run('payment', SHA[3]!, 1);
    h.clock.now = new Date(h.clock.now.getTime() + 60_000);
    const third = await h.run('payment', SHA[4]!, 3);
    assert.ok(third.log.some((line) => line.startsWith('Removing the preview pr2-payment, the least recently updated')), third.log.join('\n'));
    assert.deepEqual((await h.store.previews.list({ statuses: LIVE_PREVIEW_STATUSES })).map((preview) => preview.environment), ['pr1-payment', 'pr3-payment']);
  });

  it("a restart fails a preview whose first generation was starting, finishes a removal cut short, and keeps the proxy's routes", async () => {
    const cfg = config(['services: required']);
    const before = await harness(cfg);
    await before.run('payment', SHA[1]!, 7);
    await before.run('payment', SHA[2]!, 8);
    const store = before.store;
    const at = new Date().toISOString();
    const starting = await store.previews.create({ service: 'payment', pullRequest: 9, environment: 'pr9-payment', commitSha: SHA[3]!, runId: 1, createdAt: at, expiresAt: '2099-01-01T00:00:00Z' });
    const eight = await before.preview('pr8-payment');
    await store.previews.update(eight.id, { statuses: ['ready'] }, { status: 'removing', reason: 'pull request #8 was closed' });

    const previews = new PreviewEnvironments({ config: cfg, store, sandbox: before.sandbox, router: new SharedRouter(before.router, ['previews']).view('previews'), routePorts: PORTS, now: () => before.clock.now });
    await previews.start();
    previews.stop();
    assert.equal((await store.previews.get(starting!.id))?.status, 'failed');
    assert.equal((await store.previews.get(starting!.id))?.reason, 'the server stopped while it started');
    assert.equal((await store.previews.get(eight.id))?.status, 'removed');
    assert.deepEqual((await before.sandbox.list()).map((found) => found.id), ['pv1-1']);
    assert.deepEqual(before.router.routesDeclared.map((route) => route.environment), ['pr7-payment', 'pr7-payment']);
    assert.deepEqual(await before.serving('payment', 'pr7-payment'), ['pv1-1']);
  });
});

describe('SharedRouter', () => {
  const route = (service: string, environment: string, port: number): RouteSpec => ({
    service,
    environment,
    port,
    servicePort: 3000,
    names: [service],
    network: null,
    health: { path: '/', intervalMs: 1000, timeoutMs: 1000, successes: 1, failures: 2 },
  });

  it("each owner declares its own routes and keeps the other's; a refused declaration changes nothing", async () => {
    const router = new HealthyRouter();
    const shared = new SharedRouter(router, ['environments', 'previews']);
    await shared.view('environments').declare([route('payment', 'staging', 21000)]);
    assert.equal(router.routesDeclared.length, 0, 'nothing reaches the proxy before every owner declared once: it keeps what it serves');
    await shared.view('previews').declare([route('payment', 'pr1-payment', 21001)]);
    assert.deepEqual(router.routesDeclared.map((spec) => spec.environment), ['staging', 'pr1-payment']);
    await assert.rejects(shared.view('previews').declare([route('payment', 'pr2-payment', 21000)]), /21000/);
    assert.deepEqual(router.routesDeclared.map((spec) => spec.environment), ['staging', 'pr1-payment']);
    await shared.view('previews').declare([]);
    assert.deepEqual(router.routesDeclared.map((spec) => spec.environment), ['staging']);
  });
});
