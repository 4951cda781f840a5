// The one conformance suite for the Source contract (src/source/source.ts). Every implementation
// registers it with a `build` that makes the scenario's repository its way (real git commits
// for GitSource, a script for FakeSource); the suite then reads it through the Source only.

import assert from 'node:assert/strict';
import { appendFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join, relative } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ErrorCode } from '../../src/core/errors.ts';
import type { Result } from '../../src/core/types.ts';
import { COMMIT_TITLE_MAX, type Source } from '../../src/source/source.ts';

/** A linear history: each commit's whole tree (path -> content), each the child of the one before. */
export interface Scenario {
  commits: Array<Record<string, string>>;
  /** Branch name -> index of the commit it points at. */
  branches: Record<string, number>;
  /** Annotated tags: name -> index of the commit it names. */
  tags: Record<string, number>;
  /** Who wrote every commit. */
  author: { name: string; email: string };
  /** Each commit's whole message, index by index. */
  messages: string[];
  /** When each commit was committed, as toISOString writes it (a builder may record it in another time zone). */
  committedAt: string[];
}

export interface ScenarioRepository {
  source: Source;
  /** The repository as a service's `repo` names it. */
  repo: string;
  /** A repository the source cannot read. */
  unreadableRepo: string;
  /** The sha of each of the scenario's commits, in order. */
  shas: string[];
}

export const SCENARIO: Scenario = {
  author: { name: 'Zoë Åström', email: 'zoe@example.test' },
  commits: [
    {
      'README.md': 'hello\n',
      'src/app.js': 'console.log(1);\n',
      'old-name.txt': 'moved without a change\n',
      'gone.txt': 'deleted in the next commit\n',
      'docs/a file ü.md': 'a name git quotes unless told not to\n',
    },
    {
      'README.md': 'hello\n',
      'src/app.js': 'console.log(2);\n',
      'new-name.txt': 'moved without a change\n',
      'services/api/deep/handler.ts': 'export {};\n',
      'docs/a file ü.md': 'a name git quotes unless told not to\n',
    },
    {
      'README.md': 'hello\n',
      'src/app.js': 'console.log(2);\n',
      'new-name.txt': 'moved without a change\n',
      'services/api/deep/handler.ts': 'export const changed = true;\n',
      'docs/a file ü.md': 'changed too\n',
    },
  ],
  branches: { main: 1, feature: 2, 'release/1': 0 },
  tags: { 'v1.0': 0 },
  messages: [
    '  Add the app, the readme and the docs  \nwrapped onto a second line of the same paragraph\n',
    'Make the app say 2\n\nThe body says why,\nover two lines.\n',
    `Grüße: ${'a title far too long to show whole, '.repeat(8)}\ncontinued on a second line of the same paragraph\n\nAnd a body.\n`,
  ],
  committedAt: ['2025-03-01T10:00:00.000Z', '2025-03-02T11:30:15.000Z', '2025-03-03T23:59:59.000Z'],
};

const MISSING_SHA = 'f'.repeat(40);

function assertFails(result: Result<unknown>, code: ErrorCode, what: string): void {
  assert.equal(result.ok, false, `${what}: ${JSON.stringify(result)}`);
  if (result.ok) return;
  assert.equal(result.error.code, code, `${what}: ${result.error.message}`);
  assert.ok(result.error.message.length > 0, `${what}: says why`);
}

function valueOf<T>(result: Result<T>, what: string): T {
  assert.ok(result.ok, `${what}: ${result.ok ? '' : result.error.message}`);
  return result.value;
}

/** Every file under `dir` (path -> content), leaving out git's own folder. */
function treeOf(dir: string): Record<string, string> {
  const tree: Record<string, string> = {};
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    const path = relative(dir, join(entry.parentPath, entry.name)).split('\\').join('/');
    if (!entry.isFile() || path === '.git' || path.startsWith('.git/')) continue;
    tree[path] = readFileSync(join(dir, path), 'utf8');
  }
  return tree;
}

const sorted = (paths: string[]) => [...paths].sort();

