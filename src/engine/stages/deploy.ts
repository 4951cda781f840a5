// The deploy stage: the release its gate let through (the one this run built, the one the run it
// resumes built, or the one a promotion or rollback names) placed into an environment by the
// Deployer, with the environment's variables and secrets, recorded as a deployment. Never two
// deploys of one service to one environment at once; never a pull request's build.

import type { Config } from '../../config/model.ts';
import type { DeploymentKind, Release, Run } from '../../core/types.ts';
import type { EngineResources, StageContext, StageOutcome } from '../resources.ts';

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
  const { deployer, config, noEngineReason } = resources;
  const { run, stage, service, release, environmentSecrets } = context;
  const environmentName = stage.environment!;
  const environment = config.environments[environmentName];
  if (!environment) return { status: 'failed', reason: `environment ${environmentName} is no longer in the configuration` };
  if (!deployer) return { status: 'failed', reason: `cannot deploy: ${noEngineReason}` };
  if (service.port === undefined) return { status: 'failed', reason: `service ${run.service} sets no port to deploy with` };
  if (!release) return { status: 'failed', reason: 'nothing to deploy: no release passed the gate' };
  const placed = { port: service.port, health: service.health, variables: { ...service.variables, ...service.secrets, ...environmentSecrets } };
  return locks.exclusive(`${run.service}/${environmentName}`, () => placeRelease(resources, context, release, environmentName, environment, placed));
}

async function placeRelease(
  { deployer, store, bus, now }: EngineResources,
  { run, log, signal }: StageContext,
  release: Release,
  environmentName: string,
  environment: Config['environments'][string],
  service: { port: number; health: string; variables: Record<string, string> },
): Promise<StageOutcome> {
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
  const outcome = await deployer!.deploy(
    {
      release,
      service: { name: run.service, ...service },
      environment: { name: environmentName, healthTimeoutMs: environment.health_timeout, variables: environment.variables },
    },
    (line, stream) => void log.line(stream ?? 'stdout', line),
    signal,
  );
  const patch = outcome.trafficMoved
    ? { status: 'succeeded' as const, url: outcome.url, finishedAt: now().toISOString() }
    : { status: 'failed' as const, reason: outcome.reason, finishedAt: now().toISOString() };
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
  if (!outcome.trafficMoved) return { status: 'failed', reason: outcome.reason };
  log.system(`Release #${release.id} serves ${environmentName} at ${outcome.url}`);
  return { status: 'succeeded' };
}

function deploymentKind(run: Run): DeploymentKind {
  return run.trigger.kind === 'promote' || run.trigger.kind === 'rollback' ? run.trigger.kind : 'deploy';
}
