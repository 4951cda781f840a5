// Advances one run one stage at a time, re-entrant after any restart: a stage found running is
// resumed (its step re-attached), every status change goes through state.ts before the next
// action, and a failed or cancelled stage ends the run with every later stage skipped.

import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { describeError } from '../core/errors.ts';
import { afterStage, type RunEvent, type StageEvent } from '../core/transitions.ts';
import { assertNever, isTerminalRun, type Run, type Stage } from '../core/types.ts';
import type { EngineResources, StageContext, StageOutcome } from './resources.ts';
import { StageLog } from './stage-log.ts';
import { build } from './stages/build.ts';
import { checkout } from './stages/checkout.ts';
import { command } from './stages/command.ts';
import { deploy, DeployLocks } from './stages/deploy.ts';
import { transitionRun, transitionStage } from './state.ts';

export class RunDriver {
  private readonly deployLocks = new DeployLocks();

  constructor(private readonly resources: EngineResources) {}

  /** Runs (or resumes) a run's stages in order until one fails or all are done. */
  async drive(runId: number, signal: AbortSignal): Promise<void> {
    const { store, workRoot } = this.resources;
    let run = (await store.runs.get(runId))!;
    if (isTerminalRun(run.status)) return;
    if (run.status === 'pending') run = await transitionRun(this.resources, run, { type: 'start' });
    const workspace = join(workRoot, `run-${run.id}`);
    try {
      for (const stage of await store.stages.listByRun(run.id)) {
        let ended = stage;
        if (stage.status === 'pending' || stage.status === 'running') {
          ended = signal.aborted
            ? await transitionStage(this.resources, run, stage, { type: 'cancel', reason: String(signal.reason) })
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
  async finishRun(run: Run, event: RunEvent, skipReason: string): Promise<void> {
    const { store } = this.resources;
    for (const stage of await store.stages.listByRun(run.id)) {
      if (stage.status === 'pending') await transitionStage(this.resources, run, stage, { type: 'skip', reason: skipReason });
      else if (stage.status === 'running' || stage.status === 'awaiting_approval') {
        await transitionStage(this.resources, run, stage, event.type === 'cancel' ? { type: 'cancel', reason: event.reason } : { type: 'fail', reason: skipReason });
      }
    }
    const current = (await store.runs.get(run.id))!;
    if (!isTerminalRun(current.status)) await transitionRun(this.resources, current, event);
  }

  private async runStage(run: Run, stage: Stage, workspace: string, runSignal: AbortSignal): Promise<Stage> {
    const { store, bus, config, now } = this.resources;
    const resuming = stage.status === 'running';
    const started = resuming ? stage : await transitionStage(this.resources, run, stage, { type: 'start' });
    const secrets = Object.values(config.services[run.service]?.secrets ?? {});
    const log = new StageLog(store, bus, run.id, stage.id, now, { limits: config.logs, secrets });
    const elapsed = resuming && stage.startedAt ? now().getTime() - Date.parse(stage.startedAt) : 0;
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
    return transitionStage(this.resources, run, started, event, { exitCode: outcome.exitCode ?? null }, lastLines);
  }

  private async execute(run: Run, stage: Stage, workspace: string, log: StageLog, signal: AbortSignal, resuming: boolean): Promise<StageOutcome> {
    const service = this.resources.config.services[run.service];
    if (!service) return { status: 'failed', reason: `service ${run.service} is no longer in the configuration` };
    if (resuming && stage.kind !== 'command') {
      return { status: 'failed', reason: `the server stopped while this ${stage.kind} stage ran; it cannot be resumed` };
    }
    const context: StageContext = { run, stage, service, workspace, log, signal, resuming };
    switch (stage.kind) {
      case 'checkout':
        return checkout(this.resources, context);
      case 'command':
        return command(this.resources, context);
      case 'build':
        return build(this.resources, context);
      case 'deploy':
        return deploy(this.resources, this.deployLocks, context);
      default:
        return assertNever(stage.kind, 'stage kind');
    }
  }
}

function formatDuration(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}
