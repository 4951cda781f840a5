// A scriptable Source for engine tests: refs resolve from a table, a commit's tree and the
// files changed between two commits are what the test scripted, so are a commit's author,
// message and date (with defaults), branches come from a table;
// every method fails for repositories listed in `unreadable`, checkouts also for those in
// `brokenCheckouts`.

import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { SlipwayError } from '../../core/errors.ts';
import { err, ok, type CommitAuthor, type CommitInfo, type Result } from '../../core/types.ts';
import { commitTitle, type Source } from '../source.ts';

const FULL_SHA = /^([0-9a-f]{40}|[0-9a-f]{64})$/;

/** path -> content */
export type FakeTree = Record<string, string>;

/** What a script may say of a commit: its author, its whole message, its committer date (ISO 8601 UTC). */
export interface FakeCommit {
  author?: CommitAuthor;
  message?: string;
  committedAt?: string;
}

/** What commit() answers of a commit no script described. */
export const FAKE_COMMIT: Required<FakeCommit> = {
  author: { name: 'Fake Author', email: 'fake@example.com' },
  message: 'Fake commit\n',
  committedAt: '2024-01-01T00:00:00.000Z',
};

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

  /** `${repo}@${sha}` -> what a script said of the commit; the rest comes from FAKE_COMMIT. */
  private readonly commitDetails = new Map<string, FakeCommit>();

  /** What commit() answers for the commit (its title cut from `message` as git's would be); the commit becomes known. */
  setCommit(repo: string, sha: string, details: FakeCommit): this {
    this.commitDetails.set(`${repo}@${sha}`, { ...this.commitDetails.get(`${repo}@${sha}`), ...details });
    this.commits.add(`${repo}@${sha}`);
    return this;
  }

  /**
   * The scripted author, message and date of a commit, each else FAKE_COMMIT's. A full sha no
   * script named is REF_NOT_FOUND once some script named a commit (before that, any is known).
   */
  async commit(repo: string, sha: string): Promise<Result<CommitInfo>> {
    if (this.unreadable.has(repo)) return outage(repo);
    if (FULL_SHA.test(sha) && !this.commits.has(`${repo}@${sha}`) && this.commits.size > 0) {
      return err(new SlipwayError('REF_NOT_FOUND', `ref ${sha} does not exist in ${repo}`));
    }
    const { author, message, committedAt } = { ...FAKE_COMMIT, ...this.commitDetails.get(`${repo}@${sha}`) };
    return ok({ author: { ...author }, title: commitTitle(message), committedAt });
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
