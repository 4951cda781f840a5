// Cron triggers: each schedule starts one run per service at every tick of its cron expression,
// read in its own time zone. The last tick acted on is kept durably, so a restart can tell
// whether ticks were missed while the server was down and run them once, not once per tick.

import { Cron } from 'croner';
import { describeError } from '../core/errors.ts';
import type { CursorRepository } from '../store/store.ts';

export interface ScheduleSpec {
  /** Unique; service-level schedules are named "<service>/<name>". */
  name: string;
  /** 5 or 6 fields (the 6th, leading, is seconds) or a nickname such as @weekly, in croner syntax. */
  cron: string;
  /** IANA name, e.g. "Europe/Berlin"; the cron expression is read as wall-clock time there. */
  timezone: string;
  /** Who runs when it fires. */
  services: string[];
  /** Null: each service's own branch. */
  ref: string | null;
  variables: Record<string, string>;
}

export interface ScheduledRunRequest {
  service: string;
  /** Omitted: the service's own branch. */
  ref?: string;
  variables: Record<string, string>;
  trigger: { kind: 'schedule'; by: string };
}

export interface ScheduleRunnerOptions {
  schedules: ScheduleSpec[];
  cursors: CursorRepository;
  /** Structurally the engine's Result, so the engine's startRun fits behind a thin adapter. */
  startRun(request: ScheduledRunRequest): Promise<{ ok: true } | { ok: false; error: { message: string } }>;
  /** Decides what was missed at start-up and what describe() reports; live ticks follow the real clock. */
  now?: () => Date;
  log?: (message: string) => void;
}

export interface ScheduleDescription {
  name: string;
  cron: string;
  /** IANA time zone the cron expression is read in. */
  timezone: string;
  services: string[];
  nextAt: string | null;
  lastAt: string | null;
}

/** Counting missed ticks is only for the log line; an every-second schedule down for a week must not make start-up slow. */
const MISSED_TICKS_COUNT_LIMIT = 1000;

/**
 * Null when the schedule is usable, else one sentence saying what is wrong with it. The config
 * loader calls this, so a schedule that reaches the ScheduleRunner is known to be valid.
 */
export function validateSchedule(cron: string, timezone: string): string | null {
  if (!isKnownTimeZone(timezone)) return `unknown time zone ${timezone}`;
  const expression = cron.trim();
  const fieldCount = expression.split(/\s+/).length;
  // Croner also takes a 7th field (year); the documented syntax is 5 or 6, so keep to that.
  if (!expression.startsWith('@') && fieldCount !== 5 && fieldCount !== 6) {
    return `invalid cron expression "${cron}": expected 5 or 6 fields, found ${fieldCount}`;
  }
  let calendar: Cron;
  try {
    calendar = new Cron(expression, { timezone });
  } catch (error) {
    return `invalid cron expression "${cron}": ${cronerMessage(error)}`;
  }
  if (calendar.nextRun() === null) return `invalid cron expression "${cron}": it never fires`;
  return null;
}

/** Fires schedules at their ticks, and once at start-up for any that were missed while the server was down. */
export class ScheduleRunner {
  /** Each schedule with a timer-less Cron used only to compute its ticks, so describe() works before start(). */
  private readonly schedules: Array<{ spec: ScheduleSpec; calendar: Cron }>;
  private readonly cursors: CursorRepository;
  private readonly startRun: ScheduleRunnerOptions['startRun'];
  private readonly now: () => Date;
  private readonly log: (message: string) => void;
  private readonly timers: Cron[] = [];
  /** ISO time of the last tick acted on, per schedule: the cursor as last read or written. */
  private readonly lastAt = new Map<string, string>();

  constructor(options: ScheduleRunnerOptions) {
    this.schedules = options.schedules.map((spec) => ({ spec, calendar: new Cron(spec.cron.trim(), { timezone: spec.timezone }) }));
    this.cursors = options.cursors;
    this.startRun = options.startRun;
    this.now = options.now ?? (() => new Date());
    this.log = options.log ?? (() => {});
  }

  /** Runs each schedule missed while the server was down once, then arms the timers. Call once. */
  async start(): Promise<void> {
    for (const { spec, calendar } of this.schedules) await this.catchUp(spec, calendar);
    for (const { spec } of this.schedules) {
      const timer = new Cron(spec.cron.trim(), { timezone: spec.timezone, unref: true }, (self) => {
        return this.fire(spec, self.currentRun() ?? new Date());
      });
      this.timers.push(timer);
    }
  }

