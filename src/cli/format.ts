// How the CLI shows things to a person: status symbols, colours on a terminal, durations and
// relative times, short shas, what started a run and where it waits, aligned tables.

import { assertNever, type DeliveryStatus, type Run, type RunStatus, type StageStatus } from '../core/types.ts';

const colour = process.stdout.isTTY && !process.env.NO_COLOR;
const paint = (code: number) => (text: string) => (colour ? `\x1b[${code}m${text}\x1b[0m` : text);
export const green = paint(32);
export const red = paint(31);
export const yellow = paint(33);
export const cyan = paint(36);
export const dim = paint(2);
export const bold = paint(1);

export function statusSymbol(status: StageStatus | RunStatus): string {
  switch (status) {
    case 'succeeded':
      return green('✓');
    case 'failed':
      return red('✗');
    case 'running':
      return cyan('●');
    case 'pending':
      return dim('○');
    case 'skipped':
      return dim('–');
    case 'cancelled':
      return yellow('⊘');
    case 'waiting':
      return yellow('⏸');
    case 'rejected':
      return red('⊘');
    case 'expired':
      return yellow('⌛');
  }
}

export function statusWord(status: StageStatus | RunStatus): string {
  const word = status.replace('_', ' ');
  switch (status) {
    case 'succeeded':
      return green(word);
    case 'failed':
      return red(word);
    case 'running':
      return cyan(word);
    case 'rejected':
      return red(word);
    case 'cancelled':
    case 'waiting':
    case 'expired':
      return yellow(word);
    case 'pending':
    case 'skipped':
      return dim(word);
  }
}

export function duration(from: string | null, to: string | null, now = Date.now()): string {
  if (!from) return '';
  const ms = (to ? Date.parse(to) : now) - Date.parse(from);
  if (ms < 1000) return `${ms}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const minutes = Math.floor(ms / 60_000);
  return `${minutes}m${String(Math.round((ms % 60_000) / 1000)).padStart(2, '0')}s`;
}

export function ago(at: string | null, now = Date.now()): string {
  if (!at) return '';
  return `${span(Math.round((now - Date.parse(at)) / 1000))} ago`;
}

/** A time to come, relative: "in 5m"; a time already past reads as "… ago". */
export function fromNow(at: string | null, now = Date.now()): string {
  if (!at) return '';
  const seconds = Math.round((Date.parse(at) - now) / 1000);
  return seconds < 0 ? ago(at, now) : `in ${span(seconds)}`;
}

function span(seconds: number): string {
  if (seconds < 60) return `${seconds}s`;
  if (seconds < 3600) return `${Math.round(seconds / 60)}m`;
  if (seconds < 86_400) return `${Math.round(seconds / 3600)}h`;
  return `${Math.round(seconds / 86_400)}d`;
}

/** "2025-03-11 03:00" as the wall clock reads in `timeZone` (default: this machine's). */
export function clockTime(at: string, timeZone?: string): string {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: 'h23',
  }).formatToParts(new Date(at));
  const part = (type: Intl.DateTimeFormatPartTypes) => parts.find((candidate) => candidate.type === type)?.value ?? '';
  return `${part('year')}-${part('month')}-${part('day')} ${part('hour')}:${part('minute')}`;
}

/** 1st, 2nd, 3rd, 4th, 11th, 12th, 21st. */
export function ordinal(n: number): string {
  const tens = n % 100;
  const suffix = tens >= 11 && tens <= 13 ? 'th' : (['th', 'st', 'nd', 'rd'][n % 10] ?? 'th');
  return `${n}${suffix}`;
}

/** What started a run, in a few words: "push main", "PR #12", "tag v1.0.0", "rerun of #4". */
export function triggerText(run: Pick<Run, 'trigger' | 'lane' | 'tag' | 'originRunId'>): string {
  const { kind, by } = run.trigger;
  switch (kind) {
    case 'manual':
      return 'manual';
    case 'push':
      return `push ${run.lane}`;
    case 'pull_request':
      return `PR #${run.lane.replace(/^pr\//, '')}`;
    case 'tag':
      return `tag ${run.tag ?? run.lane.replace(/^tag\//, '')}`;
    case 'schedule':
      return `schedule ${by}`;
    case 'rerun':
      return run.originRunId === null ? 'rerun' : `rerun of #${run.originRunId}`;
    case 'resume':
      return run.originRunId === null ? 'resume' : `resume of #${run.originRunId}`;
    case 'promote':
      return `promote by ${by}`;
    case 'rollback':
      return `rollback by ${by}`;
    default:
      return assertNever(kind, 'trigger kind');
  }
}

/**
 * A run's state for people: a pending run says where it waits, "queued (2nd in main, queue)";
 * a parallel one waits for room only, "queued (main, parallel)".
 */
export function runState(run: Pick<Run, 'status' | 'lane' | 'concurrency'> & { queuePosition?: number | null }): string {
  if (run.status !== 'pending') return statusWord(run.status);
  const place = run.queuePosition ? `${ordinal(run.queuePosition)} in ${run.lane}` : run.lane;
  return dim(`queued (${place}, ${run.concurrency})`);
}

export function deliveryStatusWord(status: DeliveryStatus): string {
  switch (status) {
    case 'processed':
      return green(status);
    case 'failed':
      return red(status);
    case 'received':
      return cyan(status);
    default:
      return assertNever(status, 'delivery status');
  }
}

export const shortSha = (sha: string) => sha.slice(0, 8);

// eslint-disable-next-line no-control-regex
const visibleLength = (text: string) => text.replace(/\x1b\[\d+m/g, '').length;

/** Left-aligned columns, padded to the widest cell, ANSI colours ignored for width. */
export function table(rows: string[][]): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, index) => (widths[index] = Math.max(widths[index] ?? 0, visibleLength(cell))));
  return rows
    .map((row) => row.map((cell, index) => (index === row.length - 1 ? cell : cell + ' '.repeat(widths[index]! - visibleLength(cell)))).join('  ').trimEnd())
    .join('\n');
}
