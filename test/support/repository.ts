// Real git repositories for tests: a bare repository with one commit, as a forge would hold it.

import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
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
