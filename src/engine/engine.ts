// The engine's front door: start, rerun, resume and cancel runs. Every status change is
// computed by core/transitions.ts, written to the store (with its event) before the next action,
// and then published live. The work is split into systems over one resources bundle
// (resources.ts): the scheduler (scheduler.ts) decides which stored runs start, the driver
// (driver.ts) advances each run one stage at a time through one handler per stage kind
// (stages/), and after a restart restart.ts settles what the previous process left, so no
// run stays "running" forever.
//
// The engine reaches the world only through its ports: Store, EventBus, Source, Executor,
// Builder, Deployer.

import { concurrencyFor, type Config } from '../config/model.ts';
import { describeError, SlipwayError } from '../core/errors.ts';
import { pullRequestOfLane } from '../core/previews.ts';
import { err, isTerminalRun, ok, PEOPLE_TRIGGERS, type Release, type Result, type Run, type Stage, type Trigger } from '../core/types.ts';
import { chainFor } from '../delivery/chain.ts';
import type { NewRun } from '../store/store.ts';
import { decide, type DecisionRequest } from './approvals.ts';
import { RunDriver } from './driver.ts';
import { planStages, PULL_REQUEST_PARTIAL, type PlannedStage, type PlanOptions } from './plan.ts';
import type { PlacedInstance, ServiceAddress } from '../deployers/deployer.ts';
import { deployerFor } from './stages/deploy.ts';
import { engineResources, type EngineOptions, type EngineResources } from './resources.ts';
import { settleAfterRestart } from './restart.ts';
import { Scheduler } from './scheduler.ts';
import { endWaitingRun } from './stages/waiting.ts';
import { Waker } from './waker.ts';

export type { EngineOptions } from './resources.ts';

/** A deploy of a release built before: a promotion into an environment, or a rollback in one. */
export interface DeliveryRequest {
  kind: 'promote' | 'rollback';
  release: Release;
  environment: string;
  /** Who asked. */
  actor: string;
  /** Why: a rollback's reason, a forced promotion's. */
  note: string | null;
  /** Past the chain's order, soak and windows (an admin, with a note). */
  forced: boolean;
}

export interface StartRunRequest {
  service: string;
  /** Branch, tag or sha; the service's branch when omitted. */
  ref?: string;
  /**
   * The exact commit, when the caller knows it (a webhook names it): the run builds this
   * commit even if `ref` has moved on since.
   */
  commitSha?: string;
  trigger: Trigger;
  /** A pull request's number: the run is partial (up to the build) in lane "pr/<number>". */
  pullRequest?: number;
  /** A git tag: the run's lane is "tag/<tag>" and its release carries the tag. */
  tag?: string;
  /**
   * Why the run stops after the build and never deploys (a tag no `deploy_tags` pattern names,
   * a push whose commit is no longer its branch's head). Pull request runs always do.
   */
  partial?: string;
  /** Code from a fork: only the command stages run, in containers, without secret variables. */
  untrusted?: boolean;
  variables?: Record<string, string>;
}

const STOP_REASON_CANCELLED = 'cancelled by a user';
const REUSED_PREFIX = 'passed in run #';
/** A stage passed when it succeeded, or when a resumed run reused it from a run where it had. */
const hasPassed = (stage: Stage) => stage.status === 'succeeded' || (stage.status === 'skipped' && !!stage.reason?.startsWith(REUSED_PREFIX));

export class Engine {
  private readonly resources: EngineResources;
  private readonly driver: RunDriver;
  private readonly scheduler: Scheduler;
  /** Brings waiting runs back when their gate may have opened. */
  readonly waker: Waker;

  constructor(options: EngineOptions) {
    this.resources = engineResources(options);
    this.driver = new RunDriver(this.resources);
    this.scheduler = new Scheduler(this.resources, this.driver, options.maxParallelRuns ?? 4);
    this.waker = new Waker(this.resources, () => this.scheduler.schedule(), options.wakeEveryMs);
  }

  get config(): Config {
    return this.resources.config;
  }

  /** Where a service is reached in an environment, whatever release serves there. */
  addressOf(service: string, environment: string): ServiceAddress | null {
    return deployerFor(this.resources, environment)?.address(service, environment) ?? null;
  }

