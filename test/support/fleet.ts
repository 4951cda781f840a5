// Two services behind the real proxy, for the rollout tests and the deploy benchmark: `payment`
// calls `notification` by name; both run the test web app (web-app.ts) from git repositories of
// their own, built by the real pipeline, pushed to the local registry and deployed to staging
// (one replica) and production (three, rolled one at a time) by a server in this process. A
// release's behaviour (failing health, migration, smoke test or one endpoint) is baked into its
// image by its commit, so every deploy is a real build of a real commit.

import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SlipwayClient } from '../../src/client/client.ts';
import type { RunDetail } from '../../src/client/api.ts';
import { isTerminalRun } from '../../src/core/types.ts';
import { retryStorageRace } from '../../src/docker/api.ts';
import { ownerOf, startServer, type RunningServer } from '../../src/server/main.ts';
import { requireEngine } from './engine.ts';
import { proxyYaml, testProxy, type TestProxy } from './proxy.ts';
import { until } from './wait.ts';
import { webAppFiles } from './web-app.ts';

export type ServiceName = 'payment' | 'notification';

/** What a release does wrong, baked into its image. */
export type Flaw = 'none' | 'never-healthy' | 'failing-health' | 'failing-migration' | 'failing-smoke' | 'failing-endpoint';

/** The endpoint a `failing-endpoint` release breaks: the smoke test does not call it, a canary does. */
export const BROKEN_ENDPOINT = '/checkout';

const FLAW_ENV: Record<Flaw, Record<string, string>> = {
  none: {},
  'never-healthy': { FAIL_HEALTH: '1' },
  // Passes its first checks, then fails them during the bake.
  'failing-health': { UNHEALTHY_AFTER_MS: '1500' },
  'failing-migration': { MIGRATE_EXIT: '1' },
  'failing-smoke': { FAIL_PATH: '/orders' },
  'failing-endpoint': { FAIL_PATH: BROKEN_ENDPOINT },
};

export interface Fleet {
  root: string;
  dataDir: string;
  server: RunningServer;
  admin: SlipwayClient;
  proxy: TestProxy;
  /** Commits a release of `service` with a flaw (or none) and answers its label, e.g. "payment-v3". */
  commit(service: ServiceName, flaw?: Flaw): string;
  /** Runs the pipeline for the service's head and waits until the run ends. */
  run(service: ServiceName): Promise<RunDetail>;
  rollback(service: ServiceName, environment: string): Promise<RunDetail>;
  waitRun(id: number): Promise<RunDetail>;
  /** What the server said (its log), newest last. */
  serverLog: string[];
  /** The service's own port on the proxy in an environment. */
  routeUrl(service: ServiceName, environment: string): Promise<string>;
  close(): Promise<void>;
}

const GIT_ENV = { ...process.env, GIT_AUTHOR_NAME: 'T', GIT_AUTHOR_EMAIL: 't@t', GIT_COMMITTER_NAME: 'T', GIT_COMMITTER_EMAIL: 't@t' };