  /** Disarms the timers; runs already started are the engine's. */
  stop(): void {
    for (const timer of this.timers.splice(0)) timer.stop();
  }

  /** For `slipway status` and the API: each schedule with its next tick and the last tick acted on. */
  describe(): ScheduleDescription[] {
    const now = this.now();
    return this.schedules.map(({ spec, calendar }) => ({
      name: spec.name,
      cron: spec.cron,
      timezone: spec.timezone,
      services: [...spec.services],
      nextAt: calendar.nextRun(now)?.toISOString() ?? null,
      lastAt: this.lastAt.get(spec.name) ?? null,
    }));
  }

  private async catchUp(schedule: ScheduleSpec, calendar: Cron): Promise<void> {
    const now = this.now();
    const latestTick = latestTickAtOrBefore(calendar, now);
    const cursor = await this.cursors.get(cursorKey(schedule));
    if (cursor === null) {
      // A new schedule owes nothing for the time before it existed.
      const baseline = (latestTick ?? now).toISOString();
      await this.cursors.set(cursorKey(schedule), baseline);
      this.lastAt.set(schedule.name, baseline);
      return;
    }
    this.lastAt.set(schedule.name, cursor);
    if (latestTick === null || latestTick.getTime() <= Date.parse(cursor)) return;
    const missed = countTicks(calendar, new Date(cursor), now, MISSED_TICKS_COUNT_LIMIT);
    const missedText = missed < MISSED_TICKS_COUNT_LIMIT ? `${missed}` : `${MISSED_TICKS_COUNT_LIMIT}+`;
    this.log(`schedule ${schedule.name} missed ${missedText} ticks while the server was down; running once`);
    await this.fire(schedule, latestTick);
  }

  /** Never throws: it runs from a timer, where a rejection would have no one to go to. */
  private async fire(schedule: ScheduleSpec, tick: Date): Promise<void> {
    const tickAt = tick.toISOString();
    // The cursor is written before the runs start, so each tick runs at most once: a crash
    // after this write loses the tick's runs, while writing after them would let a crash in
    // between run the tick again at the next start-up (the catch-up sees it as missed).
    try {
      await this.cursors.set(cursorKey(schedule), tickAt);
    } catch (error) {
      // Not running keeps "at most once"; the stale cursor makes the next start-up catch it up.
      this.log(`schedule ${schedule.name}: cannot record the tick at ${tickAt} (${describeError(error)}); its runs were not started`);
      return;
    }
    this.lastAt.set(schedule.name, tickAt);
    for (const service of schedule.services) {
      const request: ScheduledRunRequest = {
        service,
        ...(schedule.ref === null ? {} : { ref: schedule.ref }),
        variables: { ...schedule.variables },
        trigger: { kind: 'schedule', by: schedule.name },
      };
      const failure = await this.startRun(request).then(
        (result) => (result.ok ? null : result.error.message),
        (error: unknown) => describeError(error),
      );
      if (failure !== null) this.log(`schedule ${schedule.name}: could not start a run of ${service}: ${failure}`);
    }
  }
}

function cursorKey(schedule: ScheduleSpec): string {
  return `schedule:${schedule.name}`;
}

function latestTickAtOrBefore(calendar: Cron, at: Date): Date | null {
  // previousRuns looks strictly before its reference; ticks fall on whole seconds, so one
  // millisecond later makes a tick exactly at `at` count.
  return calendar.previousRuns(1, new Date(at.getTime() + 1))[0] ?? null;
}

/** Ticks in (after, until], counted up to `limit`. */
function countTicks(calendar: Cron, after: Date, until: Date, limit: number): number {
  let count = 0;
  for (let tick = calendar.nextRun(after); tick !== null && tick <= until && count < limit; tick = calendar.nextRun(tick)) count++;
  return count;
}

/** Whether Intl (the ICU time zone data) knows the IANA name. */
export function isKnownTimeZone(timezone: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: timezone });
    return true;
  } catch {
    return false;
  }
}

/** Croner prefixes its messages with the class that threw ("CronPattern: ..."), which means nothing to a user. */
function cronerMessage(error: unknown): string {
  const message = describeError(error).replace(/^Cron\w*:\s*/, '');
  return message.charAt(0).toLowerCase() + message.slice(1);
}
