// Webhooks end to end: a real server (in-process, process executor), real git repositories
// standing in for GitHub, GitLab and Gitea repositories (git's url.<base>.insteadOf makes the
// server clone them under the forges' URLs), and the forges' own payloads with the shas of the
// commits made here, signed as each forge signs them and POSTed over HTTP.

import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  apiHeaders,
  assertError,
  createRepository,
  deliver,
  deliveries,
  finished,
  fixture,
  getJson,
  git,
  giteaDelivery,
  githubDelivery,
  githubExample,
  gitlabDelivery,
  processed,
  replaceEverywhere,
  rewriteGitUrls,
  runDetail,
  runs,
  runsNamedBy,
  setField,
  stageStatuses,
  startTestServer,
  waitFor,
  type Payload,
  type TestRepository,
  type TestServer,
} from '../support/webhooks.ts';

const GITHUB_SECRET = 'github-secret-of-hello-world';
const GITLAB_TOKEN = 'gitlab-token-of-diaspora';
const GITEA_SECRET = 'gitea-secret-of-webhooks';
const API_SECRET = 'set-through-the-api-for-octocoders';

/** The shas in the examples, replaced by the commits made here. */
const EXAMPLE_PUSH_SHA = '6113728f27ae82c7b1a177c8d03f9e96e0adf246';

const root = mkdtempSync(join(tmpdir(), 'slipway-webhooks-'));
const repos = join(root, 'repos');
let server: TestServer;
let url: string;
let restoreEnv: () => void = () => {};
let hello: TestRepository;
let octo: TestRepository;
let diaspora: TestRepository;
let giteaRepo: TestRepository;
/** master of Codertocat/Hello-World as the last push reported it. */
let masterHead: string;

const config = `
# Never contacted: without a container engine nothing is built or pushed.
registry: 127.0.0.1:5000
pipeline:
  - stage: test
    run: "{{ service.test }}"
  - stage: build
  - stage: smoke
    run: "echo smoke test of {{ service.name }}"
  - stage: deploy
    environment: staging
environments:
  staging: {}
forges:
  github:
    repositories:
      Codertocat/Hello-World: { secret: ${GITHUB_SECRET} }
  gitlab:
    url: http://example.com           # where GitLab's documented payloads say the project is
    repositories:
      mike/diaspora: { secret: ${GITLAB_TOKEN} }
  gitea:
    url: http://localhost:3000
    repositories:
      gitea/webhooks: { secret: ${GITEA_SECRET} }
services:
  hello:
    repo: https://github.com/Codertocat/Hello-World.git
    branch: master
    test: sh ci.sh
    port: 8080
  octo:
    repo: https://github.com/Octocoders/Hello-World.git
    branch: master
    test: test -f README.md
    port: 8080
  diaspora:
    repo: http://example.com/mike/diaspora.git
    branch: master
    test: test -f README.md
    port: 8080
  gitea-webhooks:
    repo: http://localhost:3000/gitea/webhooks.git
    branch: develop
    test: test -f README.md
    port: 8080
`;

const QUICK_CI = 'test -f README.md && echo "tests pass"\n';

/** The real branch-creation push of Codertocat/Hello-World, carrying `sha` instead of the example's commit. */
function branchCreation(sha: string): Payload {
  const push = githubExample('push', 'a branch creation', (example) => example.ref === 'refs/heads/master' && example.created === true);
  return replaceEverywhere(push, { [EXAMPLE_PUSH_SHA]: sha });
}

/** A push of new commits onto master: the real push, with `before` the head it moved from. */
function pushOnto(before: string, after: string): Payload {
  const push = branchCreation(after);
  setField(push, 'before', before);
  setField(push, 'created', false);
  return push;
}

async function acceptedRun(answer: Awaited<ReturnType<typeof deliver>>, service: string) {
  assert.equal(answer.status, 202, JSON.stringify(answer.body));
  const delivery = await processed(url, answer.body.delivery as number);
  assert.equal(delivery.status, 'processed', delivery.outcome ?? '');
  const named = runsNamedBy(delivery.outcome);
  assert.equal(named.length, 1, `one run: ${delivery.outcome}`);
  assert.equal(named[0]!.service, service, delivery.outcome ?? '');
  return { delivery, run: await runDetail(url, named[0]!.id) };
}

