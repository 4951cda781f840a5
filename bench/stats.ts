// Summary statistics for benchmark samples. Medians and p90s rather than means: a machine
// shared with other work produces occasional long outliers, and a mean would report them.

/** The p-th percentile (0..100) by linear interpolation between the closest ranks. */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = (p / 100) * (sorted.length - 1);
  const low = Math.floor(rank);
  const high = Math.ceil(rank);
  return sorted[low]! + (sorted[high]! - sorted[low]!) * (rank - low);
}

export interface Summary {
  n: number;
  medianMs: number;
  p90Ms: number;
  minMs: number;
  maxMs: number;
}

export function summarize(samples: readonly number[]): Summary {
  return {
    n: samples.length,
    medianMs: round(percentile(samples, 50)),
    p90Ms: round(percentile(samples, 90)),
    minMs: round(Math.min(...samples)),
    maxMs: round(Math.max(...samples)),
  };
}

export function round(value: number, digits = 3): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}
