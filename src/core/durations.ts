// Durations in words, alike everywhere: a setting as it would be written ("5m", "30s"), and a
// measured time ("250ms", "1.8s").

/** A setting: whole hours, minutes or seconds where it is one, else milliseconds. */
export function formatDuration(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

/** A measured time: milliseconds below a second, else seconds to one decimal. */
export function formatElapsed(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const seconds = ms / 1000;
  return `${Number.isInteger(seconds) ? seconds : seconds.toFixed(1)}s`;
}
