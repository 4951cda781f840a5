// Delivery on the real Engine and SQLite store with fake ports and an injected clock: a release
// goes through staging to production behind its gate (approval by another person, soak, window,
// lock), waits holding nothing, survives a restart, is rejected or expires; promotions and
// rollbacks are runs through the same gate; an older release waiting at a gate is superseded.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, it } from 'node:test';
import { AccessService } from '../../src/auth/access.ts';
import { FakeBuilder } from '../../src/builders/fake/builder.ts';
import type { Config } from '../../src/config/model.ts';
import type { Role, Run } from '../../src/core/types.ts';
import { promotionSchedules } from '../../src/deployments/schedules.ts';
import { Deployments } from '../../src/deployments/service.ts';
import { FakeDeployer } from '../../src/deployers/fake/deployer.ts';
import { Engine } from '../../src/engine/engine.ts';
import { MemoryEventBus } from '../../src/events/bus.ts';
import { FakeExecutor } from '../../src/executors/fake/executor.ts';
import { FakeSource } from '../../src/source/fake/source.ts';
import { openSqliteStore } from '../../src/store/sqlite/store.ts';
import type { Store } from '../../src/store/store.ts';
import { parsedConfig } from '../support/config.ts';
import { finished, until, waitingAt } from '../support/wait.ts';

const REPO = '/repos/api.git';
const SHA = 'a'.repeat(40);
const SHA2 = 'b'.repeat(40);
const START = new Date('2026-12-07T10:00:00Z'); // a Monday
const CAROL = { name: 'Carol Coder', email: 'carol@example.test' };

const config = (production: string, staging = '{}') =>
  parsedConfig(`
registry: registry.test
pipeline:
  - stage: test
    run: make test
  - stage: build
  - stage: deploy-staging
    environment: staging
  - stage: deploy-production
    environment: production
environments:
  staging: ${staging}
  production: ${production}
services:
  api:
    repo: ${REPO}
    port: 3000
`);

