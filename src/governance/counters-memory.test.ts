import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { WindowLine } from "./counters.js";
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

describe("memory counters' sliding windows against a model", () => {
  const T0 = 1_700_000_000_000;

  it("count exactly what a plain bucket-by-bucket model counts, whatever the clock and the corrections do", async () => {
    const WINDOW = { kind: "sliding", windowMs: 12_000, buckets: 4 } as const;
    const step = fc.oneof(
      fc.record({ op: fc.constant("take" as const), n: fc.integer({ min: 0, max: 5 }), fresh: fc.boolean() }),
      fc.record({ op: fc.constant("correct" as const), back: fc.integer({ min: 0, max: 6 }), delta: fc.integer({ min: -6, max: 6 }) }),
      fc.record({ op: fc.constant("clock" as const), ms: fc.integer({ min: -15_000, max: 20_000 }) }),
      fc.record({ op: fc.constant("read" as const) }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(step, { maxLength: 60 }), async (steps) => {
        let now = T0;
        const counters = new MemoryCounters({ now: () => now });
        // The model: bucket → count, never below 0; a read (a take is one) first drops the buckets that left the window.
        const model = new Map<number, number>();
        const bucketAt = (t: number): number => Math.floor(t / 3_000);
        const addToModel = (b: number, n: number): void => {
          const v = Math.max(0, (model.get(b) ?? 0) + n);
          if (v === 0) model.delete(b);
          else model.set(b, v);
        };
        const readModel = (): number => {
          let total = 0;
          for (const [b, n] of model) {
            if (b <= bucketAt(now) - WINDOW.buckets) model.delete(b);
            else total += n;
          }
          return total;
        };
        let windows: readonly WindowLine[] = [{ key: "w", limit: 1_000_000, n: 1, window: WINDOW }];
        const marks: string[] = [];
        let holder = 0;
        for (const s of steps) {
          if (s.op === "take") {
            if (s.fresh || windows[0]!.n !== s.n) windows = [{ key: "w", limit: 1_000_000, n: s.n, window: WINDOW }];
            const r = await counters.take({ holder: `h${holder++}`, ttlMs: 1000, holds: [], windows });
            expect(r.granted).toBe(true);
            if (r.granted) marks.push(r.marks[0]!);
            // A take reads the window before it counts: that read drops what has left it, as any read does.
            readModel();
            addToModel(bucketAt(now), s.n);
          } else if (s.op === "correct") {
            const mark = marks[marks.length - 1 - s.back];
            if (mark === undefined) continue;
            const b = Number(mark);
            // What finish skips: a correction to a bucket that has left the window.
            const skipped = b <= bucketAt(now) - WINDOW.buckets;
            await counters.finish({ holder: "x", release: [], corrections: [{ key: "w", window: WINDOW, mark, delta: s.delta }], carry: [] });
            if (!skipped) addToModel(b, s.delta);
          } else if (s.op === "clock") {
            now += s.ms;
          } else {
            expect(await counters.counted("w", WINDOW)).toBe(readModel());
          }
        }
        expect(await counters.counted("w", WINDOW)).toBe(readModel());
      }),
      { numRuns: 300 },
    );
  });
});
