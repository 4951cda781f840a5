// Reads services' repositories with git itself: one bare mirror per repository in a cache
// folder, and a workspace per run that borrows the mirror's objects (git's alternates), so the
// checkout is a repository with the whole history (tools may run git in it) at the cost of a
// detached checkout: no copy or link of any object, no second git process to list refs.
// Like a CI checkout elsewhere it has a detached HEAD, an origin remote and no local branches.
// borrowedPaths names the mirror's object store from the cache path alone (a step may rewrite a
// checkout's alternates), and the container executor mounts it at the same path, read-only.
// Credentials in a repository URL stay out of the checkout's origin and of every message.
//
// Fetching is the slow part, so a commit the mirror already has is answered from it, and
// callers that ask while a fetch of the same mirror is under way share the one fetch after it.

import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve as resolvePath } from 'node:path';
import { SlipwayError, type ErrorCode } from '../../core/errors.ts';
import { redactUrls, withoutCredentials } from '../../core/redact.ts';
import { err, ok, type CommitInfo, type Result } from '../../core/types.ts';
import { commitTitle, type Source } from '../source.ts';

export interface GitOutput {
  code: number;
  stdout: string;
  stderr: string;
}

export interface GitOptions {
  cwd?: string;
  /** Written to git's standard input. */
  input?: string;
  env?: NodeJS.ProcessEnv;
}

/** Bounds the memory of known commits; past it, git is asked (correct, one process slower). */
const KNOWN_COMMITS_PER_MIRROR = 10_000;

/**
 * Runs git and answers its exit code and output; never rejects. Never prompts for credentials
 * (a server has no one to answer), and speaks C so its messages can be read.
 */
export function git(args: string[], options: GitOptions = {}): Promise<GitOutput> {
  return new Promise((resolve) => {
    const child = execFile(
      'git',
      args,
      { cwd: options.cwd, maxBuffer: 64 * 1024 * 1024, env: { ...(options.env ?? process.env), GIT_TERMINAL_PROMPT: '0', LC_ALL: 'C' } },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        resolve({ code, stdout: stdout.toString(), stderr: stderr.toString() });
      },
    );
    // A git that exits without reading its input closes the pipe: its exit code tells what happened.
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(options.input);
  });
}

/** Git on the mirror itself: never on a repository found by searching upwards from a half-made mirror. */
function gitIn(mirror: string, args: string[], input?: string): Promise<GitOutput> {
  return git(['--git-dir', mirror, ...args], { input });
}

function lastLine(text: string): string {
  const lines = text.trim().split('\n').filter(Boolean);
  return (lines.at(-1) ?? 'no output').replace(/^(fatal|error): /, '');
}

const FULL_SHA = /^([0-9a-f]{40}|[0-9a-f]{64})$/;

/**
 * Branches and tags, and the heads of pull and merge requests: a pull request from a fork has
 * its head commit only under refs/pull (GitHub, Gitea) or refs/merge-requests (GitLab).
 * Refspecs that match nothing on the remote are no error.
 */
const MIRRORED_REFS = ['+refs/heads/*:refs/heads/*', '+refs/tags/*:refs/tags/*', '+refs/pull/*:refs/pull/*', '+refs/merge-requests/*:refs/merge-requests/*'];

/** A fetch of one mirror under way, and those who asked for a fetch while it ran. */
interface FetchInFlight {
  waiting: Array<(following: Promise<Result<string>>) => void>;
}

/** A failure whose message never carries a URL's credentials (git's own output may quote the URL). */
function failure(code: ErrorCode, message: string): Result<never> {
  return err(new SlipwayError(code, redactUrls(message)));
}

function refNotFound(ref: string, repo: string): Result<never> {
  return failure('REF_NOT_FOUND', `ref ${ref} does not exist in ${repo}`);
}

export class GitSource implements Source {
  private readonly fetches = new Map<string, FetchInFlight>();
  /** Per mirror, full commit shas it is known to have. */
  private readonly knownCommits = new Map<string, Set<string>>();
  /** Per repository, when its last successful fetch started (epoch ms). */
  private readonly fetchedAt = new Map<string, number>();

  constructor(private readonly cacheDir: string) {
    mkdirSync(cacheDir, { recursive: true });
  }

  private mirrorOf(repo: string): string {
    return join(this.cacheDir, `${createHash('sha256').update(repo).digest('hex').slice(0, 16)}.git`);
  }

  /** The mirror's object store, which checkouts borrow: an absolute path, as alternates and mounts need. */
  private objectsOf(mirror: string): string {
    return resolvePath(mirror, 'objects');
  }

  borrowedPaths(repo: string): string[] {
    const objects = this.objectsOf(this.mirrorOf(repo));
    return existsSync(objects) ? [objects] : [];
  }

