// Container tests run on the real engine. They never skip silently: without an engine they
// fail and say how to get one (scripts/setup-host.sh installs and starts Podman).

import { engineStatus, retryStorageRace } from '../../src/docker/api.ts';
import { findContainerEngine, type ContainerEngine } from '../../src/docker/connect.ts';
import { ensureBusyboxImage } from '../../src/images/base.ts';

let cached: Promise<ContainerEngine> | null = null;

export function requireEngine(): Promise<ContainerEngine> {
  cached ??= findContainerEngine().then((lookup) => {
    if (!lookup.ok) throw new Error(`container tests need an engine: ${lookup.reason}. Run scripts/setup-host.sh first.`);
    return lookup.engine;
  });
  return cached;
}

/** The engine plus the locally built busybox image tests run in. */
export async function requireBusybox(): Promise<{ engine: ContainerEngine; image: string }> {
  const engine = await requireEngine();
  return { engine, image: await ensureBusyboxImage(engine.docker) };
}

export const TEST_REGISTRY = process.env.SLIPWAY_TEST_REGISTRY ?? '127.0.0.1:5000';

/** Fails (never skips) when the local registry is not answering. */
export async function requireRegistry(): Promise<string> {
  try {
    const response = await fetch(`http://${TEST_REGISTRY}/v2/`);
    if (response.ok) return TEST_REGISTRY;
    throw new Error(`status ${response.status}`);
  } catch (error) {
    throw new Error(`container tests need the registry at ${TEST_REGISTRY} (${String(error)}). Run scripts/setup-host.sh first.`);
  }
}

/**
 * The images a server's pipeline built from these commits (it labels each with its commit) and
 * their manifests in the registry, once no container runs them. By commit, not by repository:
 * other test files build images of the same names at the same time. Untagged ones too: building
 * a commit again moves its tag to the new image.
 */
export async function removeBuiltImages(commits: Iterable<string>): Promise<void> {
  const { docker } = await requireEngine();
  for (const commit of new Set(commits)) {
    const images = await retryStorageRace(() => docker.listImages({ filters: { label: [`slipway.commit=${commit}`] } }));
    for (const image of images) {
      for (const reference of image.RepoDigests ?? []) {
        if (!reference.startsWith(`${TEST_REGISTRY}/`)) continue;
        const [name, digest] = reference.slice(TEST_REGISTRY.length + 1).split('@');
        await fetch(`http://${TEST_REGISTRY}/v2/${name}/manifests/${digest}`, { method: 'DELETE' }).catch(() => {});
      }
      // Its build's intermediate images go with it.
      await retryStorageRace(() => docker.getImage(image.Id).remove({ force: true })).catch((error: unknown) => {
        if (engineStatus(error) !== 404) throw error;
      });
    }
  }
}