  /**
   * The instances placed in each environment whose target places them (null for one whose target
   * keeps its own, such as a command target), one listing per deployer.
   */
  async placedInstances(): Promise<Map<string, PlacedInstance[] | null>> {
    const environments = Object.keys(this.resources.config.environments);
    const deployers = new Set(environments.map((environment) => deployerFor(this.resources, environment)));
    const listed = new Map(await Promise.all([...deployers].map(async (deployer) => [deployer, deployer?.placesInstances ? await deployer.listInstances() : null] as const)));
    return new Map(environments.map((environment) => [environment, listed.get(deployerFor(this.resources, environment))?.filter((instance) => instance.environment === environment) ?? null]));
  }

  /** Settles what a previous process left in flight, then starts taking pending runs. */
  async start(): Promise<void> {
    this.scheduler.start(await settleAfterRestart(this.resources));
    this.waker.start();
  }

  /** Stops taking new runs and waits for the runs in flight to end; waiting runs stay waiting in the store. */
  stop(): Promise<void> {
    this.waker.stop();
    return this.scheduler.stop();
  }

  /**
   * Resolves the ref, stores the run and its stages as pending, and queues it in its lane.
   * Under `supersede` the lane's older runs are cancelled (without waiting for them to stop).
   */
  async startRun(request: StartRunRequest): Promise<Result<{ run: Run; stages: Stage[] }>> {
    const { config, source } = this.resources;
    const service = config.services[request.service];
    if (!service) {
      const known = Object.keys(config.services).join(', ') || 'none';
      return err(new SlipwayError('SERVICE_NOT_FOUND', `unknown service ${request.service} (known services: ${known})`));
    }
    const ref = request.ref ?? request.tag ?? service.branch;
    const sha = await source.resolve(service.repo, request.commitSha ?? ref);
    if (!sha.ok) return sha;
    const pullRequest = request.pullRequest !== undefined;
    const lane = pullRequest ? `pr/${request.pullRequest}` : request.tag !== undefined ? `tag/${request.tag}` : ref;
    return this.createRun(
      {
        service: request.service,
        ref,
        commitSha: sha.value,
        trigger: request.trigger,
        lane,
        concurrency: concurrencyFor(config, request.service, { pullRequest, branch: ref }),
        partial: pullRequest || request.partial !== undefined,
        untrusted: request.untrusted ?? false,
        tag: request.tag ?? null,
        variables: request.variables ?? {},
        originRunId: null,
      },
      planStages(config, request.service, { partial: pullRequest ? PULL_REQUEST_PARTIAL : request.partial, untrusted: request.untrusted, pullRequest }),
    );
  }

  /**
   * A run that deploys a release built before into one environment, through that environment's
   * gate like any deploy: no checkout, no build. Promotions and rollbacks of one service and
   * environment queue in one lane.
   */
  async startDelivery(request: DeliveryRequest): Promise<Result<{ run: Run; stages: Stage[] }>> {
    const { config, store } = this.resources;
    const { release, environment } = request;
    const link = chainFor(config, release.service).find((candidate) => candidate.environment === environment);
    if (!link) return err(new SlipwayError('RELEASE_NOT_DEPLOYABLE', `service ${release.service} does not deploy to ${environment}`));
    // Planned as the service's runs plan it (its timeout), but never skipped: a promotion is how a scheduled environment is entered.
    const stage = planStages(config, release.service).find((candidate) => candidate.name === link.stage)!;
    const built = await store.runs.get(release.runId);
    return this.createRun(
      {
        service: release.service,
        ref: release.tag ?? release.commitSha,
        commitSha: release.commitSha,
        trigger: { kind: request.kind, by: request.actor },
        lane: `deploy/${environment}`,
        concurrency: 'queue',
        partial: false,
        untrusted: false,
        tag: release.tag,
        variables: {},
        originRunId: null,
        releaseId: release.id,
        commitAuthor: built?.commitAuthor ?? null,
        commitTitle: built?.commitTitle ?? null,
        committedAt: built?.committedAt ?? null,
        forced: request.forced,
        note: request.note,
      },
      [{ ...stage, skipReason: null }],
    );
  }

  /** Approves or rejects the release a run waits with at a gate (approvals.ts); the run is woken to look at its gate again. */
  decide(request: DecisionRequest): ReturnType<typeof decide> {
    return decide(this.resources, this.waker, request);
  }

