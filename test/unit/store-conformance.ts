// The one conformance suite for the Store contract (src/store/store.ts). Every implementation
// registers it with its own `open`; each test gets a fresh, empty store.

import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { LogLine } from '../../src/core/types.ts';
import type { NewDelivery, NewDeployment, NewLogLine, NewRelease, NewStage, Store } from '../../src/store/store.ts';
import { newRun } from '../support/records.ts';

const AT = '2024-05-01T10:00:00.000Z';
const LATER = '2024-05-01T10:05:00.000Z';

function newStage(position: number, overrides: Partial<NewStage> = {}): NewStage {
  return { position, name: `stage-${position}`, kind: 'command', command: `make step${position}`, environment: null, timeoutMs: 60_000, ...overrides };
}

function line(runId: number, stageId: number, text: string, stream: LogLine['stream'] = 'stdout'): NewLogLine {
  return { runId, stageId, stream, text, at: AT };
}

function newRelease(runId: number, service = 'payment', digest = 'sha256:' + '1'.repeat(64)): NewRelease {
  return { service, commitSha: 'a'.repeat(40), image: `127.0.0.1:5000/${service}:aaaa`, digest, tag: null, lane: 'main', runId };
}

function newDeployment(releaseId: number, overrides: Partial<NewDeployment> = {}): NewDeployment {
  return { service: 'payment', environment: 'staging', releaseId, runId: null, previousReleaseId: null, startedAt: AT, ...overrides };
}

function newDelivery(deliveryId: string, overrides: Partial<NewDelivery> = {}): NewDelivery {
  return {
    forge: 'github',
    deliveryId,
    repository: 'acme/payment',
    event: 'push',
    parsed: { kind: 'push', branch: 'main', commitCount: 2, forced: false },
    headers: { 'x-github-event': 'push', 'content-type': 'application/json' },
    body: Buffer.from('{"ref":"refs/heads/main"}\u00ff'),
    bodyDigest: `sha256:${deliveryId}`,
    receivedAt: AT,
    ...overrides,
  };
}

function isIncreasing(ids: number[]): boolean {
  return ids.every((id, i) => i === 0 || id > ids[i - 1]!);
}

