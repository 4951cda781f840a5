// The Source reads services' repositories: it resolves refs to commits and checks commits out.

import type { CommitAuthor, Result } from '../core/types.ts';

/** Resolves refs and checks out commits. Every method is safe to call concurrently. */
export interface Source {
  /**
   * Fetches the repository and resolves a branch, tag or sha to a full commit sha. With
   * `fetchedSince` (epoch ms), a fetch of the repository that started at or after that moment
   * is as fresh as the caller needs: the ref may be read from it without fetching again.
   */
  resolve(repo: string, ref: string, options?: { fetchedSince?: number }): Promise<Result<string>>;
  /**
   * Puts the commit's tree (with history) into `dir`, which must not exist yet. Its origin
   * remote names the repository without credentials: steps read the checkout.
   */
  checkout(repo: string, sha: string, dir: string): Promise<Result<void>>;
  /**
   * The host folders (absolute) a checkout of the repository borrows rather than copies (git
   * objects): a step running in isolation needs them, read-only at the same path, for git to
   * work in its checkout. Computed by the source itself, never read from a checkout, which
   * steps write.
   */
  borrowedPaths(repo: string): string[];
  /**
   * The paths (relative to the repository root, '/'-separated) that differ between two
   * commits, renames counted at both their old and new path; fetches first when either
   * commit is not known locally. REF_NOT_FOUND when a commit does not exist in the repository.
   */
  changedFiles(repo: string, from: string, to: string): Promise<Result<string[]>>;
  /** Who wrote the commit (git's author name and email); REF_NOT_FOUND when it does not exist. */
  commitAuthor(repo: string, sha: string): Promise<Result<CommitAuthor>>;
  /** The branches the repository has now, branch name -> commit sha, read from the remote. */
  branches(repo: string): Promise<Result<Record<string, string>>>;
}
