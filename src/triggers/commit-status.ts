// Tells the forge how each run at a commit stands, from the run changes on the bus.
//
// The bus calls its listeners inside the engine, so the listener only records what is wanted;
// every request happens later, off the engine's path, and a forge that is down costs the run
// nothing. Per commit status (forge, repository, sha, context) only the newest wanted state
// matters: one sender per key sends them in order, and a state still waiting for its retry
// when a newer one arrives is dropped for it.

import { describeError } from '../core/errors.ts';
import { assertNever, type Run, type Stage } from '../core/types.ts';
import type { EventBus } from '../events/bus.ts';
import type { CommitState, CommitStatus, StatusReporter } from '../forges/forge.ts';
import type { Store } from '../store/store.ts';

export interface StatusTarget {
  reporter: StatusReporter;
  /** The repository's full name on that forge. */
  repository: string;
}

export interface RetryPolicy {
  /** The wait after the first failed attempt; it doubles after each further one. */
  initialDelayMs: number;
  maxDelayMs: number;
  /** Attempts in all, the first included, before the state is given up. */
  maxAttempts: number;
}

export interface CommitStatusNotifierOptions {
  bus: EventBus;
  /** Where outcomes are recorded and a failed run's stages are read. */
  store: Store;
  /** Null: this run's repository has no reporter, and nothing is reported. */
  targetOf(run: Run): StatusTarget | null;
  /** Slipway's public address; a status links to `${publicUrl}/runs/<id>`. */
  publicUrl: string;
  retry?: Partial<RetryPolicy>;
  log?: (message: string) => void;
}

const DEFAULT_RETRY: RetryPolicy = { initialDelayMs: 1_000, maxDelayMs: 60_000, maxAttempts: 8 };
const JITTER = 0.2;

/** The state and sentence a run shows on the forge. `failedStage`: the stage a failed run failed at, if known. */
export function commitStateOf(run: Run, failedStage: Stage | null): { state: CommitState; description: string } {
  const name = `Run #${run.id}`;
  switch (run.status) {
    case 'pending':
      return { state: 'pending', description: `${name} is queued` };
    case 'running':
      return { state: 'running', description: `${name} is running` };
    case 'succeeded':
      return { state: 'success', description: `${name} succeeded` };
    case 'failed':
      // A commit that cannot be checked out says nothing about the code: no verdict, an error.
      if (failedStage?.kind === 'checkout') return { state: 'error', description: `${name} could not check out the commit` };
      return { state: 'failure', description: failedStage ? `${name} failed at stage ${failedStage.name}` : `${name} failed` };
    case 'cancelled':
      return { state: 'cancelled', description: `${name} was cancelled` };
    default:
      return assertNever(run.status, 'run status');
  }
}

/** The wait before the next attempt after `failedAttempts` failures: doubling, capped, up to 20% shorter at random. */
export function backoffDelay(failedAttempts: number, policy: Pick<RetryPolicy, 'initialDelayMs' | 'maxDelayMs'>, random = Math.random): number {
  const base = Math.min(policy.initialDelayMs * 2 ** (failedAttempts - 1), policy.maxDelayMs);
  return Math.round(base * (1 - JITTER * random()));
}

/** One commit status on one forge, and the newest state wanted for it. */
interface Slot {
  target: StatusTarget;
  /** The newest run change not yet taken by the sender. */
  next: Run | null;
  /** Ends a wait for a retry early: a newer state arrived, or the notifier stops. */
  wake: (() => void) | null;
}

export class CommitStatusNotifier {
  private readonly retry: RetryPolicy;
  private readonly log: (message: string) => void;
  private readonly slots = new Map<string, Slot>();
  private readonly senders = new Set<Promise<void>>();
  private readonly stopping = new AbortController();
  private unsubscribe: (() => void) | null = null;

  constructor(private readonly options: CommitStatusNotifierOptions) {
    this.retry = { ...DEFAULT_RETRY, ...options.retry };
    this.log = options.log ?? (() => {});
  }

  /** Starts listening to run changes. A stopped notifier stays stopped. */
  start(): void {
    if (this.unsubscribe || this.stopping.signal.aborted) return;
    this.unsubscribe = this.options.bus.subscribe(
      (event) => event.type === 'run',
      (event) => {
        if (event.type === 'run') this.want(event.data);
      },
    );
  }

  /** Stops listening, drops what waits for a retry, aborts what is in flight, and resolves when nothing is. */
  async stop(): Promise<void> {
    this.unsubscribe?.();
    this.unsubscribe = null;
    this.stopping.abort();
    for (const slot of this.slots.values()) slot.wake?.();
    await this.idle();
  }

