/**
 * Micro-benchmark timing for bench/codecs.ts.
 *
 * Cases are timed in groups: a baseline and the cases compared with it. Each
 * case is warmed up and its batch size chosen so one batch lasts a few ms; then
 * the group runs in rounds, one batch of every case per round (starting case
 * rotated), until the group's budget is spent. Times come from
 * process.hrtime.bigint; a case's figure is the median over its batches, and a
 * ratio between two cases is the median of their per-round ratios, so both
 * sides of a ratio always ran under the same machine conditions (docs/architecture.md#measured-facts:
 * these machines drift, and a busy neighbour on the other core can halve
 * throughput for a while).
 *
 * Each batch also records the process's CPU time: a batch whose CPU time is
 * under 90 % of its wall time was descheduled mid-way and is left out (unless
 * too few batches remain). Nothing here asserts on time.
 */

export interface TimingOptions {
  /** Measured time per case, after warm-up (ms); a group gets this times its number of cases. */
  budgetMs: number;
  /** Warm-up time per case (ms); not measured. */
  warmupMs: number;
  /** Batches (rounds) to aim for within the budget; one batch lasts about budgetMs / targetBatches. */
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
  /** Batches the median was taken over: those not preempted (all of them when fewer than `minBatches` were clean). */
  cleanBatches: number;
  opsPerBatch: number;
}

/** One operation of a case. It returns a number derived from its output (e.g. a byte count) so the work is observable. */
export type Operation = () => number;

export interface Case {
  name: string;
  op: Operation;
}

export interface GroupResult {
  measurements: Map<string, Measurement>;
  /** Median over rounds of time(a) / time(b), using rounds where both batches ran unpreempted. NaN when a case is unknown. */
  ratio(a: string, b: string): number;
  /** Sum of what the operations returned, to print: the work cannot be optimised away. */
  sink: number;
}

/** CPU time / wall time below which a batch counts as preempted. */
const PREEMPTED_BELOW = 0.9;

function nowNs(): bigint {
  return process.hrtime.bigint();
}

export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  const a = sorted[lo] as number;
  const b = sorted[hi] as number;
  return a + (b - a) * (pos - lo);
}

function median(values: readonly number[]): number {
  return quantile(
    [...values].sort((a, b) => a - b),
    0.5,
  );
}

interface GcHost {
  gc?: () => void;
}

/** Collects garbage between groups when node runs with --expose-gc, so one group's garbage is not billed to the next. */
function collectIfPossible(): void {
  const host = globalThis as GcHost;
  if (typeof host.gc === "function") host.gc();
}

interface Track {
  c: Case;
  opsPerBatch: number;
  /** ns per operation, one per round. */
  perOp: number[];
  clean: boolean[];
}

/** Runs `op` for `warmupMs` (at least 3 times) and returns the estimated ns per operation. */
function warmUp(op: Operation, warmupMs: number, sink: { n: number }): number {
  const warmupNs = BigInt(Math.round(warmupMs * 1e6));
  let ops = 0;
  const start = nowNs();
  let elapsed = 0n;
  while (ops < 3 || elapsed < warmupNs) {
    sink.n += op();
    ops++;
    elapsed = nowNs() - start;
  }
  return Number(elapsed) / ops;
}

function runBatch(t: Track, sink: { n: number }): void {
  const { op } = t.c;
  const n = t.opsPerBatch;
  let acc = 0;
  const cpu0 = process.cpuUsage();
  const t0 = nowNs();
  for (let i = 0; i < n; i++) acc += op();
  const t1 = nowNs();
  const cpu = process.cpuUsage(cpu0);
  sink.n += acc;
  const wallNs = Number(t1 - t0);
  t.perOp.push(wallNs / n);
  t.clean.push((cpu.user + cpu.system) * 1000 >= PREEMPTED_BELOW * wallNs);
}

function summarize(t: Track, minBatches: number): Measurement {
  const clean = t.perOp.filter((_, i) => t.clean[i]);
  const kept = clean.length >= minBatches ? clean : t.perOp;
  const sorted = [...kept].sort((a, b) => a - b);
  const med = quantile(sorted, 0.5);
  return {
    medianNs: med,
    minNs: sorted[0] as number,
    spread: med > 0 ? (quantile(sorted, 0.75) - quantile(sorted, 0.25)) / med : 0,
    batches: t.perOp.length,
    cleanBatches: kept.length,
    opsPerBatch: t.opsPerBatch,
  };
}

export function measureGroup(cases: readonly Case[], opts: TimingOptions): GroupResult {
  collectIfPossible();
  const sink = { n: 0 };
  const batchNs = (opts.budgetMs * 1e6) / opts.targetBatches;
  const tracks: Track[] = cases.map((c) => {
    const estimate = warmUp(c.op, opts.warmupMs, sink);
    return { c, opsPerBatch: Math.max(1, Math.round(batchNs / Math.max(estimate, 1))), perOp: [], clean: [] };
  });
  const budgetNs = BigInt(Math.round(opts.budgetMs * 1e6 * cases.length));
  const hardStopNs = budgetNs * 3n;
  const start = nowNs();
  for (let round = 0; ; round++) {
    for (let k = 0; k < tracks.length; k++) runBatch(tracks[(round + k) % tracks.length] as Track, sink);
    const elapsed = nowNs() - start;
    if (round + 1 >= opts.minBatches && elapsed >= budgetNs) break;
    // A warm-up estimate far off (e.g. a GC storm) must not blow the run's time bound.
    if (round + 1 >= 3 && elapsed >= hardStopNs) break;
  }
  const byName = new Map(tracks.map((t) => [t.c.name, t] as const));
  return {
    measurements: new Map(tracks.map((t) => [t.c.name, summarize(t, opts.minBatches)] as const)),
    ratio(a, b) {
      const ta = byName.get(a);
      const tb = byName.get(b);
      if (!ta || !tb) return Number.NaN;
      const both: number[] = [];
      const all: number[] = [];
      ta.perOp.forEach((v, i) => {
        const w = tb.perOp[i] as number;
        all.push(v / w);
        if (ta.clean[i] && tb.clean[i]) both.push(v / w);
      });
      return median(both.length >= opts.minBatches ? both : all);
    },
    sink: sink.n,
  };
}

/** Reads a positive number from the environment, else the default. */
export function envNumber(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === "") return fallback;
  const v = Number(raw);
  return Number.isFinite(v) && v > 0 ? v : fallback;
}
