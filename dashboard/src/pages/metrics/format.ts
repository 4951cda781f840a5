// The Metrics page's numbers in words: durations, days, rates and counts. Shared with its charts.

/** A day in milliseconds. */
export const DAY_MS = 86_400_000;

/** A duration in words: "420ms", "4.2s", "3m 12s", "2.4h", "3.5d"; "—" without one. */
export function msText(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '—';
  if (ms === 0) return '0';
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${trim((ms / 1000).toFixed(ms < 10_000 ? 1 : 0))}s`;
  if (ms < 3_600_000) {
    const seconds = Math.round(ms / 1000);
    return seconds % 60 === 0 ? `${seconds / 60}m` : `${Math.floor(seconds / 60)}m ${seconds % 60}s`;
  }
  if (ms < 48 * 3_600_000) return `${trim((ms / 3_600_000).toFixed(1))}h`;
  return `${trim((ms / DAY_MS).toFixed(1))}d`;
}

const trim = (number: string) => number.replace(/\.0$/, '');

/** "Mar 3" for a UTC day "2026-03-03". */
export function dayText(day: string): string {
  return new Date(`${day}T00:00:00Z`).toLocaleDateString(undefined, { month: 'short', day: 'numeric', timeZone: 'UTC' });
}

export function frequencyText(perDay: number | null, perWeek: number | null): string | null {
  if (perDay === null || perWeek === null) return null;
  if (perDay >= 1) return `${trim(perDay.toFixed(1))} a day`;
  if (perWeek >= 0.1 || perWeek === 0) return `${trim(perWeek.toFixed(1))} a week`;
  return `${trim((perDay * 30).toFixed(1))} a month`;
}

export function percent(rate: number): string {
  const value = rate * 100;
  return `${value > 0 && value < 10 ? trim(value.toFixed(1)) : Math.round(value)}%`;
}

export function plural(count: number, word: string): string {
  return count === 1 ? word : `${word}s`;
}
