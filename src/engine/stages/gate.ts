// The I/O shell of delivery/gate.ts: gathers what the gate in front of a deploy stage decides
// on (the release, the locks, how the release served the previous environment, the approvals
// given for its digest) and writes down a wait: the stage and run become `waiting`, holding
// nothing but their stored state, and an older release waiting at the same gate is superseded.

import { previousEnvironment } from '../../delivery/chain.ts';
import { decideGate, type GateDecision } from '../../delivery/gate.ts';
import type { GateWait, Release, Run, Stage } from '../../core/types.ts';
import type { EngineResources } from '../resources.ts';
import { transitionRun, transitionStage } from '../state.ts';
import { endWaitingRun } from './waiting.ts';

export type GateOutcome = { release: Release; decision: GateDecision } | { release: null; reason: string };

export async function lookAtGate(resources: EngineResources, run: Run, stage: Stage): Promise<GateOutcome> {
  const { store, config, now } = resources;
  const environmentName = stage.environment!;
  const environment = config.environments[environmentName];
  if (!environment) return { release: null, reason: `environment ${environmentName} is no longer in the configuration` };
  const release = await releaseOf(resources, run);
  if (!release) return { release: null, reason: 'nothing to deploy: no image was built earlier in this run' };
  if (release.origin === 'pull_request') {
    return { release: null, reason: `release #${release.id} was built for ${release.lane}, and a pull request's build is never deployed` };
  }
  const previousName = previousEnvironment(config, run.service, environmentName) ?? null;
  const decisions = (await store.approvals.list({ stageId: stage.id })).filter((approval) => approval.digest === release.digest);
  const rejection = decisions.find((decision) => decision.decision === 'reject');
  const decision = decideGate({
    now: now(),
    environment: environmentName,
    releaseId: release.id,
    kind: run.trigger.kind === 'rollback' ? 'rollback' : run.trigger.kind === 'promote' ? 'promote' : 'deploy',
    forced: run.forced,
    locks: (await store.locks.list({ environment: environmentName })).filter((lock) => lock.service === null || lock.service === run.service),
    previous: previousName === null ? null : { environment: previousName, soakMs: config.environments[previousName]?.soak ?? null, ...(await servedIn(resources, run.service, previousName, release.id)) },
    approval: environment.approval ?? null,
    rollbackApproval: environment.rollback_approval,
    approvals: decisions.filter((decision) => decision.decision === 'approve').map(({ user, role, at }) => ({ user, role, at })),
    rejection: rejection ? { user: rejection.user, comment: rejection.comment } : null,
    windows: environment.windows,
    freezes: environment.freezes,
    waiting: stage.wait,
  });
  return { release, decision };
}

/** When the release last began to serve the environment, and when it stopped (null: it still serves, or never did). */
async function servedIn({ store }: EngineResources, service: string, environment: string, releaseId: number): Promise<{ servedSince: string | null; servedUntil: string | null }> {
  const [served] = await store.deployments.list({ service, environment, releaseId, statuses: ['succeeded'], limit: 1 });
  if (!served) return { servedSince: null, servedUntil: null };
  const [replacedBy] = await store.deployments.list({ service, environment, statuses: ['succeeded'], afterId: served.id, order: 'oldest', limit: 1 });
  return { servedSince: served.finishedAt ?? served.startedAt, servedUntil: replacedBy ? (replacedBy.finishedAt ?? replacedBy.startedAt) : null };
}

/**
 * Stores the wait: a stage reaching the gate becomes `waiting` and its run too (the driver then
 * lets the run go); a stage already waiting gets its new wait. Reaching the gate, a release
 * supersedes older releases of the service waiting at the same gate, unless the policy keeps them.
 */
export async function holdAtGate(resources: EngineResources, run: Run, stage: Stage, release: Release, wait: GateWait): Promise<void> {
  const { store, bus, config } = resources;
  const environment = stage.environment!;
  const askingNow = wait.kind === 'approval' && stage.wait?.kind !== 'approval';
  let waiting: Stage;
  if (stage.status === 'pending') {
    waiting = await transitionStage(resources, run, stage, { type: 'wait' }, { wait });
  } else {
    waiting = (await store.stages.update(stage.id, { wait }))!;
    bus.publish({ type: 'stage', data: waiting });
  }
  if (askingNow) {
    await store.events.append({ type: 'approval.requested', runId: run.id, service: run.service, environment, data: { stageId: stage.id, releaseId: release.id, digest: release.digest, waitingFor: wait.detail, expiresAt: wait.until } });
    bus.publish({ type: 'approval', data: { runId: run.id, stageId: stage.id, service: run.service, environment, releaseId: release.id, detail: wait.detail, expiresAt: wait.until, requestedAt: wait.approvalRequestedAt ?? wait.since } });
  }
  await transitionRun(resources, run, { type: 'wait' });
  if (stage.status === 'pending' && !config.environments[environment]?.approval?.keepOlder) await supersedeOlder(resources, run, release, environment);
}

async function supersedeOlder(resources: EngineResources, newer: Run, release: Release, environment: string): Promise<void> {
  for (const { run, stage } of await resources.store.stages.waiting({ service: newer.service, environment })) {
    if (run.id === newer.id) continue;
    const older = await releaseOf(resources, run);
    if (older && older.id < release.id && run.trigger.kind !== 'rollback') {
      await endWaitingRun(resources, run, stage, { type: 'cancel', reason: `superseded by release #${release.id} (run #${newer.id}), which reached the same gate` });
    }
  }
}

/** The release a run deploys: the one it was asked to (promote, rollback), the one it built, or the one the run it resumes built. */
export async function releaseOf({ store }: Pick<EngineResources, 'store'>, run: Run): Promise<Release | null> {
  if (run.releaseId !== null) return store.releases.get(run.releaseId);
  for (let current: Run | null = run; current; ) {
    const [built] = await store.releases.list({ runId: current.id, limit: 1 });
    if (built) return built;
    current = current.trigger.kind === 'resume' && current.originRunId !== null ? await store.runs.get(current.originRunId) : null;
  }
  return null;
}
