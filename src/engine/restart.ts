// What a start does about what a previous process left: the I/O shell around recovery.ts.
// Runs found "running" belong to a process that died. What it left is settled first:
// cut-short deployments are recorded as they ended on the target, and instances, step
// containers and sandboxes nothing will use (no integration stage goes on, no live preview
// serves from them) are removed. The caller then resumes the runs (their steps are
// re-attached when still alive).

import { describeError } from '../core/errors.ts';
import { LIVE_PREVIEW_STATUSES } from '../core/previews.ts';
import type { Run } from '../core/types.ts';
import { planRecovery, type RecoveryFacts } from './recovery.ts';
import type { EngineResources } from './resources.ts';
import { deployerFor as deployerOf } from './stages/deploy.ts';
import { transitionStage } from './state.ts';

/** Settles what the previous process left; resolves with the runs to resume, oldest first. */
export async function settleAfterRestart(resources: EngineResources): Promise<Run[]> {
  const { store, bus, deployer, executor, sandbox, config, now, log } = resources;
  const asked = async <T>(what: string, ask: () => Promise<T>): Promise<T | null> => {
    try {
      return await ask();
    } catch (error) {
      log(`recovery: could not list ${what}, so none is removed: ${describeError(error)}`);
      return null;
    }
  };
  const inFlight = await store.runs.list({ statuses: ['running'], order: 'oldest' });
  const facts: RecoveryFacts = {
    cutShort: await store.deployments.list({ statuses: ['in_progress'] }),
    serving: [],
    instances: deployer ? await asked('deployed instances', () => deployer.listInstances()) : null,
    running: await Promise.all(inFlight.map(async (run) => ({ run, stages: await store.stages.listByRun(run.id) }))),
    steps: await asked('step containers', () => executor.listSteps()),
    sandboxes: sandbox ? await asked('integration sandboxes', () => sandbox.list()) : null,
    heldSandboxes: new Set((await store.previews.list({ statuses: LIVE_PREVIEW_STATUSES })).flatMap((preview) => (preview.sandboxId ? [preview.sandboxId] : []))),
    services: new Set(Object.keys(config.services)),
    address: (service, environment) => deployerOf(resources, environment)?.address(service, environment)?.url ?? null,
    tracksInstances: (environment) => deployerOf(resources, environment)?.placesInstances ?? true,
  };
  const keys = new Map([...facts.cutShort, ...(facts.instances ?? [])].map(({ service, environment }) => [`${service}\u0000${environment}`, { service, environment }]));
  for (const { service, environment } of keys.values()) {
    const current = await store.deployments.current(service, environment);
    if (current) facts.serving.push(current);
  }
  const plan = planRecovery(facts);
  for (const note of plan.notes) log(`recovery: ${note}`);

  for (const repair of plan.deployments) {
    const finishedAt = now().toISOString();
    const patch = repair.status === 'succeeded' ? { status: repair.status, url: repair.url, finishedAt } : { status: repair.status, reason: repair.reason, finishedAt };
    const { deployment } = repair;
    // Compare-and-set: only a deployment still in progress is ended here.
    const updated = await store.transaction(async (tx) => {
      if ((await tx.deployments.get(deployment.id))?.status !== 'in_progress') return null;
      const stored = (await tx.deployments.update(deployment.id, patch))!;
      await tx.events.append({
        type: `deployment.${stored.status}`,
        runId: deployment.runId,
        service: deployment.service,
        data: { deploymentId: stored.id, url: stored.url, reason: stored.reason, recovered: true },
      });
      return stored;
    });
    if (!updated) continue;
    bus.publish({ type: 'deployment', data: updated });
    // Traffic moved before the crash, so the deploy stage passed and its run goes on from there.
    if (repair.status === 'succeeded' && repair.stage) {
      const { run, stage } = repair.stage;
      await transitionStage(resources, run, stage, { type: 'succeed' }, {}, [{ runId: run.id, stageId: stage.id, stream: 'system', text: repair.note, at: finishedAt }]);
    }
  }

  for (const { service, environment, instances } of plan.serve) {
    await deployer!
      .serveOnly(service, environment, instances)
      .catch((error) => log(`recovery: could not send ${service}'s requests in ${environment} to its serving instances: ${describeError(error)}`));
  }
  await Promise.all([
    ...plan.removeInstances.map(async ({ instance, why }) => {
      log(`recovery: removing ${instance.service} release #${instance.releaseId} in ${instance.environment} (${instance.instance.slice(0, 12)}): ${why}`);
      await deployer!.removeInstance(instance.instance).catch((error) => log(`recovery: could not remove ${instance.instance}: ${describeError(error)}`));
    }),
    ...plan.removeSteps.map(async ({ step, why }) => {
      log(`recovery: removing the step of run #${step.runId} (stage ${step.stageId}): ${why}`);
      await executor.cleanup(step.handle).catch((error) => log(`recovery: could not remove ${step.handle}: ${describeError(error)}`));
    }),
    ...plan.removeSandboxes.map(async ({ sandbox: found, why }) => {
      log(`recovery: removing the integration environment of run #${found.runId} (stage ${found.stageId}): ${why}`);
      await sandbox!.remove(found.id).catch((error) => log(`recovery: could not remove sandbox ${found.id}: ${describeError(error)}`));
    }),
  ]);
  return inFlight;
}
