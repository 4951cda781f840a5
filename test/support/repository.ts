// Real git repositories for tests: a bare repository with one commit, as a forge would hold it.

import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

const GIT_ENV = { ...process.env, GIT_AUTHOR_NAME: 'T', GIT_AUTHOR_EMAIL: 't@t', GIT_COMMITTER_NAME: 'T', GIT_COMMITTER_EMAIL: 't@t' };

/** A bare repository with one commit holding `files`. */
export function makeRepository(root: string, name: string, files: Record<string, string>): string {
  const bare = join(root, `${name}.git`);
  const work = join(root, `${name}-work`);
  execFileSync('git', ['init', '-q', '--bare', '--initial-branch=main', bare]);
  mkdirSync(work, { recursive: true });
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(work, path)), { recursive: true });
    writeFileSync(join(work, path), text);
  }
  for (const args of [['init', '-q', '--initial-branch=main'], ['add', '.'], ['commit', '-q', '-m', 'first'], ['push', '-q', bare, 'HEAD:main']]) {
    execFileSync('git', args, { cwd: work, env: GIT_ENV });
  }
  return bare;
}

export interface WebServiceRepository {
  /** The bare repository, as a service's `repo` names it. */
  bare: string;
  /**
   * Commits and pushes a version of a busybox web server (its Dockerfile, www/version answering
   * `version`, www/healthz unless `healthy` is false) with `files` beside it; answers the sha.
   */
  commit(version: string, options?: { healthy?: boolean; files?: Record<string, string> }): string;
  /** The shas committed so far, for removing what was built from them. */
  commits: string[];
}

/** An empty bare repository under `root` and a working copy that pushes versions of a small web service to it. */
export function webServiceRepository(root: string, author = { name: 'T', email: 't@t' }): WebServiceRepository {
  const bare = join(root, 'shop.git');
  const work = join(root, 'work');
  const env = { ...process.env, GIT_AUTHOR_NAME: author.name, GIT_AUTHOR_EMAIL: author.email, GIT_COMMITTER_NAME: 'T', GIT_COMMITTER_EMAIL: 't@t' };
  const git = (...args: string[]) => execFileSync('git', args, { cwd: work, encoding: 'utf8', env }).trim();
  execFileSync('git', ['init', '-q', '--bare', '--initial-branch=main', bare]);
  mkdirSync(work, { recursive: true });
  git('init', '-q', '--initial-branch=main');
  const commits: string[] = [];
  return {
    bare,
    commits,
    commit(version, { healthy = true, files = {} } = {}) {
      const all: Record<string, string> = {
        'www/version': `${version}\n`,
        Dockerfile: 'FROM localhost/slipway/busybox:latest\nCOPY www /www\nCMD ["httpd", "-f", "-p", "8080", "-h", "/www"]\n',
        ...files,
      };
      rmSync(join(work, 'www', 'healthz'), { force: true });
      if (healthy) all['www/healthz'] = 'ok\n';
      for (const [path, text] of Object.entries(all)) {
        mkdirSync(dirname(join(work, path)), { recursive: true });
        writeFileSync(join(work, path), text);
      }
      git('add', '-A');
      git('commit', '-q', '-m', `version ${version}`);
      git('push', '-q', bare, 'HEAD:main');
      const sha = git('rev-parse', 'HEAD');
      commits.push(sha);
      return sha;
    },
  };
}
