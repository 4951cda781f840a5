// Advances one run one stage at a time, re-entrant after any restart: a stage found running is
// resumed (its step re-attached), every status change goes through state.ts before the next
// action, and a failed or cancelled stage ends the run with every later stage skipped. A deploy
// stage first passes its environment's gate (stages/gate.ts): when the gate holds the release,
// the run is stored as waiting and let go; the waker brings it back here when the gate may
// have opened, and the driver looks at the gate again.

import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { formatDuration } from '../core/durations.ts';
import { describeError } from '../core/errors.ts';
import { afterStage, type RunEvent, type StageEvent } from '../core/transitions.ts';
import { assertNever, isTerminalRun, type Release, type Run, type Stage } from '../core/types.ts';
import type { EngineResources, StageContext, StageOutcome } from './resources.ts';
import { StageLog } from './stage-log.ts';
import { build } from './stages/build.ts';
import { checkout } from './stages/checkout.ts';
import { command } from './stages/command.ts';
import { integration } from './stages/integration.ts';
import { preview } from './stages/preview.ts';
import { deploy, DeployLocks } from './stages/deploy.ts';
import { holdAtGate, lookAtGate } from './stages/gate.ts';
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
        if (stage.status === 'pending' || stage.status === 'running' || stage.status === 'waiting') {
          if (signal.aborted) {
            ended = await transitionStage(this.resources, run, stage, { type: 'cancel', reason: String(signal.reason) });
          } else if (stage.kind === 'deploy' && stage.status !== 'running') {
            const passed = await this.passGate(run, stage);
            if (passed === 'waiting') return;
            if (passed === 'ended') return;
            ended = passed.release ? await this.runStage(run, stage, workspace, signal, passed.release) : passed.stage;
          } else {
            ended = await this.runStage(run, stage, workspace, signal, null);
          }
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
      else if (stage.status === 'running' || stage.status === 'waiting') {
        await transitionStage(this.resources, run, stage, event.type === 'cancel' ? { type: 'cancel', reason: event.reason } : { type: 'fail', reason: skipReason });
      }
    }
    const current = (await store.runs.get(run.id))!;
    if (!isTerminalRun(current.status)) await transitionRun(this.resources, current, event);
  }

  /**
   * Looks at the gate of a deploy stage: the release it lets through, or the stage failed there;
   * 'waiting' when the run now waits (and is let go), 'ended' when the gate ended the run
   * (rejected, expired).
   */
  private async passGate(run: Run, stage: Stage): Promise<{ release: Release; stage: Stage } | { release: null; stage: Stage } | 'waiting' | 'ended'> {
    const gate = await lookAtGate(this.resources, run, stage);
    if (!gate.release) return { release: null, stage: await transitionStage(this.resources, run, stage, { type: 'fail', reason: gate.reason }) };
    const { decision } = gate;
    switch (decision.verdict) {
      case 'open':
        return { release: gate.release, stage };
      case 'wait':
        await holdAtGate(this.resources, run, stage, gate.release, decision.wait);
        return 'waiting';
      case 'fail':
        return { release: null, stage: await transitionStage(this.resources, run, stage, { type: 'fail', reason: decision.reason }) };
      case 'reject':
      case 'expire': {
        const ended = await transitionStage(this.resources, run, stage, { type: 'fail', reason: decision.reason });
        await this.finishRun(run, { type: decision.verdict, reason: `stage ${ended.name}: ${decision.reason}` }, `the release was ${decision.verdict === 'reject' ? 'rejected' : 'not approved in time'}`);
        return 'ended';
      }
      default:
        return assertNever(decision, 'gate decision');
    }
  }

  private async runStage(run: Run, stage: Stage, workspace: string, runSignal: AbortSignal, release: Release | null): Promise<Stage> {
    const { store, bus, config, now, secrets: secretValues } = this.resources;
    const resuming = stage.status === 'running';
    let environmentSecrets: Record<string, string> = {};
    if (stage.environment !== null && !run.untrusted) {
      const values = await secretValues.valuesFor(run.service, stage.environment);
      // Before anything runs: a stage may fail from pending, waiting or running alike.
      if (!values.ok) return transitionStage(this.resources, run, stage, { type: 'fail', reason: values.error.message });
      environmentSecrets = values.value;
    }
    const started = resuming ? stage : await transitionStage(this.resources, run, stage, { type: 'start' });
    const secrets = [...Object.values(config.services[run.service]?.secrets ?? {}), ...Object.values(environmentSecrets)];
    const log = new StageLog(store, bus, run.id, stage.id, now, { limits: config.logs, secrets });
    const elapsed = resuming && stage.startedAt ? now().getTime() - Date.parse(stage.startedAt) : 0;
    const timeout = AbortSignal.timeout(Math.max(1, started.timeoutMs - elapsed));
    const signal = AbortSignal.any([runSignal, timeout]);
    let outcome: StageOutcome;
    try {
      outcome = await this.execute(run, started, { workspace, log, signal, resuming, environmentSecrets, release });
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

  private async execute(run: Run, stage: Stage, parts: Omit<StageContext, 'run' | 'stage' | 'service'>): Promise<StageOutcome> {
    const service = this.resources.config.services[run.service];
    if (!service) return { status: 'failed', reason: `service ${run.service} is no longer in the configuration` };
    if (parts.resuming && stage.kind !== 'command') {
      return { status: 'failed', reason: `the server stopped while this ${stage.kind} stage ran; it cannot be resumed` };
    }
    const context: StageContext = { run, stage, service, ...parts };
    if ((stage.kind === 'command' || stage.kind === 'integration') && !parts.resuming && !existsSync(parts.workspace)) {
      // The run waited at a gate, and its workspace went with the wait: the commit again.
      const again = await checkout(this.resources, context);
      if (again.status !== 'succeeded') return again;
    }
    switch (stage.kind) {
      case 'checkout':
        return checkout(this.resources, context);
      case 'command':
        return command(this.resources, context);
      case 'build':
        return build(this.resources, context);
      case 'integration':
        return integration(this.resources, context);
      case 'preview':
        return preview(this.resources, context);
      case 'deploy':
        return deploy(this.resources, this.deployLocks, context);
      default:
        return assertNever(stage.kind, 'stage kind');
    }
  }
}

