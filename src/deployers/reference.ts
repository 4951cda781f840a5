// How every deployer names a release's image to an engine or a command: pinned to its digest,
// so what runs is exactly what was built, whatever its tag points at by then.

import type { Release } from '../core/types.ts';

const DIGEST = /^sha256:[0-9a-f]{64}$/;

/** The release's repository (its tag dropped) pinned to its digest: `registry/app@sha256:…`. */
export function pullReference(release: Release): string {
  if (!DIGEST.test(release.digest)) throw new Error(`release ${release.id} has no valid digest (${JSON.stringify(release.digest)})`);
  return `${repositoryOf(release.image)}@${release.digest}`;
}

/** "registry:5000/shop@sha256:…" or "registry:5000/shop:tag" -> "registry:5000/shop". */
export function repositoryOf(reference: string): string {
  const withoutDigest = reference.split('@')[0]!;
  // A colon after the last slash starts a tag; one before it is a registry's port.
  const lastSlash = withoutDigest.lastIndexOf('/');
  const lastColon = withoutDigest.lastIndexOf(':');
  return lastColon > lastSlash ? withoutDigest.slice(0, lastColon) : withoutDigest;
}
