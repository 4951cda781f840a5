// Image retention: the images of a service's recent releases stay on the host so a rollback
// starts at once, without a pull; the images of its older releases go. Only releases this
// Slipway built are ever touched (another server sharing the engine or the registry keeps its
// own), and an image a container still uses (one that serves, or stands by) is never removed:
// the engine refuses, and the refusal is kept.

import { engineStatus, retryStorageRace } from '../../docker/api.ts';
import type { ContainerEngine } from '../../docker/connect.ts';
import type { Release } from '../../core/types.ts';
import { pullReference, repositoryOf } from '../reference.ts';

/** Removes the host's images of the `drop` releases that no `keep` release shares; answers how many went. */
export async function pruneReleaseImages(engine: ContainerEngine, keep: Release[], drop: Release[]): Promise<number> {
  const kept = new Set(keep.map((release) => release.digest));
  const dropped = new Map(drop.filter((release) => !kept.has(release.digest)).map((release) => [release.digest, release]));
  if (dropped.size === 0) return 0;
  let removed = 0;
  // Podman 4.3 fails a listing now and then while another client removes an image.
  for (const image of await retryStorageRace(() => engine.docker.listImages())) {
    const digests = (image.RepoDigests ?? []).map((reference) => reference.slice(reference.indexOf('@') + 1));
    const release = digests.map((digest) => dropped.get(digest)).find((found) => found !== undefined);
    if (!release || digests.some((digest) => kept.has(digest))) continue;
    // By reference, not by id: an image known by a tag and a digest cannot be removed by id
    // without force, and force would take the containers using it along.
    const repository = repositoryOf(pullReference(release));
    const references = [...(image.RepoTags ?? []).filter((tag) => repositoryOf(tag) === repository), ...(image.RepoDigests ?? [])];
    if (await removeImage(engine, references)) removed++;
  }
  return removed;
}

/**
 * Removes an image by each of its references; the last one takes the image. False when a
 * container uses it (the engine refuses the last reference: 409); a reference already gone (404)
 * is no failure. Anything else throws, for the caller to report.
 */
async function removeImage(engine: ContainerEngine, references: string[]): Promise<boolean> {
  for (const reference of references) {
    try {
      await retryStorageRace(() => engine.docker.getImage(reference).remove());
    } catch (error) {
      const status = engineStatus(error);
      if (status === 409) return false;
      if (status !== 404) throw error;
    }
  }
  return true;
}
