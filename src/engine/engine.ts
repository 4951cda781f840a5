// The durable run state machine. Every status change is computed by core/transitions.ts,
// written to the store (with its event) before the next action, and then published live.
// After a restart, start() finds every run that was in flight: a step still running in a
// container is re-attached by its persisted handle, anything else is failed with a reason,
// so no run stays "running" forever.
//
// The engine reaches the world only through its interfaces: Store, EventBus, Source,
// Executor, Builder, Deployer.

import { mkdirSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join, relative } from 'node:path';
import type { Builder } from '../builders/builder.ts';
import { concurrencyFor, type Config, type Service } from '../config/model.ts';
import { describeError, SlipwayError } from '../core/errors.ts';
import { shellQuote } from '../core/shell.ts';
import { afterStage, nextRunStatus, nextStageStatus, type RunEvent, type StageEvent } from '../core/transitions.ts';
import {
  assertNever,
  err,
  isTerminalRun,
  ok,
  type Release,
  type ReleaseOrigin,
  type Result,
  type Run,
  type Stage,
  type Trigger,
} from '../core/types.ts';
import type { Deployer } from '../deployers/deployer.ts';
import type { EventBus } from '../events/bus.ts';
import type { Executor } from '../executors/executor.ts';
import type { Source } from '../source/source.ts';
import type { NewLogLine, NewRun, Store } from '../store/store.ts';
import { runsToStart } from './concurrency.ts';
import { planStages, PULL_REQUEST_PARTIAL, type PlannedStage } from './plan.ts';
import { StageLog } from './stage-log.ts';

export interface EngineOptions {
  store: Store;
  bus: EventBus;
  config: Config;
  source: Source;
  executor: Executor;
  /** Null when no container engine exists; build stages then fail with `noEngineReason`. */
  builder: Builder | null;
  deployer: Deployer | null;
  noEngineReason?: string;
  /** Folder for per-run workspaces. */
  workRoot: string;
  /** Runs of different services that may run at once (runs of one service always queue). */
  maxParallelRuns?: number;
  now?: () => Date;
  log?: (message: string) => void;
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

/** How a stage ended, before it is written down. */
type StageOutcome =
  | { status: 'succeeded'; exitCode?: number }
  | { status: 'failed'; reason: string; exitCode?: number }
  | { status: 'cancelled'; reason: string; exitCode?: number };

interface ActiveRun {
  run: Run;
  controller: AbortController;
  done: Promise<void>;
}

const STOP_REASON_CANCELLED = 'cancelled by a user';
const REUSED_PREFIX = 'passed in run #';
/** A stage passed when it succeeded, or when a resumed run reused it from a run where it had. */
const hasPassed = (stage: Stage) => stage.status === 'succeeded' || (stage.status === 'skipped' && !!stage.reason?.startsWith(REUSED_PREFIX));
/** A git tag becomes an image tag only when it is a valid one. */
const IMAGE_TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

export class Engine {
  private readonly active = new Map<number, ActiveRun>();
  private readonly deployLocks = new Map<string, Promise<unknown>>();
  private readonly cancelling = new Set<number>();
  private readonly now: () => Date;
  private readonly log: (message: string) => void;
  private readonly maxParallelRuns: number;
  private stopping = false;
  private scheduling: Promise<void> | null = null;
  private scheduleAgain = false;

  constructor(private readonly options: EngineOptions) {
    this.now = options.now ?? (() => new Date());
    this.log = options.log ?? (() => {});
    this.maxParallelRuns = options.maxParallelRuns ?? 4;
    mkdirSync(options.workRoot, { recursive: true });
  }

  get config(): Config {
    return this.options.config;
  }

  /** Recovers runs left in flight by a previous process, then starts taking pending runs. */
  async start(): Promise<void> {
    await this.recover();
    this.schedule();
  }

  /** Stops taking new runs and waits for the runs in flight to end. */
  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all([...this.active.values()].map((run) => run.done));
  }

