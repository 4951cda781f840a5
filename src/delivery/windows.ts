// Promotion windows and freezes: whether a release may enter an environment at an instant and,
// when not, the next instant it may. Pure: the clock is a parameter. A window's hours are wall
// time in its own time zone (read through Intl), so they move in UTC with daylight saving.

import { WEEKDAYS, type Freeze, type PromotionWindow, type Weekday } from '../config/delivery.ts';

export type Window = PromotionWindow;
export type { Freeze };

export type WindowState = { open: true } | { open: false; until: Date | null; reason: string };

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const DAY = 24 * 60 * MINUTE;
/** How far past `at` an opening is looked for before answering that there is none. */
const HORIZON = 366 * DAY;

interface Span {
  from: number;
  to: number;
  freeze: Freeze;
}

interface Opening {
  at: number;
  /** The window it opens in; null when there are no windows. */
  window: Window | null;
  /** The first freeze that held the opening back, if any did. */
  blockedBy: Span | null;
}

/**
 * Open when `at` lies in some window (or there are none) and in no freeze. Windows and freezes
 * include their start and exclude their end. A wall time that does not exist (clocks moved
 * forward) means the first instant after it; one that occurs twice means the first occurrence.
 */
export function windowState(windows: Window[], freezes: Freeze[], at: Date): WindowState {
  const now = at.getTime();
  const spans = freezes.map((freeze) => ({ from: Date.parse(freeze.from), to: Date.parse(freeze.to), freeze }));
  const opening = nextOpening(windows, spans, now);
  if (opening?.at === now) return { open: true };
  const until = opening ? new Date(opening.at) : null;

  const frozen = coveringFreeze(spans, now);
  if (frozen) {
    const reason = `frozen until ${formatInstant(frozen.to)}: ${frozen.freeze.reason}`;
    if (!opening) return { open: false, until, reason: `${reason}; no promotion window opens outside a freeze within a year` };
    if (opening.at === frozen.to) return { open: false, until, reason };
    return { open: false, until, reason: `${reason}; promotions resume ${formatOpening(opening)}` };
  }

  const outside = `outside the promotion windows (${windows.map(describeWindow).join('; ')})`;
  if (!opening) return { open: false, until, reason: `${outside}; none opens outside a freeze within a year` };
  const next = `${outside}; the next opens ${formatOpening(opening)}`;
  if (!opening.blockedBy) return { open: false, until, reason: next };
  const { to, freeze } = opening.blockedBy;
  return { open: false, until, reason: `${next}, after the freeze until ${formatInstant(to)}: ${freeze.reason}` };
}

/** "mon-fri 09:00-16:00 Europe/Berlin", "daily 22:00-02:00 UTC", "mon, wed 10:00-12:00 UTC". */
export function describeWindow(window: Window): string {
  return `${describeDays(window.days)} ${window.from}-${window.to} ${window.timezone}`;
}

/** The first instant from `now` inside a window and outside every freeze, within the horizon. */
function nextOpening(windows: Window[], spans: Span[], now: number): Opening | null {
  let blockedBy: Span | null = null;
  // Each turn starts past a freeze it cannot meet again, so there are at most spans.length + 1.
  for (let from = now; ; ) {
    const slot = windows.length === 0 ? { at: from, window: null } : nextWindowSlot(windows, from, now + HORIZON);
    if (!slot) return null;
    const freeze = coveringFreeze(spans, slot.at);
    if (!freeze) return { ...slot, blockedBy };
    blockedBy ??= freeze;
    from = freeze.to;
  }
}

/** The latest-ending freeze that covers `at`. */
function coveringFreeze(spans: Span[], at: number): Span | null {
  let found: Span | null = null;
  for (const span of spans) {
    if (span.from <= at && at < span.to && (!found || span.to > found.to)) found = span;
  }
  return found;
}

function nextWindowSlot(windows: Window[], from: number, horizon: number): { at: number; window: Window } | null {
  let best: { at: number; window: Window } | null = null;
  for (const window of windows) {
    const at = nextInWindow(window, from, horizon);
    if (at !== null && (!best || at < best.at)) best = { at, window };
  }
  return best;
}