  /**
   * Brings the mirror up to date with a fetch that starts after this call. A fetch already under
   * way may have started before the caller's commit reached the remote, so the caller waits for
   * the next one, which everyone arriving meanwhile shares: fetches into one mirror never overlap
   * and a burst of callers costs at most two.
   */
  private sync(repo: string): Promise<Result<string>> {
    const inFlight = this.fetches.get(repo);
    if (inFlight) return new Promise((resolve) => inFlight.waiting.push(resolve));
    return this.fetchThenFollow(repo, { waiting: [] });
  }

  private async fetchThenFollow(repo: string, fetch: FetchInFlight): Promise<Result<string>> {
    this.fetches.set(repo, fetch);
    try {
      return await this.fetch(repo);
    } finally {
      if (fetch.waiting.length === 0) this.fetches.delete(repo);
      else {
        const following = this.fetchThenFollow(repo, { waiting: [] });
        for (const resolve of fetch.waiting) resolve(following);
      }
    }
  }

  private async fetch(repo: string): Promise<Result<string>> {
    const mirror = this.mirrorOf(repo);
    const startedAt = Date.now();
    const output = existsSync(mirror)
      ? await gitIn(mirror, ['fetch', '--prune', '--quiet', '--force', 'origin', ...MIRRORED_REFS])
      : await git(['clone', '--mirror', '--quiet', '--', repo, mirror]);
    if (output.code !== 0) {
      if (!existsSync(join(mirror, 'HEAD'))) rmSync(mirror, { recursive: true, force: true });
      return failure('REPOSITORY_UNAVAILABLE', `cannot read repository ${repo}: ${lastLine(output.stderr)}`);
    }
    this.fetchedAt.set(repo, startedAt);
    return ok(mirror);
  }

  /** The commit `ref` names in the mirror, or null. */
  private async commitIn(mirror: string, ref: string): Promise<string | null> {
    if (this.knownCommits.get(mirror)?.has(ref)) return ref;
    const output = await gitIn(mirror, ['rev-parse', '--verify', '--quiet', `${ref}^{commit}`]);
    if (output.code !== 0) return null;
    const commit = output.stdout.trim();
    if (FULL_SHA.test(ref) && ref === commit) this.remember(mirror, [commit]);
    return commit;
  }

  /**
   * A sha names one commit forever, and fetches do not delete objects (only gc prunes
   * unreachable ones, weeks later): asking git about the same sha again (each webhook asks
   * several times) would cost a process for nothing.
   */
  private remember(mirror: string, commits: string[]): void {
    let known = this.knownCommits.get(mirror);
    if (!known) this.knownCommits.set(mirror, (known = new Set()));
    for (const commit of commits) if (known.size < KNOWN_COMMITS_PER_MIRROR) known.add(commit);
  }

  /** The mirror, fetched first unless it has every commit `shas` (full shas) name. */
  private async mirrorWith(repo: string, shas: string[]): Promise<Result<string>> {
    const mirror = this.mirrorOf(repo);
    if (existsSync(mirror) && (await this.missingCommits(mirror, shas)) === undefined) return ok(mirror);
    return this.sync(repo);
  }

  /**
   * The mirror and the commits `shas` name in it, fetched if need be. Full shas cost one git
   * process at most besides the fetch; anything else (a short sha) is resolved one by one.
   */
  private async withCommits(repo: string, shas: string[]): Promise<Result<{ mirror: string; commits: string[] }>> {
    const invalid = shas.find((sha) => sha.startsWith('-'));
    if (invalid !== undefined) return refNotFound(invalid, repo);
    if (shas.every((sha) => FULL_SHA.test(sha))) {
      const mirror = await this.mirrorWith(repo, shas);
      if (!mirror.ok) return mirror;
      const missing = await this.missingCommits(mirror.value, shas);
      return missing === undefined ? ok({ mirror: mirror.value, commits: shas }) : refNotFound(missing, repo);
    }
    const synced = await this.sync(repo);
    if (!synced.ok) return synced;
    const commits: string[] = [];
    for (const sha of shas) {
      const commit = await this.commitIn(synced.value, sha);
      if (commit === null) return refNotFound(sha, repo);
      commits.push(commit);
    }
    return ok({ mirror: synced.value, commits });
  }

  /** The first of `shas` that is not a commit of the mirror, asked in one process; the rest are remembered. */
  private async missingCommits(mirror: string, shas: string[]): Promise<string | undefined> {
    const unknown = shas.filter((sha) => !this.knownCommits.get(mirror)?.has(sha));
    if (unknown.length === 0) return undefined;
    const output = await gitIn(mirror, ['cat-file', '--batch-check=%(objectname) %(objecttype)'], unknown.map((sha) => `${sha}^{commit}`).join('\n') + '\n');
    const commits = output.stdout
      .split('\n')
      .map((line) => line.split(' '))
      .filter(([, type]) => type === 'commit')
      .map(([name]) => name!);
    this.remember(mirror, commits.filter((commit) => unknown.includes(commit)));
    return unknown.find((sha) => !commits.includes(sha));
  }

