// The trigger service on the real Engine with fakes, for unit tests: one monorepo that four
// services build from (each spelling its URL another way) and one other repository, events as
// GitHub's adapter makes them, and what the fake source answers about them.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeBuilder } from '../../src/builders/fake/builder.ts';
import type { Run } from '../../src/core/types.ts';
import { FakeDeployer } from '../../src/deployers/fake/deployer.ts';
import { Engine } from '../../src/engine/engine.ts';
import { MemoryEventBus } from '../../src/events/bus.ts';
import type { StepSpec } from '../../src/executors/executor.ts';
import { FakeExecutor, type FakeStepScript } from '../../src/executors/fake/executor.ts';
import type { ForgeEvent, RepositoryRef } from '../../src/forges/forge.ts';
import { FakeSource } from '../../src/source/fake/source.ts';
import { openSqliteStore } from '../../src/store/sqlite/store.ts';
import type { Store } from '../../src/store/store.ts';
import { TriggerService } from '../../src/triggers/trigger.ts';
import { parsedConfig } from './config.ts';

export const ZERO = '0'.repeat(40);
export const sha = (char: string) => char.repeat(40);
export const short = (full: string) => full.slice(0, 12);

// One monorepo, spelled a different way by each service that builds from it.
export const SHOP = {
  api: 'https://github.com/acme/shop.git',
  web: 'git@github.com:Acme/Shop.git',
  worker: 'ssh://git@github.com/ACME/shop',
  nightly: 'https://github.com/Acme/Shop/',
};
export const OTHER = 'https://github.com/acme/other.git';


export const CONFIG = `
registry: registry.test
pipeline:
  - stage: test
    run: make test
  - stage: build
services:
  api:
    repo: ${SHOP.api}
    path: services/api
    depends_on_paths: [libs/shared]
  web:
    repo: "${SHOP.web}"
    path: services/web
  worker:
    repo: ${SHOP.worker}
    path: services/worker/
  nightly:
    repo: ${SHOP.nightly}
    branch: release
  other:
    repo: ${OTHER}
`;

/** How GitHub names the repository in its payloads. */
export const SHOP_REF: RepositoryRef = {
  fullName: 'Acme/Shop',
  urls: ['https://github.com/Acme/Shop.git', 'git@github.com:Acme/Shop.git', 'git://github.com/Acme/Shop.git', 'https://github.com/Acme/Shop'],
};

export interface Harness {
  triggers: TriggerService;
  engine: Engine;
  store: Store;
  source: FakeSource;
  executor: FakeExecutor;
  /** Replaceable: what each step does. */
  script: { current: (step: StepSpec) => FakeStepScript };
}

const cleanups: Array<() => Promise<void>> = [];

/** Stops every harness made since the last call (call it after each test). */
export async function closeHarnesses(): Promise<void> {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
}

/** The trigger service on a started engine, for CONFIG or a variant of it. */
export async function harness(config = CONFIG): Promise<Harness> {
  const workRoot = mkdtempSync(join(tmpdir(), 'slipway-trigger-'));
  const store = await openSqliteStore(':memory:');
  const script: Harness['script'] = { current: () => ({}) };
  const executor = new FakeExecutor((step) => script.current(step));
  const source = new FakeSource();
  const engine = new Engine({
    store,
    bus: new MemoryEventBus(),
    config: parsedConfig(config),
    source,
    executor,
    builder: new FakeBuilder(),
    deployer: new FakeDeployer(),
    workRoot,
    maxParallelRuns: 8,
  });
  cleanups.push(async () => {
    for (const run of await store.runs.list({ statuses: ['pending', 'running'] })) await engine.cancel(run.id);
    await engine.stop();
    await store.close();
    rmSync(workRoot, { recursive: true, force: true });
  });
  await engine.start();
  return { triggers: new TriggerService({ engine, store, source }), engine, store, source, executor, script };
}

/** What git's diff answers between two commits, whichever spelling of the repository asks. */
export function changes(h: Harness, from: string, to: string, paths: string[]): void {
  for (const repo of Object.values(SHOP)) h.source.setChanges(repo, from, to, paths);
}

/** Where a branch (or tag) of the monorepo points now, whichever spelling of the repository asks. */
export function branchOf(h: Harness, branch: string, at: string): void {
  for (const repo of Object.values(SHOP)) h.source.setRef(repo, branch, at);
}

let deliveries = 0;
export function push(fields: Partial<Extract<ForgeEvent, { kind: 'push' }>> & { before: string; after: string }): ForgeEvent {
  return {
    kind: 'push',
    deliveryId: `delivery-${++deliveries}`,
    repository: SHOP_REF,
    sender: 'octocat',
    branch: 'main',
    created: false,
    deleted: false,
    forced: false,
    commitCount: 1,
    ...fields,
  };
}

export function pullRequest(fields: Partial<Extract<ForgeEvent, { kind: 'pull_request' }>> & { number: number; headSha: string }): ForgeEvent {
  return {
    kind: 'pull_request',
    deliveryId: `delivery-${++deliveries}`,
    repository: SHOP_REF,
    sender: 'octocat',
    action: 'opened',
    headBranch: 'feature/login',
    baseBranch: 'main',
    headRepositoryUrl: 'https://github.com/Acme/Shop.git',
    fromFork: false,
    ...fields,
  };
}

export function tag(name: string, at: string, deleted = false): ForgeEvent {
  return { kind: 'tag', deliveryId: `delivery-${++deliveries}`, repository: SHOP_REF, sender: 'octocat', tag: name, sha: at, deleted };
}

export const servicesOf = (runs: Run[]) => runs.map((run) => run.service);

export async function skippedEvents(store: Store) {
  return (await store.events.list())
    .filter((event) => event.type === 'trigger.skipped')
    .map((event) => ({ service: event.service, ...(event.data as { forge: string; deliveryId: string; commitSha: string; reason: string }) }));
}
