import { describe, expect, it } from "vitest";
import type { Comparison, LaneComparison, MemoryReport } from "./report.js";
import { BUDGET, checkTargets, targetsTable } from "./targets.js";

const MB = 1024 * 1024;

function comparison(workload: string, connections: number, over: Partial<Comparison> = {}): Comparison {
  return {
    phase: `${workload} c${connections}`,
    workload,
    connections,
    throughput: 1,
    p50: 1,
    p99: 1,
    firstByteP50: Number.NaN,
    firstByteP99: Number.NaN,
    addedFirstByteP50Ms: Number.NaN,
    addedFirstByteP99Ms: Number.NaN,
    stream: false,
    cpuPerReq: 1,
    cpuPerReqByRound: [1],
    extraCpuUsPerReq: 0,
    extraGcUsPerReq: 0,
    ...over,
  };
}

const SMALL = new Set(["chat-1k", "stream-1k"]);

describe("checkTargets", () => {
  it("holds 1 KB bodies to 1.3x and agent bodies to 1.0x, a figure at the limit met", () => {
    const checks = checkTargets(
      [
        comparison("chat-1k", 50, { cpuPerReq: 1.3 }),
        comparison("chat-1k", 1, { cpuPerReq: 1.31 }),
        comparison("claude-76k", 50, { cpuPerReq: 1.0 }),
        comparison("codex-40k", 1, { cpuPerReq: 1.01 }),
      ],
      [],
      undefined,
      SMALL,
    );
    expect(checks.map((c) => [c.phase, c.limit, c.met])).toEqual([
      ["chat-1k c50", BUDGET.smallBodyCpu, true],
      ["chat-1k c1", BUDGET.smallBodyCpu, false],
      ["claude-76k c50", BUDGET.agentBodyCpu, true],
      ["codex-40k c1", BUDGET.agentBodyCpu, false],
    ]);
  });

  it("checks the time to first byte of streams at 50 connections only, p50 and p99", () => {
    const checks = checkTargets(
      [
        comparison("stream-1k", 50, { stream: true, addedFirstByteP50Ms: 0.41, addedFirstByteP99Ms: 5.2 }),
        comparison("stream-1k", 1, { stream: true, addedFirstByteP50Ms: 3, addedFirstByteP99Ms: 30 }),
        comparison("chat-1k", 50, { addedFirstByteP50Ms: 3 }),
      ],
      [],
      undefined,
      SMALL,
    ).filter((c) => c.target.startsWith("added TTFB"));
    expect(checks.map((c) => [c.target, c.phase, c.value, c.met])).toEqual([
      ["added TTFB p50", "stream-1k c50", 0.41, true],
      ["added TTFB p99", "stream-1k c50", 5.2, false],
    ]);
  });

  it("checks resident memory after load and at the peak, and the translate lane", () => {
    const memory: MemoryReport = { target: "switchyard-governance", idle: 100 * MB, afterLoad: 149 * MB, peak: 201 * MB };
    const lanes: LaneComparison[] = [
      { phase: "translate-76k c50 ÷ claude-76k c50", target: "switchyard-governance", cpuPerReq: 1.49, p50: 2 },
      { phase: "translate-76k c1 ÷ claude-76k c1", target: "switchyard-governance", cpuPerReq: 2.5, p50: 2 },
    ];
    const checks = checkTargets([], lanes, memory, SMALL);
    expect(checks.map((c) => [c.target, Math.round(c.value * 100) / 100, c.met])).toEqual([
      ["RSS after load", 149, true],
      ["RSS peak", 201, false],
      ["translate ÷ passthrough CPU", 1.49, true],
      ["translate ÷ passthrough CPU", 2.5, false],
    ]);
  });

  it("counts a figure the run could not take as missed", () => {
    const [c] = checkTargets([comparison("chat-1k", 50, { cpuPerReq: Number.NaN })], [], undefined, SMALL);
    expect(c?.met).toBe(false);
  });
});

describe("targetsTable", () => {
  it("prints each check with its budget and verdict, then the count met", () => {
    const text = targetsTable(
      checkTargets(
        [
          comparison("chat-1k", 50, { cpuPerReq: 1.2 }),
          comparison("stream-1k", 50, { stream: true, cpuPerReq: 1.5, addedFirstByteP50Ms: -0.2, addedFirstByteP99Ms: 1 }),
        ],
        [],
        { target: "switchyard-governance", idle: 0, afterLoad: 160 * MB, peak: 190 * MB },
        SMALL,
      ),
    );
    const lines = text.split("\n");
    expect(lines.find((l) => l.includes("chat-1k c50"))).toMatch(/1\.20x\s+≤ 1\.30x\s+met$/);
    expect(lines.find((l) => l.includes("stream-1k c50") && l.startsWith("CPU"))).toMatch(/1\.50x\s+≤ 1\.30x\s+MISSED$/);
    expect(lines.find((l) => l.startsWith("added TTFB p50"))).toMatch(/-0\.20 ms\s+≤ \+0\.50 ms\s+met$/);
    expect(lines.find((l) => l.startsWith("RSS after load"))).toMatch(/160 MB\s+≤ 150 MB\s+MISSED$/);
    expect(lines.at(-1)).toBe("4 of 6 met");
  });
});
