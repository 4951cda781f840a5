// Git's way of saying "no commit": an all-zero sha, as a ref update's before (a new branch) or
// after (a deleted one).

export function isZeroSha(sha: string): boolean {
  return /^0+$/.test(sha);
}
