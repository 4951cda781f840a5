// A monorepo end to end: twenty services in one real git repository, a shared library three of
// them are built from, and docs nobody is built from. A GitHub push (the real payload, with the
// shas of the commits made here) runs exactly the services whose folders, or folders they
// depend on, the push changed; a push of docs alone runs nothing and says why.

import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  createRepository,
  deliver,
  finished,
  githubDelivery,
  githubExample,
  processed,
  queryDatabase,
  replaceEverywhere,
  rewriteGitUrls,
  runs,
  runsNamedBy,
  setField,
  startTestServer,
  type TestRepository,
  type TestServer,
} from '../support/webhooks.ts';

const SECRET = 'github-secret-of-the-monorepo';
const EXAMPLE_PUSH_SHA = '6113728f27ae82c7b1a177c8d03f9e96e0adf246';
const SERVICES = Array.from({ length: 20 }, (_, index) => `svc-${String(index + 1).padStart(2, '0')}`);
const USERS_OF_SHARED = ['svc-03', 'svc-07', 'svc-12'];

const root = mkdtempSync(join(tmpdir(), 'slipway-monorepo-'));
let server: TestServer;
let restoreEnv: () => void = () => {};
let repo: TestRepository;
let head: string;

function config(): string {
  const services = SERVICES.map((name) =>
    [
      `  ${name}:`,
      '    repo: https://github.com/Codertocat/Hello-World.git',
      '    branch: master',
      `    path: services/${name}`,
      ...(USERS_OF_SHARED.includes(name) ? ['    depends_on_paths: [libs/shared]'] : []),
      // Commands run in the service's folder; the tests read its files (and the library's, for those that use it).
      `    test: test -f main.sh${USERS_OF_SHARED.includes(name) ? ' && test -f ../../libs/shared/lib.sh' : ''}`,
    ].join('\n'),
  );
  return [
    'pipeline:',
    '  - stage: test',
    '    run: "{{ service.test }}"',
    'forges:',
    '  github:',
    '    repositories:',
    `      Codertocat/Hello-World: { secret: ${SECRET} }`,
    'services:',
    ...services,
    '',
  ].join('\n');
}

/** The real push of Codertocat/Hello-World's master, moving it from `before` to `after`. */
function push(before: string, after: string) {
  const example = githubExample('push', 'a push to master', (candidate) => candidate.ref === 'refs/heads/master' && candidate.created === true);
  const payload = replaceEverywhere(example, { [EXAMPLE_PUSH_SHA]: after });
  setField(payload, 'before', before);
  setField(payload, 'created', false);
  return githubDelivery('push', payload, SECRET, randomUUID());
}

/** Pushes a commit to master and delivers its webhook; answers the handled delivery. */
async function commitAndDeliver(files: Record<string, string>, message: string) {
  const before = head;
  head = await repo.commit(files, message);
  await repo.push('master');
  const answer = await deliver(server.url, 'github', push(before, head));
  assert.equal(answer.status, 202, JSON.stringify(answer.body));
  const delivery = await processed(server.url, answer.body.delivery as number);
  assert.equal(delivery.status, 'processed', delivery.outcome ?? '');
  return { delivery, before };
}

type SkippedEvent = { service: string; data: string };

/** The audit log's trigger.skipped events of one delivery (no API lists stored events). */
function skippedEvents(deliveryId: string): Array<{ service: string; reason: string; commitSha: string }> {
  return queryDatabase<SkippedEvent>(server.dataDir, "SELECT service, data FROM events WHERE type = 'trigger.skipped' ORDER BY id")
    .map(({ service, data }) => ({ service, ...(JSON.parse(data) as { deliveryId: string; reason: string; commitSha: string }) }))
    .filter((event) => event.deliveryId === deliveryId)
    .map(({ service, reason, commitSha }) => ({ service, reason, commitSha }));
}