  /**
   * Resolves the ref, stores the run and its stages as pending, and queues it in its lane.
   * Under `supersede` the lane's older runs are cancelled (without waiting for them to stop).
   */
  async startRun(request: StartRunRequest): Promise<Result<{ run: Run; stages: Stage[] }>> {
    const { config, source } = this.options;
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
      planStages(config, request.service, { partial: pullRequest ? PULL_REQUEST_PARTIAL : request.partial, untrusted: request.untrusted }),
    );
  }

  /** Runs a finished run again from the start: same commit, lane, variables and tag. */
  async rerun(runId: number, by: string): Promise<Result<{ run: Run; stages: Stage[] }>> {
    const origin = await this.finishedRun(runId);
    if (!origin.ok) return origin;
    const run = origin.value;
    if (!this.options.config.services[run.service]) return err(this.unknownService(run.service));
    return this.createRun(
      { ...this.sameWork(run), trigger: { kind: 'rerun', by } },
      planStages(this.options.config, run.service, repeatedPlan(run)),
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
    if (!this.options.config.services[run.service]) return err(this.unknownService(run.service));
    const before = await this.options.store.stages.listByRun(run.id);
    const stoppedAt = before.find((stage) => stage.status === 'failed' || stage.status === 'cancelled');
    if (!stoppedAt || stoppedAt.kind === 'checkout') {
      return err(new SlipwayError('RUN_NOT_RESUMABLE', `run ${runId} stopped before any stage passed; rerun it instead`));
    }
    const plan = planStages(this.options.config, run.service, repeatedPlan(run));
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
    const unfinished = await this.options.store.runs.list({ service, lane, statuses: ['pending', 'running'] });
    const cancelled: Run[] = [];
    for (const run of unfinished) {
      const result = await this.cancel(run.id, reason);
      if (result.ok) cancelled.push(result.value);
    }
    return cancelled;
  }

  private async finishedRun(runId: number): Promise<Result<Run>> {
    const run = await this.options.store.runs.get(runId);
    if (!run) return err(new SlipwayError('RUN_NOT_FOUND', `run ${runId} does not exist`));
    if (!isTerminalRun(run.status)) return err(new SlipwayError('RUN_NOT_FINISHED', `run ${runId} is still ${run.status}`));
    return ok(run);
  }

  /** What a rerun or resume keeps of the run it repeats. */
  private sameWork(run: Run): Omit<NewRun, 'trigger'> {
    const { service, ref, commitSha, lane, concurrency, partial, untrusted, tag, variables } = run;
    return { service, ref, commitSha, lane, concurrency, partial, untrusted, tag, variables, originRunId: run.id };
  }

  private unknownService(name: string): SlipwayError {
    const known = Object.keys(this.options.config.services).join(', ') || 'none';
    return new SlipwayError('SERVICE_NOT_FOUND', `unknown service ${name} (known services: ${known})`);
  }

  private async createRun(request: Omit<NewRun, 'createdAt'>, planned: PlannedStage[]): Promise<Result<{ run: Run; stages: Stage[] }>> {
    const { store, bus } = this.options;
    const plan = planned.map((stage) =>
      this.options.builder === null && (stage.kind === 'build' || stage.kind === 'deploy') && !stage.skipReason
        ? { ...stage, skipReason: `no container engine on this machine, so nothing is built or deployed (${this.options.noEngineReason ?? 'none found'})` }
        : stage,
    );
    const created = await store.transaction(async (tx) => {
      const { run, stages } = await tx.runs.create(
        { ...request, createdAt: this.now().toISOString() },
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
        data: { ref: run.ref, commitSha: run.commitSha, trigger: run.trigger, lane: run.lane, concurrency: run.concurrency, originRunId: run.originRunId },
      });
      return { run, stages: finalStages };
    });
    bus.publish({ type: 'run', data: created.run });
    for (const stage of created.stages) bus.publish({ type: 'stage', data: stage });
    if (created.run.concurrency === 'supersede') this.supersedeOlder(created.run);
    this.schedule();
    return ok(created);
  }

  /** Cancels the older unfinished runs of a new run's lane; the new run waits for them to stop. */
  private supersedeOlder(newer: Run): void {
    void (async () => {
      const unfinished = await this.options.store.runs.list({ service: newer.service, lane: newer.lane, statuses: ['pending', 'running'] });
      for (const older of unfinished) {
        if (older.id < newer.id) await this.cancel(older.id, `superseded by run #${newer.id}`);
      }
    })().catch((error) => this.log(`superseding older runs of ${newer.service} ${newer.lane}: ${describeError(error)}`));
  }

  /** Cancels a pending or running run; resolves once the run has reached `cancelled`. */
  async cancel(runId: number, reason = STOP_REASON_CANCELLED): Promise<Result<Run>> {
    const { store } = this.options;
    const run = await store.runs.get(runId);
    if (!run) return err(new SlipwayError('RUN_NOT_FOUND', `run ${runId} does not exist`));
    if (isTerminalRun(run.status)) return err(new SlipwayError('RUN_NOT_CANCELLABLE', `run ${runId} already ${run.status}`));
    const active = this.active.get(runId);
    if (active) {
      active.controller.abort(reason);
      await active.done;
    } else {
      // Kept from the scheduler while its stages are skipped one by one, so it cannot start meanwhile.
      this.cancelling.add(runId);
      try {
        await this.finishRun(run, { type: 'cancel', reason }, 'the run was cancelled');
      } finally {
        this.cancelling.delete(runId);
      }
    }
    return ok((await store.runs.get(runId))!);
  }

  /** Takes pending runs, oldest first, while there is room, as their lanes' policies allow. */
  private schedule(): void {
    if (this.stopping) return;
    if (this.scheduling) {
      this.scheduleAgain = true;
      return;
    }
    this.scheduling = (async () => {
      do {
        this.scheduleAgain = false;
        const pending = (await this.options.store.runs.list({ statuses: ['pending'], limit: 1000 }))
          .reverse()
          .filter((run) => !this.active.has(run.id) && !this.cancelling.has(run.id));
        const active = [...this.active.values()].map((entry) => entry.run);
        for (const run of runsToStart(pending, active, this.maxParallelRuns)) {
          if (this.stopping) break;
          this.launch(run);
        }
      } while (this.scheduleAgain && !this.stopping);
    })()
      .catch((error) => this.log(`scheduler: ${describeError(error)}`))
      .finally(() => {
        this.scheduling = null;
      });
  }

  private launch(run: Run): void {
    const controller = new AbortController();
    const done = this.drive(run.id, controller.signal)
      .catch((error) => this.log(`run ${run.id}: ${describeError(error)}`))
      .finally(() => {
        this.active.delete(run.id);
        this.schedule();
      });
    this.active.set(run.id, { run, controller, done });
  }

  /** Runs (or resumes) a run's stages in order until one fails or all are done. */
  private async drive(runId: number, signal: AbortSignal): Promise<void> {
    const { store } = this.options;
    let run = (await store.runs.get(runId))!;
    if (isTerminalRun(run.status)) return;
    if (run.status === 'pending') run = await this.transitionRun(run, { type: 'start' });
    const workspace = join(this.options.workRoot, `run-${run.id}`);
    try {
      for (const stage of await store.stages.listByRun(run.id)) {
        let ended = stage;
        if (stage.status === 'pending' || stage.status === 'running') {
          ended = signal.aborted
            ? await this.transitionStage(run, stage, { type: 'cancel', reason: String(signal.reason) })
            : await this.runStage(run, stage, workspace, signal);
        }
        const after = afterStage(ended.status, ended.name, ended.reason);
        if (after.next === 'finish') {
          await this.finishRun(run, after.run, after.run.type === 'cancel' ? 'the run was cancelled' : `stage ${ended.name} failed`);
          return;
        }
      }
      await this.finishRun(run, { type: 'succeed' }, '');
    } finally {
      await rm(workspace, { recursive: true, force: true });
    }
  }

  /** Ends the run and skips every stage that has not run. */
  private async finishRun(run: Run, event: RunEvent, skipReason: string): Promise<void> {
    const { store } = this.options;
    for (const stage of await store.stages.listByRun(run.id)) {
      if (stage.status === 'pending') await this.transitionStage(run, stage, { type: 'skip', reason: skipReason });
      else if (stage.status === 'running' || stage.status === 'awaiting_approval') {
        await this.transitionStage(run, stage, event.type === 'cancel' ? { type: 'cancel', reason: event.reason } : { type: 'fail', reason: skipReason });
      }
    }
    const current = (await store.runs.get(run.id))!;
    if (!isTerminalRun(current.status)) await this.transitionRun(current, event);
  }

  private async runStage(run: Run, stage: Stage, workspace: string, runSignal: AbortSignal): Promise<Stage> {
    const { store, bus } = this.options;
    const resuming = stage.status === 'running';
    const started = resuming ? stage : await this.transitionStage(run, stage, { type: 'start' });
    const log = new StageLog(store, bus, run.id, stage.id, this.now);
    const elapsed = resuming && stage.startedAt ? this.now().getTime() - Date.parse(stage.startedAt) : 0;
    const timeout = AbortSignal.timeout(Math.max(1, started.timeoutMs - elapsed));
    const signal = AbortSignal.any([runSignal, timeout]);
    let outcome: StageOutcome;
    try {
      outcome = await this.execute(run, started, workspace, log, signal, resuming);
    } catch (error) {
      outcome = { status: 'failed', reason: describeError(error) };
    }
    if (timeout.aborted && !runSignal.aborted && outcome.status !== 'succeeded') {
      outcome = { status: 'failed', reason: `timed out after ${formatDuration(started.timeoutMs)}`, exitCode: outcome.exitCode };
    } else if (runSignal.aborted && outcome.status !== 'succeeded') {
      outcome = { status: 'cancelled', reason: String(runSignal.reason), exitCode: outcome.exitCode };
    }
    if (outcome.status !== 'succeeded') log.system(outcome.reason);
    const lastLines = await log.drain();
    const event: StageEvent =
      outcome.status === 'succeeded' ? { type: 'succeed' } : outcome.status === 'failed' ? { type: 'fail', reason: outcome.reason } : { type: 'cancel', reason: outcome.reason };
    return this.transitionStage(run, started, event, { exitCode: outcome.exitCode ?? null }, lastLines);
  }

  private async execute(run: Run, stage: Stage, workspace: string, log: StageLog, signal: AbortSignal, resuming: boolean): Promise<StageOutcome> {
    const service = this.options.config.services[run.service];
    if (!service) return { status: 'failed', reason: `service ${run.service} is no longer in the configuration` };
    if (resuming && stage.kind !== 'command') {
      return { status: 'failed', reason: `the server stopped while this ${stage.kind} stage ran; it cannot be resumed` };
    }
    switch (stage.kind) {
      case 'checkout':
        return this.checkout(run, service, workspace, log);
      case 'command':
        return this.command(run, stage, service, workspace, log, signal, resuming);
      case 'build':
        return this.build(run, service, workspace, log, signal);
      case 'deploy':
        return this.deploy(run, stage, service, log, signal);
      default:
        return assertNever(stage.kind, 'stage kind');
    }
  }

  private async checkout(run: Run, service: Service, workspace: string, log: StageLog): Promise<StageOutcome> {
    await rm(workspace, { recursive: true, force: true });
    log.system(`Checking out ${run.commitSha.slice(0, 12)} (${run.ref}) from ${service.repo}`);
    const result = await this.options.source.checkout(service.repo, run.commitSha, workspace);
    if (!result.ok) return { status: 'failed', reason: result.error.message };
    log.system(`Checked out ${run.commitSha}`);
    return { status: 'succeeded' };
  }

  private async command(
    run: Run,
    stage: Stage,
    service: Service,
    workspace: string,
    log: StageLog,
    signal: AbortSignal,
    resuming: boolean,
  ): Promise<StageOutcome> {
    const { executor, store } = this.options;
    let handle: string | null;
    let skip = { stdout: 0, stderr: 0 };
    if (resuming) {
      handle = stage.handle ? await executor.reattach(stage.handle) : null;
      if (!handle) {
        return { status: 'failed', reason: 'the server stopped while this stage ran, and its step could not be found again' };
      }
      skip = { stdout: await store.logs.count(stage.id, 'stdout'), stderr: await store.logs.count(stage.id, 'stderr') };
      log.system('Re-attached to the running step after a server restart');
    } else {
      if (executor.usesImages && !service.toolchain) {
        return { status: 'failed', reason: `service ${run.service} sets no toolchain image to run "${stage.command}" in` };
      }
      log.system(`$ ${stage.command}`);
      const command = service.path === '.' ? stage.command! : `cd ${shellQuote(service.path)} && ${stage.command!}`;
      handle = await executor.start({
        runId: run.id,
        stageId: stage.id,
        name: stage.name,
        command,
        image: service.toolchain ?? null,
        workspace,
        env: this.stepEnv(run, service),
      });
      if (executor.canReattach) await store.stages.update(stage.id, { handle });
    }
    const stepHandle = handle;
    const stop = () => void executor.stop(stepHandle).catch(() => {});
    signal.addEventListener('abort', stop, { once: true });
    if (signal.aborted) stop();
    try {
      const output = (async () => {
        for await (const line of executor.logs(stepHandle, skip)) log.line(line.stream, line.text);
      })();
      const exitCode = await executor.wait(stepHandle);
      await output;
      return exitCode === 0 ? { status: 'succeeded', exitCode } : { status: 'failed', reason: `command exited with code ${exitCode}`, exitCode };
    } finally {
      signal.removeEventListener('abort', stop);
      await executor.cleanup(stepHandle).catch((error) => this.log(`cleanup of ${stepHandle}: ${describeError(error)}`));
    }
  }

  private stepEnv(run: Run, service: Service): Record<string, string> {
    return {
      ...service.variables,
      ...run.variables,
      CI: 'true',
      SLIPWAY: 'true',
      SLIPWAY_RUN_ID: String(run.id),
      SLIPWAY_SERVICE: run.service,
      SLIPWAY_COMMIT_SHA: run.commitSha,
      SLIPWAY_REF: run.ref,
    };
  }

  private async build(run: Run, service: Service, workspace: string, log: StageLog, signal: AbortSignal): Promise<StageOutcome> {
    const { builder, config, store, bus } = this.options;
    if (!builder) return { status: 'failed', reason: `cannot build an image: ${this.options.noEngineReason ?? 'no container engine'}` };
    if (!config.registry) return { status: 'failed', reason: 'cannot build an image: the configuration names no registry' };
    const serviceDir = join(workspace, service.path);
    const contextDir = join(serviceDir, service.context);
    const repository = `${config.registry}/${run.service}`;
    const built = await builder.build(
      {
        contextDir,
        dockerfile: relative(contextDir, join(serviceDir, service.dockerfile)),
        repository,
        tag: run.commitSha,
        aliases: run.tag !== null && IMAGE_TAG.test(run.tag) ? [run.tag] : [],
        labels: { 'slipway.service': run.service, 'slipway.commit': run.commitSha, 'slipway.run': String(run.id) },
      },
      (line, stream) => log.line(stream ?? 'stdout', line),
      signal,
    );
    if (!built.ok) return { status: 'failed', reason: built.error };
    const release = await store.transaction(async (tx) => {
      const created = await tx.releases.create({
        service: run.service,
        commitSha: run.commitSha,
        image: built.value.image,
        digest: built.value.digest,
        tag: run.tag,
        origin: releaseOrigin(run),
        lane: run.lane,
        runId: run.id,
      });
      await tx.events.append({ type: 'release.created', runId: run.id, service: run.service, data: { releaseId: created.id, digest: created.digest } });
      return created;
    });
    bus.publish({ type: 'release', data: release });
    log.system(`Pushed ${built.value.image} as release #${release.id} (${built.value.digest})`);
    return { status: 'succeeded' };
  }

  private async deploy(run: Run, stage: Stage, service: Service, log: StageLog, signal: AbortSignal): Promise<StageOutcome> {
    const { deployer, config } = this.options;
    const environmentName = stage.environment!;
    const environment = config.environments[environmentName];
    if (!environment) return { status: 'failed', reason: `environment ${environmentName} is no longer in the configuration` };
    if (!deployer) return { status: 'failed', reason: `cannot deploy: ${this.options.noEngineReason ?? 'no container engine'}` };
    if (service.port === undefined) return { status: 'failed', reason: `service ${run.service} sets no port to deploy with` };
    const release = await this.releaseOf(run);
    if (!release) return { status: 'failed', reason: 'nothing to deploy: no image was built earlier in this run' };
    const port = service.port;
    return this.exclusiveDeploy(`${run.service}/${environmentName}`, () =>
      this.placeRelease(run, release, environmentName, { port, health: service.health, variables: service.variables }, environment, log, signal),
    );
  }

  private async placeRelease(
    run: Run,
    release: Release,
    environmentName: string,
    service: { port: number; health: string; variables: Record<string, string> },
    environment: Config['environments'][string],
    log: StageLog,
    signal: AbortSignal,
  ): Promise<StageOutcome> {
    const { deployer, store, bus } = this.options;
    const serving = await store.deployments.current(run.service, environmentName);
    let deployment = await store.transaction(async (tx) => {
      const created = await tx.deployments.create({
        service: run.service,
        environment: environmentName,
        releaseId: release.id,
        runId: run.id,
        previousReleaseId: serving?.releaseId ?? null,
        startedAt: this.now().toISOString(),
      });
      await tx.events.append({ type: 'deployment.in_progress', runId: run.id, service: run.service, data: { deploymentId: created.id, releaseId: release.id, environment: environmentName } });
      return created;
    });
    bus.publish({ type: 'deployment', data: deployment });
    log.system(`Deploying release #${release.id} (${release.digest.slice(0, 19)}) to ${environmentName}`);
    const outcome = await deployer!.deploy(
      {
        release,
        service: { name: run.service, ...service },
        environment: { name: environmentName, healthTimeoutMs: environment.health_timeout, variables: environment.variables },
      },
      (line, stream) => log.line(stream ?? 'stdout', line),
      signal,
    );
    const patch = outcome.trafficMoved
      ? { status: 'succeeded' as const, url: outcome.url, finishedAt: this.now().toISOString() }
      : { status: 'failed' as const, reason: outcome.reason, finishedAt: this.now().toISOString() };
    deployment = await store.transaction(async (tx) => {
      const updated = (await tx.deployments.update(deployment.id, patch))!;
      await tx.events.append({ type: `deployment.${updated.status}`, runId: run.id, service: run.service, data: { deploymentId: updated.id, url: updated.url, reason: updated.reason } });
      return updated;
    });
    bus.publish({ type: 'deployment', data: deployment });
    if (!outcome.trafficMoved) return { status: 'failed', reason: outcome.reason };
    log.system(`Release #${release.id} serves ${environmentName} at ${outcome.url}`);
    return { status: 'succeeded' };
  }

  /** The release this run built, or for a resumed run the one the run it resumes built. */
  private async releaseOf(run: Run): Promise<Release | null> {
    for (let current: Run | null = run; current; ) {
      const [built] = await this.options.store.releases.list({ runId: current.id, limit: 1 });
      if (built) return built;
      current = current.trigger.kind === 'resume' && current.originRunId !== null ? await this.options.store.runs.get(current.originRunId) : null;
    }
    return null;
  }

  /** Never two deploys of one service to one environment at once. */
  private exclusiveDeploy<T>(key: string, work: () => Promise<T>): Promise<T> {
    const previous = this.deployLocks.get(key) ?? Promise.resolve();
    const next = previous.then(work, work);
    this.deployLocks.set(key, next.catch(() => undefined));
    return next;
  }

  /**
   * Runs found "running" belong to a process that died. Their steps are re-attached when
   * still alive (drive() resumes them); deployments cut short are marked failed.
   */
  private async recover(): Promise<void> {
    const { store, bus } = this.options;
    for (const deployment of await store.deployments.list({ statuses: ['in_progress'] })) {
      const updated = await store.deployments.update(deployment.id, {
        status: 'failed',
        reason: 'the server stopped during this deployment',
        finishedAt: this.now().toISOString(),
      });
      if (updated) bus.publish({ type: 'deployment', data: updated });
    }
    const inFlight = await store.runs.list({ statuses: ['running'], limit: 10_000 });
    for (const run of inFlight.reverse()) {
      this.log(`resuming run ${run.id} (${run.service}) after a restart`);
      this.launch(run);
    }
  }

  private async transitionRun(run: Run, event: RunEvent): Promise<Run> {
    const next = nextRunStatus(run.status, event);
    if (!next.ok) throw new Error(`run ${run.id}: ${next.error}`);
    const at = this.now().toISOString();
    const reason = event.type === 'fail' || event.type === 'cancel' ? event.reason : null;
    const updated = await this.options.store.transaction(async (tx) => {
      const stored = await tx.runs.update(run.id, {
        status: next.status,
        reason,
        ...(next.status === 'running' ? { startedAt: at } : { finishedAt: at }),
      });
      await tx.events.append({ type: `run.${next.status}`, runId: run.id, service: run.service, data: { reason } });
      return stored!;
    });
    this.options.bus.publish({ type: 'run', data: updated });
    return updated;
  }

  /** `lines`: log lines stored in the same transaction, published before the stage's change. */
  private async transitionStage(
    run: Run,
    stage: Stage,
    event: StageEvent,
    extra: { exitCode?: number | null } = {},
    lines: NewLogLine[] = [],
  ): Promise<Stage> {
    const next = nextStageStatus(stage.status, event);
    if (!next.ok) throw new Error(`stage ${stage.name} of run ${run.id}: ${next.error}`);
    const at = this.now().toISOString();
    const reason = 'reason' in event ? event.reason : null;
    const { updated, storedLines } = await this.options.store.transaction(async (tx) => {
      const storedLines = lines.length > 0 ? await tx.logs.append(lines) : [];
      const stored = await tx.stages.update(stage.id, {
        status: next.status,
        reason,
        ...extra,
        ...(next.status === 'running' ? { startedAt: at } : next.status === 'awaiting_approval' ? {} : { finishedAt: at }),
      });
      await tx.events.append({ type: `stage.${next.status}`, runId: run.id, service: run.service, data: { stageId: stage.id, name: stage.name, reason } });
      return { updated: stored!, storedLines };
    });
    for (const line of storedLines) this.options.bus.publish({ type: 'log', data: line });
    this.options.bus.publish({ type: 'stage', data: updated });
    return updated;
  }
}

/** How a rerun or resume plans: as the run it repeats did. */
function repeatedPlan(run: Run): { partial: string | null; untrusted: boolean } {
  const partial = !run.partial ? null : run.lane.startsWith('pr/') ? PULL_REQUEST_PARTIAL : `like run #${run.id}, this run stops after the build and never deploys`;
  return { partial, untrusted: run.untrusted };
}

/** A pull request's lane is "pr/<n>"; a tag's run carries its tag. */
function releaseOrigin(run: Run): ReleaseOrigin {
  if (run.lane.startsWith('pr/')) return 'pull_request';
  return run.tag !== null ? 'tag' : 'branch';
}

function formatDuration(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}
