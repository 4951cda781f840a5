// One deployment's rollout, after it is recorded: pre-deploy commands (migrations) in the
// release's image before any traffic moves; the deployer's health-gated switch; then the
// post-deploy commands (smoke tests) against the new release's stable address and, while the
// previous release stands by, the bake window: either moves traffic back (a target without
// standby runs its deploy again with the older release); then the previous release is retired
// and old images pruned. Kamal's order: health gate, switch, drain.

import { setTimeout as sleep } from 'node:timers/promises';
import type { Config } from '../../config/model.ts';
import { judgeBake } from '../../delivery/bake.ts';
import type { Deployer, DeployRequest } from '../../deployers/deployer.ts';
import { formatDuration } from '../../core/durations.ts';
import type { EngineResources, StageContext } from '../resources.ts';

/** How often the bake window asks the proxy about the new release. */
const BAKE_POLL_MS = 100;
const EVIDENCE_LOG_LINES = 20;

export type RolloutResult =
  | { status: 'succeeded'; url: string }
  | { status: 'failed'; reason: string }
  | { status: 'rolled_back'; reason: string };

export async function rollOut(
  resources: EngineResources,
  { log, signal }: StageContext,
  deployer: Deployer,
  request: DeployRequest,
  environment: Config['environments'][string],
  commands: { preDeploy: string[]; postDeploy: string[]; timeoutMs: number },
): Promise<RolloutResult> {
  const print = (line: string, stream?: 'stdout' | 'stderr') => void log.line(stream ?? 'stdout', line);
  const serving = request.previous ? `release #${request.previous.id} serves on` : `nothing was serving ${request.environment.name}`;

  for (const command of commands.preDeploy) {
    log.system(`Pre-deploy: ${command}`);
    const { exitCode } = await deployer.runTask(request, { name: 'pre-deploy', command, env: {}, timeoutMs: commands.timeoutMs }, print, signal);
    if (exitCode !== 0) return { status: 'failed', reason: `the pre-deploy command "${command}" exited with code ${exitCode}; ${serving}` };
  }

  const outcome = await deployer.deploy(request, print, signal);
  if (!outcome.trafficMoved) return { status: 'failed', reason: outcome.reason };

  // Smoke tests call the service where its neighbours do, or where a command target said it is.
  const byName = `http://${request.service.name}:${request.service.port}`;
  const smokeUrl = deployer.address(request.service.name, request.environment.name)?.internalUrl ?? (deployer.keepsPrevious ? byName : outcome.url || byName);
  // The bake starts when requests move: the smoke tests run inside it, watched like the rest.
  const bakeUntil = Date.now() + environment.bake;
  let smoked = false;
  const stop = new AbortController();
  const stopped = AbortSignal.any([signal, stop.signal]);
  if (deployer.keepsPrevious) {
    log.system(`Baking for ${formatDuration(environment.bake)}: ${request.previous ? `release #${request.previous.id} stands by while the new one is watched` : 'the new release is watched'}`);
  }
  const watching = deployer.keepsPrevious ? watch(deployer, request, outcome.instances, environment.bake_errors, () => smoked && Date.now() >= bakeUntil, stopped) : Promise.resolve(null);
  const smoking = smokeTest(deployer, request, commands, smokeUrl, print, log.system.bind(log), stopped).finally(() => (smoked = true));
  let failure = await firstFailure([watching, smoking]);
  stop.abort();
  await Promise.allSettled([watching, smoking]);
  if (!failure && signal.aborted) failure = { reason: 'the deploy was cancelled during its bake', evidence: [] };

  if (failure) {
    log.system(`Rolling back: ${failure.reason}`);
    for (const line of failure.evidence) log.system(line);
    // Read before the new instances go, but without holding the move back up.
    const outputs = Promise.all(outcome.instances.map((instance) => deployer.lastLines(instance, EVIDENCE_LOG_LINES)));
    const reverted = await deployer.revert(request, outcome.instances, print, signal);
    for (const [index, lines] of (await outputs).entries()) {
      log.system(`Last ${lines.length} output lines of instance ${outcome.instances[index]!.slice(0, 12)}:`);
      for (const line of lines) print(`  ${line}`, 'stderr');
    }
    const reason = [failure.reason, ...failure.evidence].join('; ');
    if (reverted.reverted) {
      log.system(`Rolled back: release #${request.previous?.id} serves ${request.environment.name} again`);
      return { status: 'rolled_back', reason };
    }
    // Nothing stands by (a first deploy): the bad release is taken out all the same.
    await deployer.retire(request, [], print);
    return { status: 'failed', reason: `${reason}; ${reverted.reason ?? 'it could not be rolled back'}` };
  }

  await deployer.retire(request, outcome.instances, print);
  // Removing images is slow on a busy engine and nothing waits for it: it runs after the deploy.
  pruning = pruning.then(() => pruneImages(resources, deployer, request));
  return { status: 'succeeded', url: outcome.url };
}

type Failure = { reason: string; evidence: string[] };

/** Watches the new instances until `done()`; answers the failure it saw, or null. */
async function watch(deployer: Deployer, request: DeployRequest, instances: string[], allowedErrors: number, done: () => boolean, signal: AbortSignal): Promise<Failure | null> {
  while (!signal.aborted) {
    const verdict = judgeBake(await deployer.observe(request, instances), allowedErrors);
    if (!verdict.ok) return { reason: 'the new release failed its bake', evidence: verdict.evidence };
    if (done()) return null;
    await sleep(BAKE_POLL_MS, undefined, { signal }).catch(() => undefined);
  }
  return null;
}

/** The post-deploy commands in order; answers the first that failed, or null. */
async function smokeTest(
  deployer: Deployer,
  request: DeployRequest,
  commands: { postDeploy: string[]; timeoutMs: number },
  url: string,
  print: (line: string, stream?: 'stdout' | 'stderr') => void,
  say: (line: string) => void,
  signal: AbortSignal,
): Promise<Failure | null> {
  for (const command of commands.postDeploy) {
    say(`Post-deploy: ${command}`);
    const { exitCode } = await deployer.runTask(request, { name: 'post-deploy', command, env: { SLIPWAY_URL: url }, timeoutMs: commands.timeoutMs }, print, signal);
    if (signal.aborted) return null;
    if (exitCode !== 0) return { reason: `the post-deploy command "${command}" exited with code ${exitCode}`, evidence: [] };
  }
  return null;
}

/** The first of these to answer a failure, or null once all answered none. */
function firstFailure(checks: Array<Promise<Failure | null>>): Promise<Failure | null> {
  return new Promise((resolve) => {
    let left = checks.length;
    for (const check of checks) {
      void check.then((failure) => {
        left--;
        if (failure) resolve(failure);
        else if (left === 0) resolve(null);
      });
    }
  });
}

/** One pruning at a time, one after the other. */
let pruning: Promise<void> = Promise.resolve();

/** Keeps the images of the service's newest releases and of every release serving somewhere; drops its older ones. */
async function pruneImages(resources: EngineResources, deployer: Deployer, request: DeployRequest): Promise<void> {
  const { store, config, log } = resources;
  const service = request.service.name;
  const keepCount = config.services[service]?.keep_images ?? 5;
  try {
    const ids = new Set<number>([request.release.id]);
    for (const deployment of await store.deployments.list({ service, statuses: ['succeeded'], order: 'newest', limit: 200 })) {
      if (ids.size < keepCount) ids.add(deployment.releaseId);
    }
    for (const environment of Object.keys(config.environments)) {
      const current = await store.deployments.current(service, environment);
      if (current) ids.add(current.releaseId);
    }
    const releases = await store.releases.list({ service, limit: 1000 });
    const keep = releases.filter((release) => ids.has(release.id));
    // Releases newer than every kept one may still be on their way to an environment.
    const newestKept = Math.max(...ids);
    const drop = releases.filter((release) => !ids.has(release.id) && release.id < newestKept);
    const removed = await deployer.pruneImages(keep, drop);
    if (removed > 0) log(`${service}: pruned ${removed} image${removed === 1 ? '' : 's'} of older releases, keeping ${keep.length}`);
  } catch (error) {
    log(`${service}: could not prune the images of older releases: ${error instanceof Error ? error.message : String(error)}`);
  }
}
