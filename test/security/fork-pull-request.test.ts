// Attack: a pull request from a fork.
//
// Anyone can fork a public repository and open a pull request: its code is theirs, and a
// forge signs its webhook with the base repository's secret all the same. A run of it that got
// the service's secrets would hand them to the fork's author (a test that prints them), and a
// build would push their image to the registry as a release. By default (`fork_pull_requests:
// untrusted`) a fork's run gets no secret, builds and deploys nothing, and runs its commands in
// containers only; with `skip` it runs nothing.

import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { until } from '../support/wait.ts';
import { githubDelivery, githubExample, replaceEverywhere, setField, type Payload } from '../support/webhooks.ts';
import { wired, type Wired } from '../support/wired.ts';

const SECRET = 'webhook-secret-of-acme-shop';
const DEPLOY_TOKEN = 'the-deploy-token-no-fork-may-see';

const config = (forkPolicy: string) => `
registry: registry.test
pipeline:
  - stage: test
    run: make test
  - stage: build
  - stage: deploy
    environment: production
environments:
  production: {}
forges:
  github:
${forkPolicy}    repositories:
      acme/shop: { secret: ${SECRET} }
services:
  shop:
    repo: https://github.com/acme/shop.git
    branch: master
    toolchain: localhost/node:20
    port: 8080
    variables: { LOG_LEVEL: debug }
    secrets: { DEPLOY_TOKEN: ${DEPLOY_TOKEN} }
`;

/** GitHub's real pull request, into acme/shop's master, from the fork mallory/shop. */
function forkPullRequest(): Payload {
  const opened = githubExample('pull_request', 'a pull request opened', (example) => example.action === 'opened');
  const moved = replaceEverywhere(opened, { 'Codertocat/Hello-World': 'acme/shop' });
  for (const place of ['repository', 'pull_request.base.repo']) {
    setField(moved, `${place}.name`, 'shop');
    setField(moved, `${place}.owner.login`, 'acme');
  }
  const head = 'pull_request.head.repo';
  setField(moved, `${head}.id`, 987654321);
  setField(moved, `${head}.full_name`, 'mallory/shop');
  setField(moved, `${head}.owner.login`, 'mallory');
  setField(moved, `${head}.fork`, true);
  for (const [field, url] of Object.entries({
    html_url: 'https://github.com/mallory/shop',
    clone_url: 'https://github.com/mallory/shop.git',
    ssh_url: 'git@github.com:mallory/shop.git',
    git_url: 'git://github.com/mallory/shop.git',
    url: 'https://api.github.com/repos/mallory/shop',
  })) {
    setField(moved, `${head}.${field}`, url);
  }
  setField(moved, 'pull_request.head.label', 'mallory:steal-secrets');
  return moved;
}

let world: Wired | undefined;
afterEach(async () => {
  await world?.close();
  world = undefined;
});

/** Delivers the fork's pull request; answers with the delivery's outcome and the runs it started, ended. */
async function openForkPullRequest(forkPolicy = '') {
  world = await wired(config(forkPolicy), { containers: true });
  const { headers, body } = githubDelivery('pull_request', forkPullRequest(), SECRET);
  const reception = await world.triggers.receiver.receive('github', headers, body);
  assert.equal(reception.kind, 'accepted', JSON.stringify(reception));
  await world.triggers.inbox.idle();
  const { store } = world;
  const runs = await Promise.all(
    (await store.runs.list()).map((run) =>
      until(`run ${run.id} to end`, async () => ((await store.runs.get(run.id))!.status.match(/succeeded|failed|cancelled/) ? store.runs.get(run.id) : null), 60_000),
    ),
  );
  const [delivery] = await store.deliveries.list();
  return { world, runs, outcome: delivery?.outcome ?? null };
}

describe("a fork's pull request", () => {
  it('by default runs its commands without any of the service secrets, and builds, pushes and deploys nothing', async () => {
    const { world, runs, outcome } = await openForkPullRequest();
    assert.equal(runs.length, 1, outcome ?? '');
    const run = runs[0]!;

    const steps = world.executor.calls.filter((call) => call.method === 'start' && call.step?.runId === run.id).map((call) => call.step!);
    assert.ok(steps.length > 0, 'its command stages ran');
    for (const step of steps) {
      assert.ok(!Object.values(step.env).includes(DEPLOY_TOKEN), `step ${step.name} got the service's secret DEPLOY_TOKEN`);
      assert.equal(step.env.DEPLOY_TOKEN, undefined);
      assert.equal(step.env.LOG_LEVEL, 'debug', 'variables that are no secret are still given');
    }

    assert.deepEqual(world.builder.calls, [], 'the fork was built into an image');
    assert.deepEqual(await world.store.releases.list(), [], 'the fork became a release');
    const stages = await world.store.stages.listByRun(run.id);
    for (const name of ['build', 'deploy']) {
      const stage = stages.find((candidate) => candidate.name === name);
      assert.deepEqual([stage?.status, stage?.reason], ['skipped', "a fork's pull request runs its commands only: nothing is built, pushed or deployed"], name);
    }
    assert.equal(run.untrusted, true);
    assert.match(outcome ?? '', /^pull request #2 from a fork \(untrusted: command stages only, in containers, without secrets; nothing is built or deployed\) started run #\d+ of shop$/);
  });

  it('with fork_pull_requests: skip starts nothing, and the delivery says why', async () => {
    const { runs, outcome } = await openForkPullRequest('    fork_pull_requests: skip\n');
    assert.deepEqual(runs, []);
    assert.equal(outcome, 'pull request #2 comes from a fork, and fork_pull_requests is skip for acme/shop: nothing runs');
  });
});
