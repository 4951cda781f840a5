// GitSource on real repositories made with git in a temporary folder: the Source conformance
// suite, and what only a mirror-keeping source has: answering from the mirror without fetching,
// sharing fetches between concurrent callers, pull and merge request heads.
//
// Fetches are counted by a `git` wrapper first on PATH that logs every fetch, so the production
// code needs no hook for it.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { after, describe, it } from 'node:test';
import { GitSource } from '../../src/source/git/source.ts';
import { SCENARIO, sourceConformance, type Scenario } from './source-conformance.ts';

const root = mkdtempSync(join(tmpdir(), 'slipway-source-git-'));
after(() => rmSync(root, { recursive: true, force: true }));

const GIT_ENV = { ...process.env, GIT_CONFIG_GLOBAL: '/dev/null', GIT_CONFIG_NOSYSTEM: '1', LC_ALL: 'C' };
const IDENTITY = ['-c', 'user.name=Slipway Test', '-c', 'user.email=test@slipway.invalid'];

function git(args: string[], cwd?: string): string {
  return execFileSync('git', args, { cwd, env: GIT_ENV, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
}

const fetchLog = join(root, 'fetches.log');
{
  const realGit = execFileSync('sh', ['-c', 'command -v git'], { encoding: 'utf8' }).trim();
  const bin = join(root, 'bin');
  mkdirSync(bin);
  writeFileSync(join(bin, 'git'), `#!/bin/sh\ncase " $* " in *" fetch "*) printf '%s\\n' "$*" >> '${fetchLog}';; esac\nexec '${realGit}' "$@"\n`);
  chmodSync(join(bin, 'git'), 0o755);
  writeFileSync(fetchLog, '');
  process.env.PATH = `${bin}${delimiter}${process.env.PATH ?? ''}`;
}

/** How many fetches went into mirrors under `cacheDir`. */
function fetchesInto(cacheDir: string): number {
  return readFileSync(fetchLog, 'utf8').split('\n').filter((line) => line.includes(cacheDir)).length;
}

let folders = 0;
function freshFolder(name: string): string {
  folders += 1;
  return join(root, `${name}-${folders}`);
}

function writeTree(dir: string, tree: Record<string, string>): void {
  for (const entry of readdirSync(dir)) if (entry !== '.git') rmSync(join(dir, entry), { recursive: true });
  for (const [path, content] of Object.entries(tree)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), content);
  }
}

function commitTree(work: string, tree: Record<string, string>, message: string, committedAt?: string): string {
  writeTree(work, tree);
  git(['add', '-A'], work);
  const args = ['-c', `user.name=${SCENARIO.author.name}`, '-c', `user.email=${SCENARIO.author.email}`, 'commit', '--quiet', '--allow-empty', '-m', message];
  if (committedAt === undefined) git(args, work);
  else {
    // Committed in a time zone east of UTC, written a day earlier in one west of it: the
    // source must answer the committer's date, in UTC.
    const seconds = Date.parse(committedAt) / 1000;
    const env = { ...GIT_ENV, GIT_COMMITTER_DATE: `@${seconds} +0200`, GIT_AUTHOR_DATE: `@${seconds - 86_400} -0500` };
    execFileSync('git', args, { cwd: work, env, stdio: ['ignore', 'pipe', 'pipe'] });
  }
  return git(['rev-parse', 'HEAD'], work);
}

async function buildScenario(scenario: Scenario) {
  const repo = freshFolder('scenario');
  git(['init', '--quiet', '--initial-branch', 'main', repo]);
  const shas = scenario.commits.map((tree, index) => commitTree(repo, tree, scenario.messages[index]!, scenario.committedAt[index]!));
  for (const [branch, index] of Object.entries(scenario.branches)) git(['update-ref', `refs/heads/${branch}`, shas[index]!], repo);
  for (const [tag, index] of Object.entries(scenario.tags)) git([...IDENTITY, 'tag', '--annotate', '--message', tag, tag, shas[index]!], repo);
  return { source: new GitSource(freshFolder('cache')), repo, unreadableRepo: join(root, 'no-such-repository'), shas };
}

sourceConformance('git', buildScenario);

