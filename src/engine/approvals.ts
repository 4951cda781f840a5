// People's decisions at a gate: an approval or a rejection of the release a waiting run would
// place, checked against the environment's policy (who may, and never the run's or the commit's
// author unless the policy allows it), bound to the release's digest, recorded once per person
// (a unique key in the store decides), written to the audit log, and then the run is woken so
// the driver looks at its gate again. The driver, not this file, moves the run on or ends it.

import { SlipwayError } from '../core/errors.ts';
import { PEOPLE_TRIGGERS, type Approval, type Role, type Run, type Stage } from '../core/types.ts';
import { mayApprove, type ApprovalPolicy, type Authors } from '../delivery/approval-policy.ts';
import type { EngineResources } from './resources.ts';
import { releaseOf } from './stages/gate.ts';
import type { Waker } from './waker.ts';

export interface Decider {
  name: string;
  role: Role;
  email: string | null;
}

export interface DecisionRequest {
  runId: number;
  decision: Approval['decision'];
  by: Decider;
  comment: string | null;
}

export async function decide(resources: EngineResources, waker: Waker, request: DecisionRequest): Promise<{ approval: Approval; run: Run }> {
  const { store, now } = resources;
  const run = await store.runs.get(request.runId);
  if (!run) throw new SlipwayError('RUN_NOT_FOUND', `run ${request.runId} does not exist`);
  const stage = (await store.stages.listByRun(run.id)).find((candidate) => candidate.status === 'waiting');
  if (!stage) throw new SlipwayError('NOT_WAITING', `run ${run.id} is ${run.status}, not waiting at a gate`);
  const environment = stage.environment!;
  const policy = policyAt(resources, run, stage);
  if (!policy) throw new SlipwayError('NOT_WAITING', `run ${run.id} waits at ${environment}'s gate, which needs no approval (${stage.wait?.detail ?? 'waiting'})`);
  // Saying no to one's own release is always allowed: it stops a release, never lets one through.
  const check = mayApprove(request.decision === 'reject' ? { ...policy, selfApproval: true } : policy, request.by, authorsOf(run));
  if (!check.ok) throw new SlipwayError('APPROVAL_REFUSED', check.reason);
  const release = await releaseOf(resources, run);
  if (!release) throw new SlipwayError('NOT_WAITING', `run ${run.id} has no release to approve`);
  const approval = await store.transaction(async (tx) => {
    const recorded = await tx.approvals.record({
      runId: run.id,
      stageId: stage.id,
      service: run.service,
      environment,
      releaseId: release.id,
      digest: release.digest,
      user: request.by.name,
      role: request.by.role,
      decision: request.decision,
      comment: request.comment,
      at: now().toISOString(),
    });
    if (!recorded) return null;
    await tx.events.append({
      type: request.decision === 'approve' ? 'approval.given' : 'approval.rejected',
      runId: run.id,
      service: run.service,
      environment,
      actor: request.by.name,
      data: { releaseId: release.id, digest: release.digest, comment: request.comment },
    });
    return recorded;
  });
  if (!approval) throw new SlipwayError('ALREADY_DECIDED', `${request.by.name} has already decided on release #${release.id} for ${environment} in run ${run.id}`);
  await waker.wake(run.id, `${request.by.name} ${request.decision === 'approve' ? 'approved' : 'rejected'} it`);
  return { approval, run: (await store.runs.get(run.id))! };
}

/** The policy the run's gate asks approvals under; null where it asks none (a rollback, unless the environment says so). */
export function policyAt({ config }: Pick<EngineResources, 'config'>, run: Run, stage: Stage): ApprovalPolicy | null {
  const environment = config.environments[stage.environment ?? ''];
  if (!environment?.approval) return null;
  if (run.trigger.kind === 'rollback' && !environment.rollback_approval) return null;
  return environment.approval;
}

export function authorsOf(run: Run): Authors {
  return { runAuthor: PEOPLE_TRIGGERS.has(run.trigger.kind) ? run.trigger.by : null, commitAuthor: run.commitAuthor };
}
