import { describe, expect, it } from "vitest";
import { compare, comparisonTable, memoryTable, representative, soakSummary, soakSummaryTable, type Measurement } from "./report.js";
import type { TargetName } from "./settings.js";

function m(target: TargetName, round: number, cpuUs: number, p50 = 10, gcUs = 0): Measurement {
  const latency = { count: 1000, p50, p90: p50, p99: p50 * 2, max: p50 * 3, mean: p50 };
  return {
    phase: "chat-1k c32",
    workload: "chat-1k",
    stream: false,
    target,
    connections: 32,
    load: { ok: 1000, errors: 0, errorKinds: {}, errorSamples: [], elapsedMs: 1000, latency, firstByte: latency, responseBytes: 0 },
    reqPerSec: 1000,
    proxyCpuUsPerReq: cpuUs,
    proxyGcUsPerReq: gcUs,
    proxyHeapBytesPerReq: 0,
    proxyCoreBusy: 0.5,
    driverCoreBusy: 0.5,
    mockCpuUsPerReq: 1,
    othersBusy: 0,
    rssAfter: 0,
    round,
  };
}

describe("bench report over rounds", () => {
  it("takes the median of each round's own ratio, not the ratio of medians", () => {
    // The machine drifts: round 2 is slow for both sides; within each round the target costs 1.1x, 1.2x, 1.5x.
    const ms = [m("baseline", 1, 100), m("switchyard", 1, 110), m("baseline", 2, 200), m("switchyard", 2, 240), m("baseline", 3, 100), m("switchyard", 3, 150)];
    const [c] = compare(ms);
    expect(c!.cpuPerReqByRound.map((r) => r.toFixed(2))).toEqual(["1.10", "1.20", "1.50"]);
    expect(c!.cpuPerReq).toBeCloseTo(1.2, 10);
    expect(c!.extraCpuUsPerReq).toBe(40);
    expect(comparisonTable([c!])).toContain("1.10 1.20 1.50");
  });

  it("says how much of the extra CPU went to collection pauses, as the median of the rounds' differences", () => {
    const ms = [
      m("baseline", 1, 100, 10, 10),
      m("switchyard", 1, 200, 10, 30),
      m("baseline", 2, 100, 10, 20),
      m("switchyard", 2, 200, 10, 70),
      m("baseline", 3, 100, 10, 10),
      m("switchyard", 3, 200, 10, 50),
    ];
    const [c] = compare(ms);
    // Differences 20, 50, 40: the median is 40, not 60 - 13.3 from the means.
    expect(c!.extraGcUsPerReq).toBe(40);
    expect(c!.extraCpuUsPerReq).toBe(100);
    const printed = comparisonTable([c!]);
    expect(printed).toContain("of it GC µs");
    expect(printed).toMatch(/c32\s.*\s100\s+40\s/);
  });

  it("keeps the round of median CPU as each target's representative", () => {
    const ms = [m("switchyard", 1, 300, 1), m("switchyard", 2, 100, 2), m("switchyard", 3, 200, 3)];
    expect(representative(ms).map((r) => r.round)).toEqual([3]);
  });

  it("with one round, is that round's ratio and prints no per-round column", () => {
    const [c] = compare([m("baseline", 1, 100), m("switchyard-governance", 1, 130)], "switchyard-governance");
    expect(c!.cpuPerReq).toBeCloseTo(1.3, 10);
    expect(comparisonTable([c!])).not.toContain("by round");
  });
});

const MiB = 1024 * 1024;
/** Soak samples of one workload every 30 s, RSS in MB as given, peak 1 MB above the highest RSS so far. */
function series(rssMb: number[]): Array<{ elapsedMs: number; rss: number; peakRss: number; workload: string }> {
  let high = 0;
  return rssMb.map((mb, i) => {
    high = Math.max(high, mb + 1);
    return { elapsedMs: (i + 1) * 30_000, rss: mb * MiB, peakRss: high * MiB, workload: "codex-40k" };
  });
}

