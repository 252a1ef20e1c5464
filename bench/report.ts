/** What one benchmark run found, its Switchyard/baseline ratios, and their printed form. */
import type { MemoryParts } from "./ipc.js";
import type { LoadResult } from "./load.js";
import type { ProfileSummary } from "./profile.js";
import type { TargetName } from "./settings.js";

export interface Measurement {
  /** Workload and concurrency, e.g. "chat-40k c32". */
  phase: string;
  workload: string;
  stream: boolean;
  target: TargetName;
  connections: number;
  load: LoadResult;
  reqPerSec: number;
  /** CPU time of the proxy under test per answered request (µs). */
  proxyCpuUsPerReq: number;
  /** Of that, time in garbage-collection pauses (µs; incremental marking steps not included). */
  proxyGcUsPerReq: number;
  /** Bytes the proxy under test allocated in its V8 heap per answered request: what sets how often it collects. */
  proxyHeapBytesPerReq: number;
  /** Share of its core the proxy under test used (0..1). */
  proxyCoreBusy: number;
  /** Share of the other core the load generator + mock used (0..1); near 1 means the driver, not the proxy, limited throughput. */
  driverCoreBusy: number;
  mockCpuUsPerReq: number;
  /**
   * CPU used by everything else on the machine while this phase ran, in cores
   * (0.5 = half a core). Above ~0.2 the phase shared the machine and its
   * timings are suspect; CPU µs/req holds up best.
   */
  othersBusy: number;
  /** The proxy's resident memory right after the measured window (bytes). */
  rssAfter: number;
  /** What `rssAfter` is made of, where the proxy could say. */
  partsAfter?: MemoryParts;
  /** Which round of BENCH_ROUNDS (1-based). */
  round: number;
  /** Where its CPU went, when the run was profiled (BENCH_PROFILE). */
  profile?: ProfileSummary;
  /** Where its main thread's time went, all of it, when the run was recorded with `perf` (BENCH_PERF). */
  perf?: ProfileSummary;
}

/** A target divided by its reference (the baseline, unless told otherwise), per phase. */
export interface Comparison {
  phase: string;
  workload: string;
  connections: number;
  throughput: number;
  p50: number;
  p99: number;
  firstByteP50: number;
  firstByteP99: number;
  /** Time to first byte the target adds over the reference (ms): the budget is in these, not in ratios. */
  addedFirstByteP50Ms: number;
  addedFirstByteP99Ms: number;
  /** Streaming phases only: TTFB means little for a body read in one piece. */
  stream: boolean;
  /** The median of the rounds' CPU ratios (one round: its ratio). */
  cpuPerReq: number;
  /** Each round's CPU ratio, in round order. */
  cpuPerReqByRound: number[];
  /** The target's CPU per request minus the reference's (µs), median over rounds: against the baseline, the gateway's own work. */
  extraCpuUsPerReq: number;
  /** The target's collection pauses per request minus the reference's (µs), median over rounds: how much of the extra CPU is collection. */
  extraGcUsPerReq: number;
}

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};

/**
 * One measurement per phase and target: with several rounds, the round of median CPU per
 * request (its latency and TTFB figures come along with it).
 */
export function representative(measurements: readonly Measurement[]): Measurement[] {
  const groups = new Map<string, Measurement[]>();
  for (const m of measurements) {
    const key = `${m.phase}\u0000${m.target}`;
    const g = groups.get(key);
    if (g) g.push(m);
    else groups.set(key, [m]);
  }
  return [...groups.values()].map((g) => [...g].sort((a, b) => a.proxyCpuUsPerReq - b.proxyCpuUsPerReq)[Math.floor((g.length - 1) / 2)]!);
}

/**
 * A Switchyard target (plain, with routing, with governance) against another target of the
 * same run, the baseline by default. CPU is compared round by round (the two ran back to
 * back) and the median taken; the other figures compare the representative rounds.
 */
