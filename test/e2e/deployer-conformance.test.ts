// The container-host deployer runs the Deployer conformance suite on the real engine, with
// images built and pushed to the local registry: one that answers its health check, one that
// never does.

import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EngineApiBuilder } from '../../src/builders/engine-api/builder.ts';
import type { Release } from '../../src/core/types.ts';
import { ContainerHostDeployer } from '../../src/deployers/container-host/deployer.ts';
import { deployerConformance } from '../unit/deployer-conformance.ts';
import { requireBusybox, requireRegistry } from '../support/engine.ts';

const suffix = randomBytes(4).toString('hex');
const OWNER = `conformance-${suffix}`;
const PORT = 8080;

deployerConformance('container-host', async () => {
  const { engine, image: busybox } = await requireBusybox();
  const registry = await requireRegistry();
  const repository = `${registry}/slipway-conformance-${suffix}`;
  const builder = new EngineApiBuilder(engine);
  const contexts: string[] = [];

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

  const images = { healthy: await build('healthy', true), 'never-healthy': await build('never-healthy', false) };
  let nextId = 1;
  return {
    deployer: new ContainerHostDeployer(engine, OWNER),
    service: { name: 'web', port: PORT, health: '/healthz' },
    async release(health): Promise<Release> {
      const id = nextId++;
      const { image, digest } = images[health];
      return { id, service: 'web', commitSha: String(id).padStart(40, '0'), image, digest, tag: null, origin: 'branch', lane: 'main', runId: id, createdAt: new Date().toISOString() };
    },
    async cleanup() {
      for (const container of await engine.docker.listContainers({ all: true, filters: { label: [`slipway.owner=${OWNER}`] } })) {
        await engine.docker.getContainer(container.Id).remove({ force: true }).catch(() => {});
      }
      for (const image of await engine.docker.listImages({ filters: { label: [`slipway.owner=${OWNER}`] } })) {
        await engine.docker.getImage(image.Id).remove({ force: true }).catch(() => {});
      }
      for (const { digest } of Object.values(images)) {
        await fetch(`http://${registry}/v2/${repository.slice(registry.length + 1)}/manifests/${digest}`, { method: 'DELETE' }).catch(() => {});
      }
      for (const dir of contexts) rmSync(dir, { recursive: true, force: true });
    },
  };
});
