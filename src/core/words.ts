// Times, durations, short shas and what started a run, in words for people: the CLI and the
// dashboard say them alike.

import { assertNever, type Run } from './types.ts';

export const shortSha = (sha: string) => sha.slice(0, 8);

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