/** A plain bare repository (no pull or merge request refs) and a clone that pushes to it. */
function origin() {
  const bare = freshFolder('origin');
  git(['init', '--quiet', '--bare', '--initial-branch', 'main', bare]);
  const work = freshFolder('work');
  git(['clone', '--quiet', bare, work]);
  let commits = 0;
  return {
    bare,
    work,
    /** Commits one changed file on the checked-out branch and pushes it. */
    push(branch = 'main'): string {
      commits += 1;
      git(['checkout', '--quiet', '-B', branch], work);
      const sha = commitTree(work, { 'counter.txt': `${commits}\n` }, `commit ${commits}`);
      git(['push', '--quiet', 'origin', `HEAD:refs/heads/${branch}`], work);
      return sha;
    },
  };
}

describe('GitSource', () => {
  it('answers a sha the mirror has without fetching; a branch is fetched every time', async () => {
    const { bare, push } = origin();
    const first = push();
    const second = push();
    const cache = freshFolder('cache');
    const source = new GitSource(cache);

    assert.deepEqual(await source.resolve(bare, 'main'), { ok: true, value: second });
    assert.equal(fetchesInto(cache), 0, 'the first read clones the mirror');
    assert.deepEqual(await source.resolve(bare, first), { ok: true, value: first });
    assert.deepEqual(await source.changedFiles(bare, first, second), { ok: true, value: ['counter.txt'] });
    const dir = join(freshFolder('checkout'), 'dir');
    assert.deepEqual(await source.checkout(bare, first, dir), { ok: true, value: undefined });
    assert.equal(fetchesInto(cache), 0, 'commits the mirror has need no fetch');

    assert.deepEqual(await source.resolve(bare, 'main'), { ok: true, value: second });
    assert.equal(fetchesInto(cache), 1, 'a branch may have moved');
  });

  it('reads a branch from a fetch made since the moment the caller names, without fetching again', async () => {
    const { bare, push } = origin();
    push();
    const cache = freshFolder('cache');
    const source = new GitSource(cache);
    const handlingSince = Date.now();
    const pushed = push();
    // The diff of a push fetches the commit it names: that fetch is as fresh as the caller needs.
    assert.ok((await source.changedFiles(bare, pushed, pushed)).ok);
    const fetches = fetchesInto(cache);
    assert.deepEqual(await source.resolve(bare, 'main', { fetchedSince: handlingSince }), { ok: true, value: pushed });
    assert.equal(fetchesInto(cache), fetches, 'no second fetch');

    const later = push();
    assert.deepEqual(await source.resolve(bare, 'main', { fetchedSince: handlingSince }), { ok: true, value: pushed }, 'read from that fetch');
    assert.deepEqual(await source.resolve(bare, 'main', { fetchedSince: Date.now() }), { ok: true, value: later }, 'a later moment fetches');
  });

  it('fetches a commit the mirror does not have yet before answering', async () => {
    const { bare, push } = origin();
    const first = push();
    const cache = freshFolder('cache');
    const source = new GitSource(cache);
    assert.ok((await source.resolve(bare, 'main')).ok);

    const second = push();
    assert.deepEqual(await source.changedFiles(bare, first, second), { ok: true, value: ['counter.txt'] });
    assert.equal(fetchesInto(cache), 1);
    const third = push();
    assert.deepEqual(await source.resolve(bare, third), { ok: true, value: third });
    assert.equal(fetchesInto(cache), 2);
    const fourth = push();
    assert.deepEqual(await source.checkout(bare, fourth, join(freshFolder('checkout'), 'dir')), { ok: true, value: undefined });
    assert.equal(fetchesInto(cache), 3);
  });

  it('20 concurrent resolves of a branch after a new commit all see it, sharing at most two fetches', async () => {
    const { bare, push } = origin();
    push();
    const cache = freshFolder('cache');
    const source = new GitSource(cache);
    assert.ok((await source.resolve(bare, 'main')).ok);

    const pushed = push();
    const results = await Promise.all(Array.from({ length: 20 }, () => source.resolve(bare, 'main')));
    for (const result of results) assert.deepEqual(result, { ok: true, value: pushed });
    assert.ok(fetchesInto(cache) <= 2, `${fetchesInto(cache)} fetches`);

    // The fetch under way (its git process starts within resolve) may have read the branch
    // before this push: a caller asking after the push must not be answered from it.
    const underWay = source.resolve(bare, 'main');
    const late = push();
    assert.deepEqual(await source.resolve(bare, 'main'), { ok: true, value: late });
    assert.ok((await underWay).ok);
  });

  it("reads pull and merge request heads, where a fork's pull request has its only copy of the commit", async () => {
    const { bare, work, push } = origin();
    const base = push();
    const cache = freshFolder('cache');
    const source = new GitSource(cache);
    assert.ok((await source.resolve(bare, 'main')).ok, 'the mirror exists before the pull requests do');

    const forkHead = push('from-a-fork');
    const mergeRequestHead = push('from-another-fork');
    git(['push', '--quiet', 'origin', `${forkHead}:refs/pull/7/head`, `${mergeRequestHead}:refs/merge-requests/3/head`], work);
    git(['push', '--quiet', 'origin', '--delete', 'from-a-fork', 'from-another-fork'], work);

    assert.deepEqual(await source.resolve(bare, 'refs/pull/7/head'), { ok: true, value: forkHead });
    assert.deepEqual(await source.resolve(bare, 'refs/merge-requests/3/head'), { ok: true, value: mergeRequestHead });
    assert.deepEqual(await source.changedFiles(bare, base, forkHead), { ok: true, value: ['counter.txt'] });
    assert.deepEqual(await source.branches(bare), { ok: true, value: { main: base } });
  });

  it('checks out a repository at the commit, with its history and its origin', async () => {
    const { bare, push } = origin();
    const first = push();
    const second = push();
    const dir = join(freshFolder('checkout'), 'dir');
    assert.deepEqual(await new GitSource(freshFolder('cache')).checkout(bare, second, dir), { ok: true, value: undefined });
    assert.equal(git(['rev-parse', 'HEAD'], dir), second);
    assert.equal(git(['rev-parse', 'HEAD~1'], dir), first);
    assert.equal(git(['status', '--porcelain'], dir), '');
    assert.equal(git(['remote', 'get-url', 'origin'], dir), bare);
    assert.equal(git(['cat-file', '-t', first], dir), 'commit', 'the history is readable');
  });

  it("a repository URL's credentials are in neither the checkout's origin nor any error", async () => {
    const { bare, push } = origin();
    const commit = push();
    const withCredentials = 'https://slipway-bot:s3cr3t-t0ken@git.slipway.invalid/shop.git';
    // git reads the repository from `bare` wherever the URL names the forge.
    const config = { GIT_CONFIG_COUNT: '1', GIT_CONFIG_KEY_0: `url.${bare}.insteadOf`, GIT_CONFIG_VALUE_0: withCredentials };
    Object.assign(process.env, config);
    try {
      const dir = join(freshFolder('checkout'), 'dir');
      assert.deepEqual(await new GitSource(freshFolder('cache')).checkout(withCredentials, commit, dir), { ok: true, value: undefined });
      assert.equal(git(['config', '--file', join(dir, '.git', 'config'), 'remote.origin.url']), 'https://git.slipway.invalid/shop.git');
      assert.doesNotMatch(readFileSync(join(dir, '.git', 'config'), 'utf8'), /s3cr3t/);
    } finally {
      for (const name of Object.keys(config)) delete process.env[name];
    }

    const unreachable = 'https://slipway-bot:s3cr3t-t0ken@127.0.0.1:1/shop.git';
    const source = new GitSource(freshFolder('cache'));
    const failures = [
      await source.resolve(unreachable, 'main'),
      await source.checkout(unreachable, commit, join(freshFolder('checkout'), 'dir')),
      await source.changedFiles(unreachable, commit, commit),
      await source.branches(unreachable),
    ];
    for (const failure of failures) {
      assert.equal(failure.ok, false);
      if (!failure.ok) assert.doesNotMatch(failure.error.message, /s3cr3t/, failure.error.message);
    }
  });

  it('branches reads the remote, not the mirror', async () => {
    const { bare, push } = origin();
    const cache = freshFolder('cache');
    const source = new GitSource(cache);
    const main = push();
    assert.ok((await source.resolve(bare, 'main')).ok);
    const topic = push('topic');
    assert.deepEqual(await source.branches(bare), { ok: true, value: { main, topic } });
    assert.equal(fetchesInto(cache), 0);
  });
});