export function compare(measurements: readonly Measurement[], target: TargetName = "switchyard", reference: TargetName = "baseline"): Comparison[] {
  const phases = [...new Set(measurements.map((m) => m.phase))];
  const chosen = representative(measurements);
  const out: Comparison[] = [];
  for (const phase of phases) {
    const b = chosen.find((m) => m.phase === phase && m.target === reference);
    const s = chosen.find((m) => m.phase === phase && m.target === target);
    if (!b || !s) continue;
    const ratios: number[] = [];
    const extras: number[] = [];
    const gcExtras: number[] = [];
    for (const round of [...new Set(measurements.map((m) => m.round))].sort((x, y) => x - y)) {
      const rb = measurements.find((m) => m.phase === phase && m.target === reference && m.round === round);
      const rs = measurements.find((m) => m.phase === phase && m.target === target && m.round === round);
      if (!rb || !rs) continue;
      ratios.push(rs.proxyCpuUsPerReq / rb.proxyCpuUsPerReq);
      extras.push(rs.proxyCpuUsPerReq - rb.proxyCpuUsPerReq);
      gcExtras.push(rs.proxyGcUsPerReq - rb.proxyGcUsPerReq);
    }
    out.push({
      phase,
      workload: s.workload,
      connections: s.connections,
      throughput: s.reqPerSec / b.reqPerSec,
      p50: s.load.latency.p50 / b.load.latency.p50,
      p99: s.load.latency.p99 / b.load.latency.p99,
      firstByteP50: s.load.firstByte.p50 / b.load.firstByte.p50,
      firstByteP99: s.load.firstByte.p99 / b.load.firstByte.p99,
      addedFirstByteP50Ms: s.load.firstByte.p50 - b.load.firstByte.p50,
      addedFirstByteP99Ms: s.load.firstByte.p99 - b.load.firstByte.p99,
      stream: s.stream,
      cpuPerReq: median(ratios),
      cpuPerReqByRound: ratios,
      extraCpuUsPerReq: median(extras),
      extraGcUsPerReq: median(gcExtras),
    });
  }
  return out;
}

export type Align = "left" | "right";

/** Columns padded to their widest cell, a rule under the header. */
export function table(header: string[], rows: string[][], align: Align[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => (align[i] === "left" ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0)))
      .join("  ")
      .trimEnd();
  return [line(header), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n");
}

function fixed(n: number, digits: number): string {
  return Number.isFinite(n) ? n.toFixed(digits) : "-";
}

const MB = 1024 * 1024;
const signed = (ms: number): string => (Number.isFinite(ms) ? `${ms >= 0 ? "+" : ""}${ms.toFixed(2)}` : "-");
const pct = (share: number): string => (Number.isFinite(share) ? `${Math.round(share * 100)}%` : "-");
const ratio = (r: number): string => (Number.isFinite(r) ? `${r.toFixed(2)}x` : "-");

export function measurementTable(ms: readonly Measurement[]): string {
  return table(
    [
      "phase",
      "target",
      "req/s",
      "p50 ms",
      "p99 ms",
      "ttfb p50",
      "ttfb p99",
      "errors",
      "CPU µs/req",
      "GC µs/req",
      "heap KB/req",
      "RSS MB",
      "proxy core",
      "load+mock core",
      "others",
    ],
    ms.map((m) => [
      m.phase,
      m.target,
      fixed(m.reqPerSec, 0),
      fixed(m.load.latency.p50, 2),
      fixed(m.load.latency.p99, 2),
      m.stream ? fixed(m.load.firstByte.p50, 2) : "-",
      m.stream ? fixed(m.load.firstByte.p99, 2) : "-",
      String(m.load.errors),
      fixed(m.proxyCpuUsPerReq, 0),
      fixed(m.proxyGcUsPerReq, 0),
      fixed(m.proxyHeapBytesPerReq / 1024, 1),
      fixed(m.rssAfter / MB, 0),
      pct(m.proxyCoreBusy),
      pct(m.driverCoreBusy),
      pct(m.othersBusy),
    ]),
    ["left", "left", "right", "right", "right", "right", "right", "right", "right", "right", "right", "right", "right", "right", "right"],
  );
}

export function comparisonTable(cs: readonly Comparison[]): string {
  const rounds = cs.some((c) => c.cpuPerReqByRound.length > 1);
  return table(
    ["phase", "req/s", "p50", "p99", "ttfb +p50 ms", "ttfb +p99 ms", "CPU/req", "extra CPU µs/req", "of it GC µs", ...(rounds ? ["CPU/req by round"] : [])],
    cs.map((c) => [
      c.phase,
      ratio(c.throughput),
      ratio(c.p50),
      ratio(c.p99),
      c.stream ? signed(c.addedFirstByteP50Ms) : "-",
      c.stream ? signed(c.addedFirstByteP99Ms) : "-",
      ratio(c.cpuPerReq),
      fixed(c.extraCpuUsPerReq, 0),
      fixed(c.extraGcUsPerReq, 0),
      ...(rounds ? [c.cpuPerReqByRound.map((r) => r.toFixed(2)).join(" ")] : []),
    ]),
    ["left", "right", "right", "right", "right", "right", "right", "right", "right", "left"],
  );
}