interface Harness {
  store: Store;
  engine: Engine;
  deployments: Deployments;
  deployer: FakeDeployer;
  clock: { now: Date };
  /** A new engine on the same store, as after a restart. */
  restart(): Promise<void>;
  user(name: string, role: Role): Promise<{ name: string; role: Role; email: string | null }>;
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

async function harness(cfg: Config): Promise<Harness> {
  const dir = mkdtempSync(join(tmpdir(), 'slipway-delivery-'));
  const store = await openSqliteStore(join(dir, 'slipway.db'));
  const clock = { now: START };
  const deployer = new FakeDeployer();
  const source = new FakeSource().setRef(REPO, 'main', SHA).setRef(REPO, 'next', SHA2);
  source.setCommit(REPO, SHA, { author: CAROL, message: 'Teach the API to greet\n\nWith a body nobody shows.\n', committedAt: '2026-12-06T09:30:00.000Z' });
  const make = () =>
    new Engine({
      store,
      bus: new MemoryEventBus(),
      config: cfg,
      source,
      executor: new FakeExecutor(() => ({})),
      builder: new FakeBuilder(),
      deployer,
      workRoot: join(dir, 'work'),
      now: () => clock.now,
      wakeEveryMs: 60_000,
    });
  const h: Harness = {
    store,
    engine: make(),
    deployments: null as unknown as Deployments,
    deployer,
    clock,
    async restart() {
      await h.engine.stop();
      h.engine = make();
      h.deployments = new Deployments(h.engine, store, cfg, () => clock.now);
      await h.engine.start();
    },
    async user(name, role) {
      const created = await store.users.create({ name, role, passwordHash: null });
      return { name: created!.name, role: created!.role, email: created!.email };
    },
  };
  h.deployments = new Deployments(h.engine, store, cfg, () => clock.now);
  await h.engine.start();
  await new AccessService(store).bootstrap('test');
  cleanups.push(async () => {
    await h.engine.stop();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return h;
}

async function startMain(h: Harness, by = 'carol') {
  const started = await h.engine.startRun({ service: 'api', trigger: { kind: 'manual', by } });
  assert.ok(started.ok, started.ok ? '' : started.error.message);
  return started.value.run.id;
}

const APPROVAL = '{ approval: { rules: [{ roles: [deployer] }], expires: 1h } }';

describe('delivery: a release through staging to production', () => {
  it('waits for approval holding nothing, refuses self-approval, and the same digest reaches production once another person approves', async () => {
    const h = await harness(config(APPROVAL));
    const runId = await startMain(h, 'dora');
    const { stage } = await waitingAt(h.store, runId);
    assert.equal(stage.name, 'deploy-production');
    assert.equal(stage.wait?.kind, 'approval');
    assert.match(stage.wait!.detail, /approval to enter production: 1 approval from role deployer or above \(none given yet\)/);
    assert.equal(stage.wait?.until, new Date(START.getTime() + 3_600_000).toISOString());

    const dora = await h.user('dora', 'deployer');
    await assert.rejects(h.engine.decide({ runId, decision: 'approve', by: dora, comment: null }), /dora started this run and cannot approve it/);
    const carol = await h.user('carol', 'deployer');
    await assert.rejects(h.engine.decide({ runId, decision: 'approve', by: carol, comment: null }), /carol wrote the commit/);
    const viv = await h.user('viv', 'developer');
    await assert.rejects(h.engine.decide({ runId, decision: 'approve', by: viv, comment: null }), /viv may not approve/);

    const erin = await h.user('erin', 'deployer');
    await h.engine.decide({ runId, decision: 'approve', by: erin, comment: 'looks good' });
    const run = await finished(h.store, runId);
    assert.equal(run.status, 'succeeded', run.reason ?? '');
    const [staging, production] = ['staging', 'production'].map((environment) => h.deployer.calls.find((call) => call.environment.name === environment)!);
    assert.equal(production!.release.digest, staging!.release.digest, 'production runs the digest staging ran');
    assert.equal(h.deployer.calls.length, 2, 'production never rebuilt nor redeployed staging');
    const audit = await h.store.events.list({ types: ['approval.'], byPeople: true, order: 'newest' });
    assert.deepEqual(audit.map((event) => [event.type, event.actor, event.environment]), [['approval.given', 'erin', 'production']]);
  });

  it('a rejection ends the run as rejected, with the reason', async () => {
    const h = await harness(config(APPROVAL));
    const runId = await startMain(h);
    await waitingAt(h.store, runId);
    await h.engine.decide({ runId, decision: 'reject', by: await h.user('erin', 'deployer'), comment: 'the migration is not reviewed' });
    const run = await finished(h.store, runId);
    assert.equal(run.status, 'rejected');
    assert.match(run.reason!, /rejected by erin: the migration is not reviewed/);
    assert.equal(h.deployer.calls.length, 1, 'only staging was deployed');
  });

  it('an approval nobody gives before the expiry ends the run as expired, never stuck', async () => {
    const h = await harness(config(APPROVAL));
    const runId = await startMain(h);
    await waitingAt(h.store, runId);
    h.clock.now = new Date(START.getTime() + 59 * 60_000);
    assert.equal(await h.engine.waker.tick(), 0, 'not due yet');
    h.clock.now = new Date(START.getTime() + 61 * 60_000);
    assert.equal(await h.engine.waker.tick(), 1);
    const run = await finished(h.store, runId);
    assert.equal(run.status, 'expired');
    assert.match(run.reason!, /no approval to enter production within 1h/);
  });

  it('survives a restart while it waits; the approval given after completes it', async () => {
    const h = await harness(config(APPROVAL));
    const runId = await startMain(h);
    await waitingAt(h.store, runId);
    await h.restart();
    assert.equal((await h.store.runs.get(runId))!.status, 'waiting', 'a restart leaves a waiting run waiting');
    await h.engine.decide({ runId, decision: 'approve', by: await h.user('erin', 'deployer'), comment: null });
    assert.equal((await finished(h.store, runId)).status, 'succeeded');
  });

  it('waits for the soak in the previous environment and goes on when the clock passes it, not before', async () => {
    const h = await harness(config('{}', '{ soak: 2d }'));
    const runId = await startMain(h);
    const { stage } = await waitingAt(h.store, runId);
    assert.equal(stage.wait?.kind, 'soak');
    h.clock.now = new Date(START.getTime() + 47 * 3_600_000);
    await h.engine.waker.tick();
    assert.equal((await waitingAt(h.store, runId)).stage.wait?.kind, 'soak');
    h.clock.now = new Date(START.getTime() + 48 * 3_600_000 + 1000);
    await h.engine.waker.tick();
    assert.equal((await finished(h.store, runId)).status, 'succeeded');
  });

  it('outside its promotion window a promotion waits until the window opens', async () => {
    const h = await harness(config('{ windows: [{ days: mon-fri, from: "09:00", to: "16:00", timezone: Europe/Berlin }] }'));
    h.clock.now = new Date('2026-12-05T12:00:00Z'); // a Saturday
    const runId = await startMain(h);
    const { stage } = await waitingAt(h.store, runId);
    assert.equal(stage.wait?.kind, 'window');
    assert.equal(stage.wait?.until, '2026-12-07T08:00:00.000Z');
    h.clock.now = new Date('2026-12-07T08:00:01Z');
    await h.engine.waker.tick();
    assert.equal((await finished(h.store, runId)).status, 'succeeded');
  });

  it('a lock holds promotions until unlocked, and says who locked it and why', async () => {
    const h = await harness(config('{}'));
    await h.deployments.lock('production', null, 'incident 42', 'dora');
    const runId = await startMain(h);
    const { stage } = await waitingAt(h.store, runId);
    assert.equal(stage.wait?.detail, 'production is locked by dora: incident 42');
    await h.deployments.unlock('production', null, 'dora');
    assert.equal((await finished(h.store, runId)).status, 'succeeded');
    const audit = await h.store.events.list({ types: ['lock.'] });
    assert.deepEqual(audit.map((event) => [event.type, event.actor]), [['lock.set', 'dora'], ['lock.released', 'dora']]);
  });

  it('a waiting run is cancelled in the store, its gate stage cancelled and the rest skipped', async () => {
    const h = await harness(config(APPROVAL));
    const runId = await startMain(h);
    await waitingAt(h.store, runId);
    const cancelled = await h.engine.cancel(runId, 'not this week', 'dora');
    assert.ok(cancelled.ok);
    assert.deepEqual([cancelled.value.status, cancelled.value.reason], ['cancelled', 'not this week']);
    const stages = await h.store.stages.listByRun(runId);
    assert.deepEqual(stages.filter((stage) => stage.environment === 'production').map((stage) => [stage.status, stage.wait]), [['cancelled', null]]);
  });

  it('a newer release reaching the gate supersedes the older one waiting there; approving one never lets the other through', async () => {
    const h = await harness(config(APPROVAL));
    const first = await startMain(h);
    await waitingAt(h.store, first);
    const second = (await h.engine.startRun({ service: 'api', ref: 'next', trigger: { kind: 'manual', by: 'carol' } }));
    assert.ok(second.ok);
    await waitingAt(h.store, second.value.run.id);
    const older = await finished(h.store, first);
    assert.equal(older.status, 'cancelled');
    assert.match(older.reason!, /superseded by release #2 \(run #2\)/);
    await assert.rejects(h.engine.decide({ runId: first, decision: 'approve', by: await h.user('erin', 'deployer'), comment: null }), /not waiting/);
  });
});

describe('delivery: promote and roll back by hand', () => {
  it('a promotion that skips the chain is refused, unless an admin forces it, which the audit log records', async () => {
    const h = await harness(config('{}'));
    const release = await h.store.transaction(async (tx) => {
      const { run } = await tx.runs.create({ service: 'api', ref: 'main', commitSha: SHA, trigger: { kind: 'manual', by: 'x' }, lane: 'main', concurrency: 'queue', partial: false, untrusted: false, tag: null, variables: {}, originRunId: null }, []);
      return tx.releases.create({ service: 'api', commitSha: SHA, image: 'registry.test/api:x', digest: `sha256:${'f'.repeat(64)}`, tag: null, lane: 'main', runId: run.id });
    });
    const { run } = await h.deployments.promote({ service: 'api', releaseId: release.id, environment: 'production', actor: 'dora' });
    const refused = await finished(h.store, run.id);
    assert.equal(refused.status, 'failed');
    assert.match(refused.reason!, /has not served staging, which comes before production/);

    const forced = await h.deployments.promote({ service: 'api', releaseId: release.id, environment: 'production', actor: 'admin', force: true, reason: 'hotfix for incident 7' });
    assert.equal((await finished(h.store, forced.run.id)).status, 'succeeded');
    const [deployment] = await h.store.deployments.list({ service: 'api', environment: 'production' });
    assert.deepEqual([deployment!.kind, deployment!.forced, deployment!.actor, deployment!.note], ['promote', true, 'admin', 'hotfix for incident 7']);
    const audit = await h.store.events.list({ types: ['promotion.forced'] });
    assert.equal(audit[0]?.actor, 'admin');
    assert.deepEqual((audit[0]?.data as { reason: string }).reason, 'hotfix for incident 7');
  });

  it('rolls back to the release before last, health-gated, with no rebuild, recorded as a rollback with its reason', async () => {
    const h = await harness(config('{}'));
    for (const ref of ['main', 'next']) {
      const started = await h.engine.startRun({ service: 'api', ref, trigger: { kind: 'manual', by: 'carol' } });
      assert.ok(started.ok);
      assert.equal((await finished(h.store, started.value.run.id)).status, 'succeeded');
    }
    const builds = (await h.store.releases.list({ service: 'api' })).length;
    const { run, from, to } = await h.deployments.rollback({ service: 'api', environment: 'production', actor: 'dora', reason: 'errors after release 2' });
    assert.deepEqual([from, to], [2, 1]);
    assert.equal((await finished(h.store, run.id)).status, 'succeeded');
    assert.equal((await h.store.deployments.current('api', 'production'))!.releaseId, 1);
    assert.equal((await h.store.releases.list({ service: 'api' })).length, builds, 'nothing was built');
    const [rollback] = await h.store.deployments.list({ service: 'api', environment: 'production', limit: 1 });
    assert.deepEqual([rollback!.kind, rollback!.actor, rollback!.note], ['rollback', 'dora', 'errors after release 2']);
    const commitOf = (r: Run) => [r.commitAuthor, r.commitTitle, r.committedAt];
    const built = (await h.store.runs.get((await h.store.releases.get(1))!.runId))!;
    assert.deepEqual(commitOf(built), [CAROL, 'Teach the API to greet', '2026-12-06T09:30:00.000Z'], 'read at checkout');
    assert.deepEqual(commitOf((await h.store.runs.get(run.id))!), commitOf(built), "the rollback carries the release's commit");
    const placements = await h.deployments.releases('api');
    assert.deepEqual(placements.map((p) => [p.release.id, p.serving, p.servedBefore.map((s) => s.environment)]), [
      [2, ['staging'], ['production']],
      [1, ['production'], ['production', 'staging']],
    ]);
    await until('the audit to say so', async () => (await h.store.events.list({ types: ['rollback.requested'] })).length === 1);
  });
});

describe('delivery: scheduled promotion', () => {
  it("runs stop before a scheduled environment; its schedule promotes the release that finished its soak, and only once", async () => {
    const h = await harness(config('{ promote_schedule: { cron: "0 10 * * 2", timezone: Europe/Berlin } }', '{ soak: 2d }'));
    const runId = await startMain(h);
    const run = await finished(h.store, runId);
    assert.equal(run.status, 'succeeded');
    const production = (await h.store.stages.listByRun(runId)).find((stage) => stage.name === 'deploy-production')!;
    assert.equal(production.status, 'skipped');
    assert.match(production.reason!, /production takes releases on its promotion schedule \(0 10 \* \* 2, Europe\/Berlin\)/);

    assert.deepEqual(await h.deployments.promoteSoaked('api', 'production', 'schedule promote/production'), { skipped: `release #1 soaks in staging until ${new Date(START.getTime() + 2 * 86_400_000).toISOString()}` });
    h.clock.now = new Date(START.getTime() + 2 * 86_400_000 + 60_000);
    const promoted = await h.deployments.promoteSoaked('api', 'production', 'schedule promote/production');
    assert.ok('run' in promoted);
    assert.equal((await finished(h.store, promoted.run.id)).status, 'succeeded');
    assert.equal((await h.store.deployments.current('api', 'production'))!.releaseId, 1);
    assert.deepEqual(await h.deployments.promoteSoaked('api', 'production', 'schedule promote/production'), { skipped: 'release #1 already serves production' });

    const runner = promotionSchedules(h.engine.config, h.deployments, h.store.cursors, { now: () => h.clock.now });
    assert.deepEqual(runner.describe().map((schedule) => [schedule.name, schedule.services, schedule.nextAt]), [['promote/production', ['api'], '2026-12-15T09:00:00.000Z']]);
  });
});
