// The Source reads services' repositories: it resolves refs to commits and checks commits out.

import type { CommitInfo, Result } from '../core/types.ts';

/** The longest commit title kept, in characters (code points): enough for any title people read. */
export const COMMIT_TITLE_MAX = 200;

/** A commit's title: the first line of its message, trimmed, cut at COMMIT_TITLE_MAX with an ellipsis. */
export function commitTitle(message: string): string {
  const first = message.trimStart().split(/\r?\n/, 1)[0]!.trim();
  const chars = [...first];
  return chars.length <= COMMIT_TITLE_MAX ? first : `${chars.slice(0, COMMIT_TITLE_MAX - 1).join('').trimEnd()}…`;
}

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
  /**
   * What the commit says of itself, read in one go: who wrote it (git's author name and email),
   * its title (the first line of its message, as `commitTitle` cuts it) and when it was
   * committed (git's committer date, ISO 8601 UTC); REF_NOT_FOUND when it does not exist.
   */
  commit(repo: string, sha: string): Promise<Result<CommitInfo>>;
  /** The branches the repository has now, branch name -> commit sha, read from the remote. */
  branches(repo: string): Promise<Result<Record<string, string>>>;
}