export function storeConformance(name: string, open: () => Promise<Store>): void {
  describe(`Store conformance: ${name}`, () => {
    let store: Store;
    beforeEach(async () => {
      store = await open();
    });
    afterEach(async () => {
      await store.close();
    });

    async function runWithStages(service = 'payment', count = 3) {
      return store.runs.create(newRun(service), Array.from({ length: count }, (_, i) => newStage(i)));
    }

    describe('runs', () => {
      it('create stores a pending run and its pending stages in pipeline order', async () => {
        const { run, stages } = await store.runs.create(newRun('payment', { createdAt: AT }), [
          newStage(0, { name: 'checkout' }),
          newStage(1, { name: 'build', kind: 'build', command: null }),
          newStage(2, { name: 'deploy', kind: 'deploy', command: null, environment: 'staging', timeoutMs: 5_000 }),
        ]);
        assert.deepEqual(run, {
          id: run.id,
          service: 'payment',
          ref: 'main',
          commitSha: 'a'.repeat(40),
          trigger: { kind: 'push', by: 'delivery-1' },
          lane: 'main',
          concurrency: 'queue',
          partial: false,
          untrusted: false,
          tag: null,
          variables: {},
          originRunId: null,
          releaseId: null,
          commitAuthor: null,
          commitTitle: null,
          committedAt: null,
          forced: false,
          note: null,
          status: 'pending',
          reason: null,
          createdAt: AT,
          startedAt: null,
          finishedAt: null,
        });
        assert.deepEqual(
          stages.map((s) => [s.position, s.name, s.kind, s.status, s.runId, s.command, s.environment, s.timeoutMs]),
          [
            [0, 'checkout', 'command', 'pending', run.id, 'make step0', null, 60_000],
            [1, 'build', 'build', 'pending', run.id, null, null, 60_000],
            [2, 'deploy', 'deploy', 'pending', run.id, null, 'staging', 5_000],
          ],
        );
        for (const stage of stages) {
          assert.deepEqual(
            [stage.exitCode, stage.reason, stage.handle, stage.wait, stage.startedAt, stage.finishedAt],
            [null, null, null, null, null, null],
          );
        }
        assert.deepEqual(await store.runs.get(run.id), run);
        assert.deepEqual(await store.stages.listByRun(run.id), stages);
      });

      it('create assigns increasing ids to runs and stages', async () => {
        const created = [await runWithStages(), await runWithStages(), await runWithStages('orders')];
        assert.ok(isIncreasing(created.map((c) => c.run.id)));
        assert.ok(isIncreasing(created.flatMap((c) => c.stages.map((s) => s.id))));
      });

      it('create defaults createdAt to now', async () => {
        const before = new Date().toISOString();
        const { run } = await store.runs.create(newRun(), []);
        const after = new Date().toISOString();
        assert.ok(run.createdAt >= before && run.createdAt <= after, run.createdAt);
      });

      it('create stores nothing when one of its stages cannot be stored', async () => {
        await assert.rejects(store.runs.create(newRun(), [newStage(0), newStage(0)]));
        assert.deepEqual(await store.runs.list(), []);
      });

      it('get, update of an unknown id give null', async () => {
        assert.equal(await store.runs.get(999), null);
        assert.equal(await store.runs.update(999, { status: 'running' }), null);
        assert.equal(await store.stages.get(999), null);
        assert.equal(await store.stages.update(999, { status: 'running' }), null);
        assert.equal(await store.releases.get(999), null);
        assert.equal(await store.deployments.get(999), null);
        assert.equal(await store.deployments.update(999, { status: 'failed' }), null);
      });

      it('list is newest first and filters by service, statuses, beforeId and limit', async () => {
        const a = (await runWithStages('payment')).run;
        const b = (await runWithStages('orders')).run;
        const c = (await runWithStages('payment')).run;
        const d = (await runWithStages('payment')).run;
        await store.runs.update(b.id, { status: 'running' });
        await store.runs.update(c.id, { status: 'failed' });
        const ids = (runs: { id: number }[]) => runs.map((r) => r.id);

        assert.deepEqual(ids(await store.runs.list()), [d.id, c.id, b.id, a.id]);
        assert.deepEqual(ids(await store.runs.list({ service: 'payment' })), [d.id, c.id, a.id]);
        assert.deepEqual(ids(await store.runs.list({ statuses: ['running', 'failed'] })), [c.id, b.id]);
        assert.deepEqual(ids(await store.runs.list({ service: 'payment', statuses: ['pending'] })), [d.id, a.id]);
        assert.deepEqual(ids(await store.runs.list({ beforeId: c.id })), [b.id, a.id]);
        assert.deepEqual(ids(await store.runs.list({ limit: 2 })), [d.id, c.id]);
        assert.deepEqual(ids(await store.runs.list({ service: 'payment', beforeId: d.id, limit: 1 })), [c.id]);
        assert.deepEqual(await store.runs.list({ statuses: [] }), []);
        assert.deepEqual(await store.runs.list({ service: 'unknown' }), []);
      });

      it('stores lane, policy, partial, tag, variables and origin as given, and filters by lane', async () => {
        const { run: first } = await store.runs.create(newRun(), []);
        const { run } = await store.runs.create(
          newRun('payment', {
            lane: 'pr/12',
            concurrency: 'supersede',
            partial: true,
            tag: 'v1.2.0',
            variables: { LEVEL: 'debug', EMPTY: '' },
            originRunId: first.id,
          }),
          [],
        );
        assert.deepEqual(
          [run.lane, run.concurrency, run.partial, run.tag, run.variables, run.originRunId],
          ['pr/12', 'supersede', true, 'v1.2.0', { LEVEL: 'debug', EMPTY: '' }, first.id],
        );
        assert.deepEqual(await store.runs.get(run.id), run);
        assert.deepEqual((await store.runs.list({ service: 'payment', lane: 'pr/12' })).map((r) => r.id), [run.id]);
        assert.deepEqual((await store.runs.list({ lane: 'main' })).map((r) => r.id), [first.id]);
      });

      it('list reads oldest first when asked, with every filter', async () => {
        const ids: number[] = [];
        for (let i = 0; i < 4; i++) ids.push((await store.runs.create(newRun('payment'), [])).run.id);
        assert.deepEqual((await store.runs.list({ order: 'oldest' })).map((run) => run.id), ids);
        assert.deepEqual((await store.runs.list({ order: 'oldest', limit: 2 })).map((run) => run.id), ids.slice(0, 2));
        assert.deepEqual((await store.runs.list({ order: 'oldest', beforeId: ids[3] })).map((run) => run.id), ids.slice(0, 3));
      });

      it('stores whether a run is untrusted', async () => {
        const { run } = await store.runs.create(newRun('payment', { untrusted: true, partial: true, lane: 'pr/7' }), []);
        assert.deepEqual([run.untrusted, (await store.runs.get(run.id))!.untrusted], [true, true]);
      });

      it('update applies a partial patch and returns the whole record', async () => {
        const { run } = await runWithStages();
        const running = await store.runs.update(run.id, { status: 'running', startedAt: AT, commitSha: 'b'.repeat(40) });
        assert.deepEqual(running, { ...run, status: 'running', startedAt: AT, commitSha: 'b'.repeat(40) });

        const failed = await store.runs.update(run.id, { status: 'failed', reason: 'unit tests failed', finishedAt: LATER });
        assert.deepEqual(failed, { ...running, status: 'failed', reason: 'unit tests failed', finishedAt: LATER });
        assert.deepEqual(await store.runs.get(run.id), failed);

        assert.deepEqual(await store.runs.update(run.id, { reason: null }), { ...failed, reason: null });
        assert.deepEqual(await store.runs.update(run.id, {}), { ...failed, reason: null });
      });

      it('latestPerService gives the newest run of each service', async () => {
        await runWithStages('payment');
        const orders = (await runWithStages('orders')).run;
        const payment = (await runWithStages('payment')).run;
        const latest = await store.runs.latestPerService();
        assert.deepEqual(
          latest.map((r) => r.id).sort((x, y) => x - y),
          [orders.id, payment.id],
        );
        assert.deepEqual(await store.runs.latestPerService().then((runs) => runs.find((r) => r.service === 'payment')), payment);
      });
    });

    describe('stages', () => {
      it('listByRun gives only that run’s stages, in pipeline order', async () => {
        const { run } = await store.runs.create(newRun(), [newStage(2), newStage(0), newStage(1)]);
        await runWithStages('orders');
        const stages = await store.stages.listByRun(run.id);
        assert.deepEqual(stages.map((s) => [s.position, s.runId]), [[0, run.id], [1, run.id], [2, run.id]]);
        assert.deepEqual(await store.stages.listByRun(999), []);
      });

      it('update applies a partial patch and returns the whole record', async () => {
        const { stages } = await runWithStages();
        const stage = stages[1]!;
        const running = await store.stages.update(stage.id, { status: 'running', handle: 'container:abc', startedAt: AT, command: 'make test' });
        assert.deepEqual(running, { ...stage, status: 'running', handle: 'container:abc', startedAt: AT, command: 'make test' });

        const done = await store.stages.update(stage.id, { status: 'failed', exitCode: 2, reason: 'exit code 2', finishedAt: LATER });
        assert.deepEqual(done, { ...running, status: 'failed', exitCode: 2, reason: 'exit code 2', finishedAt: LATER });
        assert.deepEqual(await store.stages.get(stage.id), done);
        assert.deepEqual(await store.stages.get(stages[0]!.id), stages[0], 'other stages are untouched');
      });
    });

    describe('logs', () => {
      it('append numbers each run’s lines 1, 2, 3, ... across calls and keeps stream and text', async () => {
        const one = await runWithStages('payment');
        const two = await runWithStages('orders');
        const s1 = one.stages[0]!.id;
        const s2 = two.stages[0]!.id;

        const first = await store.logs.append([
          line(one.run.id, s1, 'a'),
          line(two.run.id, s2, 'x'),
          line(one.run.id, s1, 'b', 'stderr'),
          line(two.run.id, s2, 'y', 'system'),
          line(one.run.id, s1, 'c'),
        ]);
        assert.deepEqual(
          first.map((l) => [l.runId, l.seq, l.stream, l.text]),
          [
            [one.run.id, 1, 'stdout', 'a'],
            [two.run.id, 1, 'stdout', 'x'],
            [one.run.id, 2, 'stderr', 'b'],
            [two.run.id, 2, 'system', 'y'],
            [one.run.id, 3, 'stdout', 'c'],
          ],
        );
        const second = await store.logs.append([line(one.run.id, one.stages[1]!.id, 'd'), line(one.run.id, s1, 'e')]);
        assert.deepEqual(second.map((l) => l.seq), [4, 5]);

        const stored = await store.logs.list(one.run.id);
        assert.deepEqual(stored, [...first.filter((l) => l.runId === one.run.id), ...second]);
        assert.deepEqual(stored[1], { runId: one.run.id, stageId: s1, seq: 2, stream: 'stderr', text: 'b', at: AT });
      });

      it('append of no lines stores nothing', async () => {
        assert.deepEqual(await store.logs.append([]), []);
      });

      it('keeps text exactly, including unicode, empty lines and very long lines', async () => {
        const { run, stages } = await runWithStages();
        const texts = ['', '  indented\ttab', 'ünïcödé ✓ 日本', 'x'.repeat(100_000), "quote ' and \" and \\"];
        await store.logs.append(texts.map((text) => line(run.id, stages[0]!.id, text)));
        assert.deepEqual((await store.logs.list(run.id)).map((l) => l.text), texts);
      });

      it('concurrent appends to one run never share a seq', async () => {
        const { run, stages } = await runWithStages();
        await Promise.all(
          Array.from({ length: 5 }, (_, batch) =>
            store.logs.append(Array.from({ length: 20 }, (_, i) => line(run.id, stages[0]!.id, `${batch}:${i}`))),
          ),
        );
        const seqs = (await store.logs.list(run.id)).map((l) => l.seq);
        assert.deepEqual(seqs, Array.from({ length: 100 }, (_, i) => i + 1));
      });

      it('append stores a batch of thousands of lines, numbered in order', async () => {
        const { run, stages } = await runWithStages();
        const count = 12_345;
        const stored = await store.logs.append(Array.from({ length: count }, (_, i) => line(run.id, stages[0]!.id, `line ${i}`)));
        assert.equal(stored.at(-1)!.seq, count);
        const listed = await store.logs.list(run.id);
        assert.equal(listed.length, count);
        assert.deepEqual(listed.at(-1), { ...line(run.id, stages[0]!.id, `line ${count - 1}`), seq: count });
      });

      it('list filters by afterSeq, stageId and limit, in seq order', async () => {
        const { run, stages } = await runWithStages();
        const [a, b] = [stages[0]!.id, stages[1]!.id];
        await store.logs.append([line(run.id, a, '1'), line(run.id, a, '2'), line(run.id, b, '3')]);
        await store.logs.append([line(run.id, b, '4'), line(run.id, a, '5')]);
        const texts = (lines: LogLine[]) => lines.map((l) => l.text);

        assert.deepEqual(texts(await store.logs.list(run.id)), ['1', '2', '3', '4', '5']);
        assert.deepEqual(texts(await store.logs.list(run.id, { afterSeq: 2 })), ['3', '4', '5']);
        assert.deepEqual(texts(await store.logs.list(run.id, { stageId: a })), ['1', '2', '5']);
        assert.deepEqual(texts(await store.logs.list(run.id, { stageId: b, afterSeq: 3 })), ['4']);
        assert.deepEqual(texts(await store.logs.list(run.id, { limit: 2 })), ['1', '2']);
        assert.deepEqual(texts(await store.logs.list(run.id, { afterSeq: 1, stageId: a, limit: 1 })), ['2']);
        assert.deepEqual(await store.logs.list(run.id, { afterSeq: 5 }), []);
        assert.deepEqual(await store.logs.list(999), []);
      });

      it('count counts the lines of one stream of one stage', async () => {
        const { run, stages } = await runWithStages();
        const [a, b] = [stages[0]!.id, stages[1]!.id];
        await store.logs.append([
          line(run.id, a, '1'),
          line(run.id, a, '2', 'stderr'),
          line(run.id, a, '3'),
          line(run.id, b, '4'),
          line(run.id, a, '5', 'system'),
        ]);
        assert.equal(await store.logs.count(a, 'stdout'), 2);
        assert.equal(await store.logs.count(a, 'stderr'), 1);
        assert.equal(await store.logs.count(a, 'system'), 1);
        assert.equal(await store.logs.count(b, 'stdout'), 1);
        assert.equal(await store.logs.count(b, 'stderr'), 0);
      });
    });

    describe('releases', () => {
      it('create assigns an increasing id and createdAt; get returns it', async () => {
        const { run } = await runWithStages();
        const before = new Date().toISOString();
        const first = await store.releases.create(newRelease(run.id));
        const second = await store.releases.create(newRelease(run.id, 'payment', 'sha256:' + '2'.repeat(64)));
        assert.ok(second.id > first.id);
        assert.ok(first.createdAt >= before && first.createdAt <= new Date().toISOString(), first.createdAt);
        assert.deepEqual(first, { ...newRelease(run.id), origin: 'branch', id: first.id, createdAt: first.createdAt });
        assert.deepEqual(await store.releases.get(first.id), first);
      });

      it('keeps where a release came from', async () => {
        const { run } = await runWithStages();
        const fromPullRequest = await store.releases.create({ ...newRelease(run.id), lane: 'pr/12' });
        const fromTag = await store.releases.create({ ...newRelease(run.id), lane: 'tag/v1.2.0', tag: 'v1.2.0' });
        assert.deepEqual([fromPullRequest.origin, fromPullRequest.lane], ['pull_request', 'pr/12']);
        assert.deepEqual(await store.releases.get(fromTag.id), fromTag);
      });

      it('list is newest first and filters by service, run and limit', async () => {
        const { run } = await runWithStages();
        const a = await store.releases.create(newRelease(run.id, 'payment'));
        const b = await store.releases.create(newRelease(run.id, 'orders'));
        const c = await store.releases.create(newRelease(run.id, 'payment'));
        const { run: other } = await runWithStages();
        const d = await store.releases.create(newRelease(other.id, 'payment'));
        const ids = (releases: { id: number }[]) => releases.map((r) => r.id);
        assert.deepEqual(ids(await store.releases.list({ runId: other.id })), [d.id]);
        assert.deepEqual(ids(await store.releases.list({ runId: run.id, limit: 1 })), [c.id]);
        assert.deepEqual(await store.releases.list({ runId: 999 }), []);
        assert.deepEqual(ids(await store.releases.list({ runIds: [other.id, 999] })), [d.id]);
        assert.deepEqual(ids(await store.releases.list({ runIds: [run.id, other.id], limit: 2 })), [d.id, c.id]);
        assert.deepEqual(await store.releases.list({ runIds: [] }), []);
        assert.deepEqual(ids(await store.releases.list()), [d.id, c.id, b.id, a.id]);
        assert.deepEqual(ids(await store.releases.list({ service: 'payment' })), [d.id, c.id, a.id]);
        assert.deepEqual(ids(await store.releases.list({ limit: 1 })), [d.id]);
        assert.deepEqual(await store.releases.list({ service: 'unknown' }), []);
      });
    });

    describe('deployments', () => {
      async function release() {
        const { run } = await runWithStages();
        return { run, release: await store.releases.create(newRelease(run.id)) };
      }

      it('create starts in progress; update applies a partial patch and returns the whole record', async () => {
        const { run, release: r } = await release();
        const previous = await store.releases.create(newRelease(run.id));
        const created = await store.deployments.create(newDeployment(r.id, { runId: run.id, previousReleaseId: previous.id }));
        assert.deepEqual(created, {
          id: created.id,
          service: 'payment',
          environment: 'staging',
          releaseId: r.id,
          runId: run.id,
          status: 'in_progress',
          previousReleaseId: previous.id,
          url: null,
          reason: null,
          kind: 'deploy',
          actor: null,
          note: null,
          forced: false,
          startedAt: AT,
          finishedAt: null,
        });
        assert.deepEqual(await store.deployments.get(created.id), created);

        const done = await store.deployments.update(created.id, { status: 'succeeded', url: 'http://127.0.0.1:8080', finishedAt: LATER });
        assert.deepEqual(done, { ...created, status: 'succeeded', url: 'http://127.0.0.1:8080', finishedAt: LATER });
        assert.deepEqual(await store.deployments.get(created.id), done);
        assert.deepEqual(await store.deployments.update(created.id, {}), done);
      });

      it('list is newest first and filters by service, environment, statuses and limit', async () => {
        const { release: r } = await release();
        const a = await store.deployments.create(newDeployment(r.id));
        const b = await store.deployments.create(newDeployment(r.id, { environment: 'production' }));
        const c = await store.deployments.create(newDeployment(r.id, { service: 'orders' }));
        const d = await store.deployments.create(newDeployment(r.id));
        await store.deployments.update(a.id, { status: 'succeeded' });
        await store.deployments.update(d.id, { status: 'failed' });
        const ids = (deployments: { id: number }[]) => deployments.map((x) => x.id);

        assert.deepEqual(ids(await store.deployments.list()), [d.id, c.id, b.id, a.id]);
        assert.deepEqual(ids(await store.deployments.list({ service: 'payment' })), [d.id, b.id, a.id]);
        assert.deepEqual(ids(await store.deployments.list({ environment: 'staging' })), [d.id, c.id, a.id]);
        assert.deepEqual(ids(await store.deployments.list({ service: 'payment', environment: 'staging' })), [d.id, a.id]);
        assert.deepEqual(ids(await store.deployments.list({ statuses: ['succeeded', 'failed'] })), [d.id, a.id]);
        assert.deepEqual(ids(await store.deployments.list({ statuses: ['in_progress'], limit: 1 })), [c.id]);
        assert.deepEqual(await store.deployments.list({ statuses: [] }), []);
      });

      it('current is the newest succeeded deployment of that service in that environment', async () => {
        const { release: r } = await release();
        assert.equal(await store.deployments.current('payment', 'staging'), null);

        const older = await store.deployments.create(newDeployment(r.id));
        await store.deployments.update(older.id, { status: 'succeeded' });
        const serving = await store.deployments.create(newDeployment(r.id));
        await store.deployments.update(serving.id, { status: 'succeeded', url: 'http://serving' });
        const failed = await store.deployments.create(newDeployment(r.id));
        await store.deployments.update(failed.id, { status: 'failed' });
        await store.deployments.create(newDeployment(r.id));
        const elsewhere = await store.deployments.create(newDeployment(r.id, { environment: 'production' }));
        await store.deployments.update(elsewhere.id, { status: 'succeeded' });
        const other = await store.deployments.create(newDeployment(r.id, { service: 'orders' }));
        await store.deployments.update(other.id, { status: 'succeeded' });

        assert.deepEqual(await store.deployments.current('payment', 'staging'), await store.deployments.get(serving.id));
        assert.equal((await store.deployments.current('payment', 'production'))?.id, elsewhere.id);
        assert.equal(await store.deployments.current('payment', 'qa'), null);
      });

      it('latestPerTarget is the newest deployment of each service in each environment, of the statuses asked', async () => {
        const { release: r } = await release();
        const ids = (deployments: { id: number }[]) => deployments.map((deployment) => deployment.id);
        assert.deepEqual(await store.deployments.latestPerTarget(), []);

        const serving = await store.deployments.create(newDeployment(r.id));
        await store.deployments.update(serving.id, { status: 'succeeded' });
        const failed = await store.deployments.create(newDeployment(r.id));
        await store.deployments.update(failed.id, { status: 'failed' });
        const production = await store.deployments.create(newDeployment(r.id, { environment: 'production' }));
        const orders = await store.deployments.create(newDeployment(r.id, { service: 'orders' }));
        await store.deployments.update(orders.id, { status: 'succeeded' });

        assert.deepEqual(ids(await store.deployments.latestPerTarget()), [failed.id, production.id, orders.id]);
        assert.deepEqual(ids(await store.deployments.latestPerTarget({ statuses: ['succeeded'] })), [serving.id, orders.id]);
        assert.deepEqual(await store.deployments.latestPerTarget({ statuses: [] }), []);
        assert.deepEqual(await store.deployments.latestPerTarget({ statuses: ['in_progress'] }), [await store.deployments.get(production.id)]);
      });
    });

    describe('what the delivery metrics read', () => {
      const ids = (records: { id: number }[]) => records.map((record) => record.id);
      const at = (minutes: number) => new Date(Date.parse(AT) + minutes * 60_000).toISOString();

      it('runs.byIds and releases.byIds give those records by id, leaving unknown ids out', async () => {
        const a = (await runWithStages()).run;
        const b = (await runWithStages('orders')).run;
        const c = (await runWithStages()).run;
        assert.deepEqual(await store.runs.byIds([c.id, a.id, 9999]), [await store.runs.get(a.id), await store.runs.get(c.id)]);
        assert.deepEqual(ids(await store.runs.byIds([b.id])), [b.id]);
        assert.deepEqual(await store.runs.byIds([]), []);
        const r1 = await store.releases.create(newRelease(a.id));
        const r2 = await store.releases.create(newRelease(b.id, 'orders'));
        assert.deepEqual(await store.releases.byIds([r2.id, r1.id, 9999]), [r1, r2]);
        assert.deepEqual(await store.releases.byIds([]), []);
        // Far more ids than a statement may bind variables.
        const many = Array.from({ length: 40_000 }, (_, i) => i + 1);
        assert.deepEqual(ids(await store.runs.byIds(many)), [a.id, b.id, c.id]);
        assert.deepEqual(ids(await store.releases.byIds(many)), [r1.id, r2.id]);
      });

      it('releases.commitTimes gives when each release’s commit was made and its run created, by release id', async () => {
        const read = (await store.runs.create(newRun('payment', { createdAt: at(5), committedAt: at(1) }), [])).run;
        const older = (await store.runs.create(newRun('orders', { createdAt: at(7) }), [])).run;
        const r1 = await store.releases.create(newRelease(read.id));
        const r2 = await store.releases.create(newRelease(older.id, 'orders'));
        const r3 = await store.releases.create(newRelease(read.id));
        assert.deepEqual(await store.releases.commitTimes([r3.id, r2.id, r1.id, 9999]), [
          { releaseId: r1.id, committedAt: at(1), runCreatedAt: at(5) },
          { releaseId: r2.id, committedAt: null, runCreatedAt: at(7) },
          { releaseId: r3.id, committedAt: at(1), runCreatedAt: at(5) },
        ]);
        assert.deepEqual(await store.releases.commitTimes([]), []);
        // Far more ids than a statement may bind variables.
        const many = Array.from({ length: 40_000 }, (_, i) => i + 1);
        assert.deepEqual(
          (await store.releases.commitTimes(many)).map((entry) => entry.releaseId),
          [r1.id, r2.id, r3.id],
        );
      });

      it('runs.timings gives the runs created in [from, to), of one service or all, with their stages’ times in pipeline order', async () => {
        const before = await store.runs.create(newRun('payment', { createdAt: at(-1) }), [newStage(0)]);
        const first = await store.runs.create(newRun('payment', { createdAt: at(0) }), [newStage(0, { name: 'checkout' }), newStage(1, { name: 'test' })]);
        const other = await store.runs.create(newRun('orders', { createdAt: at(5) }), []);
        const last = await store.runs.create(newRun('payment', { createdAt: at(9) }), [newStage(0, { name: 'checkout' })]);
        await store.runs.create(newRun('payment', { createdAt: at(10) }), [newStage(0)]);
        await store.runs.update(first.run.id, { status: 'succeeded', startedAt: at(1), finishedAt: at(4) });
        await store.stages.update(first.stages[1]!.id, { status: 'failed', startedAt: at(2), finishedAt: at(3) });
        await store.stages.update(first.stages[0]!.id, { status: 'succeeded', startedAt: at(1), finishedAt: at(2) });
        assert.ok(before.run.id < first.run.id);

        const all = await store.runs.timings({ from: at(0), to: at(10) });
        assert.deepEqual(
          all.map((entry) => entry.run.id),
          [first.run.id, other.run.id, last.run.id],
        );
        assert.deepEqual(all[0], {
          run: { id: first.run.id, service: 'payment', status: 'succeeded', createdAt: at(0), startedAt: at(1), finishedAt: at(4) },
          stages: [
            { name: 'checkout', position: 0, status: 'succeeded', startedAt: at(1), finishedAt: at(2) },
            { name: 'test', position: 1, status: 'failed', startedAt: at(2), finishedAt: at(3) },
          ],
        });
        assert.deepEqual(all[1]!.stages, []);
        assert.deepEqual(all[2]!.stages, [{ name: 'checkout', position: 0, status: 'pending', startedAt: null, finishedAt: null }]);
        assert.deepEqual(
          (await store.runs.timings({ from: at(0), to: at(10), service: 'payment' })).map((entry) => entry.run.id),
          [first.run.id, last.run.id],
        );
        assert.deepEqual(await store.runs.timings({ from: at(20), to: at(30) }), []);
      });

      it('deployments.finished gives those into the environments that finished in [from, to), oldest first', async () => {
        const { run } = await runWithStages();
        const r = await store.releases.create(newRelease(run.id));
        const place = async (finishedMinutes: number | null, overrides: Partial<NewDeployment> = {}, status: 'succeeded' | 'failed' | 'rolled_back' = 'succeeded') => {
          const created = await store.deployments.create(newDeployment(r.id, { environment: 'production', ...overrides }));
          return finishedMinutes === null ? created : (await store.deployments.update(created.id, { status, finishedAt: at(finishedMinutes) }))!;
        };
        const early = await place(-1);
        const a = await place(0);
        const staging = await place(1, { environment: 'staging' });
        const b = await place(2, {}, 'failed');
        const orders = await place(3, { service: 'orders' }, 'rolled_back');
        const c = await place(5);
        await place(null);
        const late = await place(10);

        assert.deepEqual(await store.deployments.finished({ environments: ['production'], from: at(0), to: at(10) }), [a, b, orders, c]);
        assert.deepEqual(ids(await store.deployments.finished({ environments: ['production'], from: at(0) })), [a.id, b.id, orders.id, c.id, late.id]);
        assert.deepEqual(ids(await store.deployments.finished({ environments: ['production', 'staging'], from: at(-5), to: at(3) })), [early.id, a.id, staging.id, b.id]);
        assert.deepEqual(ids(await store.deployments.finished({ environments: ['production'], from: at(0), service: 'payment' })), [a.id, b.id, c.id, late.id]);
        assert.deepEqual(await store.deployments.finished({ environments: [], from: at(0) }), []);
      });

      it('deployments.firstSucceeded gives each release’s first succeeded deployment per environment', async () => {
        const { run } = await runWithStages();
        const r1 = await store.releases.create(newRelease(run.id));
        const r2 = await store.releases.create(newRelease(run.id));
        const r3 = await store.releases.create(newRelease(run.id));
        const place = async (releaseId: number, environment: string, status: 'succeeded' | 'failed' | 'rolled_back' | 'in_progress') => {
          const created = await store.deployments.create(newDeployment(releaseId, { environment }));
          return status === 'in_progress' ? created : (await store.deployments.update(created.id, { status, finishedAt: LATER }))!;
        };
        await place(r1.id, 'production', 'failed');
        const r1First = await place(r1.id, 'production', 'succeeded');
        await place(r1.id, 'production', 'succeeded');
        const r1Staging = await place(r1.id, 'staging', 'succeeded');
        await place(r2.id, 'production', 'rolled_back');
        await place(r2.id, 'production', 'in_progress');
        const r3First = await place(r3.id, 'production', 'succeeded');

        assert.deepEqual(await store.deployments.firstSucceeded({ releaseIds: [r1.id, r2.id, r3.id], environments: ['production'] }), [r1First, r3First]);
        assert.deepEqual(ids(await store.deployments.firstSucceeded({ releaseIds: [r1.id], environments: ['production', 'staging'] })), [r1First.id, r1Staging.id]);
        assert.deepEqual(await store.deployments.firstSucceeded({ releaseIds: [], environments: ['production'] }), []);
        assert.deepEqual(await store.deployments.firstSucceeded({ releaseIds: [r1.id], environments: [] }), []);
      });
    });

    describe('events', () => {
      it('append assigns increasing ids, defaults at to now and round-trips data as JSON', async () => {
        const { run } = await runWithStages();
        const data = { stage: 'build', exitCode: 0, tags: ['a', 'b'], nested: { ok: true, none: null }, ratio: 0.5 };
        const before = new Date().toISOString();
        const first = await store.events.append({ type: 'run.created', runId: null, service: 'payment', data });
        const second = await store.events.append({ type: 'note', runId: run.id, service: null, actor: 'ada', data: 'text', at: AT });
        const third = await store.events.append({ type: 'empty', runId: null, service: null, data: null });
        assert.ok(isIncreasing([first.id, second.id, third.id]));
        assert.ok(first.at >= before && first.at <= new Date().toISOString(), first.at);
        assert.deepEqual(first, { id: first.id, at: first.at, type: 'run.created', runId: null, service: 'payment', actor: null, environment: null, data });
        assert.deepEqual(second, { id: second.id, at: AT, type: 'note', runId: run.id, service: null, actor: 'ada', environment: null, data: 'text' });
        assert.deepEqual(await store.events.list(), [first, second, third]);
      });

      it('list is oldest first and filters by afterId, runId and limit', async () => {
        const { run } = await runWithStages();
        const append = (type: string, runId: number | null) => store.events.append({ type, runId, service: 'payment', data: {} });
        const a = await append('a', run.id);
        const b = await append('b', null);
        const c = await append('c', run.id);
        const d = await append('d', run.id);
        const ids = (events: { id: number }[]) => events.map((e) => e.id);

        assert.deepEqual(ids(await store.events.list()), [a.id, b.id, c.id, d.id]);
        assert.deepEqual(ids(await store.events.list({ afterId: b.id })), [c.id, d.id]);
        assert.deepEqual(ids(await store.events.list({ runId: run.id })), [a.id, c.id, d.id]);
        assert.deepEqual(ids(await store.events.list({ runId: run.id, afterId: a.id, limit: 1 })), [c.id]);
        assert.deepEqual(ids(await store.events.list({ limit: 2 })), [a.id, b.id]);
        assert.deepEqual(await store.events.list({ afterId: d.id }), []);
      });

      it('is append-only: no update or delete', () => {
        assert.deepEqual(Object.keys(store.events).sort(), ['append', 'list']);
      });
    });

    describe('deliveries', () => {
      it('record stores new deliveries with their raw bytes and answers null for repeats, in input order', async () => {
        const [first] = await store.deliveries.record([newDelivery('d-1')]);
        assert.ok(first);
        assert.deepEqual(first, {
          id: first.id,
          ...newDelivery('d-1'),
          status: 'received',
          outcome: null,
          processedAt: null,
        });
        assert.ok(Buffer.isBuffer(first.body));
        assert.deepEqual(await store.deliveries.get(first.id), first);

        const batch = await store.deliveries.record([
          newDelivery('d-2'),
          newDelivery('d-1'),
          newDelivery('d-1', { forge: 'gitlab' }),
          newDelivery('d-2'),
        ]);
        assert.deepEqual(
          batch.map((d) => (d ? [d.forge, d.deliveryId] : null)),
          [['github', 'd-2'], null, ['gitlab', 'd-1'], null],
        );
        assert.ok(isIncreasing([first.id, batch[0]!.id, batch[2]!.id]));
      });

      it('record answers null for a body stored before under another delivery id, per forge', async () => {
        const [first] = await store.deliveries.record([newDelivery('d-1', { bodyDigest: 'sha256:same' })]);
        assert.ok(first);
        assert.equal(first.bodyDigest, 'sha256:same');
        const [replayed, otherForge] = await store.deliveries.record([
          newDelivery('d-2', { bodyDigest: 'sha256:same' }),
          newDelivery('d-3', { forge: 'gitea', bodyDigest: 'sha256:same' }),
        ]);
        assert.equal(replayed, null, 'the same body again is a replay');
        assert.ok(otherForge, 'another forge may send the same bytes');
        const [inBatch, again] = await store.deliveries.record([newDelivery('d-4', { bodyDigest: 'sha256:new' }), newDelivery('d-5', { bodyDigest: 'sha256:new' })]);
        assert.ok(inBatch);
        assert.equal(again, null, 'a repeat within one batch');
        assert.deepEqual((await store.deliveries.list()).map((delivery) => delivery.deliveryId), ['d-4', 'd-3', 'd-1']);
        const [replayUnderNewId, sameIdNewBody] = await store.deliveries.record([newDelivery('d-6', { bodyDigest: 'sha256:same' }), newDelivery('d-6', { bodyDigest: 'sha256:other' })]);
        assert.equal(replayUnderNewId, null, 'the replayed body is the repeat');
        assert.equal(sameIdNewBody?.bodyDigest, 'sha256:other');
      });

      it('list is newest first and filters by statuses; updateMany records outcomes', async () => {
        const [a, b, c] = await store.deliveries.record([newDelivery('a'), newDelivery('b'), newDelivery('c')]);
        await store.deliveries.updateMany([
          { id: b!.id, patch: { status: 'processed', outcome: 'started run #1', processedAt: LATER } },
          { id: 999, patch: { status: 'failed' } },
          { id: c!.id, patch: {} },
        ]);
        assert.deepEqual(await store.deliveries.get(b!.id), { ...b!, status: 'processed', outcome: 'started run #1', processedAt: LATER });
        assert.deepEqual(await store.deliveries.get(c!.id), c);
        assert.deepEqual((await store.deliveries.list()).map((d) => d.id), [c!.id, b!.id, a!.id]);
        assert.deepEqual((await store.deliveries.list({ statuses: ['received'] })).map((d) => d.id), [c!.id, a!.id]);
        assert.deepEqual((await store.deliveries.list({ beforeId: c!.id, limit: 1 })).map((d) => d.id), [b!.id]);
        assert.deepEqual(await store.deliveries.list({ statuses: [] }), []);
        assert.equal(await store.deliveries.get(999), null);
      });

      it('record stores a delivery that comes with its outcome as processed when received', async () => {
        const [settled] = await store.deliveries.record([newDelivery('settled', { outcome: 'no service builds branch docs' })]);
        const expected = { id: settled!.id, ...newDelivery('settled'), status: 'processed', outcome: 'no service builds branch docs', processedAt: AT };
        assert.deepEqual(settled, expected);
        assert.deepEqual(await store.deliveries.get(settled!.id), expected);
        assert.deepEqual(await store.deliveries.list({ statuses: ['received'] }), []);
      });

      it('record inside a failed transaction stores nothing', async () => {
        await assert.rejects(
          store.transaction(async (tx) => {
            await tx.deliveries.record([newDelivery('lost')]);
            throw new Error('boom');
          }),
        );
        assert.deepEqual(await store.deliveries.list(), []);
        assert.ok((await store.deliveries.record([newDelivery('lost')]))[0], 'the id is free again');
      });
    });

    describe('webhook secrets', () => {
      it('set replaces, get finds by forge and repository, delete removes, list is sorted', async () => {
        assert.equal(await store.webhookSecrets.get('github', 'acme/payment'), null);
        await store.webhookSecrets.set('github', 'acme/payment', 'sealed-1');
        await store.webhookSecrets.set('github', 'acme/payment', 'sealed-2');
        await store.webhookSecrets.set('gitea', 'acme/payment', 'sealed-3');
        await store.webhookSecrets.set('git', '/srv/git/a.git', 'sealed-4');
        assert.equal(await store.webhookSecrets.get('github', 'acme/payment'), 'sealed-2');
        assert.equal(await store.webhookSecrets.get('gitea', 'acme/payment'), 'sealed-3');
        assert.deepEqual(await store.webhookSecrets.list(), [
          { forge: 'git', repository: '/srv/git/a.git', sealed: 'sealed-4' },
          { forge: 'gitea', repository: 'acme/payment', sealed: 'sealed-3' },
          { forge: 'github', repository: 'acme/payment', sealed: 'sealed-2' },
        ]);
        assert.equal(await store.webhookSecrets.delete('github', 'acme/payment'), true);
        assert.equal(await store.webhookSecrets.delete('github', 'acme/payment'), false);
        assert.equal(await store.webhookSecrets.get('github', 'acme/payment'), null);
      });
    });

    describe('users', () => {
      it('create stores a user once per name; the password hash stays in the store', async () => {
        const ada = await store.users.create({ name: 'ada', role: 'admin', passwordHash: 'scrypt$hash' });
        assert.ok(ada);
        assert.deepEqual(ada, { id: ada.id, name: 'ada', role: 'admin', hasPassword: true, email: null, createdAt: ada.createdAt });
        assert.equal(await store.users.create({ name: 'ada', role: 'viewer', passwordHash: null }), null, 'the name is taken');
        const bob = (await store.users.create({ name: 'bob', role: 'viewer', passwordHash: null }))!;
        assert.equal(bob.hasPassword, false);
        assert.equal(await store.users.passwordHash(ada.id), 'scrypt$hash');
        assert.equal(await store.users.passwordHash(bob.id), null);
        assert.deepEqual(await store.users.byName('bob'), bob);
        assert.equal(await store.users.byName('carol'), null);
        assert.deepEqual((await store.users.list()).map((user) => user.name), ['ada', 'bob']);
        assert.equal(await store.users.count(), 2);
      });

      it('update changes role and password hash; delete takes the tokens along', async () => {
        const bob = (await store.users.create({ name: 'bob', role: 'viewer', passwordHash: null }))!;
        assert.equal((await store.users.update(bob.id, { role: 'deployer' }))!.role, 'deployer');
        assert.equal((await store.users.update(bob.id, { passwordHash: 'scrypt$new' }))!.hasPassword, true);
        assert.equal(await store.users.update(999, { role: 'admin' }), null);
        const token = await store.tokens.create({ userId: bob.id, name: 'laptop', hash: 'h1' });
        assert.equal(await store.users.delete(bob.id), true);
        assert.equal(await store.users.delete(bob.id), false);
        assert.equal(await store.tokens.get(token.id), null);
        assert.equal(await store.tokens.byHash('h1'), null);
      });
    });

    describe('API tokens', () => {
      it('finds a token and its user by hash; lists and revokes', async () => {
        const ada = (await store.users.create({ name: 'ada', role: 'developer', passwordHash: null }))!;
        const bob = (await store.users.create({ name: 'bob', role: 'viewer', passwordHash: null }))!;
        const laptop = await store.tokens.create({ userId: ada.id, name: 'laptop', hash: 'hash-laptop' });
        const script = await store.tokens.create({ userId: bob.id, name: 'script', hash: 'hash-script' });
        assert.deepEqual(laptop, { id: laptop.id, userId: ada.id, name: 'laptop', createdAt: laptop.createdAt, lastUsedAt: null });
        assert.deepEqual(await store.tokens.byHash('hash-laptop'), { token: laptop, user: ada });
        assert.equal(await store.tokens.byHash('hash-unknown'), null);
        assert.deepEqual((await store.tokens.list()).map((token) => token.id), [laptop.id, script.id]);
        assert.deepEqual((await store.tokens.list({ userId: bob.id })).map((token) => token.id), [script.id]);
        assert.equal(await store.tokens.delete(laptop.id), true);
        assert.equal(await store.tokens.delete(laptop.id), false);
        assert.equal(await store.tokens.byHash('hash-laptop'), null);
      });

      it('touch records a use only when none was recorded since notBefore (compare-and-set)', async () => {
        const ada = (await store.users.create({ name: 'ada', role: 'viewer', passwordHash: null }))!;
        const token = await store.tokens.create({ userId: ada.id, name: 'laptop', hash: 'h' });
        assert.equal(await store.tokens.touch(token.id, AT, '2024-05-01T09:59:00.000Z'), true);
        assert.equal(await store.tokens.touch(token.id, '2024-05-01T10:00:30.000Z', '2024-05-01T09:59:30.000Z'), false, 'used within the minute');
        assert.equal((await store.tokens.get(token.id))!.lastUsedAt, AT);
        assert.equal(await store.tokens.touch(token.id, LATER, '2024-05-01T10:04:00.000Z'), true);
        assert.equal((await store.tokens.get(token.id))!.lastUsedAt, LATER);
      });
    });

    describe('cursors', () => {
      it('get gives null until set; set replaces', async () => {
        assert.equal(await store.cursors.get('schedule:nightly'), null);
        await store.cursors.set('schedule:nightly', AT);
        await store.cursors.set('schedule:nightly', LATER);
        await store.cursors.set('poll:/srv/a.git#main', 'b'.repeat(40));
        assert.equal(await store.cursors.get('schedule:nightly'), LATER);
        assert.equal(await store.cursors.get('poll:/srv/a.git#main'), 'b'.repeat(40));
      });
    });

    describe('transaction', () => {
      it('commits every write when fn succeeds and returns its value', async () => {
        const result = await store.transaction(async (tx) => {
          const { run, stages } = await tx.runs.create(newRun(), [newStage(0)]);
          await tx.logs.append([line(run.id, stages[0]!.id, 'in transaction')]);
          await tx.events.append({ type: 'run.created', runId: run.id, service: 'payment', data: null });
          return run.id;
        });
        assert.equal((await store.runs.get(result))?.status, 'pending');
        assert.equal((await store.stages.listByRun(result)).length, 1);
        assert.equal((await store.events.list({ runId: result })).length, 1);
        const [stage] = await store.stages.listByRun(result);
        const next = await store.logs.append([line(result, stage!.id, 'after')]);
        assert.equal(next[0]!.seq, 2, 'seq continues after the committed lines');
      });

      it('rolls back everything when fn throws, and passes the error on', async () => {
        const { run: existing } = await runWithStages();
        const boom = new Error('boom');
        let lost = 0;
        await assert.rejects(
          store.transaction(async (tx) => {
            const { run, stages } = await tx.runs.create(newRun('orders'), [newStage(0), newStage(1)]);
            lost = run.id;
            await tx.logs.append([line(run.id, stages[0]!.id, 'lost')]);
            await tx.events.append({ type: 'run.created', runId: run.id, service: 'orders', data: null });
            await tx.runs.update(existing.id, { status: 'running' });
            const r = await tx.releases.create(newRelease(run.id, 'orders'));
            await tx.deployments.create(newDeployment(r.id, { service: 'orders' }));
            throw boom;
          }),
          (error) => error === boom,
        );
        assert.deepEqual((await store.runs.list()).map((r) => r.id), [existing.id]);
        assert.equal((await store.runs.get(existing.id))?.status, 'pending');
        assert.deepEqual(await store.stages.listByRun(lost), []);
        assert.deepEqual(await store.logs.list(lost), []);
        assert.deepEqual(await store.events.list(), []);
        assert.deepEqual(await store.releases.list(), []);
        assert.deepEqual(await store.deployments.list(), []);
      });

      it('rolls back earlier writes when a later write fails', async () => {
        await assert.rejects(
          store.transaction(async (tx) => {
            await tx.events.append({ type: 'first', runId: null, service: null, data: null });
            await tx.runs.create(newRun(), [newStage(0)]);
            await tx.runs.create(newRun(), [newStage(1), newStage(1)]);
          }),
        );
        assert.deepEqual(await store.events.list(), []);
        assert.deepEqual(await store.runs.list(), []);
        // The store is still usable after the failed transaction.
        assert.equal((await runWithStages()).stages.length, 3);
      });

      it('a nested transaction joins the outer one', async () => {
        await assert.rejects(
          store.transaction(async (tx) => {
            await tx.transaction((inner) => inner.events.append({ type: 'inner', runId: null, service: null, data: null }));
            throw new Error('outer fails after inner finished');
          }),
          /outer fails/,
        );
        assert.deepEqual(await store.events.list(), []);

        await store.transaction((tx) => tx.transaction((inner) => inner.events.append({ type: 'kept', runId: null, service: null, data: null })));
        assert.deepEqual((await store.events.list()).map((e) => e.type), ['kept']);
      });

      it('logs.append inside a transaction continues the run’s seq', async () => {
        const { run, stages } = await runWithStages();
        await store.logs.append([line(run.id, stages[0]!.id, '1')]);
        const inside = await store.transaction((tx) => tx.logs.append([line(run.id, stages[0]!.id, '2'), line(run.id, stages[0]!.id, '3')]));
        assert.deepEqual(inside.map((l) => l.seq), [2, 3]);
      });
    });
  });
}