  async resolve(repo: string, ref: string, options: { fetchedSince?: number } = {}): Promise<Result<string>> {
    if (FULL_SHA.test(ref)) {
      const found = await this.withCommits(repo, [ref]);
      return found.ok ? ok(found.value.commits[0]!) : found;
    }
    if (ref.startsWith('-')) return refNotFound(ref, repo);
    const fresh = options.fetchedSince !== undefined && (this.fetchedAt.get(repo) ?? -Infinity) >= options.fetchedSince;
    const mirror = fresh ? ok(this.mirrorOf(repo)) : await this.sync(repo);
    if (!mirror.ok) return mirror;
    for (const candidate of [`refs/heads/${ref}`, `refs/tags/${ref}`, ref]) {
      const commit = await this.commitIn(mirror.value, candidate);
      if (commit !== null) return ok(commit);
    }
    return refNotFound(ref, repo);
  }

  async checkout(repo: string, sha: string, dir: string): Promise<Result<void>> {
    const found = await this.withCommits(repo, [sha]);
    if (!found.ok) return found;
    // No template: a workspace needs no sample hooks.
    const init = await git(['init', '--quiet', '--template=', '--', dir]);
    if (init.code !== 0) return failure('REPOSITORY_UNAVAILABLE', `cannot make a workspace for ${repo}: ${lastLine(init.stderr)}`);
    writeFileSync(join(dir, '.git', 'objects', 'info', 'alternates'), `${this.objectsOf(found.value.mirror)}\n`);
    const quoted = `"${withoutCredentials(repo).replace(/[\\"]/g, '\\$&')}"`;
    appendFileSync(join(dir, '.git', 'config'), `[remote "origin"]\n\turl = ${quoted}\n\tfetch = +refs/heads/*:refs/remotes/origin/*\n`);
    const checkout = await git(['-c', 'advice.detachedHead=false', 'checkout', '--quiet', '--detach', found.value.commits[0]!], { cwd: dir });
    if (checkout.code !== 0) return failure('REF_NOT_FOUND', `cannot check out ${sha} of ${repo}: ${lastLine(checkout.stderr)}`);
    return ok(undefined);
  }

  async commit(repo: string, sha: string): Promise<Result<CommitInfo>> {
    const found = await this.withCommits(repo, [sha]);
    if (!found.ok) return found;
    // NUL between fields (none of them can hold one), the raw message last; the committer
    // date as epoch seconds, so its time zone does not matter. No signature output, whatever
    // the server's git configuration says.
    const output = await gitIn(found.value.mirror, ['log', '-1', '--no-show-signature', '--format=%an%x00%ae%x00%ct%x00%B', found.value.commits[0]!]);
    if (output.code !== 0) return failure('REF_NOT_FOUND', `cannot read commit ${sha} of ${repo}: ${lastLine(output.stderr)}`);
    const [name = '', email = '', seconds = '', ...message] = output.stdout.split('\0');
    const committedAt = new Date(Number(seconds) * 1000);
    if (seconds === '' || Number.isNaN(committedAt.getTime())) return failure('REPOSITORY_UNAVAILABLE', `cannot read the date of commit ${sha} of ${repo}`);
    return ok({ author: { name, email }, title: commitTitle(message.join('\0')), committedAt: committedAt.toISOString() });
  }

  async changedFiles(repo: string, from: string, to: string): Promise<Result<string[]>> {
    // Full shas, as webhooks send: the diff itself proves both commits are there, and git is
    // asked which one is not only when it fails.
    const direct = [from, to].every((sha) => FULL_SHA.test(sha));
    const found = direct ? await this.mirrorWith(repo, [from, to]) : await this.withCommits(repo, [from, to]);
    if (!found.ok) return found;
    const [mirror, fromCommit, toCommit] = typeof found.value === 'string' ? [found.value, from, to] : [found.value.mirror, ...found.value.commits];
    // Without rename detection a rename is a deletion and an addition: both paths are listed.
    // -z: paths verbatim, not quoted and escaped.
    const diff = await gitIn(mirror, ['diff-tree', '-r', '-z', '--name-only', '--no-renames', fromCommit!, toCommit!]);
    if (diff.code !== 0) {
      const missing = direct ? await this.missingCommits(mirror, [from, to]) : undefined;
      if (missing !== undefined) return refNotFound(missing, repo);
      return failure('REPOSITORY_UNAVAILABLE', `cannot compare ${from} and ${to} in ${repo}: ${lastLine(diff.stderr)}`);
    }
    this.remember(mirror, [fromCommit!, toCommit!]);
    return ok(diff.stdout.split('\0').filter(Boolean));
  }

  async branches(repo: string): Promise<Result<Record<string, string>>> {
    const output = await git(['ls-remote', '--heads', '--', repo]);
    if (output.code !== 0) return failure('REPOSITORY_UNAVAILABLE', `cannot read repository ${repo}: ${lastLine(output.stderr)}`);
    const branches: Array<[string, string]> = [];
    for (const line of output.stdout.split('\n')) {
      const match = /^([0-9a-f]+)\trefs\/heads\/(.+)$/.exec(line);
      if (match) branches.push([match[2]!, match[1]!]);
    }
    return ok(Object.fromEntries(branches));
  }
}
