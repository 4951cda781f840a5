// The trigger service on the real Engine with fakes: which forge events start which runs, for
// which services of a monorepo, and the one sentence each event leaves behind.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, it } from 'node:test';
import { FakeBuilder } from '../../src/builders/fake/builder.ts';
import type { Run } from '../../src/core/types.ts';
import { FakeDeployer } from '../../src/deployers/fake/deployer.ts';
import { Engine } from '../../src/engine/engine.ts';
import { MemoryEventBus } from '../../src/events/bus.ts';
import type { StepSpec } from '../../src/executors/executor.ts';
import { FakeExecutor, type FakeStepScript } from '../../src/executors/fake/executor.ts';
import type { ForgeEvent, RepositoryRef } from '../../src/forges/forge.ts';
import { FakeSource } from '../../src/source/fake/source.ts';
import { openSqliteStore } from '../../src/store/sqlite/store.ts';
import type { Store } from '../../src/store/store.ts';
import { TriggerService } from '../../src/triggers/trigger.ts';
import { finished, until } from '../support/wait.ts';
import { parsedConfig } from '../support/config.ts';

const ZERO = '0'.repeat(40);
const sha = (char: string) => char.repeat(40);
const short = (full: string) => full.slice(0, 12);

// One monorepo, spelled a different way by each service that builds from it.
const SHOP = {
  api: 'https://github.com/acme/shop.git',
  web: 'git@github.com:Acme/Shop.git',
  worker: 'ssh://git@github.com/ACME/shop',
  nightly: 'https://github.com/Acme/Shop/',
};
const OTHER = 'https://github.com/acme/other.git';

const CONFIG = `
registry: registry.test
pipeline:
  - stage: test
    run: make test
  - stage: build
services:
  api:
    repo: ${SHOP.api}
    path: services/api
    depends_on_paths: [libs/shared]
  web:
    repo: "${SHOP.web}"
    path: services/web
  worker:
    repo: ${SHOP.worker}
    path: services/worker/
  nightly:
    repo: ${SHOP.nightly}
    branch: release
  other:
    repo: ${OTHER}
`;

/** How GitHub names the repository in its payloads. */
const SHOP_REF: RepositoryRef = {
  fullName: 'Acme/Shop',
  urls: ['https://github.com/Acme/Shop.git', 'git@github.com:Acme/Shop.git', 'git://github.com/Acme/Shop.git', 'https://github.com/Acme/Shop'],
};

interface Harness {
  triggers: TriggerService;
  engine: Engine;
  store: Store;
  source: FakeSource;
  executor: FakeExecutor;
  /** Replaceable: what each step does. */
  script: { current: (step: StepSpec) => FakeStepScript };
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function harness(): Promise<Harness> {
  const workRoot = mkdtempSync(join(tmpdir(), 'slipway-trigger-'));
  const store = await openSqliteStore(':memory:');
  const script: Harness['script'] = { current: () => ({}) };
  const executor = new FakeExecutor((step) => script.current(step));
  const source = new FakeSource();
  const engine = new Engine({
    store,
    bus: new MemoryEventBus(),
    config: parsedConfig(CONFIG),
    source,
    executor,
    builder: new FakeBuilder(),
    deployer: new FakeDeployer(),
    workRoot,
    maxParallelRuns: 8,
  });
  cleanups.push(async () => {
    for (const run of await store.runs.list({ statuses: ['pending', 'running'] })) await engine.cancel(run.id);
    await engine.stop();
    await store.close();
    rmSync(workRoot, { recursive: true, force: true });
  });
  await engine.start();
  return { triggers: new TriggerService({ engine, store, source }), engine, store, source, executor, script };
}

/** What git's diff answers between two commits, whichever spelling of the repository asks. */
function changes(h: Harness, from: string, to: string, paths: string[]): void {
  for (const repo of Object.values(SHOP)) h.source.setChanges(repo, from, to, paths);
}

function branchOf(h: Harness, branch: string, at: string): void {
  for (const repo of Object.values(SHOP)) h.source.setRef(repo, branch, at);
}

let deliveries = 0;
function push(fields: Partial<Extract<ForgeEvent, { kind: 'push' }>> & { before: string; after: string }): ForgeEvent {
  return {
    kind: 'push',
    deliveryId: `delivery-${++deliveries}`,
    repository: SHOP_REF,
    sender: 'octocat',
    branch: 'main',
    created: false,
    deleted: false,
    forced: false,
    commitCount: 1,
    ...fields,
  };
}

function pullRequest(fields: Partial<Extract<ForgeEvent, { kind: 'pull_request' }>> & { number: number; headSha: string }): ForgeEvent {
  return {
    kind: 'pull_request',
    deliveryId: `delivery-${++deliveries}`,
    repository: SHOP_REF,
    sender: 'octocat',
    action: 'opened',
    headBranch: 'feature/login',
    baseBranch: 'main',
    headRepositoryUrl: 'https://github.com/Acme/Shop.git',
    ...fields,
  };
}

function tag(name: string, at: string, deleted = false): ForgeEvent {
  return { kind: 'tag', deliveryId: `delivery-${++deliveries}`, repository: SHOP_REF, sender: 'octocat', tag: name, sha: at, deleted };
}

const servicesOf = (runs: Run[]) => runs.map((run) => run.service);

async function skippedEvents(store: Store) {
  return (await store.events.list())
    .filter((event) => event.type === 'trigger.skipped')
    .map((event) => ({ service: event.service, ...(event.data as { forge: string; deliveryId: string; commitSha: string; reason: string }) }));
}

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

  it('starts nothing for a pull request into a branch no service builds', async () => {
    const h = await harness();
    const outcome = await h.triggers.handle(pullRequest({ number: 42, headSha: sha('5'), baseBranch: 'develop' }), 'github');
    assert.deepEqual(outcome.runs, []);
    assert.equal(outcome.summary, 'no service builds pull requests into develop of Acme/Shop');
    assert.deepEqual(await h.store.runs.list(), []);
  });
});

describe('trigger service: tags', () => {
  it('starts a tagged run of each service of the repository', async () => {
    const h = await harness();
    const outcome = await h.triggers.handle(tag('v1.0.0', sha('7')), 'github');
    assert.deepEqual(servicesOf(outcome.runs), ['api', 'web', 'worker', 'nightly']);
    for (const run of outcome.runs) {
      assert.equal(run.tag, 'v1.0.0');
      assert.equal(run.lane, 'tag/v1.0.0');
      assert.equal(run.commitSha, sha('7'));
      assert.equal(run.partial, false);
      assert.deepEqual(run.trigger, { kind: 'tag', by: 'octocat' });
    }
    const names = outcome.runs.map((run) => `run #${run.id} of ${run.service}`);
    assert.equal(outcome.summary, `tag v1.0.0 started ${names.slice(0, -1).join(', ')} and ${names.at(-1)}`);
  });

  it('starts nothing when a tag is deleted', async () => {
    const h = await harness();
    const outcome = await h.triggers.handle(tag('v1.0.0', sha('7'), true), 'github');
    assert.deepEqual(outcome.runs, []);
    assert.equal(outcome.summary, 'tag v1.0.0 was deleted; its releases stay');
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
