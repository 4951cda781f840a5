// Image retention: the images of a service's recent releases stay on the host so a rollback
// starts at once, without a pull; the images of its older releases go. Only releases this
// Slipway built are ever touched (another server sharing the engine or the registry keeps its
// own), and an image a container still uses (one that serves, or stands by) is never removed:
// the engine refuses, and the refusal is kept.

import { setTimeout as sleep } from 'node:timers/promises';
import { engineStatus } from '../../docker/api.ts';
import type { ContainerEngine } from '../../docker/connect.ts';
import type { Release } from '../../core/types.ts';
import { pullReference, repositoryOf } from '../reference.ts';

/** Removes the host's images of the `drop` releases that no `keep` release shares; answers how many went. */
export async function pruneReleaseImages(engine: ContainerEngine, keep: Release[], drop: Release[]): Promise<number> {
  const kept = new Set(keep.map((release) => release.digest));
  const dropped = new Map(drop.filter((release) => !kept.has(release.digest)).map((release) => [release.digest, release]));
  if (dropped.size === 0) return 0;
  let removed = 0;
  for (const image of await listImages(engine)) {
    const digests = (image.RepoDigests ?? []).map((reference) => reference.slice(reference.indexOf('@') + 1));
    const release = digests.map((digest) => dropped.get(digest)).find((found) => found !== undefined);
    if (!release || digests.some((digest) => kept.has(digest))) continue;
    // By reference, not by id: an image known by a tag and a digest cannot be removed by id
    // without force, and force would take the containers using it along.
    const repository = repositoryOf(pullReference(release));
    const references = [...(image.RepoTags ?? []).filter((tag) => repositoryOf(tag) === repository), ...(image.RepoDigests ?? [])];
    try {
      for (const reference of references) await engine.docker.getImage(reference).remove();
      removed++;
    } catch (error) {
      // 409 or 500: a container uses it. 404: gone meanwhile.
      if (engineStatus(error) === undefined) throw error;
    }
  }
  return removed;
}

/**
 * Podman 4.3 fails a listing now and then while another client removes an image ("image not
 * known"); asking again a moment later succeeds.
 */
async function listImages(engine: ContainerEngine, attempts = 3): Promise<Awaited<ReturnType<ContainerEngine['docker']['listImages']>>> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await engine.docker.listImages();
    } catch (error) {
      if (attempt >= attempts || engineStatus(error) !== 500) throw error;
      await sleep(500);
    }
  }
}
