// The container-host deployer runs the Deployer conformance suite on the real engine behind a
// real HAProxy (started in a temp folder, stopped at the end), with images built and pushed to
// the local registry: one that answers its health check, one that never does. Requests go
// through each route's own port on the proxy, as a client sending no host name would.

import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EngineApiBuilder } from '../../src/builders/engine-api/builder.ts';
import type { Release } from '../../src/core/types.ts';
import { retryStorageRace } from '../../src/docker/api.ts';
import { ContainerHostDeployer } from '../../src/deployers/container-host/deployer.ts';
import { HaproxyRouter } from '../../src/routers/haproxy/router.ts';
import type { HealthCheck } from '../../src/routers/router.ts';
import { deployerConformance, ENVIRONMENTS } from '../unit/deployer-conformance.ts';
import { requireBusybox, requireRegistry } from '../support/engine.ts';
import { removeOwned } from '../support/fleet.ts';
import { testProxy } from '../support/proxy.ts';

const suffix = randomBytes(4).toString('hex');
const OWNER = `conformance-${suffix}`;
const SERVICE = 'web';
const PORT = 8080;
// Checks every 200 ms keep deploys short; two failures in a row take an instance out.
const HEALTH: HealthCheck = { path: '/healthz', intervalMs: 200, timeoutMs: 1000, successes: 1, failures: 2 };

deployerConformance('container-host', async () => {
  const { engine, image: busybox } = await requireBusybox();
  const registry = await requireRegistry();
  const repository = `${registry}/slipway-conformance-${suffix}`;
  const builder = new EngineApiBuilder(engine);
  const contexts: string[] = [];
  const proxyDir = mkdtempSync(join(tmpdir(), 'slipway-conformance-proxy-'));
  const proxy = await testProxy();
  const router = new HaproxyRouter({ dir: proxyDir, address: proxy.address, port: proxy.port, owned: true });

  async function build(tag: string, healthy: boolean) {
    const dir = mkdtempSync(join(tmpdir(), 'slipway-deployer-conformance-'));
    contexts.push(dir);
    mkdirSync(join(dir, 'www'));
    writeFileSync(join(dir, 'www', 'version'), `${tag}\n`);
    if (healthy) writeFileSync(join(dir, 'www', 'healthz'), 'ok\n');
    // A trap so SIGTERM ends the shell at once, as a real app would stop.
    writeFileSync(join(dir, 'Dockerfile'), `FROM ${busybox}\nCOPY www /www\nCMD ["sh", "-c", "trap 'exit 0' TERM; httpd -f -p ${PORT} -h /www & wait"]\n`);
    const built = await builder.build({ contextDir: dir, dockerfile: 'Dockerfile', repository, tag, aliases: [], labels: { 'slipway.owner': OWNER } }, () => {}, new AbortController().signal);
    if (!built.ok) throw new Error(`building the ${tag} image failed: ${built.error}`);
    return built.value;
  }

  async function cleanup() {
    await router.stop().catch(() => {});
    await removeOwned(OWNER);
    for (const image of await engine.docker.listImages({ filters: { label: [`slipway.owner=${OWNER}`] } })) {
      await engine.docker.getImage(image.Id).remove({ force: true }).catch(() => {});
    }
    for (const { digest } of Object.values(images)) {
      await fetch(`http://${registry}/v2/${repository.slice(registry.length + 1)}/manifests/${digest}`, { method: 'DELETE' }).catch(() => {});
    }
    for (const dir of [...contexts, proxyDir]) rmSync(dir, { recursive: true, force: true });
  }

  const images: Partial<Record<'healthy' | 'never-healthy', { image: string; digest: string }>> = {};
  const deployer = new ContainerHostDeployer(engine, OWNER, router);
  try {
    images.healthy = await build('healthy', true);
    images['never-healthy'] = await build('never-healthy', false);
    await router.start();
    await deployer.declareRoutes(
      ENVIRONMENTS.map((environment, index) => ({ service: SERVICE, environment, port: proxy.route_ports.from + index, servicePort: PORT, aliases: [], health: HEALTH })),
    );
  } catch (error) {
    await cleanup();
    throw error;
  }

  // The stable address (by host name) as the route's own port, which needs no Host header.
  const portUrls = new Map<string, string>();
  for (const environment of ENVIRONMENTS) {
    const address = deployer.address(SERVICE, environment);
    if (!address?.portUrl) throw new Error(`the proxy gives ${SERVICE} in ${environment} no port of its own`);
    portUrls.set(address.url, address.portUrl);
  }

  let nextId = 1;
  return {
    deployer,
    service: { name: SERVICE, port: PORT, health: HEALTH },
    async release(health): Promise<Release> {
      const id = nextId++;
      const { image, digest } = images[health]!;
      return { id, service: SERVICE, commitSha: String(id).padStart(40, '0'), image, digest, tag: null, origin: 'branch', lane: 'main', runId: id, createdAt: new Date().toISOString() };
    },
    async request(url) {
      const stable = [...portUrls.keys()].find((prefix) => url.startsWith(prefix));
      if (!stable) throw new Error(`${url} is not the stable address of a declared route`);
      const response = await fetch(`${portUrls.get(stable)}${url.slice(stable.length)}`, { signal: AbortSignal.timeout(5000) });
      return { status: response.status, body: await response.text() };
    },
    async imagesOnHost() {
      const images = await retryStorageRace(() => engine.docker.listImages());
      return images.flatMap((image) => (image.RepoDigests ?? []).filter((reference) => reference.startsWith(`${repository}@`)).map((reference) => reference.slice(repository.length + 1)));
    },
    cleanup,
  };
});