  /** Runs a finished run again from the start: same commit, lane, variables and tag. */
  async rerun(runId: number, by: string): Promise<Result<{ run: Run; stages: Stage[] }>> {
    const origin = await this.finishedRun(runId);
    if (!origin.ok) return origin;
    const run = origin.value;
    if (!this.resources.config.services[run.service]) return err(this.unknownService(run.service));
    if (run.releaseId !== null) return err(deliveryNotRepeatable(run));
    return this.createRun(
      { ...this.sameWork(run), trigger: { kind: 'rerun', by } },
      planStages(this.resources.config, run.service, repeatedPlan(run)),
    );
  }

  /**
   * Runs a failed or cancelled run again from the stage where it stopped. The checkout runs
   * again (each run has its own workspace); the stages that passed before are skipped with the
   * reason, and their outputs are reused: a deploy takes the image the earlier run built.
   */
  async resume(runId: number, by: string): Promise<Result<{ run: Run; stages: Stage[] }>> {
    const origin = await this.finishedRun(runId);
    if (!origin.ok) return origin;
    const run = origin.value;
    if (run.status === 'succeeded') {
      return err(new SlipwayError('RUN_NOT_RESUMABLE', `run ${runId} succeeded; there is nothing to resume (rerun it instead)`));
    }
    if (!this.resources.config.services[run.service]) return err(this.unknownService(run.service));
    if (run.releaseId !== null) return err(deliveryNotRepeatable(run));
    const before = await this.resources.store.stages.listByRun(run.id);
    const stoppedAt = before.find((stage) => stage.status === 'failed' || stage.status === 'cancelled');
    if (!stoppedAt || stoppedAt.kind === 'checkout') {
      return err(new SlipwayError('RUN_NOT_RESUMABLE', `run ${runId} stopped before any stage passed; rerun it instead`));
    }
    const plan = planStages(this.resources.config, run.service, repeatedPlan(run));
    const resumeAt = plan.findIndex((stage) => stage.name === stoppedAt.name);
    if (resumeAt < 0) {
      return err(new SlipwayError('RUN_NOT_RESUMABLE', `stage ${stoppedAt.name} is no longer in the pipeline; rerun run ${runId} instead`));
    }
    const earlier = new Map(before.map((stage) => [stage.name, stage]));
    const resumed = plan.map((stage, index): PlannedStage => {
      const passed = earlier.get(stage.name);
      if (index === 0 || index >= resumeAt || stage.skipReason || !passed || !hasPassed(passed)) return stage;
      return { ...stage, skipReason: `${REUSED_PREFIX}${run.id}; reused` };
    });
    return this.createRun({ ...this.sameWork(run), trigger: { kind: 'resume', by } }, resumed);
  }

  /** Cancels the lane's runs that have not finished (a deleted branch, a closed pull request). */
  async cancelLane(service: string, lane: string, reason: string): Promise<Run[]> {
    const unfinished = await this.resources.store.runs.list({ service, lane, statuses: ['pending', 'running'] });
    const cancelled: Run[] = [];
    for (const run of unfinished) {
      const result = await this.cancel(run.id, reason);
      if (result.ok) cancelled.push(result.value);
    }
    return cancelled;
  }

  private async finishedRun(runId: number): Promise<Result<Run>> {
    const run = await this.resources.store.runs.get(runId);
    if (!run) return err(new SlipwayError('RUN_NOT_FOUND', `run ${runId} does not exist`));
    if (!isTerminalRun(run.status)) return err(new SlipwayError('RUN_NOT_FINISHED', `run ${runId} is still ${run.status}`));
    return ok(run);
  }

  /** What a rerun or resume keeps of the run it repeats. */
  private sameWork(run: Run): Omit<NewRun, 'trigger'> {
    const { service, ref, commitSha, lane, concurrency, partial, untrusted, tag, variables, releaseId, commitAuthor, commitTitle, committedAt, forced, note } = run;
    return { service, ref, commitSha, lane, concurrency, partial, untrusted, tag, variables, originRunId: run.id, releaseId, commitAuthor, commitTitle, committedAt, forced, note };
  }

  private unknownService(name: string): SlipwayError {
    const known = Object.keys(this.resources.config.services).join(', ') || 'none';
    return new SlipwayError('SERVICE_NOT_FOUND', `unknown service ${name} (known services: ${known})`);
  }

