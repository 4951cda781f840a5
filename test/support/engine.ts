// Container tests run on the real engine. They never skip silently: without an engine they
// fail and say how to get one (scripts/setup-host.sh installs and starts Podman).

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
