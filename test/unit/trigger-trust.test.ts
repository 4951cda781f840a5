// What the trigger service trusts a forge event with: a push handled after its branch moved
// on, a tag that deploy_tags does not name (or that names another commit now), and a pull
// request from a fork (fork_pull_requests) never deploy, or run with secrets, what they name.

import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { branchOf, changes, CONFIG, closeHarnesses, harness, pullRequest, push, servicesOf, sha, short, tag } from '../support/triggers.ts';

afterEach(closeHarnesses);

describe('trigger service: a push handled after its branch moved on', () => {
  it('starts a run that stops after the build, and says why in the outcome and the stages', async () => {
    const h = await harness();
    const [before, after, head] = [sha('1'), sha('2'), sha('3')];
    changes(h, before, after, ['services/api/src/index.ts']);
    branchOf(h, 'main', head);
    const outcome = await h.triggers.handle(push({ before, after }), 'github');

    const [run] = outcome.runs;
    assert.deepEqual(servicesOf(outcome.runs), ['api']);
    assert.equal(run?.commitSha, after);
    assert.equal(run?.partial, true);
    const why = `${short(after)} is no longer the head of main (now ${short(head)})`;
    assert.match(outcome.summary, new RegExp(`^push to main started run #${run?.id} of api \\(api: ${why.replace(/[()]/g, '\\$&')}; run #${run?.id} stops after the build;`));
    assert.deepEqual(
      (await h.store.stages.listByRun(run!.id)).map((stage) => [stage.name, stage.reason]),
      [['checkout', null], ['test', null], ['build', null]],
      'the pipeline ends with the build: nothing after it to skip',
    );
  });

  it('deploys as usual when the pushed commit is still the head', async () => {
    const h = await harness();
    changes(h, sha('1'), sha('2'), ['services/api/src/index.ts']);
    branchOf(h, 'main', sha('2'));
    const outcome = await h.triggers.handle(push({ before: sha('1'), after: sha('2') }), 'github');
    assert.equal(outcome.runs[0]?.partial, false);
    assert.doesNotMatch(outcome.summary, /head|stops after the build/);
  });

  it('asks for the head once per repository, and goes ahead where it cannot be read (the run needs the repository too)', async () => {
    const h = await harness();
    changes(h, sha('1'), sha('2'), ['services/api/a.ts', 'services/web/b.ts']);
    const resolved: string[] = [];
    const resolve = h.source.resolve.bind(h.source);
    h.source.resolve = (repo, ref) => {
      resolved.push(`${repo}#${ref}`);
      return resolve(repo, ref);
    };
    const outcome = await h.triggers.handle(push({ before: sha('1'), after: sha('2') }), 'github');
    assert.deepEqual(servicesOf(outcome.runs), ['api', 'web']);
    assert.ok(outcome.runs.every((run) => !run.partial));
    // One ask per spelling of the repository for the head, then the engine's own for each run's commit.
    assert.deepEqual(resolved.filter((asked) => asked.endsWith('#main')), [`${'https://github.com/acme/shop.git'}#main`, 'git@github.com:Acme/Shop.git#main']);
  });
});