  /** Resolves when no status is queued, waiting for a retry, or in flight. */
  async idle(): Promise<void> {
    while (this.senders.size > 0) await Promise.all(this.senders);
  }

  /** Called inside the engine: records the wish and returns. */
  private want(run: Run): void {
    if (this.stopping.signal.aborted || run.commitSha === '') return;
    let target: StatusTarget | null;
    try {
      target = this.options.targetOf(run);
    } catch (error) {
      this.log(`commit status of run ${run.id}: cannot tell where to report it: ${describeError(error)}`);
      return;
    }
    if (!target) return;
    const key = [target.reporter.forge, target.repository, run.commitSha, contextOf(run)].join('\n');
    const slot = this.slots.get(key);
    if (slot) {
      // The target too: a reporter given new settings takes over from the next attempt.
      slot.target = target;
      slot.next = run;
      slot.wake?.();
      return;
    }
    const created: Slot = { target, next: run, wake: null };
    this.slots.set(key, created);
    const sender = this.send(key, created)
      .catch((error: unknown) => this.log(`commit statuses of ${run.service} at ${run.commitSha.slice(0, 12)}: ${describeError(error)}`))
      .finally(() => this.senders.delete(sender));
    this.senders.add(sender);
  }

  /** The one sender of a slot: sends its newest state until none is left, then retires the slot. */
  private async send(key: string, slot: Slot): Promise<void> {
    try {
      for (let run = slot.next; run && !this.stopping.signal.aborted; run = slot.next) {
        slot.next = null;
        await this.deliver(slot, run, await this.statusOf(slot.target, run));
      }
    } finally {
      this.slots.delete(key);
    }
  }

  /** Attempts one state until the forge takes it, it is superseded, the notifier stops, or attempts run out. */
  private async deliver(slot: Slot, run: Run, status: CommitStatus): Promise<void> {
    for (let attempt = 1; ; attempt += 1) {
      const { reporter } = slot.target;
      try {
        await reporter.report(status, this.stopping.signal);
        await this.record(run, status, reporter, attempt, null);
        return;
      } catch (error) {
        if (this.stopping.signal.aborted || slot.next) return;
        if (attempt >= this.retry.maxAttempts) {
          const message = describeError(error);
          this.log(
            `gave up reporting ${status.state} for ${status.repository}@${status.sha.slice(0, 12)} (${status.context}) to ${reporter.forge} after ${attempt} attempts: ${message}`,
          );
          await this.record(run, status, reporter, attempt, message);
          return;
        }
        await this.pause(slot, backoffDelay(attempt, this.retry));
        if (this.stopping.signal.aborted || slot.next) return;
      }
    }
  }

  private pause(slot: Slot, ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        slot.wake = null;
        resolve();
      }
      slot.wake = done;
    });
  }

  private async statusOf(target: StatusTarget, run: Run): Promise<CommitStatus> {
    const { state, description } = commitStateOf(run, run.status === 'failed' ? await this.failedStageOf(run) : null);
    return {
      repository: target.repository,
      sha: run.commitSha,
      state,
      context: contextOf(run),
      description,
      targetUrl: `${this.options.publicUrl.replace(/\/+$/, '')}/runs/${run.id}`,
    };
  }

  /** Without the stages (the store failing) the status still goes out, saying less. */
  private async failedStageOf(run: Run): Promise<Stage | null> {
    try {
      const stages = await this.options.store.stages.listByRun(run.id);
      return stages.find((stage) => stage.status === 'failed') ?? null;
    } catch (error) {
      this.log(`commit status of run ${run.id}: cannot read its stages: ${describeError(error)}`);
      return null;
    }
  }

  private async record(run: Run, status: CommitStatus, reporter: StatusReporter, attempts: number, error: string | null): Promise<void> {
    try {
      await this.options.store.events.append({
        type: error === null ? 'commit_status.reported' : 'commit_status.failed',
        runId: run.id,
        service: run.service,
        data: {
          forge: reporter.forge,
          repository: status.repository,
          sha: status.sha,
          state: status.state,
          attempts,
          ...(error === null ? {} : { error }),
        },
      });
    } catch (failure) {
      this.log(`commit status of run ${run.id}: cannot record the outcome: ${describeError(failure)}`);
    }
  }
}

function contextOf(run: Run): string {
  return `slipway/${run.service}`;
}

