import { describe, expect, it } from "vitest";
import { type CpuProfile, groupOf, mergeSummaries, profileReport, summarizeProfile } from "./profile.js";

const frame = (functionName: string, url = "", lineNumber = 0) => ({ functionName, url, lineNumber });
const DIST = "file:///srv/switchyard/dist/src";

describe("groupOf", () => {
  it("puts a function in its gateway folder, package, part of Node, or the collector", () => {
    expect(groupOf(frame("peekBody", `${DIST}/pipeline/json-peek.js`))).toBe("switchyard pipeline");
    expect(groupOf(frame("insert", `${DIST}/storage/sql/usage-repo.js`))).toBe("switchyard storage");
    expect(groupOf(frame("startGateway", `${DIST}/main.js`))).toBe("switchyard (root)");
    expect(groupOf(frame("get", "file:///srv/switchyard/node_modules/lru-cache/dist/esm/node/index.min.js"))).toBe("lru-cache");
    expect(groupOf(frame("x", "file:///w/node_modules/@scope/pkg/lib/a.js"))).toBe("@scope/pkg");
    expect(groupOf(frame("wasm-function[20]", "wasm://wasm/00034eea"))).toBe("undici");
    expect(groupOf(frame("_storeHeader", "node:_http_outgoing"))).toBe("node http");
    expect(groupOf(frame("Readable.read", "node:internal/streams/readable"))).toBe("node streams");
    expect(groupOf(frame("hash", "node:internal/crypto/hash"))).toBe("node crypto");
    expect(groupOf(frame("forwardable", "file:///srv/switchyard/dist/bench/baseline-proxy.js"))).toBe("bench harness");
    expect(groupOf(frame("(garbage collector)"))).toBe("GC");
    expect(groupOf(frame("writev"))).toBe("socket writes (system calls)");
    // Any other native function belongs to its caller.
    expect(groupOf(frame("parse"))).toBeUndefined();
  });
});

/**
 * root ─┬─ handle (pipeline) ─── parse (native)
 *       ├─ relay (node http)
 *       ├─ (garbage collector)
 *       └─ (idle)
 */
const profile: CpuProfile = {
  nodes: [
    { id: 1, callFrame: frame("(root)"), children: [2, 4, 5, 6] },
    { id: 2, callFrame: frame("handle", `${DIST}/pipeline/handle-request.js`, 9), children: [3] },
    { id: 3, callFrame: frame("parse") },
    { id: 4, callFrame: frame("relay", "node:_http_server") },
    { id: 5, callFrame: frame("(garbage collector)") },
    { id: 6, callFrame: frame("(idle)") },
  ],
  // A sample stands for the time until the next: handle 100, parse 300, relay 50, GC 150, idle 1000, then the last (handle) the mean interval.
  samples: [2, 3, 4, 5, 6, 2],
  timeDeltas: [7, 100, 300, 50, 150, 1000],
};

describe("summarizeProfile", () => {
  it("adds up self time per group and function, divided by the requests; idle is not busy", () => {
    const s = summarizeProfile(profile, 4);
    const mean = (100 + 300 + 50 + 150 + 1000) / 5;
    expect(s.requests).toBe(4);
    expect(s.groups["switchyard pipeline"]).toBeCloseTo((100 + 300 + mean) / 4);
    expect(s.groups["node http"]).toBeCloseTo(50 / 4);
    expect(s.groups.GC).toBeCloseTo(150 / 4);
    expect(Object.keys(s.groups)).toHaveLength(3);
    expect(s.busyUsPerReq).toBeCloseTo((100 + 300 + 50 + 150 + mean) / 4);
    expect(s.top.map((f) => f.name)).toEqual([
      "handle src/pipeline/handle-request.js:10",
      "parse native:1",
      "(garbage collector) native:1",
      "relay _http_server:1",
    ]);
    expect(s.top[1]!.usPerReq).toBeCloseTo(300 / 4);
    expect(s.top[0]!.usPerReq).toBeCloseTo((100 + mean) / 4);
  });

  it("merges rounds as totals over all their requests, not a mean of their means", () => {
    const a = summarizeProfile(profile, 4);
    const b = { ...summarizeProfile(profile, 12), groups: { GC: 1 }, busyUsPerReq: 1, top: [{ name: "g", usPerReq: 1 }] };
    const m = mergeSummaries([a, b]);
    expect(m.requests).toBe(16);
    expect(m.groups.GC).toBeCloseTo((150 + 12) / 16);
    expect(m.groups["node http"]).toBeCloseTo(50 / 16);
    expect(m.busyUsPerReq).toBeCloseTo((a.busyUsPerReq * 4 + 12) / 16);
  });
});

describe("profileReport", () => {
  it("puts the targets side by side per phase with the difference, and lists the gateway's busiest functions", () => {
    const bare = summarizeProfile(profile, 10);
    const gw = summarizeProfile(profile, 5);
    const text = profileReport(
      [
        { phase: "chat-1k c50", target: "baseline", profile: bare },
        { phase: "chat-1k c50", target: "switchyard-governance", profile: gw },
        { phase: "chat-1k c50", target: "switchyard-governance" },
      ],
      ["baseline", "switchyard-governance"],
    );
    const gc = text.split("\n").find((l) => l.startsWith("GC"))!;
    expect(gc.trim().split(/\s+/)).toEqual(["GC", "15.0", "30.0", "+15.0"]);
    expect(text).toContain("busiest functions of switchyard-governance");
    expect(text).not.toContain("busiest functions of baseline");
  });
});