describe('trigger service: tags', () => {
  it('without deploy_tags, runs each service of the repository up to the build, and says so', async () => {
    const h = await harness();
    const outcome = await h.triggers.handle(tag('v1.0.0', sha('7')), 'github');
    assert.deepEqual(servicesOf(outcome.runs), ['api', 'web', 'worker', 'nightly']);
    for (const run of outcome.runs) {
      assert.equal(run.tag, 'v1.0.0');
      assert.equal(run.lane, 'tag/v1.0.0');
      assert.equal(run.commitSha, sha('7'));
      assert.equal(run.partial, true);
      assert.deepEqual(run.trigger, { kind: 'tag', by: 'octocat' });
    }
    const names = outcome.runs.map((run) => `run #${run.id} of ${run.service}`);
    const notes = outcome.runs.map((run) => `${run.service}: tag v1.0.0 matches no deploy_tags pattern; run #${run.id} stops after the build`);
    assert.equal(outcome.summary, `tag v1.0.0 started ${names.slice(0, -1).join(', ')} and ${names.at(-1)} (${notes.join('; ')})`);
  });

  it("deploys the tags deploy_tags names, a service's own patterns before the pipeline's", async () => {
    const h = await harness(`${CONFIG.replace('    branch: release\n', '    branch: release\n    deploy_tags: ["nightly-*"]\n')}deploy_tags: ["v*"]\n`);
    branchOf(h, 'v1.0.0', sha('7'));
    const outcome = await h.triggers.handle(tag('v1.0.0', sha('7')), 'github');
    assert.deepEqual(
      outcome.runs.map((run) => [run.service, run.partial]),
      [['api', false], ['web', false], ['worker', false], ['nightly', true]],
    );
    assert.match(outcome.summary, /\(nightly: tag v1\.0\.0 matches no deploy_tags pattern; run #\d+ stops after the build\)$/);
  });

  it('does not deploy a tag that names another commit now (moved, or deleted and made again, since)', async () => {
    const h = await harness(`${CONFIG}deploy_tags: ["v*"]\n`);
    branchOf(h, 'v1.0.0', sha('8'));
    const outcome = await h.triggers.handle(tag('v1.0.0', sha('7')), 'github');
    assert.ok(outcome.runs.length > 0 && outcome.runs.every((run) => run.partial && run.commitSha === sha('7')));
    assert.ok(outcome.summary.includes(`api: tag v1.0.0 now names ${short(sha('8'))}, not ${short(sha('7'))}; run #${outcome.runs[0]!.id} stops after the build`), outcome.summary);
  });

  it('starts nothing when a tag is deleted', async () => {
    const h = await harness();
    const outcome = await h.triggers.handle(tag('v1.0.0', sha('7'), true), 'github');
    assert.deepEqual(outcome.runs, []);
    assert.equal(outcome.summary, 'tag v1.0.0 was deleted; its releases stay');
    assert.deepEqual(await h.store.runs.list(), []);
  });
});

describe('trigger service: pull requests from forks', () => {
  const forks = (policies: string) => `${CONFIG}forges:\n  github:\n${policies}`;

  it('runs a fork\'s pull request untrusted by default: command stages only, without secrets, and says so', async () => {
    const h = await harness();
    changes(h, sha('1'), sha('5'), ['services/web/index.html']);
    branchOf(h, 'main', sha('1'));
    const outcome = await h.triggers.handle(pullRequest({ number: 7, headSha: sha('5'), fromFork: true, headRepositoryUrl: 'https://github.com/mallory/shop.git' }), 'github');
    const [run] = outcome.runs;
    assert.deepEqual(servicesOf(outcome.runs), ['web']);
    assert.deepEqual([run?.untrusted, run?.partial, run?.lane], [true, true, 'pr/7']);
    assert.match(outcome.summary, /^pull request #7 from a fork \(untrusted: command stages only, in containers, without secrets; nothing is built or deployed\) started run #\d+ of web/);
    const build = (await h.store.stages.listByRun(run!.id)).find((stage) => stage.name === 'build');
    assert.deepEqual([build?.status, build?.reason], ['skipped', "a fork's pull request runs its commands only: nothing is built, pushed or deployed"]);
  });

  it('starts nothing for a fork where fork_pull_requests is skip, known before anything is read', async () => {
    const h = await harness(forks('    fork_pull_requests: skip\n'));
    const event = pullRequest({ number: 7, headSha: sha('5'), fromFork: true });
    const sameRepository = pullRequest({ number: 7, headSha: sha('5') });
    const why = 'pull request #7 comes from a fork, and fork_pull_requests is skip for Acme/Shop: nothing runs';
    assert.equal(h.triggers.triage(event, 'github'), why);
    assert.deepEqual(await h.triggers.handle(event, 'github'), { runs: [], summary: why });
    assert.deepEqual(await h.store.runs.list(), []);
    // A pull request from the repository itself is not a fork's.
    assert.equal(h.triggers.triage(sameRepository, 'github'), null);
  });

  it("runs a fork's pull request as any other where its repository trusts forks, whatever the forge's setting", async () => {
    const h = await harness(forks('    fork_pull_requests: skip\n    repositories:\n      acme/shop: { fork_pull_requests: trusted }\n'));
    changes(h, sha('1'), sha('5'), ['services/web/index.html']);
    branchOf(h, 'main', sha('1'));
    const outcome = await h.triggers.handle(pullRequest({ number: 7, headSha: sha('5'), fromFork: true }), 'github');
    assert.deepEqual(outcome.runs.map((run) => [run.service, run.untrusted, run.partial]), [['web', false, true]]);
    assert.match(outcome.summary, /^pull request #7 from a fork \(trusted: fork_pull_requests is trusted\) started run #\d+ of web \(/);
  });

  it('runs a pull request from the repository itself trusted', async () => {
    const h = await harness(forks('    fork_pull_requests: skip\n'));
    changes(h, sha('1'), sha('5'), ['services/web/index.html']);
    branchOf(h, 'main', sha('1'));
    const outcome = await h.triggers.handle(pullRequest({ number: 8, headSha: sha('5') }), 'github');
    assert.deepEqual(outcome.runs.map((run) => [run.service, run.untrusted]), [['web', false]]);
    assert.match(outcome.summary, /^pull request #8 started run #\d+ of web \(/);
  });
});