/** Error kinds and samples, for phases that had any. */
export function errorReport(ms: readonly Measurement[]): string {
  return ms
    .filter((m) => m.load.errors > 0)
    .map((m) => {
      const kinds = Object.entries(m.load.errorKinds)
        .map(([k, n]) => `${k} ×${n}`)
        .join(", ");
      return [`${m.phase} ${m.target}: ${kinds}`, ...m.load.errorSamples.map((s) => `    ${s.replace(/\s+/g, " ")}`)].join("\n");
    })
    .join("\n");
}

/** One target's resident memory over the run (bytes): before any load, after the last phase, and the kernel's peak. */
export interface MemoryReport {
  target: TargetName;
  idle: number;
  afterLoad: number;
  peak: number;
  /** What the memory after the last phase is made of, where the child could say. */
  afterLoadParts?: MemoryParts;
}

/** RSS figures, then what the after-load figure is made of ("-" where unknown). */
export function memoryTable(ms: readonly MemoryReport[]): string {
  const part = (m: MemoryReport, key: keyof MemoryParts): string => (m.afterLoadParts ? fixed(m.afterLoadParts[key] / MB, 0) : "-");
  return table(
    ["target", "idle MB", "after load MB", "peak MB", "of it: files", "V8 heap", "ArrayBuffers", "other native"],
    ms.map((m) => [
      m.target,
      fixed(m.idle / MB, 0),
      fixed(m.afterLoad / MB, 0),
      fixed(m.peak / MB, 0),
      part(m, "files"),
      part(m, "v8Heap"),
      part(m, "arrayBuffers"),
      part(m, "otherNative"),
    ]),
    ["left", "right", "right", "right", "right", "right", "right", "right"],
  );
}

/** The translate lane against the passthrough lane on the same body, per target and concurrency. */
export interface LaneComparison {
  phase: string;
  target: TargetName;
  /** CPU per request of the translate phase ÷ its passthrough twin's. */
  cpuPerReq: number;
  p50: number;
}

/** Pairs each translate phase with its passthrough twin (same target, same connections). */
export function compareLanes(all: readonly Measurement[], twins: ReadonlyMap<string, string>): LaneComparison[] {
  const measurements = representative(all);
  const out: LaneComparison[] = [];
  for (const t of measurements) {
    const twin = twins.get(t.workload);
    if (!twin) continue;
    const p = measurements.find((m) => m.workload === twin && m.target === t.target && m.connections === t.connections);
    if (!p) continue;
    out.push({
      phase: `${t.phase} ÷ ${p.phase}`,
      target: t.target,
      cpuPerReq: t.proxyCpuUsPerReq / p.proxyCpuUsPerReq,
      p50: t.load.latency.p50 / p.load.latency.p50,
    });
  }
  return out;
}

export function laneTable(cs: readonly LaneComparison[]): string {
  return table(
    ["translate ÷ passthrough", "target", "CPU/req", "p50"],
    cs.map((c) => [c.phase, c.target, ratio(c.cpuPerReq), ratio(c.p50)]),
    ["left", "left", "right", "right"],
  );
}

/** One slice of a memory soak: the load it ran and the target's memory right after it. */
export interface SoakSample {
  /** Since this target's soak began, at the end of the slice (ms). */
  elapsedMs: number;
  workload: string;
  connections: number;
  load: LoadResult;
  reqPerSec: number;
  /** Resident memory after the slice and the kernel's high-water mark since start (bytes). */
  rss: number;
  peakRss: number;
}

/** What one target's soak samples say about its memory. RSS figures in bytes. */
export interface SoakSummary {
  samples: number;
  firstRss: number;
  endRss: number;
  maxRss: number;
  /** VmHWM at the last sample: the peak since the process started. */
  peakRss: number;
  /**
   * Least-squares slope of RSS against time over the second half of the samples (MB per
   * minute), taken per workload and the highest of them; NaN when no workload has 2 samples
   * there. The first half is left out: the heap and the caches still fill up while load
   * begins. Per workload because each settles at a level of its own (chat-1k tens of MB above
   * codex-40k): a line through workloads taking turns would tilt with their order.
   */
  driftMbPerMin: number;
  /** Per workload, its last RSS in the second half minus its first there (MB); the highest of them, NaN as above. */
  secondHalfGrowthMb: number;
}