/** The first instant at or after `from` inside this window, or null when none starts by `horizon`. */
function nextInWindow(window: Window, from: number, horizon: number): number | null {
  const zone = window.timezone;
  const start = minutesOf(window.from);
  const end = minutesOf(window.to);
  // The schema keeps from and to apart; `to` before `from` ends the next day.
  const overnight = end <= start;
  const lastDay = localDay(horizon, zone);
  // From the day before: an overnight window that opened yesterday may still be open.
  for (let day = localDay(from, zone) - 1; day <= lastDay; day++) {
    if (!window.days.includes(weekdayOf(day))) continue;
    const opens = instantOf(day, start, zone);
    if (opens > horizon) return null;
    const closes = instantOf(overnight ? day + 1 : day, end, zone);
    // A window that lies wholly in a skipped hour is empty that day.
    if (closes > from && closes > opens) return Math.max(opens, from);
  }
  return null;
}

function minutesOf(time: string): number {
  const [hours, minutes] = time.split(':').map(Number);
  return (hours ?? 0) * 60 + (minutes ?? 0);
}

/** Days since 1970-01-01 of a local calendar date; that day was a Thursday. */
function weekdayOf(day: number): Weekday {
  return WEEKDAYS[(((day + 3) % 7) + 7) % 7]!;
}

function localDay(at: number, zone: string): number {
  return Math.floor(localWall(at, zone) / DAY);
}

/**
 * The first instant whose wall time in `zone` is at or after `minutes` into local `day`: the
 * wall time itself when it exists (its first occurrence when it occurs twice), else the instant
 * the clocks jumped past it.
 */
function instantOf(day: number, minutes: number, zone: string): number {
  const wall = day * DAY + minutes * MINUTE;
  // The offsets a day either side bracket any change of offset on that day.
  const candidates = [wall - offsetAt(wall - DAY, zone), wall - offsetAt(wall + DAY, zone)];
  const exact = candidates.filter((candidate) => localWall(candidate, zone) === wall);
  if (exact.length > 0) return Math.min(...exact);
  // In the gap: wall time before the jump is below `wall` at `low`, at or past it at `high`.
  let low = Math.min(...candidates);
  let high = Math.max(...candidates);
  while (high - low > SECOND) {
    const middle = low + Math.floor((high - low) / 2 / SECOND) * SECOND;
    if (localWall(middle, zone) >= wall) high = middle;
    else low = middle;
  }
  return high;
}

/** How far the zone's wall time is ahead of UTC at `at`. */
function offsetAt(at: number, zone: string): number {
  return localWall(at, zone) - (at - (((at % SECOND) + SECOND) % SECOND));
}

const formatters = new Map<string, Intl.DateTimeFormat>();

/** The wall time in `zone` at `at`, to the second, as milliseconds of a UTC date that reads the same. */
function localWall(at: number, zone: string): number {
  let formatter = formatters.get(zone);
  if (!formatter) {
    const fields = { year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric' } as const;
    formatter = new Intl.DateTimeFormat('en-US', { timeZone: zone, hourCycle: 'h23', ...fields });
    formatters.set(zone, formatter);
  }
  const part: Record<string, number> = {};
  for (const { type, value } of formatter.formatToParts(at)) part[type] = Number(value);
  return Date.UTC(part.year!, part.month! - 1, part.day!, part.hour!, part.minute!, part.second!);
}

function formatOpening(opening: Opening): string {
  return opening.window ? formatLocal(opening.at, opening.window.timezone) : formatInstant(opening.at);
}

/** "Mon 2026-12-07 09:00 Europe/Berlin". */
function formatLocal(at: number, zone: string): string {
  const wall = new Date(localWall(at, zone));
  const weekday = weekdayOf(Math.floor(wall.getTime() / DAY));
  const text = wall.toISOString();
  return `${weekday[0]!.toUpperCase()}${weekday.slice(1)} ${text.slice(0, 10)} ${text.slice(11, 16)} ${zone}`;
}

/** "2027-01-04T00:00:00Z". */
function formatInstant(at: number): string {
  return new Date(at).toISOString().replace(/\.000Z$/, 'Z');
}

/** Runs of three or more days in week order read as ranges: "mon-fri", "mon, wed", "mon-wed, sat". */
function describeDays(days: readonly Weekday[]): string {
  if (WEEKDAYS.every((day) => days.includes(day))) return 'daily';
  const parts: string[] = [];
  let index = 0;
  while (index < WEEKDAYS.length) {
    if (!days.includes(WEEKDAYS[index]!)) {
      index++;
      continue;
    }
    let last = index;
    while (last + 1 < WEEKDAYS.length && days.includes(WEEKDAYS[last + 1]!)) last++;
    if (last - index >= 2) parts.push(`${WEEKDAYS[index]}-${WEEKDAYS[last]}`);
    else parts.push(...WEEKDAYS.slice(index, last + 1));
    index = last + 1;
  }
  return parts.join(', ');
}
