/** Latency statistics over raw samples (milliseconds). */

export interface LatencySummary {
  count: number;
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

/**
 * Nearest-rank percentile of ascending `sorted` (p in 0..100): the smallest
 * sample with at least p% of the samples at or below it. NaN when empty.
 */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  const n = sorted.length;
  if (n === 0) return Number.NaN;
  const rank = Math.ceil((Math.min(Math.max(p, 0), 100) / 100) * n);
  return sorted[Math.min(Math.max(rank, 1), n) - 1] as number;
}

/** Sorts `samples` in place and summarises them. */
export function summarize(samples: Float64Array): LatencySummary {
  samples.sort();
  let total = 0;
  for (const v of samples) total += v;
  const n = samples.length;
  return {
    count: n,
    mean: n ? total / n : Number.NaN,
    p50: percentile(samples, 50),
    p90: percentile(samples, 90),
    p99: percentile(samples, 99),
    max: n ? (samples[n - 1] as number) : Number.NaN,
  };
}
