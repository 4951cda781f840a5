// The Store conformance suite, second part: what delivery added to the contract (src/store/store.ts):
// compare-and-set on a run's status, waiting stages, the audit log's filters, approvals, locks,
// and environment secrets (the outbox has its own part, store-outbox-conformance.ts). Registered
// beside store-conformance.ts with the same `open`; each test gets a fresh, empty store.

import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { GateWait, RunStatus } from '../../src/core/types.ts';
import type { NewApproval, NewStage, SealedSecret, Store } from '../../src/store/store.ts';
import { newRun } from '../support/records.ts';
import { item } from './store-outbox-conformance.ts';

const T = (minute: number) => `2024-05-01T10:${String(minute).padStart(2, '0')}:00.000Z`;
const ids = (records: Array<{ id: number }>) => records.map((record) => record.id);

function deployStage(position: number, environment: string): NewStage {
  return { position, name: `deploy-${environment}`, kind: 'deploy', command: null, environment, timeoutMs: 60_000 };
}

function gateWait(until: string | null, kind: GateWait['kind'] = 'soak'): GateWait {
  return { kind, detail: `${kind}: until ${until ?? 'something changes'}`, until, approvalRequestedAt: kind === 'approval' ? T(0) : null, since: T(0) };
}

export function storeDeliveryConformance(name: string, open: () => Promise<Store>): void {
  describe(`Store conformance (delivery): ${name}`, () => {
    let store: Store;
    beforeEach(async () => {
      store = await open();
    });
    afterEach(async () => {
      await store.close();
    });

    /** A run with a deploy stage in each environment, parked at the first one's gate. */
    async function waitingRun(service = 'payment', environments = ['staging'], wait: GateWait | null = gateWait(null)) {
      const { run, stages } = await store.runs.create(newRun(service), environments.map((env, i) => deployStage(i, env)));
      const parked = (await store.runs.update(run.id, { status: 'waiting' }))!;
      const stage = (await store.stages.update(stages[0]!.id, { status: 'waiting', wait }))!;
      return { run: parked, stage };
    }

    async function gate(service = 'payment') {
      const { run, stage } = await waitingRun(service, ['production'], gateWait(T(30), 'approval'));
      const release = await store.releases.create({ service, commitSha: 'a'.repeat(40), image: `r/${service}:a`, digest: 'sha256:' + '1'.repeat(64), tag: null, lane: 'main', runId: run.id });
      const approval = (user: string, overrides: Partial<NewApproval> = {}): NewApproval => ({
        runId: run.id, stageId: stage.id, service, environment: 'production', releaseId: release.id, digest: release.digest,
        user, role: 'deployer', decision: 'approve', comment: null, at: T(1), ...overrides,
      });
      return { run, stage, release, approval };
    }

    const secret = (environment: string, service: string | null, name: string, sealed = `sealed:${name}`, updatedAt = T(0)): SealedSecret =>
      ({ environment, service, name, sealed, updatedAt, updatedBy: 'ada' });

    describe('runs: delivery fields and updateIf', () => {
      it('create defaults releaseId, the commit (author, title, date), forced and note, and stores them when given', async () => {
        const { run: plain } = await store.runs.create(newRun(), []);
        assert.deepEqual([plain.releaseId, plain.commitAuthor, plain.commitTitle, plain.committedAt, plain.forced, plain.note], [null, null, null, null, false, null]);
        const origin = await store.releases.create({ service: 'payment', commitSha: 'a'.repeat(40), image: 'r/p:a', digest: 'sha256:x', tag: null, lane: 'main', runId: plain.id });
        const author = { name: 'Ada Lovelace', email: 'ada@example.com' };
        const commit = { commitAuthor: author, commitTitle: 'Fix the Åström edge case', committedAt: '2026-01-02T03:04:05.000Z' };
        const { run } = await store.runs.create(newRun('payment', { trigger: { kind: 'promote', by: 'ada' }, releaseId: origin.id, ...commit, forced: true, note: 'hotfix, past the soak' }), []);
        assert.deepEqual(
          [run.releaseId, run.commitAuthor, run.commitTitle, run.committedAt, run.forced, run.note],
          [origin.id, author, commit.commitTitle, commit.committedAt, true, 'hotfix, past the soak'],
        );
        assert.deepEqual(await store.runs.get(run.id), run);
        const later = { name: 'Grace', email: 'grace@example.com' };
        assert.deepEqual(await store.runs.update(plain.id, { commitAuthor: later }), { ...plain, commitAuthor: later });
        assert.deepEqual(await store.runs.update(plain.id, { commitAuthor: null }), plain);
        const read = { commitAuthor: later, commitTitle: 'Read at checkout', committedAt: '2026-01-01T00:00:00.000Z' };
        assert.deepEqual(await store.runs.update(plain.id, read), { ...plain, ...read });
        assert.deepEqual(await store.runs.update(plain.id, { commitTitle: 'Only the title' }), { ...plain, ...read, commitTitle: 'Only the title' }, 'a patch changes only what it names');
        assert.deepEqual(await store.runs.update(plain.id, { commitAuthor: null, commitTitle: null, committedAt: null }), plain);
      });

      it('updateIf applies the patch only while the status is one of `from`; otherwise null and nothing changes', async () => {
        const { run } = await waitingRun();
        assert.equal(await store.runs.updateIf(run.id, ['pending', 'running'], { status: 'cancelled', reason: 'no' }), null);
        assert.deepEqual(await store.runs.get(run.id), run, 'the loser changed nothing');
        const resumed = await store.runs.updateIf(run.id, ['pending', 'waiting'], { status: 'pending', reason: 'lock released' });
        assert.deepEqual(resumed, { ...run, status: 'pending', reason: 'lock released' });
        assert.deepEqual(await store.runs.get(run.id), resumed);
        assert.equal(await store.runs.updateIf(run.id, ['waiting'], { status: 'running' }), null, 'no longer waiting');
        assert.equal(await store.runs.updateIf(run.id, [], { status: 'running' }), null, 'no status matches an empty from');
        assert.equal(await store.runs.updateIf(999, ['pending'], { status: 'running' }), null);
        assert.deepEqual(await store.runs.get(run.id), resumed);
      });

      it('updateIf with an empty patch answers whether the status matched', async () => {
        const { run } = await store.runs.create(newRun(), []);
        assert.deepEqual(await store.runs.updateIf(run.id, ['pending'], {}), run);
        assert.equal(await store.runs.updateIf(run.id, ['running'], {}), null);
      });

      it('concurrent updateIf from waiting: exactly one wins, also across transactions', async () => {
        const { run } = await waitingRun();
        const direct = await Promise.all(Array.from({ length: 8 }, () => store.runs.updateIf(run.id, ['waiting'], { status: 'pending' })));
        assert.equal(direct.filter((won) => won !== null).length, 1);
        const { run: other } = await waitingRun();
        const statuses: RunStatus[] = ['pending', 'cancelled', 'expired', 'rejected', 'pending', 'cancelled'];
        const outcomes = await Promise.all(
          statuses.map((status) =>
            store.transaction(async (tx) => {
              const won = await tx.runs.updateIf(other.id, ['waiting'], { status });
              if (won) await tx.events.append({ type: `run.${status}`, runId: other.id, service: 'payment', data: null });
              return won;
            }),
          ),
        );
        const winners = outcomes.filter((won) => won !== null);
        assert.equal(winners.length, 1);
        assert.equal((await store.runs.get(other.id))!.status, winners[0]!.status);
        assert.deepEqual((await store.events.list({ runId: other.id })).map((e) => e.type), [`run.${winners[0]!.status}`]);
      });
    });

    describe('stages: wait and waiting', () => {
      it('wait round-trips as given and clears with null', async () => {
        const { stage } = await waitingRun('payment', ['staging'], gateWait(T(20), 'window'));
        assert.deepEqual(stage.wait, gateWait(T(20), 'window'));
        assert.deepEqual(await store.stages.get(stage.id), stage);
        const cleared = await store.stages.update(stage.id, { status: 'running', wait: null });
        assert.deepEqual(cleared, { ...stage, status: 'running', wait: null });
        assert.deepEqual(await store.stages.update(stage.id, { reason: 'x' }), { ...cleared, reason: 'x' }, 'a patch without wait keeps it');
      });

      it('waiting lists waiting stages with their runs, oldest first, by service and environment', async () => {
        const a = await waitingRun('payment', ['staging', 'production']);
        const b = await waitingRun('orders', ['staging']);
        const c = await waitingRun('payment', ['production']);
        const done = await waitingRun('payment', ['staging']);
        await store.stages.update(done.stage.id, { status: 'succeeded' });
        await store.runs.create(newRun('payment'), [deployStage(0, 'staging')]);
        const pairs = (found: Awaited<ReturnType<Store['stages']['waiting']>>) => found.map(({ run, stage }) => [run.id, stage.id]);

        const all = await store.stages.waiting();
        assert.deepEqual(pairs(all), [[a.run.id, a.stage.id], [b.run.id, b.stage.id], [c.run.id, c.stage.id]]);
        assert.deepEqual(all[0], { run: a.run, stage: a.stage }, 'whole records');
        assert.deepEqual(pairs(await store.stages.waiting({ service: 'payment' })), [[a.run.id, a.stage.id], [c.run.id, c.stage.id]]);
        assert.deepEqual(pairs(await store.stages.waiting({ environment: 'staging' })), [[a.run.id, a.stage.id], [b.run.id, b.stage.id]]);
        assert.deepEqual(pairs(await store.stages.waiting({ service: 'payment', environment: 'production' })), [[c.run.id, c.stage.id]]);
        assert.deepEqual(await store.stages.waiting({ service: 'billing' }), []);
      });

      it('waiting with dueBy: a wait ending at or before it; a null until is never due', async () => {
        const early = await waitingRun('payment', ['staging'], gateWait(T(10)));
        const late = await waitingRun('payment', ['staging'], gateWait(T(20)));
        await waitingRun('payment', ['staging'], gateWait(null, 'lock'));
        await waitingRun('payment', ['staging'], null);
        const due = async (filter: Parameters<Store['stages']['waiting']>[0]) => (await store.stages.waiting(filter)).map(({ stage }) => stage.id);
        assert.deepEqual(await due({ dueBy: T(9) }), []);
        assert.deepEqual(await due({ dueBy: T(10) }), [early.stage.id], 'inclusive');
        assert.deepEqual(await due({ dueBy: '2099-01-01T00:00:00.000Z' }), [early.stage.id, late.stage.id]);
        assert.deepEqual(await due({ dueBy: T(15), service: 'orders' }), []);
        await store.stages.update(early.stage.id, { wait: gateWait(T(30)) });
        assert.deepEqual(await due({ dueBy: T(15) }), [], 'a new wait moves the wake-up');
        await store.stages.update(late.stage.id, { wait: gateWait(null, 'approval') });
        assert.deepEqual(await due({ dueBy: '2099-01-01T00:00:00.000Z' }), [early.stage.id]);
        await store.stages.update(early.stage.id, { status: 'running' });
        assert.deepEqual(await due({ dueBy: '2099-01-01T00:00:00.000Z' }), [], 'only waiting stages');
      });
    });

    describe('deployments, users: delivery fields', () => {
      it('a deployment defaults to kind deploy, no actor, no note, not forced, and keeps them when given', async () => {
        const { run } = await store.runs.create(newRun(), []);
        const release = await store.releases.create({ service: 'payment', commitSha: 'a'.repeat(40), image: 'r/p:a', digest: 'sha256:x', tag: null, lane: 'main', runId: run.id });
        const base = { service: 'payment', environment: 'production', releaseId: release.id, runId: run.id, previousReleaseId: null, startedAt: T(0) };
        const deploy = await store.deployments.create(base);
        assert.deepEqual([deploy.kind, deploy.actor, deploy.note, deploy.forced], ['deploy', null, null, false]);
        const rollback = await store.deployments.create({ ...base, kind: 'rollback', actor: 'ada', note: 'errors up', forced: true });
        assert.deepEqual([rollback.kind, rollback.actor, rollback.note, rollback.forced], ['rollback', 'ada', 'errors up', true]);
        const done = await store.deployments.update(rollback.id, { status: 'succeeded', finishedAt: T(1) });
        assert.deepEqual(done, { ...rollback, status: 'succeeded', finishedAt: T(1) });
        assert.deepEqual(await store.deployments.get(rollback.id), done);
      });

      it('deployments list by release, after a deployment, oldest first: how long a release served, whatever came since', async () => {
        const { run } = await store.runs.create(newRun(), []);
        const release = (sha: string) => store.releases.create({ service: 'payment', commitSha: sha.repeat(40), image: `r/p:${sha}`, digest: `sha256:${sha}`, tag: null, lane: 'main', runId: run.id });
        const [one, two] = [await release('a'), await release('b')];
        const deploy = (releaseId: number, environment = 'staging') => store.deployments.create({ service: 'payment', environment, releaseId, runId: run.id, previousReleaseId: null, startedAt: T(0) });
        const first = await deploy(one.id);
        const later = [];
        for (let i = 0; i < 3; i++) later.push(await deploy(two.id), await deploy(two.id, 'production'));
        assert.deepEqual((await store.deployments.list({ service: 'payment', releaseId: one.id })).map((d) => d.id), [first.id]);
        assert.deepEqual((await store.deployments.list({ environment: 'staging', afterId: first.id, order: 'oldest', limit: 2 })).map((d) => d.id), [later[0]!.id, later[2]!.id]);
        assert.deepEqual((await store.deployments.list({ releaseId: two.id, environment: 'production' })).map((d) => d.id), [later[5]!.id, later[3]!.id, later[1]!.id]);
      });

      it('a user has an email, null unless given; update sets and clears it', async () => {
        const ada = (await store.users.create({ name: 'ada', role: 'deployer', passwordHash: null, email: 'ada@example.com' }))!;
        const bob = (await store.users.create({ name: 'bob', role: 'viewer', passwordHash: null }))!;
        assert.deepEqual([ada.email, bob.email], ['ada@example.com', null]);
        assert.deepEqual(await store.users.byName('ada'), ada);
        assert.deepEqual(await store.users.update(bob.id, { email: 'bob@example.com' }), { ...bob, email: 'bob@example.com' });
        assert.deepEqual(await store.users.update(ada.id, { email: null }), { ...ada, email: null });
        assert.deepEqual((await store.users.list()).map((user) => user.email), [null, 'bob@example.com']);
      });
    });

    describe('events: environment and the audit filter', () => {
      async function audit() {
        const append = (type: string, at: string, actor: string | null, service: string | null, environment: string | null) =>
          store.events.append({ type, at, actor, service, environment, runId: null, data: { type } });
        return [
          await append('approval.given', T(1), 'ada', 'payment', 'production'),
          await append('approval.rejected', T(2), 'bob', 'payment', 'production'),
          await append('approvals.pruned', T(3), null, null, null),
          await append('approval', T(4), 'ada', 'orders', 'staging'),
          await append('lock.acquired', T(5), 'ada', null, 'production'),
          await append('secret_x.set', T(6), 'bob', 'orders', 'staging'),
          await append('secretAx.set', T(7), 'bob', 'orders', 'staging'),
          await append('run_created', T(8), null, 'payment', null),
          await append('runXcreated', T(9), null, 'payment', null),
          await append('a%.b', T(10), null, null, null),
          await append('abc.d', T(11), null, null, null),
        ];
      }

      it('append stores the environment, null unless given', async () => {
        const [given] = await audit();
        assert.equal(given!.environment, 'production');
        const plain = await store.events.append({ type: 'x', runId: null, service: null, data: null });
        assert.equal(plain.environment, null);
        assert.deepEqual((await store.events.list({ afterId: given!.id - 1, limit: 1 }))[0], given);
      });

      it('types match exactly, or by prefix for entries ending in "."; "_" and "%" are literal', async () => {
        const events = await audit();
        const types = async (filter: string[]) => (await store.events.list({ types: filter })).map((e) => e.type);
        assert.deepEqual(await types(['approval.']), ['approval.given', 'approval.rejected']);
        assert.deepEqual(await types(['approval']), ['approval']);
        assert.deepEqual(await types(['approval.', 'lock.acquired']), ['approval.given', 'approval.rejected', 'lock.acquired']);
        assert.deepEqual(await types(['secret_x.']), ['secret_x.set']);
        assert.deepEqual(await types(['run_created']), ['run_created']);
        assert.deepEqual(await types(['a%.']), ['a%.b']);
        assert.deepEqual(await types(['%']), []);
        assert.deepEqual(await types(['lock.acquired.']), []);
        assert.deepEqual(await types([]), []);
        assert.equal((await store.events.list()).length, events.length);
      });

      it('a prefix matches by characters, whatever their encoding length', async () => {
        const rocket = await store.events.append({ type: 'déploy.🚀.started', runId: null, service: null, data: null });
        assert.deepEqual(ids(await store.events.list({ types: ['déploy.🚀.'] })), [rocket.id]);
        assert.deepEqual(ids(await store.events.list({ types: ['déploy.'] })), [rocket.id]);
      });

      it('filters by actor, service, environment and time (inclusive), and combines them', async () => {
        await audit();
        const found = async (filter: Parameters<Store['events']['list']>[0]) => (await store.events.list(filter)).map((e) => e.type);
        assert.deepEqual(await found({ actor: 'ada' }), ['approval.given', 'approval', 'lock.acquired']);
        assert.deepEqual(await found({ service: 'orders' }), ['approval', 'secret_x.set', 'secretAx.set']);
        assert.deepEqual(await found({ environment: 'production' }), ['approval.given', 'approval.rejected', 'lock.acquired']);
        assert.deepEqual(await found({ since: T(5), until: T(7) }), ['lock.acquired', 'secret_x.set', 'secretAx.set']);
        assert.deepEqual(await found({ since: T(11) }), ['abc.d']);
        assert.deepEqual(await found({ until: T(1) }), ['approval.given']);
        assert.deepEqual(await found({ actor: 'bob', environment: 'staging', types: ['secret_x.'] }), ['secret_x.set']);
        assert.deepEqual(await found({ actor: 'carol' }), []);
      });

      it('pages newest first below beforeId, or oldest first above afterId', async () => {
        const events = await audit();
        const all = ids(events);
        assert.deepEqual(ids(await store.events.list({ order: 'newest' })), [...all].reverse());
        assert.deepEqual(ids(await store.events.list({ order: 'newest', limit: 3 })), all.slice(-3).reverse());
        assert.deepEqual(ids(await store.events.list({ order: 'newest', beforeId: all[5], limit: 2 })), [all[4], all[3]]);
        assert.deepEqual(ids(await store.events.list({ beforeId: all[3] })), all.slice(0, 3), 'oldest first by default');
        assert.deepEqual(ids(await store.events.list({ afterId: all[8], order: 'oldest' })), all.slice(9));
        assert.deepEqual(ids(await store.events.list({ afterId: all[2], beforeId: all[5] })), all.slice(3, 5));
        assert.deepEqual(ids(await store.events.list({ order: 'newest', actor: 'ada', beforeId: all[4] })), [all[3], all[0]]);
      });
    });

    describe('approvals', () => {
      it('record stores one decision per user and stage; a second one is null and changes nothing', async () => {
        const { run, stage, approval } = await gate();
        const first = await store.approvals.record(approval('ada', { comment: 'looks good' }));
        assert.deepEqual(first, { id: first!.id, ...approval('ada', { comment: 'looks good' }) });
        assert.equal(await store.approvals.record(approval('ada', { decision: 'reject', at: T(2) })), null);
        const bob = await store.approvals.record(approval('bob', { role: 'admin', decision: 'reject' }));
        assert.ok(bob && bob.id > first!.id);
        assert.deepEqual(await store.approvals.list({ stageId: stage.id }), [first, bob]);
        assert.deepEqual(await store.approvals.list({ runId: run.id }), [first, bob]);
      });

      it('list filters by run and by stage, oldest first', async () => {
        const one = await gate('payment');
        const two = await gate('orders');
        const a = await store.approvals.record(one.approval('ada'));
        const b = await store.approvals.record(two.approval('ada'));
        const c = await store.approvals.record(one.approval('bob'));
        assert.deepEqual(await store.approvals.list({ runId: one.run.id }), [a, c]);
        assert.deepEqual(await store.approvals.list({ stageId: two.stage.id }), [b]);
        assert.deepEqual(await store.approvals.list({ runId: 999 }), []);
      });

      it('concurrent decisions by one user at one stage: exactly one is recorded', async () => {
        const { stage, approval } = await gate();
        const results = await Promise.all((['approve', 'reject', 'approve', 'reject', 'approve'] as const).map((decision) => store.approvals.record(approval('ada', { decision }))));
        const recorded = results.filter((result) => result !== null);
        assert.equal(recorded.length, 1);
        assert.deepEqual(await store.approvals.list({ stageId: stage.id }), recorded);
      });
    });

    describe('locks', () => {
      const lock = (environment: string, service: string | null, reason = 'freeze', actor = 'ada', at = T(0)) => ({ environment, service, reason, actor, at });

      it('acquire locks once per environment and service; every service and one service are different keys', async () => {
        assert.deepEqual(await store.locks.acquire(lock('production', null)), lock('production', null));
        assert.equal(await store.locks.acquire(lock('production', null, 'again', 'bob', T(1))), null);
        assert.deepEqual(await store.locks.acquire(lock('production', 'payment', 'migration')), lock('production', 'payment', 'migration'));
        assert.equal(await store.locks.acquire(lock('production', 'payment', 'other', 'bob')), null);
        assert.ok(await store.locks.acquire(lock('staging', 'payment')));
        const production = await store.locks.list({ environment: 'production' });
        assert.equal(production.length, 2);
        assert.deepEqual(production.find((l) => l.service === null), lock('production', null), 'the losers changed nothing');
        assert.deepEqual(production.find((l) => l.service === 'payment'), lock('production', 'payment', 'migration'));
      });

      it('release removes only that key and returns it; null when there was none', async () => {
        await store.locks.acquire(lock('production', null));
        await store.locks.acquire(lock('production', 'payment'));
        assert.deepEqual(await store.locks.release('production', null), lock('production', null));
        assert.equal(await store.locks.release('production', null), null);
        assert.equal(await store.locks.release('staging', 'payment'), null);
        assert.deepEqual(await store.locks.list(), [lock('production', 'payment')]);
        assert.ok(await store.locks.acquire(lock('production', null, 'again')), 'free again after release');
      });

      it('list is by environment, then service', async () => {
        for (const [env, service] of [['staging', 'orders'], ['production', 'payment'], ['staging', null], ['production', 'orders'], ['dev', 'payment']] as const) {
          await store.locks.acquire(lock(env, service));
        }
        const listed = (await store.locks.list()).map((l) => [l.environment, l.service]);
        assert.deepEqual(listed.map(([env]) => env), ['dev', 'production', 'production', 'staging', 'staging']);
        assert.deepEqual(listed.filter(([, service]) => service !== null), [['dev', 'payment'], ['production', 'orders'], ['production', 'payment'], ['staging', 'orders']]);
        assert.deepEqual((await store.locks.list({ environment: 'production' })).map((l) => l.service), ['orders', 'payment']);
        assert.deepEqual(await store.locks.list({ environment: 'qa' }), []);
      });

      it('concurrent acquires of one key: exactly one wins', async () => {
        const results = await Promise.all(['ada', 'bob', 'carol', 'dan'].map((actor) => store.locks.acquire(lock('production', 'payment', 'deploy', actor))));
        const won = results.filter((result) => result !== null);
        assert.equal(won.length, 1);
        assert.deepEqual(await store.locks.list(), won);
      });
    });

    describe('secrets', () => {
      it('set creates or replaces (environment, service, name); every service and one service are different', async () => {
        await store.secrets.set(secret('production', null, 'TOKEN', 'v1'));
        await store.secrets.set(secret('production', 'payment', 'TOKEN', 'p1'));
        await store.secrets.set(secret('production', null, 'TOKEN', 'v2', T(5)));
        assert.deepEqual(await store.secrets.list(), [secret('production', null, 'TOKEN', 'v2', T(5)), secret('production', 'payment', 'TOKEN', 'p1')]);
      });

      it('list is by environment, service (every service first) and name, and filters by environment', async () => {
        const stored = [secret('staging', 'orders', 'A'), secret('production', 'payment', 'B'), secret('production', null, 'Z'), secret('production', 'orders', 'A'), secret('production', null, 'A'), secret('dev', null, 'A')];
        for (const entry of stored) await store.secrets.set(entry);
        const keys = (list: SealedSecret[]) => list.map((s) => `${s.environment}/${s.service ?? '*'}/${s.name}`);
        assert.deepEqual(keys(await store.secrets.list()), ['dev/*/A', 'production/*/A', 'production/*/Z', 'production/orders/A', 'production/payment/B', 'staging/orders/A']);
        assert.deepEqual(keys(await store.secrets.list({ environment: 'production' })), ['production/*/A', 'production/*/Z', 'production/orders/A', 'production/payment/B']);
        assert.deepEqual(await store.secrets.list({ environment: 'qa' }), []);
      });

      it('delete removes only that key; false when there was none', async () => {
        await store.secrets.set(secret('production', null, 'TOKEN'));
        await store.secrets.set(secret('production', 'payment', 'TOKEN'));
        assert.equal(await store.secrets.delete('production', null, 'TOKEN'), true);
        assert.equal(await store.secrets.delete('production', null, 'TOKEN'), false);
        assert.equal(await store.secrets.delete('staging', 'payment', 'TOKEN'), false);
        assert.deepEqual(await store.secrets.list(), [secret('production', 'payment', 'TOKEN')]);
      });

      it('reseal replaces only the sealed value of secrets that exist, keeping their dates', async () => {
        await store.secrets.set(secret('production', null, 'TOKEN', 'old-1', T(1)));
        await store.secrets.set(secret('production', 'payment', 'TOKEN', 'old-2', T(2)));
        await store.secrets.reseal([
          { environment: 'production', service: null, name: 'TOKEN', sealed: 'new-1' },
          { environment: 'production', service: 'orders', name: 'TOKEN', sealed: 'gone' },
        ]);
        await store.secrets.reseal([]);
        assert.deepEqual(await store.secrets.list(), [secret('production', null, 'TOKEN', 'new-1', T(1)), secret('production', 'payment', 'TOKEN', 'old-2', T(2))]);
      });
    });

    describe('transaction', () => {
      it('a rolled-back transaction leaves no approval, lock, secret, outbox item or status change behind', async () => {
        const { run, stage, approval } = await gate();
        await store.secrets.set(secret('production', null, 'KEPT', 'before'));
        await assert.rejects(
          store.transaction(async (tx) => {
            assert.ok(await tx.approvals.record(approval('ada')));
            assert.ok(await tx.locks.acquire({ environment: 'production', service: null, reason: 'r', actor: 'ada', at: T(0) }));
            await tx.secrets.set(secret('production', null, 'LOST'));
            await tx.secrets.reseal([{ environment: 'production', service: null, name: 'KEPT', sealed: 'after' }]);
            await tx.outbox.enqueue([item('lost')]);
            assert.ok(await tx.runs.updateIf(run.id, ['waiting'], { status: 'pending' }));
            await tx.stages.update(stage.id, { status: 'running', wait: null });
            assert.equal((await tx.stages.waiting()).length, 0, 'the transaction sees its own writes');
            throw new Error('boom');
          }),
          /boom/,
        );
        assert.deepEqual(await store.approvals.list({ stageId: stage.id }), []);
        assert.deepEqual(await store.locks.list(), []);
        assert.deepEqual(await store.secrets.list(), [secret('production', null, 'KEPT', 'before')]);
        assert.deepEqual(await store.outbox.list(), []);
        assert.equal(await store.outbox.nextDue(), null);
        assert.deepEqual(await store.stages.waiting(), [{ run, stage }]);
        assert.ok(await store.approvals.record(approval('ada')), 'the decision is free again');
      });

      it('a committed transaction keeps them all', async () => {
        const { stage, approval } = await gate();
        await store.transaction(async (tx) => {
          await tx.approvals.record(approval('ada'));
          await tx.locks.acquire({ environment: 'production', service: 'payment', reason: 'r', actor: 'ada', at: T(0) });
          await tx.secrets.set(secret('production', 'payment', 'TOKEN'));
          await tx.outbox.enqueue([item('kept')]);
        });
        assert.equal((await store.approvals.list({ stageId: stage.id })).length, 1);
        assert.equal((await store.locks.list()).length, 1);
        assert.equal((await store.secrets.list()).length, 1);
        assert.equal(await store.outbox.nextDue(), T(0));
      });
    });
  });
}
