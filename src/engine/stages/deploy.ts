// The deploy stage: the release its gate let through (the one this run built, the one the run it
// resumes built, or the one a promotion or rollback names) placed into an environment by its
// target's Deployer, with the environment's variables and secrets, recorded as a deployment and
// rolled out (rollout.ts). Never two deploys of one service to one environment at once; never a
// pull request's build.

import type { Config } from '../../config/model.ts';
import { replicasFor } from '../../config/rollout.ts';
import { assertNever, type DeploymentKind, type Release, type Run } from '../../core/types.ts';
import type { Deployer, DeployRequest } from '../../deployers/deployer.ts';
import type { EngineResources, StageContext, StageOutcome } from '../resources.ts';
import { rollOut } from './rollout.ts';

/** One chain of deploys per service and environment: each waits for the one before. */
export class DeployLocks {
  private readonly chains = new Map<string, Promise<unknown>>();

  exclusive<T>(key: string, work: () => Promise<T>): Promise<T> {
    const previous = this.chains.get(key) ?? Promise.resolve();
    const next = previous.then(work, work);
    this.chains.set(key, next.catch(() => undefined));
    return next;
  }
}

export async function deploy(resources: EngineResources, locks: DeployLocks, context: StageContext): Promise<StageOutcome> {
  const { config, noEngineReason } = resources;
  const { run, stage, service, release } = context;
  const environmentName = stage.environment!;
  const environment = config.environments[environmentName];
  if (!environment) return { status: 'failed', reason: `environment ${environmentName} is no longer in the configuration` };
  const deployer = deployerFor(resources, environmentName);
  if (!deployer) return { status: 'failed', reason: `cannot deploy: ${noEngineReason}` };
  if (service.port === undefined) return { status: 'failed', reason: `service ${run.service} sets no port to deploy with` };
  if (!release) return { status: 'failed', reason: 'nothing to deploy: no release passed the gate' };
  return locks.exclusive(`${run.service}/${environmentName}`, () => placeRelease(resources, context, deployer, release, environmentName, environment));
}

/** An environment's own target (a `command`), else the container host. */
export function deployerFor(resources: EngineResources, environment: string): Deployer | null {
  return resources.targets.get(environment) ?? resources.deployer;
}

async function placeRelease(
  resources: EngineResources,
  context: StageContext,
  deployer: Deployer,
  release: Release,
  environmentName: string,
  environment: Config['environments'][string],
): Promise<StageOutcome> {
  const { store, bus, now } = resources;
  const { run, log, service, environmentSecrets, stage } = context;
  const serving = await store.deployments.current(run.service, environmentName);
  let deployment = await store.transaction(async (tx) => {
    const created = await tx.deployments.create({
      service: run.service,
      environment: environmentName,
      releaseId: release.id,
      runId: run.id,
      previousReleaseId: serving?.releaseId ?? null,
      startedAt: now().toISOString(),
      kind: deploymentKind(run),
      actor: deploymentKind(run) === 'deploy' ? null : run.trigger.by,
      note: run.note,
      forced: run.forced,
    });
    await tx.events.append({
      type: 'deployment.in_progress',
      runId: run.id,
      service: run.service,
      environment: environmentName,
      data: { deploymentId: created.id, releaseId: release.id, digest: release.digest, kind: created.kind, forced: created.forced, note: created.note },
    });
    return created;
  });
  bus.publish({ type: 'deployment', data: deployment });
  const verb = { deploy: 'Deploying', promote: 'Promoting', rollback: 'Rolling back to' }[deployment.kind];
  log.system(`${verb} release #${release.id} (${release.digest.slice(0, 19)}) ${deployment.kind === 'rollback' ? 'in' : 'to'} ${environmentName}${run.forced ? ' (forced)' : ''}`);
  const request: DeployRequest = {
    deploymentId: deployment.id,
    release,
    previous: serving ? await store.releases.get(serving.releaseId) : null,
    service: {
      name: run.service,
      port: service.port!,
      health: service.health,
      aliases: service.aliases,
      variables: { ...service.variables, ...service.secrets, ...environmentSecrets },
    },
    environment: {
      name: environmentName,
      healthTimeoutMs: environment.health_timeout,
      variables: environment.variables,
      replicas: replicasFor(service, environment, environmentName),
      batch: environment.batch,
      drainTimeoutMs: environment.drain_timeout,
    },
  };
  const result = await rollOut(resources, context, deployer, request, environment, {
    preDeploy: service.pre_deploy,
    postDeploy: service.post_deploy,
    timeoutMs: stage.timeoutMs,
  });
  const finishedAt = now().toISOString();
  const patch = result.status === 'succeeded' ? { status: result.status, url: result.url, finishedAt } : { status: result.status, reason: result.reason, finishedAt };
  deployment = await store.transaction(async (tx) => {
    const updated = (await tx.deployments.update(deployment.id, patch))!;
    await tx.events.append({
      type: `deployment.${updated.status}`,
      runId: run.id,
      service: run.service,
      environment: environmentName,
      data: { deploymentId: updated.id, releaseId: release.id, kind: updated.kind, url: updated.url, reason: updated.reason },
    });
    return updated;
  });
  bus.publish({ type: 'deployment', data: deployment });
  switch (result.status) {
    case 'succeeded':
      log.system(`Release #${release.id} serves ${environmentName} at ${result.url}`);
      return { status: 'succeeded' };
    case 'failed':
      return { status: 'failed', reason: result.reason };
    case 'rolled_back':
      return { status: 'failed', reason: `release #${release.id} was rolled back: ${result.reason}` };
    default:
      return assertNever(result, 'rollout result');
  }
}

function deploymentKind(run: Run): DeploymentKind {
  return run.trigger.kind === 'promote' || run.trigger.kind === 'rollback' ? run.trigger.kind : 'deploy';
}