export async function startFleet(options: { registry: string; bake?: string } = { registry: '127.0.0.1:5000' }): Promise<Fleet> {
  const root = mkdtempSync(join(tmpdir(), 'slipway-fleet-'));
  const dataDir = join(root, 'data');
  const proxy = await testProxy();
  const repositories = { payment: repository(root, 'payment'), notification: repository(root, 'notification') };
  const versions = { payment: 0, notification: 0 };
  const commit = (service: ServiceName, flaw: Flaw = 'none') => {
    const label = `${service}-v${++versions[service]}${flaw === 'none' ? '' : `-${flaw}`}`;
    repositories[service].push(releaseFiles(label, FLAW_ENV[flaw]), label);
    return label;
  };
  commit('payment');
  commit('notification');
  // Fast checks, so a marathon of deploys runs in minutes. Whichever is first when a release
  // stops passing them, the bake switching back or the proxy falling back by itself after three
  // failures, the previous release takes the requests.
  const health = '{ path: /healthz, interval: 200ms, timeout: 1s, successes: 1, failures: 3 }';
  const environment = (name: string, replicas: number, bake: string) => [
    `  ${name}:`,
    '    health_timeout: 20s',
    '    drain_timeout: 3s',
    `    bake: ${bake}`,
    '    bake_errors: 3',
    `    replicas: ${replicas}`,
    '    batch: 1',
    `    variables: { ENVIRONMENT: ${name} }`,
  ];
  const configFile = join(root, 'slipway.yml');
  writeFileSync(
    configFile,
    [
      `registry: ${options.registry}`,
      'pipeline:',
      '  - stage: build',
      '  - stage: deploy-staging',
      '    environment: staging',
      '  - stage: deploy-production',
      '    environment: production',
      'environments:',
      ...environment('staging', 1, options.bake ?? '3s'),
      ...environment('production', 3, '1s'),
      'services:',
      '  payment:',
      `    repo: ${repositories.payment.bare}`,
      '    port: 3000',
      `    health: ${health}`,
      '    variables: { SERVICE: payment, PEER: "notify:3000" }',
      '    pre_deploy: node /app/server.js migrate',
      '    post_deploy: node /app/server.js smoke $SLIPWAY_URL',
      '    keep_images: 3',
      '  notification:',
      `    repo: ${repositories.notification.bare}`,
      '    port: 3000',
      `    health: ${health}`,
      '    aliases: [notify]',
      '    variables: { SERVICE: notification }',
      ...proxyYaml(proxy),
      '',
    ].join('\n'),
  );
  const serverLog: string[] = [];
  const server = await startServer({ configFile, dataDir, port: 0, credentialsFile: null, proxy: { owned: true }, say: (line) => serverLog.push(line) });
  const admin = new SlipwayClient(server.url, readFileSync(join(dataDir, 'cli-token'), 'utf8').trim());
  const waitRun = (id: number) =>
    until(`run #${id} to end`, async () => {
      const detail = await admin.run(id);
      return isTerminalRun(detail.status) ? detail : null;
    }, 300_000);
  return {
    root,
    dataDir,
    server,
    admin,
    proxy,
    serverLog,
    commit,
    async run(service) {
      return waitRun((await admin.startRun({ service })).id);
    },
    async rollback(service, environment) {
      return waitRun((await admin.rollback(service, { environment, reason: 'a manual rollback in the test' })).id);
    },
    waitRun,
    async routeUrl(service, environment) {
      const url = server.engine.addressOf(service, environment)?.portUrl;
      if (!url) throw new Error(`no address for ${service} in ${environment}`);
      return url;
    },
    async close() {
      const owner = ownerOf(dataDir);
      const releases = await Promise.all((['payment', 'notification'] as const).map((service) => admin.releases({ service, limit: 1000 }).catch(() => [])));
      await server.close();
      await removeOwned(owner);
      await removeImages(new Set(releases.flat().map((release) => release.digest)));
      rmSync(root, { recursive: true, force: true });
    },
  };
}

/** The web app's files for a release labelled `label`, with `env` baked into its image. */
export function releaseFiles(label: string, env: Record<string, string> = {}): Record<string, string> {
  const files = webAppFiles({ release: label });
  const lines = Object.entries(env).map(([key, value]) => `ENV ${key}=${value}`);
  return { ...files, Dockerfile: files.Dockerfile.replace('EXPOSE 3000', [...lines, 'EXPOSE 3000'].join('\n')) };
}

/** A bare repository and a working copy that commits the web app's files. */
export function repository(root: string, name: string): { bare: string; push(files: Record<string, string>, label: string): void } {
  const bare = join(root, `${name}.git`);
  const work = join(root, `${name}-work`);
  const git = (...args: string[]) => execFileSync('git', args, { cwd: work, env: GIT_ENV });
  execFileSync('git', ['init', '-q', '--bare', '--initial-branch=main', bare]);
  mkdirSync(work, { recursive: true });
  git('init', '-q', '--initial-branch=main');
  return {
    bare,
    push(files, label) {
      for (const [path, text] of Object.entries(files)) writeFileSync(join(work, path), text);
      git('add', '-A');
      git('commit', '-q', '-m', label);
      git('push', '-q', bare, 'HEAD:main');
    },
  };
}

/** The images of these digests (a server's releases), once no container runs them. */
export async function removeImages(digests: Set<string>): Promise<void> {
  const { docker } = await requireEngine();
  const images = await retryStorageRace(() => docker.listImages());
  for (const image of images) {
    if (!(image.RepoDigests ?? []).some((reference) => digests.has(reference.slice(reference.indexOf('@') + 1)))) continue;
    await retryStorageRace(() => docker.getImage(image.Id).remove({ force: true })).catch(() => undefined);
  }
}

/** What a server left on the engine: its services' containers (deployed ones outlive it by design) and its networks. */
export async function removeOwned(owner: string): Promise<void> {
  const { docker } = await requireEngine();
  const containers = await docker.listContainers({ all: true, filters: { label: [`slipway.owner=${owner}`] } });
  await Promise.all(containers.map((container) => docker.getContainer(container.Id).remove({ force: true }).catch(() => undefined)));
  const networks = await docker.listNetworks({ filters: { label: [`slipway.owner=${owner}`] } });
  await Promise.all(networks.map((network) => docker.getNetwork(network.Id).remove().catch(() => undefined)));
}
