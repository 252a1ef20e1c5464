import { describe, expect, it } from "vitest";
import { cpuSample, watchCollections } from "./ipc.js";

describe("bench children's collection pauses", () => {
  it("add up while garbage is collected", async () => {
    watchCollections();
    const before = cpuSample().gcPauseUs;
    // Far more short-lived objects than a young generation holds: V8 must scavenge, many times over.
    // Each object is stored, so no compiler can leave it unallocated; each is dropped 1,024 later.
    const ring: Array<{ i: number; s: string }> = new Array(1024);
    for (let i = 0; i < 2_000_000; i++) ring[i % 1024] = { i, s: `x${i}` };
    // Performance entries are delivered after the pauses, in a later turn of the event loop.
    for (let i = 0; i < 50 && cpuSample().gcPauseUs === before; i++) await new Promise((r) => setTimeout(r, 10));
    expect(ring[(2_000_000 - 1) % 1024]!.s).toBe(`x${2_000_000 - 1}`);
    expect(cpuSample().gcPauseUs).toBeGreaterThan(before);
  });
});
