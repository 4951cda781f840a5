// Reads services' repositories with git itself: one bare mirror per repository in a cache
// folder (fetched before each ref resolution), and a workspace per run cloned from the mirror
// with hard-linked objects, so the checkout is a complete repository (tools may run git in it)
// and costs little disk.

import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { SlipwayError } from '../../core/errors.ts';
import { err, ok, type Result } from '../../core/types.ts';
import type { Source } from '../source.ts';

interface GitOutput {
  code: number;
  stdout: string;
  stderr: string;
}

function git(args: string[], cwd?: string): Promise<GitOutput> {
  return new Promise((resolve) => {
    execFile(
      'git',
      args,
      { cwd, maxBuffer: 16 * 1024 * 1024, env: { ...process.env, GIT_TERMINAL_PROMPT: '0', LC_ALL: 'C' } },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        resolve({ code, stdout: stdout.toString(), stderr: stderr.toString() });
      },
    );
  });
}

function lastLine(text: string): string {
  const lines = text.trim().split('\n').filter(Boolean);
  return (lines.at(-1) ?? 'no output').replace(/^(fatal|error): /, '');
}

export class GitSource implements Source {
  private readonly locks = new Map<string, Promise<unknown>>();

  constructor(private readonly cacheDir: string) {
    mkdirSync(cacheDir, { recursive: true });
  }

  private mirrorOf(repo: string): string {
    return join(this.cacheDir, `${createHash('sha256').update(repo).digest('hex').slice(0, 16)}.git`);
  }

  /** One git operation per mirror at a time; fetches into one mirror must not overlap. */
  private exclusive<T>(repo: string, work: () => Promise<T>): Promise<T> {
    const previous = this.locks.get(repo) ?? Promise.resolve();
    const next = previous.then(work, work);
    this.locks.set(repo, next.catch(() => undefined));
    return next;
  }

  private sync(repo: string): Promise<Result<string>> {
    return this.exclusive(repo, async () => {
      const mirror = this.mirrorOf(repo);
      const output = existsSync(mirror)
        ? await git(['fetch', '--prune', '--quiet', '--force', 'origin', '+refs/heads/*:refs/heads/*', '+refs/tags/*:refs/tags/*'], mirror)
        : await git(['clone', '--mirror', '--quiet', repo, mirror]);
      if (output.code !== 0) {
        if (!existsSync(join(mirror, 'HEAD'))) rmSync(mirror, { recursive: true, force: true });
        return err(new SlipwayError('REPOSITORY_UNAVAILABLE', `cannot read repository ${repo}: ${lastLine(output.stderr)}`));
      }
      return ok(mirror);
    });
  }

  async resolve(repo: string, ref: string): Promise<Result<string>> {
    if (ref.startsWith('-')) return err(new SlipwayError('REF_NOT_FOUND', `ref ${ref} is not a valid git ref`));
    const mirror = await this.sync(repo);
    if (!mirror.ok) return mirror;
    const candidates = [`refs/heads/${ref}`, `refs/tags/${ref}`, ref];
    for (const candidate of candidates) {
      const output = await git(['rev-parse', '--verify', '--quiet', `${candidate}^{commit}`], mirror.value);
      if (output.code === 0) return ok(output.stdout.trim());
    }
    return err(new SlipwayError('REF_NOT_FOUND', `ref ${ref} does not exist in ${repo}`));
  }

  async checkout(repo: string, sha: string, dir: string): Promise<Result<void>> {
    const mirror = await this.sync(repo);
    if (!mirror.ok) return mirror;
    const clone = await git(['clone', '--quiet', '--local', '--no-checkout', mirror.value, dir]);
    if (clone.code !== 0) return err(new SlipwayError('REPOSITORY_UNAVAILABLE', `cannot clone ${repo}: ${lastLine(clone.stderr)}`));
    const checkout = await git(['-c', 'advice.detachedHead=false', 'checkout', '--quiet', '--detach', sha], dir);
    if (checkout.code !== 0) return err(new SlipwayError('REF_NOT_FOUND', `cannot check out ${sha} of ${repo}: ${lastLine(checkout.stderr)}`));
    return ok(undefined);
  }
}
