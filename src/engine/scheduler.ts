// Which stored work may start now: every pending run, oldest first, as its lane's policy
// (concurrency.ts) and the room left allow. Each started run is driven to its end by the
// driver; a run ending makes room, so the scheduler looks again. The pending runs live in the
// store; the scheduler holds only what this process is driving.

import { describeError } from '../core/errors.ts';
import type { Run } from '../core/types.ts';
import { runsToStart } from './concurrency.ts';
import type { RunDriver } from './driver.ts';
import type { EngineResources } from './resources.ts';

interface ActiveRun {
  run: Run;
  controller: AbortController;
  done: Promise<void>;
}

export class Scheduler {
  private readonly active = new Map<number, ActiveRun>();
  /** Runs being cancelled while pending: kept from starting while their stages are skipped. */
  private readonly withheld = new Set<number>();
  private stopping = false;
  /** No run starts before start() (recovery has settled what a previous process left). */
  private started = false;
  private scheduling: Promise<void> | null = null;
  private scheduleAgain = false;

  constructor(
    private readonly resources: EngineResources,
    private readonly driver: RunDriver,
    private readonly maxParallelRuns: number,
  ) {}

  /** Drives the runs a restart found in flight, then starts taking pending runs. */
  start(resumed: Run[]): void {
    for (const run of resumed) {
      this.resources.log(`resuming run ${run.id} (${run.service}) after a restart`);
      this.launch(run);
    }
    this.started = true;
    this.schedule();
  }

  /** Stops taking new runs and waits for the runs in flight to end. */
  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all([...this.active.values()].map((run) => run.done));
  }

  /** Stops a run this process drives and waits for it to end; false when it drives no such run. */
  async abort(runId: number, reason: string): Promise<boolean> {
    const active = this.active.get(runId);
    if (!active) return false;
    active.controller.abort(reason);
    await active.done;
    return true;
  }

  /** Keeps a pending run from starting while `work` runs. */
  async withholding<T>(runId: number, work: () => Promise<T>): Promise<T> {
    this.withheld.add(runId);
    try {
      return await work();
    } finally {
      this.withheld.delete(runId);
    }
  }

  /** Takes pending runs, oldest first, while there is room, as their lanes' policies allow. */
  schedule(): void {
    if (this.stopping || !this.started) return;
    if (this.scheduling) {
      this.scheduleAgain = true;
      return;
    }
    this.scheduling = (async () => {
      do {
        this.scheduleAgain = false;
        // Every pending run, oldest first: a window of the newest would starve the oldest.
        const pending = (await this.resources.store.runs.list({ statuses: ['pending'], order: 'oldest' })).filter(
          (run) => !this.active.has(run.id) && !this.withheld.has(run.id),
        );
        const active = [...this.active.values()].map((entry) => entry.run);
        for (const run of runsToStart(pending, active, this.maxParallelRuns)) {
          if (this.stopping) break;
          this.launch(run);
        }
      } while (this.scheduleAgain && !this.stopping);
    })()
      .catch((error) => this.resources.log(`scheduler: ${describeError(error)}`))
      .finally(() => {
        this.scheduling = null;
      });
  }

  private launch(run: Run): void {
    const controller = new AbortController();
    const done = this.driver
      .drive(run.id, controller.signal)
      .catch((error) => this.resources.log(`run ${run.id}: ${describeError(error)}`))
      .finally(() => {
        this.active.delete(run.id);
        this.schedule();
      });
    this.active.set(run.id, { run, controller, done });
  }
}
