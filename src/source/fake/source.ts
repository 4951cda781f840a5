// A scriptable Source for engine tests: refs resolve from a table, checkouts make an empty
// folder (or fail, for repositories listed in `unreadable` or `brokenCheckouts`).

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SlipwayError } from '../../core/errors.ts';
import { err, ok, type Result } from '../../core/types.ts';
import type { Source } from '../source.ts';

export class FakeSource implements Source {
  /** `${repo}#${ref}` -> sha; any 40-hex ref resolves to itself. */
  readonly refs = new Map<string, string>();
  readonly unreadable = new Set<string>();
  /** Repositories whose refs resolve but whose checkouts fail. */
  readonly brokenCheckouts = new Set<string>();
  readonly checkouts: Array<{ repo: string; sha: string; dir: string }> = [];

  setRef(repo: string, ref: string, sha: string): this {
    this.refs.set(`${repo}#${ref}`, sha);
    return this;
  }

  async resolve(repo: string, ref: string): Promise<Result<string>> {
    if (this.unreadable.has(repo)) return err(new SlipwayError('REPOSITORY_UNAVAILABLE', `cannot read repository ${repo}: fake outage`));
    const sha = this.refs.get(`${repo}#${ref}`) ?? (/^[0-9a-f]{40}$/.test(ref) ? ref : null);
    return sha ? ok(sha) : err(new SlipwayError('REF_NOT_FOUND', `ref ${ref} does not exist in ${repo}`));
  }

  async checkout(repo: string, sha: string, dir: string): Promise<Result<void>> {
    this.checkouts.push({ repo, sha, dir });
    if (this.unreadable.has(repo) || this.brokenCheckouts.has(repo)) {
      return err(new SlipwayError('REPOSITORY_UNAVAILABLE', `cannot clone ${repo}: fake outage`));
    }
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'COMMIT'), sha);
    return ok(undefined);
  }
}
