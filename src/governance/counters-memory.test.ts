import { describe, expect, it } from "vitest";
import { MemoryCounters } from "./counters-memory.js";
import { runCountersContract, runMeterContract } from "./counters-contract.js";

runCountersContract("memory", (now) => new MemoryCounters({ now }));
runMeterContract("memory", (now) => new MemoryCounters({ now }));

describe("memory counters", () => {
  it("forgets lapsed holdings and ended windows of keys nobody touches again", async () => {
    let now = 0;
    const counters = new MemoryCounters({ now: () => now });
    for (let i = 0; i < 100; i++) {
      await counters.reserve({ holder: "h", n: 1, ttlMs: 10, limits: [{ key: `c${i}`, limit: 1 }] });
      await counters.incrementWindow(`w${i}`, 1, 10);
    }
    await counters.reserve({ holder: "h", n: 1, ttlMs: 1000, limits: [{ key: "live", limit: 1 }] });
    expect(counters.trackedKeys).toBe(201);
    now = 10;
    // Enough operations on one key to pass at least one sweep.
    for (let i = 0; i < 2048; i++) await counters.incrementWindow("busy", 1, 1000);
    expect(counters.trackedKeys).toBe(2);
    expect(await counters.held("live")).toBe(1);
  });
});

describe("memory counters' sliding-window totals", () => {
  const MINUTE = { kind: "sliding", windowMs: 60_000, buckets: 12 } as const;
  const T0 = 1_700_000_000_000;

  it("drop a bucket when it leaves the window, as read after read keeps the running total", async () => {
    let now = T0;
    const counters = new MemoryCounters({ now: () => now });
    const take = (n: number) => counters.take({ holder: `h${now}`, ttlMs: 1000, holds: [], windows: [{ key: "w", limit: 1000, n, window: MINUTE }] });
    // One take every 5 s bucket for two minutes: the count is always what the last minute took.
    const taken: Array<{ at: number; n: number }> = [];
    for (let i = 0; i < 24; i++, now += 5_000) {
      const n = (i % 5) + 1;
      expect(await take(n)).toMatchObject({ granted: true });
      taken.push({ at: now, n });
      const bucketOf = (t: number): number => Math.floor(t / 5_000);
      const expected = taken.filter((t) => bucketOf(t.at) > bucketOf(now) - 12).reduce((a, t) => a + t.n, 0);
      expect(await counters.counted("w", MINUTE)).toBe(expected);
    }
  });

  it("never count a bucket that a stepped-back clock re-added once it is outside the window", async () => {
    let now = T0;
    const counters = new MemoryCounters({ now: () => now });
    const taken = await counters.take({ holder: "h1", ttlMs: 1000, holds: [], windows: [{ key: "w", limit: 100, n: 1, window: MINUTE }] });
    const mark = taken.granted ? taken.marks[0]! : "";
    now = T0 + 61_000;
    expect(await counters.counted("w", MINUTE)).toBe(0);
    // The clock steps back: the first bucket is inside the window again, and a correction lands in it.
    now = T0 + 1_000;
    await counters.finish({ holder: "h1", release: [], corrections: [{ key: "w", window: MINUTE, mark, delta: 5 }], carry: [] });
    // And forward again, to the bucket the running total was last walked at: the correction is outside the window.
    now = T0 + 61_000;
    expect(await counters.counted("w", MINUTE)).toBe(0);
  });

  it("keeps a key's holding between requests once nobody holds it, and forgets it at the next sweep", async () => {
    const counters = new MemoryCounters({ now: () => 0 });
    const hold = (holder: string) => counters.reserve({ holder, n: 1, ttlMs: 1000, limits: [{ key: "k", limit: 1 }] });
    expect(await hold("a")).toEqual({ granted: true });
    await counters.release("a", ["k"]);
    // Kept, empty: the next request on the key reuses it instead of building it again.
    expect(counters.trackedKeys).toBe(1);
    expect(await counters.held("k")).toBe(0);
    expect(await hold("b")).toEqual({ granted: true });
    await counters.finish({ holder: "b", release: ["k"], corrections: [], carry: [] });
    expect(await counters.held("k")).toBe(0);
    for (let i = 0; i < 1024; i++) await counters.incrementWindow("busy", 1, 1000);
    expect(counters.trackedKeys).toBe(1);
  });
});
