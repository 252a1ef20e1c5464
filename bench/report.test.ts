import { describe, expect, it } from "vitest";
import { compare, comparisonTable, representative, type Measurement } from "./report.js";
import type { TargetName } from "./settings.js";

function m(target: TargetName, round: number, cpuUs: number, p50 = 10): Measurement {
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
