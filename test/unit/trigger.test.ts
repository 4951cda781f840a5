// The trigger service on the real Engine with fakes: which forge events start which runs, for
// which services of a monorepo, and the one sentence each event leaves behind. (Forks, late
// pushes and tags that deploy: trigger-trust.test.ts.)

import assert from 'node:assert/strict';
import type { Preview } from '../../src/core/previews.ts';
import { TriggerService } from '../../src/triggers/trigger.ts';
import { afterEach, describe, it } from 'node:test';
import {
  branchOf,
  changes,
  closeHarnesses,
  harness,
  pullRequest,
  push,
  servicesOf,
  sha,
  short,
  SHOP,
  SHOP_REF,
  skippedEvents,
  ZERO,
  type Harness,
} from '../support/triggers.ts';
import { finished, until } from '../support/wait.ts';

afterEach(closeHarnesses);

describe('trigger service: push', () => {
  it("runs only the services whose folder changed, in the branch's lane", async () => {
    const h = await harness();
    const [before, after] = [sha('1'), sha('2')];
    changes(h, before, after, ['services/api/src/index.ts', 'README.md']);
    const event = push({ before, after });
    const outcome = await h.triggers.handle(event, 'github');

    assert.deepEqual(servicesOf(outcome.runs), ['api']);
    const [run] = outcome.runs;
    assert.equal(run?.ref, 'main');
    assert.equal(run?.lane, 'main');
    assert.equal(run?.commitSha, after);
    assert.equal(run?.partial, false);
    assert.deepEqual(run?.trigger, { kind: 'push', by: 'octocat' });
    assert.equal(
      outcome.summary,
      `push to main started run #${run?.id} of api (web: no change under services/web since ${short(before)}; ` +
        `worker: no change under services/worker since ${short(before)})`,
    );
    assert.equal((await finished(h.store, run!.id)).status, 'succeeded');
  });

  it('runs a service when a path it depends on changed', async () => {
    const h = await harness();
    changes(h, sha('1'), sha('2'), ['libs/shared/money.ts']);
    const outcome = await h.triggers.handle(push({ before: sha('1'), after: sha('2') }), 'github');
    assert.deepEqual(servicesOf(outcome.runs), ['api']);
  });

  it('runs every service a change touches, and counts a change of the folder itself', async () => {
    const h = await harness();
    changes(h, sha('1'), sha('2'), ['services/web/index.html', 'services/worker', 'libs/shared/money.ts']);
    const outcome = await h.triggers.handle(push({ before: sha('1'), after: sha('2') }), 'github');
    assert.deepEqual(servicesOf(outcome.runs), ['api', 'web', 'worker']);
    assert.match(outcome.summary, /^push to main started run #\d+ of api, run #\d+ of web and run #\d+ of worker$/);
  });

  it('does not mistake a sibling folder sharing a prefix for the service folder', async () => {
    const h = await harness();
    changes(h, sha('1'), sha('2'), ['services/api-docs/README.md', 'libs/shared-old/x.ts']);
    const outcome = await h.triggers.handle(push({ before: sha('1'), after: sha('2') }), 'github');
    assert.deepEqual(outcome.runs, []);
  });

  it('runs nothing for a docs-only change, and records why for each service', async () => {
    const h = await harness();
    const [before, after] = [sha('1'), sha('2')];
    changes(h, before, after, ['docs/guide.md', 'README.md']);
    const event = push({ before, after });
    const outcome = await h.triggers.handle(event, 'github');

    assert.deepEqual(outcome.runs, []);
    assert.deepEqual(await h.store.runs.list(), []);
    const since = short(before);
    assert.equal(
      outcome.summary,
      `push to main started no run (api: no change under services/api and libs/shared since ${since}; ` +
        `web: no change under services/web since ${since}; worker: no change under services/worker since ${since})`,
    );
    assert.deepEqual(await skippedEvents(h.store), [
      { service: 'api', forge: 'github', deliveryId: event.deliveryId, commitSha: after, reason: `no change under services/api and libs/shared since ${since}` },
      { service: 'web', forge: 'github', deliveryId: event.deliveryId, commitSha: after, reason: `no change under services/web since ${since}` },
      { service: 'worker', forge: 'github', deliveryId: event.deliveryId, commitSha: after, reason: `no change under services/worker since ${since}` },
    ]);
  });

  it('says so when a push changed no file at all', async () => {
    const h = await harness();
    changes(h, sha('1'), sha('2'), []);
    const outcome = await h.triggers.handle(push({ before: sha('1'), after: sha('2'), commitCount: 0 }), 'github');
    assert.deepEqual(outcome.runs, []);
    assert.match(outcome.summary, new RegExp(`^push to main started no run \\(api: no file changed since ${short(sha('1'))};`));
  });

  it('a service whose folder is the whole repository runs on any change of its branch', async () => {
    const h = await harness();
    changes(h, sha('1'), sha('2'), ['docs/guide.md']);
    const outcome = await h.triggers.handle(push({ branch: 'release', before: sha('1'), after: sha('2') }), 'github');
    assert.deepEqual(servicesOf(outcome.runs), ['nightly']);
    assert.equal(outcome.summary, `push to release started run #${outcome.runs[0]?.id} of nightly`);
  });

  it('runs nothing for a push to a branch no service builds', async () => {
    const h = await harness();
    changes(h, sha('1'), sha('2'), ['services/api/src/index.ts']);
    const outcome = await h.triggers.handle(push({ branch: 'feature/login', before: sha('1'), after: sha('2') }), 'github');
    assert.deepEqual(outcome.runs, []);
    assert.equal(outcome.summary, 'no service builds branch feature/login of Acme/Shop');
    assert.deepEqual(await h.store.runs.list(), []);
    assert.deepEqual(await skippedEvents(h.store), []);
  });

  it('runs nothing for a repository no service is built from', async () => {
    const h = await harness();
    const stranger = push({ before: sha('1'), after: sha('2'), repository: { fullName: 'acme/unknown', urls: ['https://github.com/acme/unknown.git'] } });
    const outcome = await h.triggers.handle(stranger, 'github');
    assert.deepEqual(outcome.runs, []);
    assert.equal(outcome.summary, 'no service builds branch main of acme/unknown');
  });
});

describe('trigger service: new and rewritten branches', () => {
  it('runs every service of a new branch that has never succeeded on it', async () => {
    const h = await harness();
    const outcome = await h.triggers.handle(push({ before: ZERO, after: sha('2'), created: true }), 'github');
    assert.deepEqual(servicesOf(outcome.runs), ['api', 'web', 'worker']);
  });

  /** api succeeds at one commit, then fails at a later one: the last *succeeded* run is the base. */
  async function succeededThenFailed(h: Harness): Promise<{ good: string; bad: string }> {
    const [good, bad] = [sha('a'), sha('b')];
    h.script.current = (step) => (step.env.SLIPWAY_COMMIT_SHA === bad ? { exitCode: 1 } : {});
    for (const [at, expected] of [[good, 'succeeded'], [bad, 'failed']] as const) {
      const started = await h.engine.startRun({ service: 'api', commitSha: at, trigger: { kind: 'manual', by: 'test' } });
      assert.ok(started.ok);
      assert.equal((await finished(h.store, started.value.run.id)).status, expected);
    }
    return { good, bad };
  }

  for (const kind of ['created', 'forced'] as const) {
    it(`a ${kind} branch compares each service with its last successful run on the branch`, async () => {
      const h = await harness();
      const { good, bad } = await succeededThenFailed(h);
      const after = sha('c');
      changes(h, good, after, ['docs/guide.md']);
      changes(h, bad, after, ['services/api/src/index.ts']);
      const event = kind === 'created' ? push({ before: ZERO, after, created: true }) : push({ before: sha('9'), after, forced: true });
      const outcome = await h.triggers.handle(event, 'github');

      // api: unchanged since it last succeeded; web and worker never succeeded on main.
      assert.deepEqual(servicesOf(outcome.runs), ['web', 'worker']);
      const [skipped] = await skippedEvents(h.store);
      assert.equal(skipped?.service, 'api');
      assert.equal(skipped?.reason, `no change under services/api and libs/shared since ${short(good)}`);
      assert.equal(
        outcome.summary,
        `push to main started run #${outcome.runs[0]?.id} of web and run #${outcome.runs[1]?.id} of worker ` +
          `(api: no change under services/api and libs/shared since ${short(good)})`,
      );
    });
  }

  it('falls back to the last successful run when git cannot diff the push', async () => {
    const h = await harness();
    const { good } = await succeededThenFailed(h);
    // `before` is a commit the repository does not know (rewritten away), so there is no diff.
    changes(h, good, sha('d'), ['README.md']);
    const unchanged = await h.triggers.handle(push({ before: sha('8'), after: sha('d') }), 'github');
    assert.deepEqual(servicesOf(unchanged.runs), ['web', 'worker']);
    assert.equal((await skippedEvents(h.store))[0]?.reason, `no change under services/api and libs/shared since ${short(good)}`);

    changes(h, good, sha('c'), ['services/api/src/index.ts']);
    const changed = await h.triggers.handle(push({ before: sha('9'), after: sha('c') }), 'github');
    assert.ok(servicesOf(changed.runs).includes('api'));
  });
});

describe('trigger service: deleted branches', () => {
  it("cancels the lane's unfinished runs and starts nothing", async () => {
    const h = await harness();
    h.script.current = () => ({ hang: true });
    const first = await h.engine.startRun({ service: 'api', commitSha: sha('1'), trigger: { kind: 'manual', by: 'test' } });
    const second = await h.engine.startRun({ service: 'api', commitSha: sha('2'), trigger: { kind: 'manual', by: 'test' } });
    const elsewhere = await h.engine.startRun({ service: 'nightly', ref: 'release', commitSha: sha('3'), trigger: { kind: 'manual', by: 'test' } });
    assert.ok(first.ok && second.ok && elsewhere.ok);
    await until('the first run to run', async () => (await h.store.runs.get(first.value.run.id))?.status === 'running');

    const outcome = await h.triggers.handle(push({ before: sha('2'), after: ZERO, deleted: true }), 'github');
    assert.deepEqual(outcome.runs, []);
    const ids = [first.value.run.id, second.value.run.id];
    assert.match(outcome.summary, /^branch main was deleted; cancelled run #\d+ and run #\d+$/);
    for (const id of ids) {
      assert.ok(outcome.summary.includes(`run #${id}`));
      const run = await h.store.runs.get(id);
      assert.equal(run?.status, 'cancelled');
      assert.equal(run?.reason, 'branch main was deleted');
    }
    assert.equal((await h.store.runs.get(elsewhere.value.run.id))?.status, 'running');
    assert.equal((await h.store.runs.list()).length, 3);
  });

  it('says so when nothing of the branch was in flight', async () => {
    const h = await harness();
    const outcome = await h.triggers.handle(push({ before: sha('2'), after: ZERO, deleted: true }), 'github');
    assert.equal(outcome.summary, 'branch main was deleted; no run of it was in flight');
  });
});

describe('trigger service: pull requests', () => {
  it('starts partial runs in the pull request lane for the services its head changes', async () => {
    const h = await harness();
    const [base, head] = [sha('1'), sha('5')];
    branchOf(h, 'main', base);
    changes(h, base, head, ['services/web/index.html']);
    const outcome = await h.triggers.handle(pullRequest({ number: 42, headSha: head }), 'github');

    assert.deepEqual(servicesOf(outcome.runs), ['web']);
    const [run] = outcome.runs;
    assert.equal(run?.lane, 'pr/42');
    assert.equal(run?.partial, true);
    assert.equal(run?.ref, 'feature/login');
    assert.equal(run?.commitSha, head);
    assert.equal(run?.concurrency, 'supersede');
    assert.deepEqual(run?.trigger, { kind: 'pull_request', by: 'octocat' });
    assert.equal(
      outcome.summary,
      `pull request #42 started run #${run?.id} of web (api: no change under services/api and libs/shared since ${short(base)}; ` +
        `worker: no change under services/worker since ${short(base)})`,
    );
    assert.deepEqual((await skippedEvents(h.store)).map((event) => [event.service, event.commitSha]), [['api', head], ['worker', head]]);
  });

  it('runs every service when the base branch cannot be resolved', async () => {
    const h = await harness();
    const outcome = await h.triggers.handle(pullRequest({ number: 42, headSha: sha('5') }), 'github');
    assert.deepEqual(servicesOf(outcome.runs), ['api', 'web', 'worker']);
    assert.ok(outcome.runs.every((run) => run.partial && run.lane === 'pr/42'));
  });

  it('a closed or merged pull request cancels its runs still in flight and starts nothing', async () => {
    const h = await harness();
    h.script.current = () => ({ hang: true });
    const opened = await h.triggers.handle(pullRequest({ number: 42, headSha: sha('5') }), 'github');
    const other = await h.triggers.handle(pullRequest({ number: 43, headSha: sha('6') }), 'github');
    assert.ok(opened.runs.length > 0 && other.runs.length > 0);

    const closed = await h.triggers.handle(pullRequest({ number: 42, headSha: sha('5'), action: 'closed' }), 'github');
    assert.deepEqual(closed.runs, []);
    assert.match(closed.summary, /^pull request #42 was closed; cancelled run #\d+/);
    for (const run of opened.runs) assert.equal((await h.store.runs.get(run.id))?.status, 'cancelled');
    for (const run of other.runs) assert.notEqual((await h.store.runs.get(run.id))?.status, 'cancelled', 'another pull request runs on');

    const merged = await h.triggers.handle(pullRequest({ number: 42, headSha: sha('5'), action: 'merged' }), 'github');
    assert.equal(merged.summary, 'pull request #42 was merged; no run of it was in flight');
  });

  it('a closed pull request removes the previews of the services it builds, and says so', async () => {
    const h = await harness();
    const asked: Array<{ services: string[]; pullRequest: number; why: string }> = [];
    const triggers = new TriggerService({
      engine: h.engine,
      store: h.store,
      source: h.source,
      previews: {
        removeFor: async (services, pullRequest, why) => {
          asked.push({ services: [...services], pullRequest, why });
          return services.map((service) => ({ environment: `pr${pullRequest}-${service}` }) as Preview);
        },
      },
    });
    const closed = await triggers.handle(pullRequest({ number: 42, headSha: sha('5'), action: 'closed' }), 'github');
    assert.equal(asked.length, 1);
    assert.equal(asked[0]!.pullRequest, 42);
    assert.equal(asked[0]!.why, 'pull request #42 was closed');
    assert.ok(asked[0]!.services.length > 0);
    assert.match(closed.summary, /^pull request #42 was closed; no run of it was in flight; removed the previews? pr42-/);
    for (const service of asked[0]!.services) assert.ok(closed.summary.includes(`pr42-${service}`), closed.summary);
  });

  it('starts nothing for a pull request into a branch no service builds', async () => {
    const h = await harness();
    const outcome = await h.triggers.handle(pullRequest({ number: 42, headSha: sha('5'), baseBranch: 'develop' }), 'github');
    assert.deepEqual(outcome.runs, []);
    assert.equal(outcome.summary, 'no service builds pull requests into develop of Acme/Shop');
    assert.deepEqual(await h.store.runs.list(), []);
  });
});

describe('trigger service: ping and failures', () => {
  it('answers a ping and starts nothing', async () => {
    const h = await harness();
    const outcome = await h.triggers.handle({ kind: 'ping', deliveryId: 'ping-1', repository: SHOP_REF, sender: 'octocat' }, 'github');
    assert.deepEqual(outcome, { runs: [], summary: 'ping answered' });
  });

  it('names a service whose run could not start, and starts the others', async () => {
    const h = await harness();
    // The api's spelling of the repository cannot be read: no diff, no run.
    h.source.unreadable.add(SHOP.api);
    changes(h, sha('1'), sha('2'), ['services/api/a.ts', 'services/web/b.ts']);
    const outcome = await h.triggers.handle(push({ before: sha('1'), after: sha('2') }), 'github');
    assert.deepEqual(servicesOf(outcome.runs), ['web']);
    assert.equal(
      outcome.summary,
      `push to main started run #${outcome.runs[0]?.id} of web (api: not started: cannot read repository ${SHOP.api}: fake outage; ` +
        `worker: no change under services/worker since ${short(sha('1'))})`,
    );
  });
});
