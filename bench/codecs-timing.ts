/**
 * Micro-benchmark timing for bench/codecs.ts: warm a case up, size its batches
 * from the warm-up, run batches until the case's time budget is spent, and keep
 * the per-operation time of every batch. The median batch is the figure
 * reported; the spread says how noisy it was. Nothing here asserts on time.
 */

export interface TimingOptions {
  /** Measured time per case, after warm-up (ms). */
  budgetMs: number;
  /** Warm-up time per case (ms); not measured. */
  warmupMs: number;
  /** Batches to aim for within the budget (more when operations are cheap, never fewer than `minBatches`). */
  targetBatches: number;
  minBatches: number;
}

export interface Measurement {
  /** Median over batches of the time per operation (ns). */
  medianNs: number;
  /** Fastest batch (ns per operation). */
  minNs: number;
  /** Interquartile range of the batches divided by the median (0.05 = ±2.5 %). */
  spread: number;
  batches: number;
  opsPerBatch: number;
  /** Sum of what the operations returned; printed so the work cannot be optimised away. */
  sink: number;
}

/** One operation of a case. It returns a number derived from its output (e.g. a byte count) so the work is observable. */
export type Operation = () => number;

function nowNs(): bigint {
  return process.hrtime.bigint();
}

function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  const a = sorted[lo] as number;
  const b = sorted[hi] as number;
  return a + (b - a) * (pos - lo);
}

interface GcHost {
  gc?: () => void;
}

/** Collects garbage between cases when node runs with --expose-gc, so one case's garbage is not billed to the next. */
function collectIfPossible(): void {
  const host = globalThis as GcHost;
  if (typeof host.gc === "function") host.gc();
}

export function measure(op: Operation, opts: TimingOptions): Measurement {
  collectIfPossible();
  let sink = 0;
  // Warm-up: let the JIT settle and estimate the cost of one operation.
  const warmupNs = BigInt(Math.round(opts.warmupMs * 1e6));
  let warmOps = 0;
  const warmStart = nowNs();
  let warmElapsed = 0n;
  while (warmOps < 3 || warmElapsed < warmupNs) {
    sink += op();
    warmOps++;
    warmElapsed = nowNs() - warmStart;
  }
  const estimateNs = Number(warmElapsed) / warmOps;
  const batchNs = (opts.budgetMs * 1e6) / opts.targetBatches;
  const opsPerBatch = Math.max(1, Math.round(batchNs / Math.max(estimateNs, 1)));

  const perOp: number[] = [];
  const budgetNs = BigInt(Math.round(opts.budgetMs * 1e6));
  const hardStopNs = budgetNs * 3n;
  const start = nowNs();
  for (;;) {
    const t0 = nowNs();
    for (let i = 0; i < opsPerBatch; i++) sink += op();
    const t1 = nowNs();
    perOp.push(Number(t1 - t0) / opsPerBatch);
    const elapsed = t1 - start;
    if (perOp.length >= opts.minBatches && elapsed >= budgetNs) break;
    // A warm-up estimate far off (e.g. a GC storm) must not blow the run's time bound.
    if (perOp.length >= 3 && elapsed >= hardStopNs) break;
  }
  const sorted = [...perOp].sort((a, b) => a - b);
  const median = quantile(sorted, 0.5);
  return {
    medianNs: median,
    minNs: sorted[0] as number,
    spread: median > 0 ? (quantile(sorted, 0.75) - quantile(sorted, 0.25)) / median : 0,
    batches: perOp.length,
    opsPerBatch,
    sink,
  };
}

/** Reads a positive number from the environment, else the default. */
export function envNumber(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === "") return fallback;
  const v = Number(raw);
  return Number.isFinite(v) && v > 0 ? v : fallback;
}