  private async createRun(request: Omit<NewRun, 'createdAt'>, planned: PlannedStage[]): Promise<Result<{ run: Run; stages: Stage[] }>> {
    const { store, bus, builder, noEngineReason, now } = this.resources;
    const plan = planned.map((stage) =>
      builder === null && (stage.kind === 'build' || stage.kind === 'deploy') && !stage.skipReason
        ? { ...stage, skipReason: `no container engine on this machine, so nothing is built or deployed (${noEngineReason})` }
        : stage,
    );
    const created = await store.transaction(async (tx) => {
      const { run, stages } = await tx.runs.create(
        { ...request, createdAt: now().toISOString() },
        plan.map(({ skipReason: _skip, ...stage }, position) => ({ ...stage, position })),
      );
      const finalStages: Stage[] = [];
      for (const [index, stage] of stages.entries()) {
        const skipReason = plan[index]!.skipReason;
        finalStages.push(skipReason ? ((await tx.stages.update(stage.id, { status: 'skipped', reason: skipReason })) ?? stage) : stage);
      }
      await tx.events.append({
        type: 'run.created',
        runId: run.id,
        service: run.service,
        actor: PEOPLE_TRIGGERS.has(run.trigger.kind) ? run.trigger.by : null,
        data: { ref: run.ref, commitSha: run.commitSha, trigger: run.trigger, lane: run.lane, concurrency: run.concurrency, originRunId: run.originRunId },
      });
      return { run, stages: finalStages };
    });
    bus.publish({ type: 'run', data: created.run });
    for (const stage of created.stages) bus.publish({ type: 'stage', data: stage });
    if (created.run.concurrency === 'supersede') this.supersedeOlder(created.run);
    this.scheduler.schedule();
    return ok(created);
  }

  /** Cancels the older unfinished runs of a new run's lane; the new run waits for them to stop. */
  private supersedeOlder(newer: Run): void {
    void (async () => {
      const unfinished = await this.resources.store.runs.list({ service: newer.service, lane: newer.lane, statuses: ['pending', 'running'] });
      for (const older of unfinished) {
        if (older.id < newer.id) await this.cancel(older.id, `superseded by run #${newer.id}`);
      }
    })().catch((error) => this.resources.log(`superseding older runs of ${newer.service} ${newer.lane}: ${describeError(error)}`));
  }

  /**
   * Cancels a pending or running run; resolves once the run has reached `cancelled`. `actor`:
   * the person who asked, written to the event log.
   */
  async cancel(runId: number, reason = STOP_REASON_CANCELLED, actor: string | null = null): Promise<Result<Run>> {
    const { store } = this.resources;
    const run = await store.runs.get(runId);
    if (!run) return err(new SlipwayError('RUN_NOT_FOUND', `run ${runId} does not exist`));
    if (isTerminalRun(run.status)) return err(new SlipwayError('RUN_NOT_CANCELLABLE', `run ${runId} already ${run.status}`));
    if (actor !== null) await store.events.append({ type: 'run.cancel_requested', runId, service: run.service, actor, data: { reason } });
    // A waiting run belongs to no process: it is ended by compare-and-set, unless it was just woken.
    const gate = run.status === 'waiting' ? (await store.stages.listByRun(runId)).find((stage) => stage.status === 'waiting') : undefined;
    if (gate && (await endWaitingRun(this.resources, run, gate, { type: 'cancel', reason }))) return ok((await store.runs.get(runId))!);
    if (!(await this.scheduler.abort(runId, reason))) {
      await this.scheduler.withholding(runId, () => this.driver.finishRun(run, { type: 'cancel', reason }, 'the run was cancelled'));
    }
    return ok((await store.runs.get(runId))!);
  }
}

/** A promotion or rollback is asked for again, through the gate as it is now, not repeated from a run. */
function deliveryNotRepeatable(run: Run): SlipwayError {
  return new SlipwayError('RUN_NOT_RESUMABLE', `run ${run.id} was a ${run.trigger.kind} of release #${run.releaseId}: ask for the ${run.trigger.kind} again instead`);
}

/** How a rerun or resume plans: as the run it repeats did. */
function repeatedPlan(run: Run): PlanOptions {
  const pullRequest = pullRequestOfLane(run.lane) !== null;
  const partial = !run.partial ? null : pullRequest ? PULL_REQUEST_PARTIAL : `like run #${run.id}, this run stops after the build and never deploys`;
  return { partial, untrusted: run.untrusted, pullRequest };
}