describe("soak summary", () => {
  it("a flat series has no drift and no growth", () => {
    const s = soakSummary(series([120, 120, 120, 120, 120, 120]));
    expect(s.driftMbPerMin).toBe(0);
    expect(s.secondHalfGrowthMb).toBe(0);
    expect([s.samples, s.firstRss / MiB, s.endRss / MiB, s.maxRss / MiB, s.peakRss / MiB]).toEqual([6, 120, 120, 120, 121]);
  });

  it("a linear series gives its slope in MB per minute", () => {
    // 1 MB per 30 s slice = 2 MB/min; the second half is samples 5..9, 2 minutes apart end to end.
    const s = soakSummary(series([100, 101, 102, 103, 104, 105, 106, 107, 108, 109]));
    expect(s.driftMbPerMin).toBeCloseTo(2, 12);
    expect(s.secondHalfGrowthMb).toBe(4);
    expect([s.firstRss / MiB, s.endRss / MiB, s.maxRss / MiB, s.peakRss / MiB]).toEqual([100, 109, 109, 110]);
  });

  it("looks only at the second half: growth while warming up is not drift", () => {
    const s = soakSummary(series([80, 140, 150, 150, 150, 150]));
    expect(s.driftMbPerMin).toBe(0);
    expect(s.secondHalfGrowthMb).toBe(0);
    expect(s.firstRss / MiB).toBe(80);
  });

  it("fits the least-squares line through scattered points", () => {
    // Second half at 0, 1, 2, 3 minutes (relative): 150, 152, 151, 153 MB → slope 4 / 5 = 0.8 MB/min.
    const samples = [100, 110, 120, 130, 150, 152, 151, 153].map((mb, i) => ({
      elapsedMs: i * 60_000,
      rss: mb * MiB,
      peakRss: 160 * MiB,
      workload: "chat-1k",
    }));
    const s = soakSummary(samples);
    expect(s.driftMbPerMin).toBeCloseTo(0.8, 12);
    expect(s.secondHalfGrowthMb).toBe(3);
  });

  it("takes each workload's own line: workloads that settle at different levels are not drift, one that grows is", () => {
    // codex-40k settles at 230 MB and chat-1k at 280 MB, taking turns; a line through all of them would tilt.
    const turns = (chat: (i: number) => number) =>
      Array.from({ length: 12 }, (_, i) => ({
        elapsedMs: (i + 1) * 30_000,
        rss: (i % 2 === 0 ? 230 : chat(i)) * MiB,
        peakRss: 300 * MiB,
        workload: i % 2 === 0 ? "codex-40k" : "chat-1k",
      }));
    const flat = soakSummary(turns(() => 280));
    expect(flat.driftMbPerMin).toBe(0);
    expect(flat.secondHalfGrowthMb).toBe(0);
    // chat-1k gaining 1 MB a minute (one chat slice a minute) in the second half: samples 7, 9, 11 at 283, 284, 285.
    const growing = soakSummary(turns((i) => 280 + (i - 1) / 2));
    expect(growing.driftMbPerMin).toBeCloseTo(1, 12);
    expect(growing.secondHalfGrowthMb).toBe(2);
  });

  it("with an odd count, the middle sample belongs to the second half", () => {
    // floor(5 / 2) = 2: samples 2, 3, 4 (104, 100, 100) → slope -4 MB over 1 min, growth -4.
    const s = soakSummary(series([100, 102, 104, 100, 100]));
    expect(s.driftMbPerMin).toBeCloseTo(-4, 12);
    expect(s.secondHalfGrowthMb).toBe(-4);
    expect(s.maxRss / MiB).toBe(104);
    expect(s.peakRss / MiB).toBe(105);
  });

  it("with fewer than 2 samples in the second half, drift and growth are unknown", () => {
    const two = soakSummary(series([100, 130]));
    expect(two.driftMbPerMin).toBeNaN();
    expect(two.secondHalfGrowthMb).toBeNaN();
    expect([two.firstRss / MiB, two.endRss / MiB, two.maxRss / MiB]).toEqual([100, 130, 130]);
    const one = soakSummary(series([100]));
    expect([one.samples, one.firstRss / MiB, one.endRss / MiB, one.peakRss / MiB]).toEqual([1, 100, 100, 101]);
    expect(one.driftMbPerMin).toBeNaN();
    const none = soakSummary([]);
    expect(none.samples).toBe(0);
    expect([none.firstRss, none.endRss, none.maxRss, none.peakRss, none.driftMbPerMin, none.secondHalfGrowthMb].every(Number.isNaN)).toBe(true);
  });

  it("prints the summary with signed drift and '-' where unknown", () => {
    const rising = soakSummary(series([100, 101, 102, 103, 104, 105, 106, 107, 108, 109]));
    const short = soakSummary(series([100, 130]));
    const text = soakSummaryTable([
      { target: "baseline", idle: 60 * MiB, samples: [], summary: rising },
      { target: "switchyard-governance", idle: 120 * MiB, samples: [], summary: short },
    ]);
    const [, , first, second] = text.split("\n");
    expect(first!.split(/\s+/)).toEqual(["baseline", "10", "60.0", "100.0", "109.0", "109.0", "110.0", "+2.00", "+4.0"]);
    expect(second!.split(/\s+/)).toEqual(["switchyard-governance", "2", "120.0", "100.0", "130.0", "130.0", "131.0", "-", "-"]);
  });
});

describe("the memory table", () => {
  const MiB = 1024 * 1024;
  it("shows what the after-load figure is made of, and a dash where a target could not say", () => {
    const text = memoryTable([
      { target: "baseline", idle: 60 * MiB, afterLoad: 130 * MiB, peak: 140 * MiB },
      {
        target: "switchyard-governance",
        idle: 123 * MiB,
        afterLoad: 270 * MiB,
        peak: 290 * MiB,
        afterLoadParts: { files: 52 * MiB, v8Heap: 75 * MiB, arrayBuffers: 23 * MiB, otherNative: 120 * MiB },
      },
    ]);
    const [header, , bare, gateway] = text.split("\n");
    expect(header!.split(/\s{2,}/)).toEqual(["target", "idle MB", "after load MB", "peak MB", "of it: files", "V8 heap", "ArrayBuffers", "other native"]);
    expect(bare!.split(/\s+/)).toEqual(["baseline", "60", "130", "140", "-", "-", "-", "-"]);
    expect(gateway!.split(/\s+/)).toEqual(["switchyard-governance", "123", "270", "290", "52", "75", "23", "120"]);
  });
});
