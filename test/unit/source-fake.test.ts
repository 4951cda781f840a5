// FakeSource runs the Source conformance suite on the scenario scripted into it, so engine tests
// on the fake see what GitSource would answer; plus what only the fake has: scripted changes.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { FAKE_COMMIT, FakeSource } from '../../src/source/fake/source.ts';
import { sourceConformance, type Scenario } from './source-conformance.ts';

const REPO = '/repos/monorepo.git';
const fakeSha = (text: string) => createHash('sha1').update(text).digest('hex');

async function buildScenario(scenario: Scenario) {
  const source = new FakeSource();
  const shas = scenario.commits.map((tree, index) => {
    const sha = fakeSha(`commit ${index}`);
    source.setTree(REPO, sha, tree);
    source.setCommit(REPO, sha, { author: scenario.author, message: scenario.messages[index]!, committedAt: scenario.committedAt[index]! });
    return sha;
  });
  for (const [ref, index] of [...Object.entries(scenario.branches), ...Object.entries(scenario.tags)]) source.setRef(REPO, ref, shas[index]!);
  source.setBranches(REPO, Object.fromEntries(Object.entries(scenario.branches).map(([branch, index]) => [branch, shas[index]!])));
  const unreadableRepo = '/repos/down.git';
  source.unreadable.add(unreadableRepo);
  return { source, repo: REPO, unreadableRepo, shas };
}

sourceConformance('fake', buildScenario);

describe('FakeSource', () => {
  const root = mkdtempSync(join(tmpdir(), 'slipway-source-fake-'));
  after(() => rmSync(root, { recursive: true, force: true }));
  const [one, two, three] = ['1', '2', '3'].map(fakeSha) as [string, string, string];

  it('answers scripted changes for two commits in either order, without trees', async () => {
    const source = new FakeSource().setChanges(REPO, one, two, ['services/api/main.go']);
    assert.deepEqual(await source.changedFiles(REPO, one, two), { ok: true, value: ['services/api/main.go'] });
    assert.deepEqual(await source.changedFiles(REPO, two, one), { ok: true, value: ['services/api/main.go'] });
  });

  it('knows only the commits a script named, for changedFiles', async () => {
    const source = new FakeSource().setRef(REPO, 'main', one).setChanges(REPO, one, two, []);
    assert.deepEqual(await source.changedFiles(REPO, one, two), { ok: true, value: [] });
    const unknown = await source.changedFiles(REPO, one, three);
    assert.equal(!unknown.ok && unknown.error.code, 'REF_NOT_FOUND');
  });

  it('resolves any full sha to itself, so tests may name commits they never scripted', async () => {
    assert.deepEqual(await new FakeSource().resolve(REPO, three), { ok: true, value: three });
  });

  it('checks out an unscripted commit as one file naming it, and records every checkout', async () => {
    const source = new FakeSource();
    const dir = join(root, 'unscripted');
    assert.deepEqual(await source.checkout(REPO, one, dir), { ok: true, value: undefined });
    assert.equal(readFileSync(join(dir, 'COMMIT'), 'utf8'), one);
    source.brokenCheckouts.add(REPO);
    const broken = await source.checkout(REPO, one, join(root, 'broken'));
    assert.equal(!broken.ok && broken.error.code, 'REPOSITORY_UNAVAILABLE');
    assert.deepEqual(source.checkouts.map((checkout) => checkout.dir), [dir, join(root, 'broken')]);
  });

  it("answers FAKE_COMMIT's author, title and date for what a script did not say of a commit", async () => {
    const source = new FakeSource();
    assert.deepEqual(await source.commit(REPO, one), { ok: true, value: { author: FAKE_COMMIT.author, title: 'Fake commit', committedAt: FAKE_COMMIT.committedAt } });
    source.setCommit(REPO, two, { message: 'Only the message\n\nsaid' }).setCommit(REPO, two, { committedAt: '2026-01-01T00:00:00.000Z' });
    assert.deepEqual(await source.commit(REPO, two), { ok: true, value: { author: FAKE_COMMIT.author, title: 'Only the message', committedAt: '2026-01-01T00:00:00.000Z' } });
    const unknown = await source.commit(REPO, three);
    assert.equal(!unknown.ok && unknown.error.code, 'REF_NOT_FOUND', 'once a script named commits, others are unknown');
  });

  it('has no branches until a script gives some', async () => {
    assert.deepEqual(await new FakeSource().branches(REPO), { ok: true, value: {} });
  });
});
