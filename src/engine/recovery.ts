// What a restarted server keeps, repairs and removes of what a dead one left: pure, so every
// crash point is testable without a container engine. Engine.recover() gathers the facts (the
// store's records, what the deployer and the executor find on their targets), applies the plan,
// and only then takes runs again.
//
// Deploys. The store names what serves each service in each environment (its newest succeeded
// deployment); a deployment still in progress was cut short by the crash. The deployer marks a
// new instance proven once its health check passed, before it retires anything (deployer.ts),
// so each crash point of a deploy is told apart by what the target holds:
//   - before the new instance started, or started and never proven: the deployment failed and
//     the previous release serves on; the new instance (if any) is removed.
//   - proven, whether or not requests had moved or the previous instances were retired yet
//     (its bake cut short too): the health gate passed, so the new release is what serves. The deployment succeeded (its URL is the new instance's),
//     the run's deploy stage is marked succeeded so the run goes on, and the previous instance
//     is removed.
// Per service and environment only the instances of the deployment the store (as repaired) says
// serves are kept, and the proxy is told to send requests to exactly those; every other
// instance of this Slipway instance (one-off tasks too) is removed. When the deployer
// cannot be asked, cut-short deployments are failed as before and nothing is removed.
//
// Steps. A step's container is kept only when a running run will re-attach it: its stage is a
// running command stage whose stored handle is this step, of a service still configured. Any
// other (a finished run's, a stage whose handle was never stored) is cleaned up.
//
// Sandboxes. An integration stage does not survive a restart (its run fails it on resume), so
// every sandbox found at start-up is removed, with the containers and network it holds, except
// those a live preview serves from (the store names them); a preview's generation that was still
// starting is not named, and goes.

import type { Deployment, Run, Stage } from '../core/types.ts';
import type { PlacedInstance } from '../deployers/deployer.ts';
import type { SandboxInfo } from '../sandboxes/sandbox.ts';

export interface ListedStep {
  handle: string;
  runId: number;
  stageId: number;
}

export interface RecoveryFacts {
  /** Deployments the store has in progress: each was cut short by the crash. */
  cutShort: Deployment[];
  /** The store's serving (newest succeeded) deployment of each service and environment. */
  serving: Deployment[];
  /** What the deployer finds on its target; null when it could not be asked. */
  instances: PlacedInstance[] | null;
  /** The runs found running, each with its stages. */
  running: Array<{ run: Run; stages: Stage[] }>;
  /** What the executor finds on its target; null when it could not be asked. */
  steps: ListedStep[] | null;
  /** The integration stages' sandboxes found on the engine; null when it could not be asked. */
  sandboxes: SandboxInfo[] | null;
  /** The sandboxes live previews serve from. */
  heldSandboxes: ReadonlySet<string>;
  /** The services in the configuration: a run of any other fails without re-attaching. */
  services: ReadonlySet<string>;
  /** A service's stable address in an environment, where its target gives one. */
  address: (service: string, environment: string) => string | null;
  /** Whether the environment's target keeps instances to list (a command target does not). */
  tracksInstances: (environment: string) => boolean;
}

export type DeploymentRepair =
  | { deployment: Deployment; status: 'succeeded'; url: string; note: string; stage: { run: Run; stage: Stage } | null }
  | { deployment: Deployment; status: 'failed'; reason: string };

export interface RecoveryPlan {
  deployments: DeploymentRepair[];
  /** Per service and environment, the instances that take its requests from now on. */
  serve: Array<{ service: string; environment: string; instances: string[] }>;
  removeInstances: Array<{ instance: PlacedInstance; why: string }>;
  removeSteps: Array<{ step: ListedStep; why: string }>;
  removeSandboxes: Array<{ sandbox: SandboxInfo; why: string }>;
  /** What the server log should say that no record shows. */
  notes: string[];
}

const STOPPED = 'the server stopped during this deployment';

export function planRecovery(facts: RecoveryFacts): RecoveryPlan {
  const plan: RecoveryPlan = { deployments: [], serve: [], removeInstances: [], removeSteps: [], removeSandboxes: [], notes: [] };
  const keys = new Map<string, { service: string; environment: string }>();
  for (const record of [...facts.cutShort, ...(facts.instances ?? [])]) keys.set(keyOf(record), { service: record.service, environment: record.environment });
  for (const { service, environment } of keys.values()) planDeploys(facts, service, environment, plan);
  planSteps(facts, plan);
  for (const sandbox of facts.sandboxes ?? []) {
    if (facts.heldSandboxes.has(sandbox.id)) continue;
    plan.removeSandboxes.push({ sandbox, why: `the stage of run #${sandbox.runId} that started it cannot go on after a restart` });
  }
  return plan;
}

