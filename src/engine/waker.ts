// Brings waiting runs back to the scheduler when their gate may have opened: on a timer for
// waits that end by themselves (a soak, a window, an approval's expiry), and at once when
// something changes (an approval, an unlock). Waking is a compare-and-set of the run from
// `waiting` to `pending` in the store, so of many servers one wins; the driver then looks at
// the gate again and either goes on or stores a new wait. The waker holds no state of its own.

import { describeError } from '../core/errors.ts';
import type { Run } from '../core/types.ts';
import type { EngineResources } from './resources.ts';

const DEFAULT_WAKE_EVERY_MS = 5_000;

export class Waker {
  private timer: NodeJS.Timeout | null = null;
  private ticking: Promise<void> | null = null;

  constructor(
    private readonly resources: EngineResources,
    /** Called after runs were woken: the scheduler looks at pending runs. */
    private readonly woken: () => void,
    private readonly everyMs = DEFAULT_WAKE_EVERY_MS,
  ) {}

  start(): void {
    this.timer ??= setInterval(() => void this.tick(), this.everyMs);
    this.timer.unref();
    void this.tick();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Wakes every run whose wait has run out by now; answers how many woke. */
  async tick(): Promise<number> {
    // One tick at a time: a slow store must not stack them up.
    while (this.ticking) await this.ticking;
    let count = 0;
    this.ticking = (async () => {
      const due = await this.resources.store.stages.waiting({ dueBy: this.resources.now().toISOString() });
      for (const { run } of due) if (await this.wakeOne(run, 'its wait ran out')) count++;
    })()
      .catch((error) => this.resources.log(`waker: ${describeError(error)}`))
      .finally(() => {
        this.ticking = null;
      });
    await this.ticking;
    return count;
  }

  /** Wakes one run (an approval was given); false when it was not waiting. */
  async wake(runId: number, why: string): Promise<boolean> {
    const run = await this.resources.store.runs.get(runId);
    return run !== null && (await this.wakeOne(run, why));
  }

  /** Wakes every run waiting at an environment's gate (an unlock), of one service or all. */
  async wakeGate(environment: string, service: string | null, why: string): Promise<number> {
    let count = 0;
    for (const { run } of await this.resources.store.stages.waiting({ environment, service: service ?? undefined })) {
      if (await this.wakeOne(run, why)) count++;
    }
    return count;
  }

  private async wakeOne(run: Run, why: string): Promise<boolean> {
    const { store, bus } = this.resources;
    const woken = await store.transaction(async (tx) => {
      const updated = await tx.runs.updateIf(run.id, ['waiting'], { status: 'pending' });
      if (updated) await tx.events.append({ type: 'run.woken', runId: run.id, service: run.service, data: { why } });
      return updated;
    });
    if (!woken) return false;
    bus.publish({ type: 'run', data: woken });
    this.woken();
    return true;
  }
}
