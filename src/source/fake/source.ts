// A scriptable Source for engine tests: refs resolve from a table, a commit's tree and the
// files changed between two commits are what the test scripted, branches come from a table;
// every method fails for repositories listed in `unreadable`, checkouts also for those in
// `brokenCheckouts`.

import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { SlipwayError } from '../../core/errors.ts';
import { err, ok, type CommitAuthor, type Result } from '../../core/types.ts';
import type { Source } from '../source.ts';

const FULL_SHA = /^([0-9a-f]{40}|[0-9a-f]{64})$/;

/** path -> content */
export type FakeTree = Record<string, string>;

export class FakeSource implements Source {
  /** `${repo}#${ref}` -> sha; any full sha resolves to itself, so tests may name commits they never scripted. */
  readonly refs = new Map<string, string>();
  readonly unreadable = new Set<string>();
  /** Repositories whose refs resolve but whose checkouts fail. */
  readonly brokenCheckouts = new Set<string>();
  readonly checkouts: Array<{ repo: string; sha: string; dir: string }> = [];
  /** `${repo}@${sha}` -> tree */
  private readonly trees = new Map<string, FakeTree>();
  /** `${repo}@${from}..${to}` -> paths */
  private readonly changes = new Map<string, string[]>();
  private readonly branchTables = new Map<string, Record<string, string>>();
  /** `${repo}@${sha}` of every commit some script named: changedFiles knows no others. */
  private readonly commits = new Set<string>();

  setRef(repo: string, ref: string, sha: string): this {
    this.refs.set(`${repo}#${ref}`, sha);
    this.commits.add(`${repo}@${sha}`);
    return this;
  }

  /** The files a checkout of the commit holds; changedFiles between two such commits compares them. */
  setTree(repo: string, sha: string, tree: FakeTree): this {
    this.trees.set(`${repo}@${sha}`, { ...tree });
    this.commits.add(`${repo}@${sha}`);
    return this;
  }

  /** What changedFiles answers for these two commits (in either order), whatever their trees. */
  setChanges(repo: string, from: string, to: string, paths: string[]): this {
    this.changes.set(`${repo}@${from}..${to}`, [...paths]);
    this.commits.add(`${repo}@${from}`).add(`${repo}@${to}`);
    return this;
  }

  /** What branches answers: branch name -> sha. */
  setBranches(repo: string, branches: Record<string, string>): this {
    this.branchTables.set(repo, { ...branches });
    return this;
  }

  async resolve(repo: string, ref: string): Promise<Result<string>> {
    if (this.unreadable.has(repo)) return outage(repo);
    const sha = this.refs.get(`${repo}#${ref}`) ?? (FULL_SHA.test(ref) ? ref : null);
    return sha ? ok(sha) : err(new SlipwayError('REF_NOT_FOUND', `ref ${ref} does not exist in ${repo}`));
  }

  /** Writes the commit's scripted tree, or else one file COMMIT holding the sha. */
  async checkout(repo: string, sha: string, dir: string): Promise<Result<void>> {
    this.checkouts.push({ repo, sha, dir });
    if (this.unreadable.has(repo) || this.brokenCheckouts.has(repo)) {
      return err(new SlipwayError('REPOSITORY_UNAVAILABLE', `cannot clone ${repo}: fake outage`));
    }
    mkdirSync(dir, { recursive: true });
    const tree = this.trees.get(`${repo}@${sha}`) ?? { COMMIT: sha };
    for (const [path, content] of Object.entries(tree)) {
      mkdirSync(dirname(join(dir, path)), { recursive: true });
      writeFileSync(join(dir, path), content);
    }
    return ok(undefined);
  }

  /** A fake checkout is plain files: it borrows nothing. */
  borrowedPaths(): string[] {
    return [];
  }

  /** The scripted author of a commit, else "Fake Author <fake@example.com>". */
  readonly authors = new Map<string, CommitAuthor>();

  async commitAuthor(repo: string, sha: string): Promise<Result<CommitAuthor>> {
    if (this.unreadable.has(repo)) return outage(repo);
    if (FULL_SHA.test(sha) && !this.commits.has(`${repo}@${sha}`) && !this.authors.has(`${repo}@${sha}`) && this.commits.size > 0) {
      return err(new SlipwayError('REF_NOT_FOUND', `ref ${sha} does not exist in ${repo}`));
    }
    return ok(this.authors.get(`${repo}@${sha}`) ?? { name: 'Fake Author', email: 'fake@example.com' });
  }

  async changedFiles(repo: string, from: string, to: string): Promise<Result<string[]>> {
    if (this.unreadable.has(repo)) return outage(repo);
    const unknown = [from, to].find((sha) => !this.commits.has(`${repo}@${sha}`));
    if (unknown !== undefined) return err(new SlipwayError('REF_NOT_FOUND', `ref ${unknown} does not exist in ${repo}`));
    const scripted = this.changes.get(`${repo}@${from}..${to}`) ?? this.changes.get(`${repo}@${to}..${from}`);
    if (scripted) return ok([...scripted]);
    const before = this.trees.get(`${repo}@${from}`) ?? {};
    const after = this.trees.get(`${repo}@${to}`) ?? {};
    const paths = new Set([...Object.keys(before), ...Object.keys(after)]);
    return ok([...paths].filter((path) => before[path] !== after[path]).sort());
  }

  async branches(repo: string): Promise<Result<Record<string, string>>> {
    if (this.unreadable.has(repo)) return outage(repo);
    return ok({ ...this.branchTables.get(repo) });
  }
}

function outage(repo: string): Result<never> {
  return err(new SlipwayError('REPOSITORY_UNAVAILABLE', `cannot read repository ${repo}: fake outage`));
}