function planDeploys(facts: RecoveryFacts, service: string, environment: string, plan: RecoveryPlan): void {
  const key = keyOf({ service, environment });
  const serving = facts.serving.find((deployment) => keyOf(deployment) === key) ?? null;
  // Newest first: one deploy per service and environment runs at a time, so there is one,
  // unless an earlier recovery stopped halfway.
  const [latest, ...older] = facts.cutShort.filter((deployment) => keyOf(deployment) === key).sort((a, b) => b.id - a.id);
  for (const deployment of older) plan.deployments.push({ deployment, status: 'failed', reason: STOPPED });
  if (facts.instances === null) {
    if (latest) plan.deployments.push({ deployment: latest, status: 'failed', reason: STOPPED });
    return;
  }
  if (!facts.tracksInstances(environment)) {
    const reason = `${STOPPED}; its target cannot say whether the deploy command finished: deploy release #${latest?.releaseId} again to be sure`;
    if (latest) plan.deployments.push({ deployment: latest, status: 'failed', reason });
    return;
  }
  const instances = facts.instances.filter((instance) => keyOf(instance) === key);
  const winners = latest ? instances.filter((instance) => instance.proven && instance.running && instance.deploymentId === latest.id) : [];
  const keep = winners.length > 0 ? winners : servingInstances(instances, serving);
  const address = facts.address(service, environment) ?? winners[0]?.url ?? '';
  if (latest && winners.length > 0) {
    plan.deployments.push({
      deployment: latest,
      status: 'succeeded',
      url: address,
      note: `${STOPPED}, after release #${latest.releaseId} passed its health check; it serves ${environment} at ${address}`,
      stage: deployStage(facts, latest),
    });
  } else if (latest) {
    const after = keep.length > 0 ? `release #${keep[0]!.releaseId} serves on` : `nothing serves ${environment}`;
    plan.deployments.push({ deployment: latest, status: 'failed', reason: `${STOPPED}, before release #${latest.releaseId} passed its health check; ${after}` });
  }
  if (keep.length > 0) plan.serve.push({ service, environment, instances: keep.map((instance) => instance.instance) });
  for (const instance of instances) {
    if (keep.includes(instance)) continue;
    const why = !instance.proven
      ? 'it never passed its health check (a deploy cut short, or a one-off task)'
      : keep.length > 0 && instance.releaseId === keep[0]!.releaseId
        ? `other instances of release #${keep[0]!.releaseId} serve`
        : `release #${instance.releaseId} no longer serves`;
    plan.removeInstances.push({ instance, why });
  }
  if (serving && winners.length === 0 && keep.length === 0) plan.notes.push(`${service} in ${environment}: release #${serving.releaseId} is recorded as serving, but its instances are gone`);
  for (const instance of keep) if (!instance.running) plan.notes.push(`${service} in ${environment}: release #${instance.releaseId} serves, but its instance ${instance.instance} is not running`);
}

/**
 * The instances of the store's serving deployment: those it placed, running; else running ones
 * of its release (placed before instances named their deployment); else a stopped one (after
 * a host reboot), which is kept rather than lose the release that serves.
 */
function servingInstances(instances: PlacedInstance[], serving: Deployment | null): PlacedInstance[] {
  if (!serving) return [];
  const ofRelease = instances.filter((instance) => instance.proven && instance.releaseId === serving.releaseId);
  const placedByIt = ofRelease.filter((instance) => instance.running && instance.deploymentId === serving.id);
  if (placedByIt.length > 0) return placedByIt;
  const running = ofRelease.filter((instance) => instance.running);
  if (running.length > 0) return running;
  return ofRelease.slice(-1);
}

/** The deploy stage the cut-short deployment was made by, when its run will go on. */
function deployStage(facts: RecoveryFacts, deployment: Deployment): { run: Run; stage: Stage } | null {
  const found = facts.running.find(({ run }) => run.id === deployment.runId);
  const stage = found?.stages.find((candidate) => candidate.kind === 'deploy' && candidate.status === 'running' && candidate.environment === deployment.environment);
  return found && stage ? { run: found.run, stage } : null;
}

function planSteps(facts: RecoveryFacts, plan: RecoveryPlan): void {
  for (const step of facts.steps ?? []) {
    const found = facts.running.find(({ run }) => run.id === step.runId);
    const stage = found?.stages.find((candidate) => candidate.id === step.stageId);
    if (!found) plan.removeSteps.push({ step, why: `run #${step.runId} is no longer running` });
    else if (!facts.services.has(found.run.service)) plan.removeSteps.push({ step, why: `service ${found.run.service} is no longer in the configuration` });
    else if (!stage || stage.kind !== 'command' || stage.status !== 'running' || stage.handle !== step.handle) {
      plan.removeSteps.push({ step, why: `no stage of run #${step.runId} will re-attach it` });
    }
  }
}

function keyOf(record: { service: string; environment: string }): string {
  return `${record.service}\u0000${record.environment}`;
}