/** One target's soak: its samples, idle RSS before the soak (bytes), and their summary. */
export interface SoakReport {
  target: TargetName;
  idle: number;
  samples: SoakSample[];
  summary: SoakSummary;
}

/** Least-squares slope of ys over xs; NaN with fewer than 2 points or when all xs are equal. */
function slope(xs: readonly number[], ys: readonly number[]): number {
  const n = xs.length;
  if (n < 2) return Number.NaN;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let cov = 0;
  let varX = 0;
  for (let i = 0; i < n; i++) {
    cov += (xs[i]! - mx) * (ys[i]! - my);
    varX += (xs[i]! - mx) ** 2;
  }
  return varX === 0 ? Number.NaN : cov / varX;
}

/**
 * Summarises one target's soak samples (in time order). The second half is the samples from
 * index floor(n / 2) on, so with an odd count the middle sample belongs to both halves.
 */
export function soakSummary(samples: readonly Pick<SoakSample, "elapsedMs" | "rss" | "peakRss" | "workload">[]): SoakSummary {
  const n = samples.length;
  const byWorkload = new Map<string, Array<Pick<SoakSample, "elapsedMs" | "rss">>>();
  for (const s of samples.slice(Math.floor(n / 2))) byWorkload.set(s.workload, [...(byWorkload.get(s.workload) ?? []), s]);
  const settled = [...byWorkload.values()].filter((w) => w.length >= 2);
  const highest = (xs: number[]): number => (xs.length === 0 ? Number.NaN : Math.max(...xs));
  return {
    samples: n,
    firstRss: samples[0]?.rss ?? Number.NaN,
    endRss: samples[n - 1]?.rss ?? Number.NaN,
    maxRss: n > 0 ? Math.max(...samples.map((s) => s.rss)) : Number.NaN,
    peakRss: samples[n - 1]?.peakRss ?? Number.NaN,
    driftMbPerMin: highest(
      settled.map((w) =>
        slope(
          w.map((s) => s.elapsedMs / 60_000),
          w.map((s) => s.rss / MB),
        ),
      ),
    ),
    secondHalfGrowthMb: highest(settled.map((w) => (w[w.length - 1]!.rss - w[0]!.rss) / MB)),
  };
}

/** One row per soak slice. RSS to a tenth of a MB: flat or not is a matter of a few MB. */
export function soakTable(samples: readonly SoakSample[]): string {
  return table(
    ["elapsed s", "workload", "req/s", "errors", "RSS MB", "peak MB"],
    samples.map((s) => [
      fixed(s.elapsedMs / 1000, 0),
      `${s.workload} c${s.connections}`,
      fixed(s.reqPerSec, 0),
      String(s.load.errors),
      fixed(s.rss / MB, 1),
      fixed(s.peakRss / MB, 1),
    ]),
    ["right", "left", "right", "right", "right", "right"],
  );
}

/** One row per soaked target. */
export function soakSummaryTable(reports: readonly SoakReport[]): string {
  const mb = (bytes: number): string => fixed(bytes / MB, 1);
  const plus = (n: number, digits: number): string => (Number.isFinite(n) ? `${n >= 0 ? "+" : ""}${n.toFixed(digits)}` : "-");
  return table(
    ["target", "samples", "idle MB", "first RSS MB", "end RSS MB", "max RSS MB", "peak MB", "drift MB/min", "2nd-half growth MB"],
    reports.map((r) => [
      r.target,
      String(r.summary.samples),
      mb(r.idle),
      mb(r.summary.firstRss),
      mb(r.summary.endRss),
      mb(r.summary.maxRss),
      mb(r.summary.peakRss),
      plus(r.summary.driftMbPerMin, 2),
      plus(r.summary.secondHalfGrowthMb, 1),
    ]),
    ["left", "right", "right", "right", "right", "right", "right", "right", "right"],
  );
}

/** Error kinds and samples, for soak slices that had any. */
export function soakErrorReport(reports: readonly SoakReport[]): string {
  return reports
    .flatMap((r) =>
      r.samples
        .filter((s) => s.load.errors > 0)
        .map((s) => {
          const kinds = Object.entries(s.load.errorKinds)
            .map(([k, n]) => `${k} ×${n}`)
            .join(", ");
          return [
            `${r.target} at ${fixed(s.elapsedMs / 1000, 0)} s (${s.workload} c${s.connections}): ${kinds}`,
            ...s.load.errorSamples.map((e) => `    ${e.replace(/\s+/g, " ")}`),
          ].join("\n");
        }),
    )
    .join("\n");
}