describe('webhooks end to end', () => {
  before(async () => {
    hello = await createRepository(join(repos, 'github', 'Codertocat', 'Hello-World.git'), join(root, 'work', 'hello'), 'master');
    octo = await createRepository(join(repos, 'github', 'Octocoders', 'Hello-World.git'), join(root, 'work', 'octo'), 'master');
    diaspora = await createRepository(join(repos, 'gitlab', 'mike', 'diaspora.git'), join(root, 'work', 'diaspora'), 'master');
    giteaRepo = await createRepository(join(repos, 'gitea', 'gitea', 'webhooks.git'), join(root, 'work', 'gitea'), 'develop');
    restoreEnv = rewriteGitUrls({
      'https://github.com/': join(repos, 'github'),
      'http://example.com/': join(repos, 'gitlab'),
      'http://localhost:3000/': join(repos, 'gitea'),
    });
    server = await startTestServer({ root, config, maxWebhookBytes: 64 * 1024 });
    url = server.url;
  });

  after(async () => {
    await server?.close();
    restoreEnv();
    rmSync(root, { recursive: true, force: true });
  });

  it('accepts a signed GitHub push, records the delivery and runs exactly the pushed commit', async () => {
    const sha = await hello.commit({ 'README.md': '# Hello\n', 'ci.sh': QUICK_CI }, 'first');
    await hello.push('master');
    masterHead = sha;
    const deliveryId = randomUUID();
    const delivery = githubDelivery('push', branchCreation(sha), GITHUB_SECRET, deliveryId);
    assert.ok(!(await deliveries(url)).some((listed) => listed.deliveryId === deliveryId));

    const answer = await deliver(url, 'github', delivery);
    assert.equal(answer.status, 202, JSON.stringify(answer.body));
    assert.match(answer.contentType, /^application\/json/);
    assert.equal(answer.body.status, 'accepted');
    assert.equal(answer.body.event, 'push');
    assert.equal(answer.body.deliveryId, deliveryId);
    assert.equal(typeof answer.body.delivery, 'number');

    const listed = (await deliveries(url)).find((candidate) => candidate.id === answer.body.delivery);
    assert.ok(listed, 'the delivery is listed as soon as it is answered');
    assert.equal(listed.forge, 'github');
    assert.equal(listed.deliveryId, deliveryId);
    assert.equal(listed.repository, 'Codertocat/Hello-World');
    assert.equal(listed.event, 'push');
    assert.ok(!('body' in listed) && !('headers' in listed), 'the raw delivery stays on the server');

    const { delivery: handled, run } = await acceptedRun(answer, 'hello');
    assert.match(handled.outcome!, /^push to master started run #\d+ of hello/);
    assert.equal(run.commitSha, sha);
    assert.equal(run.ref, 'master');
    assert.equal(run.lane, 'master');
    assert.equal(run.partial, false);
    assert.deepEqual(run.trigger, { kind: 'push', by: 'Codertocat' });
    const ended = await finished(url, run.id);
    assert.equal(ended.status, 'succeeded', ended.reason ?? '');
    assert.deepEqual(stageStatuses(ended), { checkout: 'succeeded', test: 'succeeded', build: 'skipped', smoke: 'succeeded', deploy: 'skipped' });
    const logs = await getJson<Array<{ text: string }>>(url, `/api/runs/${run.id}/logs`);
    assert.ok(logs.some((line) => line.text === 'tests pass'), JSON.stringify(logs));

    // The stored delivery keeps the bytes exactly as received.
    const stored = await getJson<{ body: string; headers: Record<string, string> }>(url, `/api/deliveries/${answer.body.delivery}`);
    assert.equal(stored.body, delivery.body.toString('utf8'));
    assert.equal(stored.headers['x-github-delivery'], deliveryId);
    // ...but not the signature: with it, whoever reads the API could send the body again.
    assert.equal(stored.headers['x-hub-signature-256'], undefined);
    assert.ok(!JSON.stringify(stored).includes(delivery.headers['x-hub-signature-256']!));
  });

  it('answers a repeated delivery 200 and starts nothing', async () => {
    const [first] = await deliveries(url);
    assert.ok(first);
    const runsBefore = await runs(url, 'hello');
    const again = githubDelivery('push', branchCreation(masterHead), GITHUB_SECRET, first.deliveryId);
    const answer = await deliver(url, 'github', again);
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.equal(answer.body.status, 'repeated');
    assert.equal(answer.body.deliveryId, first.deliveryId);
    assert.deepEqual(
      (await deliveries(url)).filter((listed) => listed.deliveryId === first.deliveryId).map((listed) => listed.id),
      [first.id],
    );
    assert.deepEqual(await runs(url, 'hello'), runsBefore);
  });

  it('answers a replay of a delivery under a new id 200 repeated, and starts nothing', async () => {
    const [first] = await deliveries(url);
    assert.ok(first);
    const stored = await getJson<{ body: string }>(url, `/api/deliveries/${first.id}`);
    const runsBefore = await runs(url);
    const replay = githubDelivery('push', Buffer.from(stored.body), GITHUB_SECRET, randomUUID());
    const answer = await deliver(url, 'github', replay);
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.equal(answer.body.status, 'repeated');
    assert.equal((await deliveries(url)).filter((listed) => listed.repository === first.repository && listed.event === first.event).length, 1);
    assert.deepEqual(await runs(url), runsBefore);
  });

  it('refuses with 403 a signed delivery that names another repository than the one whose secret signed it', async () => {
    const stored = await deliveries(url);
    const runsBefore = await runs(url);
    // Hello-World's secret, Hello-World's full name, and Octocoders' repository to clone.
    const lying = pushOnto(masterHead, masterHead);
    setField(lying, 'repository.clone_url', 'https://github.com/Octocoders/Hello-World.git');
    const answer = await deliver(url, 'github', githubDelivery('push', lying, GITHUB_SECRET));
    assertError(answer, 403, 'WEBHOOK_REPOSITORY_MISMATCH');
    assert.match((answer.body.error as { message: string }).message, /^repository\.clone_url names octocoders\/hello-world/);
    assert.deepEqual(await deliveries(url), stored);
    assert.deepEqual(await runs(url), runsBefore);
    const { rejections } = await getJson<{ rejections: Record<string, number> }>(url, '/api/webhooks');
    assert.equal(rejections['github repository_mismatch'], 1);
  });

  it('refuses a bad or missing signature with 401, stores nothing and counts the refusal', async () => {
    const stored = await deliveries(url);
    const runsBefore = await runs(url);
    const counted = (await getJson<{ rejections: Record<string, number> }>(url, '/api/webhooks')).rejections['github bad_signature'] ?? 0;
    const payload = pushOnto(masterHead, masterHead);

    assertError(await deliver(url, 'github', githubDelivery('push', payload, 'not-the-secret')), 401, 'SIGNATURE_INVALID');
    assertError(await deliver(url, 'github', githubDelivery('push', payload, null)), 401, 'SIGNATURE_INVALID');
    // Signed, then changed on the way: the signature covers the bytes.
    const tampered = githubDelivery('push', payload, GITHUB_SECRET);
    tampered.body = Buffer.from(tampered.body.toString('utf8').replace('"master"', '"main"'));
    assertError(await deliver(url, 'github', tampered), 401, 'SIGNATURE_INVALID');

    assert.deepEqual(await deliveries(url), stored);
    assert.deepEqual(await runs(url), runsBefore);
    const { rejections } = await getJson<{ rejections: Record<string, number> }>(url, '/api/webhooks');
    assert.equal(rejections['github bad_signature'], counted + 3);
  });

  it('answers malformed, wrongly typed, oversized, unknown-repository and unknown-forge deliveries with JSON errors', async () => {
    const stored = await deliveries(url);
    const runsBefore = await runs(url);

    const notJson = githubDelivery('push', Buffer.from('{"ref": "refs/heads/master", '), GITHUB_SECRET);
    assertError(await deliver(url, 'github', notJson), 400, 'WEBHOOK_MALFORMED');

    const form = githubDelivery('push', pushOnto(masterHead, masterHead), GITHUB_SECRET);
    form.headers['content-type'] = 'application/x-www-form-urlencoded';
    assertError(await deliver(url, 'github', form), 415, 'UNSUPPORTED_MEDIA_TYPE');

    // The server takes at most 64 KiB here.
    const huge = pushOnto(masterHead, masterHead);
    setField(huge, 'head_commit.message', 'x'.repeat(100 * 1024));
    const oversized = githubDelivery('push', huge, GITHUB_SECRET);
    assert.ok(oversized.body.length > 100 * 1024);
    const tooLarge = await deliver(url, 'github', oversized);
    assertError(tooLarge, 413, 'PAYLOAD_TOO_LARGE');
    // The body was not read, so the connection is not kept alive behind it.
    assert.equal(tooLarge.headers.get('connection'), 'close');

    const elsewhere = githubExample('issues', 'an issue transferred to octo-org/octo-repo', (example) => example.action === 'transferred');
    assertError(await deliver(url, 'github', githubDelivery('issues', elsewhere, GITHUB_SECRET)), 404, 'REPOSITORY_NOT_FOUND');

    assertError(await deliver(url, 'bitbucket', githubDelivery('push', pushOnto(masterHead, masterHead), GITHUB_SECRET)), 404, 'FORGE_NOT_FOUND');

    assert.deepEqual(await deliveries(url), stored);
    assert.deepEqual(await runs(url), runsBefore);
  });

  it('uses a webhook secret set through the API for a repository the config has no secret for', async () => {
    const ping = githubExample('ping', 'a repository ping', (example) => example.repository !== undefined);
    assert.equal((ping.repository as { full_name: string }).full_name, 'Octocoders/Hello-World');
    assertError(await deliver(url, 'github', githubDelivery('ping', ping, API_SECRET)), 404, 'REPOSITORY_NOT_FOUND');

    const put = await fetch(`${url}/api/webhook-secrets`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json', ...apiHeaders(url) },
      body: JSON.stringify({ forge: 'github', repository: 'Octocoders/Hello-World', secret: API_SECRET }),
    });
    assert.equal(put.status, 204, await put.text());
    const webhooks = await getJson<{ secrets: Array<{ forge: string; repository: string; source: string }> }>(url, '/api/webhooks');
    assert.deepEqual(
      webhooks.secrets.filter((entry) => entry.repository === 'Octocoders/Hello-World'),
      [{ forge: 'github', repository: 'Octocoders/Hello-World', source: 'api' }],
    );
    assert.ok(!JSON.stringify(webhooks).includes(API_SECRET), 'the API never shows a secret');

    assertError(await deliver(url, 'github', githubDelivery('ping', ping, GITHUB_SECRET)), 401, 'SIGNATURE_INVALID');
    const pong = await deliver(url, 'github', githubDelivery('ping', ping, API_SECRET));
    assert.equal(pong.status, 200, JSON.stringify(pong.body));
    assert.equal(pong.body.status, 'pong');
    assert.equal((await processed(url, pong.body.delivery as number)).outcome, 'ping answered');

    // A push to that repository, signed with the API's secret, runs its service.
    const sha = await octo.commit({ 'README.md': '# Octocoders\n' }, 'first');
    await octo.push('master');
    const push = replaceEverywhere(branchCreation(sha), { 'Codertocat/Hello-World': 'Octocoders/Hello-World' });
    // Its owner too: a delivery names its repository's owner, which must be the full name's.
    setField(push, 'repository.owner.login', 'Octocoders');
    setField(push, 'repository.owner.name', 'Octocoders');
    const { run } = await acceptedRun(await deliver(url, 'github', githubDelivery('push', push, API_SECRET)), 'octo');
    assert.equal(run.commitSha, sha);
    assert.equal((await finished(url, run.id)).status, 'succeeded');
  });

  it('acknowledges events Slipway does not act on as ignored, and starts nothing', async () => {
    const runsBefore = await runs(url);
    for (const [event, example] of [
      ['issues', githubExample('issues', 'an issue opened', (candidate) => candidate.action === 'opened')],
      ['star', githubExample('star', 'a star', (candidate) => candidate.action === 'created')],
    ] as const) {
      const answer = await deliver(url, 'github', githubDelivery(event, example, GITHUB_SECRET));
      assert.equal(answer.status, 202, JSON.stringify(answer.body));
      assert.equal(answer.body.status, 'ignored');
      const handled = await processed(url, answer.body.delivery as number);
      assert.equal(handled.event, 'ignored');
      assert.equal(handled.outcome, `ignored: ${event} event`);
    }
    assert.deepEqual(await runs(url), runsBefore);
  });

  it('runs a pull request partially in its own lane, and a new head supersedes the unfinished run', async () => {
    const base = masterHead;
    await git(['checkout', '--quiet', '-b', 'changes'], hello.work);
    try {
      await pullRequestScenario(base);
    } finally {
      await git(['checkout', '--quiet', 'master'], hello.work);
    }
  });

  async function pullRequestScenario(base: string): Promise<void> {
    // The first head's tests take long enough that the second head arrives while they run.
    const slowHead = await hello.commit({ 'ci.sh': 'echo "slow tests started"\nsleep 120\n' }, 'slow tests');
    await hello.push('changes');

    const opened = githubExample('pull_request', 'a pull request opened', (example) => example.action === 'opened');
    setField(opened, 'pull_request.head.sha', slowHead);
    setField(opened, 'pull_request.base.sha', base);
    const first = await acceptedRun(await deliver(url, 'github', githubDelivery('pull_request', opened, GITHUB_SECRET)), 'hello');
    assert.match(first.delivery.outcome!, /^pull request #2 started run #\d+ of hello/);
    assert.equal(first.run.lane, 'pr/2');
    assert.equal(first.run.partial, true);
    assert.equal(first.run.ref, 'changes');
    assert.equal(first.run.commitSha, slowHead);
    assert.deepEqual(first.run.trigger, { kind: 'pull_request', by: 'Codertocat' });
    await waitFor('the slow tests to run', async () => {
      const run = await runDetail(url, first.run.id);
      return run.stages.find((stage) => stage.name === 'test')?.status === 'running';
    });

    const quickHead = await hello.commit({ 'ci.sh': QUICK_CI, 'feature.txt': 'the change under review\n' }, 'quick tests');
    await hello.push('changes');
    const synchronize = githubExample('pull_request', 'a pull request synchronize', (example) => example.action === 'synchronize');
    setField(synchronize, 'before', slowHead);
    setField(synchronize, 'after', quickHead);
    setField(synchronize, 'pull_request.head.sha', quickHead);
    setField(synchronize, 'pull_request.base.sha', base);
    const second = await acceptedRun(await deliver(url, 'github', githubDelivery('pull_request', synchronize, GITHUB_SECRET)), 'hello');
    assert.equal(second.run.lane, 'pr/2');
    assert.equal(second.run.commitSha, quickHead);
    assert.equal(second.run.partial, true);

    const superseded = await finished(url, first.run.id);
    assert.equal(superseded.status, 'cancelled');
    assert.match(superseded.reason ?? '', new RegExp(`superseded by run #${second.run.id}`));
    assert.equal(stageStatuses(superseded).test, 'cancelled');

    const partial = await finished(url, second.run.id);
    assert.equal(partial.status, 'succeeded', partial.reason ?? '');
    assert.deepEqual(stageStatuses(partial), { checkout: 'succeeded', test: 'succeeded', build: 'skipped', smoke: 'skipped', deploy: 'skipped' });
    for (const name of ['smoke', 'deploy']) {
      const stage = partial.stages.find((candidate) => candidate.name === name)!;
      assert.match(stage.reason ?? '', /pull request runs stop after the build/, `${name}: ${stage.reason}`);
    }
  }

  it('runs a pushed tag, with the tag on the run', async () => {
    await git(['tag', '--annotate', '--message', 'release 1.0.0', 'v1.0.0', masterHead], hello.work);
    await hello.push('v1.0.0');
    const tagObject = await hello.sha('v1.0.0');
    assert.notEqual(tagObject, masterHead);

    const push = githubExample('push', 'a tag creation', (example) => example.ref === 'refs/tags/simple-tag' && example.created === true);
    const tagPush = replaceEverywhere(push, { [EXAMPLE_PUSH_SHA]: masterHead });
    setField(tagPush, 'ref', 'refs/tags/v1.0.0');
    // For an annotated tag GitHub sends the tag object as `after` and the commit as head_commit.
    setField(tagPush, 'after', tagObject);
    const { delivery, run } = await acceptedRun(await deliver(url, 'github', githubDelivery('push', tagPush, GITHUB_SECRET)), 'hello');
    assert.equal(delivery.event, 'tag');
    assert.equal(run.tag, 'v1.0.0');
    assert.equal(run.lane, 'tag/v1.0.0');
    assert.equal(run.commitSha, masterHead);
    assert.deepEqual(run.trigger, { kind: 'tag', by: 'Codertocat' });
    // No deploy_tags pattern names the tag: its run stops after the build, and says why.
    assert.equal(run.partial, true);
    assert.match(delivery.outcome!, /\(hello: tag v1\.0\.0 matches no deploy_tags pattern; run #\d+ stops after the build\)$/);
    const ended = await finished(url, run.id);
    assert.equal(ended.status, 'succeeded');
    for (const name of ['smoke', 'deploy']) {
      const stage = ended.stages.find((candidate) => candidate.name === name)!;
      assert.deepEqual([stage.status, stage.reason], ['skipped', 'tag v1.0.0 matches no deploy_tags pattern; its run stops after the build'], name);
    }
  });

  it('runs a GitLab push authenticated by X-Gitlab-Token', async () => {
    const first = await diaspora.commit({ 'README.md': '# Diaspora\n' }, 'first');
    await diaspora.push('master');
    const second = await diaspora.commit({ 'lib/diaspora.rb': 'module Diaspora; end\n' }, 'second');
    await diaspora.push('master');
    const push = fixture('gitlab', 'push');
    setField(push, 'before', first);
    setField(push, 'after', second);
    setField(push, 'checkout_sha', second);

    assertError(await deliver(url, 'gitlab', gitlabDelivery('Push Hook', push, 'not-the-token')), 401, 'SIGNATURE_INVALID');
    const { delivery, run } = await acceptedRun(await deliver(url, 'gitlab', gitlabDelivery('Push Hook', push, GITLAB_TOKEN)), 'diaspora');
    assert.equal(delivery.forge, 'gitlab');
    assert.equal(delivery.repository, 'mike/diaspora');
    assert.equal(run.commitSha, second);
    assert.deepEqual(run.trigger, { kind: 'push', by: 'jsmith' });
    assert.equal((await finished(url, run.id)).status, 'succeeded');
  });

  it('runs a Gitea push signed with X-Gitea-Signature', async () => {
    const first = await giteaRepo.commit({ 'README.md': '# webhooks\n' }, 'first');
    await giteaRepo.push('develop');
    const second = await giteaRepo.commit({ 'main.go': 'package main\n' }, 'second');
    await giteaRepo.push('develop');
    const push = fixture('gitea', 'push');
    setField(push, 'before', first);
    setField(push, 'after', second);

    assertError(await deliver(url, 'gitea', giteaDelivery('push', push, 'not-the-secret')), 401, 'SIGNATURE_INVALID');
    const { delivery, run } = await acceptedRun(await deliver(url, 'gitea', giteaDelivery('push', push, GITEA_SECRET)), 'gitea-webhooks');
    assert.equal(delivery.forge, 'gitea');
    assert.equal(run.commitSha, second);
    assert.equal(run.ref, 'develop');
    assert.deepEqual(run.trigger, { kind: 'push', by: 'gitea' });
    assert.equal((await finished(url, run.id)).status, 'succeeded');
  });

  it('still accepts and runs an authentic delivery while 300 forged ones arrive at once', async () => {
    const sha = await hello.commit({ 'CHANGELOG.md': 'flood\n' }, 'during the flood');
    await hello.push('master');
    const stored = (await deliveries(url)).length;
    const counted = (await getJson<{ rejections: Record<string, number> }>(url, '/api/webhooks')).rejections['github bad_signature'] ?? 0;

    // The same push, unsigned or signed without knowing the secret.
    const forged = Array.from({ length: 300 }, (_, index) =>
      deliver(url, 'github', githubDelivery('push', pushOnto(masterHead, sha), index % 3 === 0 ? null : `guessed-secret-${index}`)),
    );
    const authentic = deliver(url, 'github', githubDelivery('push', pushOnto(masterHead, sha), GITHUB_SECRET));
    const [answer, ...refused] = await Promise.all([authentic, ...forged]);
    for (const forgedAnswer of refused) assertError(forgedAnswer, 401, 'SIGNATURE_INVALID');

    const { run } = await acceptedRun(answer!, 'hello');
    masterHead = sha;
    assert.equal(run.commitSha, sha);
    assert.equal((await finished(url, run.id)).status, 'succeeded');
    assert.equal((await deliveries(url)).length, stored + 1, 'only the authentic delivery is stored');
    const { rejections } = await getJson<{ rejections: Record<string, number> }>(url, '/api/webhooks');
    assert.equal(rejections['github bad_signature'], counted + 300);
  });
});