describe('a monorepo of twenty services', () => {
  before(async () => {
    const repos = join(root, 'repos');
    repo = await createRepository(join(repos, 'Codertocat', 'Hello-World.git'), join(root, 'work'), 'master');
    const files: Record<string, string> = { 'docs/index.md': '# The shop\n', 'libs/shared/lib.sh': 'shared() { :; }\n' };
    for (const name of SERVICES) files[`services/${name}/main.sh`] = `echo ${name}\n`;
    head = await repo.commit(files, 'the monorepo');
    await repo.push('master');
    restoreEnv = rewriteGitUrls({ 'https://github.com/': repos });
    server = await startTestServer({ root, config: config() });
  });

  after(async () => {
    await server?.close();
    restoreEnv();
    rmSync(root, { recursive: true, force: true });
  });

  it('runs exactly the services whose folder or shared library the push changed', async () => {
    const { delivery, before } = await commitAndDeliver(
      { 'services/svc-05/main.sh': 'echo svc-05 v2\n', 'libs/shared/lib.sh': 'shared() { echo v2; }\n' },
      'svc-05 and the shared library',
    );
    const expected = ['svc-03', 'svc-05', 'svc-07', 'svc-12'];
    const named = runsNamedBy(delivery.outcome);
    assert.deepEqual(named.map((run) => run.service).sort(), expected, delivery.outcome ?? '');

    const all = await runs(server.url);
    assert.deepEqual(all.map((run) => run.service).sort(), expected, 'no other service ran');
    for (const run of all) {
      assert.equal(run.commitSha, head);
      assert.deepEqual(run.trigger, { kind: 'push', by: 'Codertocat' });
      const ended = await finished(server.url, run.id);
      assert.equal(ended.status, 'succeeded', `${run.service}: ${ended.reason}`);
    }

    // Every other service is told why it did not run, in the outcome and in the audit log.
    const others = SERVICES.filter((name) => !expected.includes(name));
    for (const name of others) {
      assert.ok(delivery.outcome!.includes(`${name}: no change under services/${name} since ${before.slice(0, 12)}`), delivery.outcome ?? '');
    }
    const skipped = skippedEvents(delivery.deliveryId);
    assert.deepEqual(skipped.map((event) => event.service).sort(), others);
    for (const event of skipped) assert.equal(event.commitSha, head);
  });

  it('runs nothing for a push that changes only docs, and says so', async () => {
    const runsBefore = await runs(server.url);
    const { delivery, before } = await commitAndDeliver({ 'docs/index.md': '# The shop\n\nNow with docs.\n' }, 'docs only');
    assert.match(delivery.outcome!, /^push to master started no run \(/);
    for (const name of SERVICES) {
      const watched = USERS_OF_SHARED.includes(name) ? `services/${name} and libs/shared` : `services/${name}`;
      assert.ok(delivery.outcome!.includes(`${name}: no change under ${watched} since ${before.slice(0, 12)}`), delivery.outcome ?? '');
    }
    assert.deepEqual(await runs(server.url), runsBefore);
    const skipped = skippedEvents(delivery.deliveryId);
    assert.deepEqual(skipped.map((event) => event.service).sort(), SERVICES);
    for (const event of skipped) assert.match(event.reason, /^no change under services\//);
  });

  it('runs only the one service a push touches', async () => {
    const runsBefore = (await runs(server.url)).length;
    const { delivery } = await commitAndDeliver({ 'services/svc-20/main.sh': 'echo svc-20 v2\n' }, 'svc-20 only');
    const named = runsNamedBy(delivery.outcome);
    assert.deepEqual(named.map((run) => run.service), ['svc-20'], delivery.outcome ?? '');
    assert.equal((await runs(server.url)).length, runsBefore + 1);
    const run = await finished(server.url, named[0]!.id);
    assert.equal(run.status, 'succeeded', run.reason ?? '');
    assert.equal(run.commitSha, head);
  });
});