export function sourceConformance(name: string, build: (scenario: Scenario) => Promise<ScenarioRepository>): void {
  describe(`Source conformance: ${name}`, () => {
    let repository: ScenarioRepository;
    let source: Source;
    let repo: string;
    let shas: string[];
    const workspaces = mkdtempSync(join(tmpdir(), 'slipway-source-conformance-'));

    before(async () => {
      repository = await build(SCENARIO);
      ({ source, repo, shas } = repository);
      assert.equal(shas.length, SCENARIO.commits.length);
    });
    after(() => rmSync(workspaces, { recursive: true, force: true }));

    const sha = (index: number) => shas[index]!;

    it('resolves a branch, a branch with a slash, an annotated tag (to its commit) and a full sha', async () => {
      for (const [branch, index] of Object.entries(SCENARIO.branches)) {
        assert.equal(valueOf(await source.resolve(repo, branch), branch), sha(index), branch);
      }
      for (const [tag, index] of Object.entries(SCENARIO.tags)) {
        assert.equal(valueOf(await source.resolve(repo, tag), tag), sha(index), tag);
      }
      for (const commit of shas) assert.equal(valueOf(await source.resolve(repo, commit), commit), commit);
    });

    it("commit names the commit's author as git recorded it (not ASCII), its title and its committer date in UTC", async () => {
      for (const index of SCENARIO.commits.keys()) {
        const { author, committedAt } = valueOf(await source.commit(repo, sha(index)), `commit ${index}`);
        assert.deepEqual(author, SCENARIO.author, `commit ${index}`);
        assert.equal(committedAt, SCENARIO.committedAt[index], `commit ${index}`);
      }
    });

    it("commit's title is the first line of a multi-line message, trimmed: never the body, nor the rest of a wrapped paragraph", async () => {
      assert.equal(valueOf(await source.commit(repo, sha(0)), 'commit 0').title, 'Add the app, the readme and the docs', 'a wrapped first paragraph');
      assert.equal(valueOf(await source.commit(repo, sha(1)), 'commit 1').title, 'Make the app say 2', 'a title, a blank line, a body');
    });

    it(`commit's title is cut at ${COMMIT_TITLE_MAX} characters with an ellipsis`, async () => {
      const { title } = valueOf(await source.commit(repo, sha(2)), 'commit 2');
      const firstLine = SCENARIO.messages[2]!.split('\n')[0]!;
      assert.ok([...firstLine].length > COMMIT_TITLE_MAX, 'the scenario has a long first line');
      assert.ok([...title].length <= COMMIT_TITLE_MAX, title);
      assert.ok(title.endsWith('…') && firstLine.startsWith(title.slice(0, -1)), title);
      assert.ok(title.startsWith('Grüße: a title far too long'), title);
    });

    it('commit of a commit the repository does not have is REF_NOT_FOUND', async () => {
      assertFails(await source.commit(repo, MISSING_SHA), 'REF_NOT_FOUND', 'unknown commit');
    });

    it('an unknown ref is REF_NOT_FOUND', async () => {
      for (const ref of ['no-such-branch', 'release/2', '--upload-pack=false']) {
        assertFails(await source.resolve(repo, ref), 'REF_NOT_FOUND', ref);
      }
    });

    it('every method on a repository it cannot read is REPOSITORY_UNAVAILABLE', async () => {
      const { unreadableRepo } = repository;
      assertFails(await source.resolve(unreadableRepo, 'main'), 'REPOSITORY_UNAVAILABLE', 'resolve');
      assertFails(await source.checkout(unreadableRepo, sha(0), join(workspaces, 'unreadable')), 'REPOSITORY_UNAVAILABLE', 'checkout');
      assertFails(await source.changedFiles(unreadableRepo, sha(0), sha(1)), 'REPOSITORY_UNAVAILABLE', 'changedFiles');
      assertFails(await source.commit(unreadableRepo, sha(0)), 'REPOSITORY_UNAVAILABLE', 'commit');
      assertFails(await source.branches(unreadableRepo), 'REPOSITORY_UNAVAILABLE', 'branches');
    });

    it("checkout puts the commit's tree into a folder that did not exist", async () => {
      for (const [index, tree] of SCENARIO.commits.entries()) {
        const dir = join(workspaces, `checkout-${index}`, 'nested');
        valueOf(await source.checkout(repo, sha(index), dir), `checkout of commit ${index}`);
        assert.deepEqual(treeOf(dir), tree, `commit ${index}`);
      }
    });

    it('borrowedPaths names existing absolute folders outside the checkout, whatever a checkout says', async () => {
      const dir = join(workspaces, 'borrowing');
      valueOf(await source.checkout(repo, sha(0), dir), 'checkout');
      const borrowed = source.borrowedPaths(repo);
      for (const path of borrowed) {
        assert.ok(isAbsolute(path) && existsSync(path), path);
        assert.ok(relative(dir, path).startsWith('..'), `${path} lies outside the checkout`);
      }
      // A step may write anything into its checkout, git's alternates included.
      const alternates = join(dir, '.git', 'objects', 'info', 'alternates');
      if (existsSync(alternates)) appendFileSync(alternates, `${workspaces}\n/etc\n`);
      assert.deepEqual(source.borrowedPaths(repo), borrowed);
      assert.deepEqual(source.borrowedPaths(repository.unreadableRepo), [], 'nothing borrowed from a repository never read');
    });

    it('changedFiles lists added, modified and deleted files, a rename at both paths, nested folders and odd names', async () => {
      const firstToSecond = ['gone.txt', 'new-name.txt', 'old-name.txt', 'services/api/deep/handler.ts', 'src/app.js'];
      assert.deepEqual(sorted(valueOf(await source.changedFiles(repo, sha(0), sha(1)), '0..1')), firstToSecond);
      assert.deepEqual(sorted(valueOf(await source.changedFiles(repo, sha(1), sha(0)), '1..0')), firstToSecond, 'the other way round');
      assert.deepEqual(sorted(valueOf(await source.changedFiles(repo, sha(1), sha(2)), '1..2')), ['docs/a file ü.md', 'services/api/deep/handler.ts']);
      assert.deepEqual(
        sorted(valueOf(await source.changedFiles(repo, sha(0), sha(2)), '0..2')),
        ['docs/a file ü.md', 'gone.txt', 'new-name.txt', 'old-name.txt', 'services/api/deep/handler.ts', 'src/app.js'],
        'across two commits',
      );
    });

    it('changedFiles between a commit and itself is empty', async () => {
      for (const commit of shas) assert.deepEqual(valueOf(await source.changedFiles(repo, commit, commit), commit), []);
    });

    it('changedFiles naming a commit the repository does not have is REF_NOT_FOUND', async () => {
      assertFails(await source.changedFiles(repo, MISSING_SHA, sha(1)), 'REF_NOT_FOUND', 'missing from');
      assertFails(await source.changedFiles(repo, sha(1), MISSING_SHA), 'REF_NOT_FOUND', 'missing to');
    });

    it('branches names every branch and its commit, and no tag', async () => {
      const expected = Object.fromEntries(Object.entries(SCENARIO.branches).map(([branch, index]) => [branch, sha(index)]));
      assert.deepEqual(valueOf(await source.branches(repo), 'branches'), expected);
    });

    it('is safe to call concurrently', async () => {
      const results = await Promise.all([
        ...Array.from({ length: 5 }, () => source.resolve(repo, 'main')),
        ...Array.from({ length: 5 }, () => source.changedFiles(repo, sha(0), sha(1))),
        ...Array.from({ length: 5 }, () => source.branches(repo)),
        ...Array.from({ length: 5 }, () => source.commit(repo, sha(1))),
      ]);
      for (const result of results) assert.ok(result.ok, result.ok ? '' : result.error.message);
      assert.ok(results.slice(0, 5).every((result) => result.ok && result.value === sha(SCENARIO.branches.main!)));
    });
  });
}
