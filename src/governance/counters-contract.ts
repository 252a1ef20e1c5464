/**
 * The behaviour every Counters engine must show, run by each engine's test file
 * (counters-memory.test.ts today, a Redis engine's later).
 *
 * `makeCounters` receives the clock the suite moves by hand and must return an engine
 * that reads time only from it, so expiry and windows are tested without sleeping. An
 * engine that normally reads another clock (Redis's TIME) needs a way to take this one
 * in tests. Each test uses keys under a fresh hash tag, so engines that share a server
 * between tests, or a Redis Cluster, need no cleanup and keep a test's keys in one slot.
 */
import { randomUUID } from "node:crypto";
import fc from "fast-check";
import { beforeEach, describe, expect, it } from "vitest";
import type { Counters, ReserveRequest } from "./counters.js";

/** A start time on no round boundary, so window alignment is tested rather than assumed. */
const T0 = 1_767_225_600_123;

export function runCountersContract(name: string, makeCounters: (now: () => number) => Counters | Promise<Counters>): void {
  describe(`${name} counters contract`, () => {
    let now: number;
    let counters: Counters;
    let ns: string;
    const key = (s: string) => `{${ns}}:${s}`;
    const reserve = (holder: string, n: number, limits: Record<string, number>, ttlMs = 60_000) => counters.reserve(request(holder, n, limits, ttlMs));
    const request = (holder: string, n: number, limits: Record<string, number>, ttlMs: number): ReserveRequest => ({
      holder,
      n,
      ttlMs,
      limits: Object.entries(limits).map(([k, limit]) => ({ key: key(k), limit })),
    });

    beforeEach(async () => {
      now = T0;
      ns = randomUUID();
      counters = await makeCounters(() => now);
    });

    describe("reserve", () => {
      it("grants up to the limit and then refuses, saying which key was full", async () => {
        expect(await reserve("h1", 1, { a: 2 })).toEqual({ granted: true });
        expect(await reserve("h2", 1, { a: 2 })).toEqual({ granted: true });
        expect(await reserve("h3", 1, { a: 2 })).toEqual({ granted: false, key: key("a"), held: 2, limit: 2 });
        expect(await counters.held(key("a"))).toBe(2);
      });

      it("holds n at once, refusing an n that does not fit in what is left", async () => {
        expect(await reserve("h1", 3, { a: 5 })).toEqual({ granted: true });
        expect(await reserve("h2", 3, { a: 5 })).toMatchObject({ granted: false, held: 3 });
        expect(await reserve("h3", 2, { a: 5 })).toEqual({ granted: true });
        expect(await counters.held(key("a"))).toBe(5);
      });

      it("refuses anything under a limit of 0 and grants an empty list of keys", async () => {
        expect(await reserve("h1", 1, { a: 0 })).toMatchObject({ granted: false, held: 0, limit: 0 });
        expect(await reserve("h2", 1, {})).toEqual({ granted: true });
      });

      it("holds on every key or none, naming the first key without room", async () => {
        expect(await reserve("other", 1, { b: 1, c: 1 })).toEqual({ granted: true });
        expect(await reserve("h1", 1, { a: 5, b: 1, c: 1 })).toEqual({ granted: false, key: key("b"), held: 1, limit: 1 });
        expect(await counters.held(key("a"))).toBe(0);
        expect(await reserve("h1", 1, { a: 5, c: 5 })).toEqual({ granted: true });
        expect(await counters.held(key("a"))).toBe(1);
        expect(await counters.held(key("c"))).toBe(2);
      });

      it("replaces a holder's own holding instead of adding to it", async () => {
        expect(await reserve("h1", 2, { a: 3 })).toEqual({ granted: true });
        expect(await reserve("h1", 2, { a: 3 })).toEqual({ granted: true });
        expect(await counters.held(key("a"))).toBe(2);
        expect(await reserve("h1", 3, { a: 3 })).toEqual({ granted: true });
        expect(await counters.held(key("a"))).toBe(3);
        expect(await reserve("h2", 1, { a: 3 })).toMatchObject({ granted: false });
      });

      it("lets a limit be lowered below what is held: nothing new fits until enough is released", async () => {
        await reserve("h1", 1, { a: 3 });
        await reserve("h2", 1, { a: 3 });
        expect(await reserve("h3", 1, { a: 1 })).toMatchObject({ granted: false, held: 2, limit: 1 });
        await counters.release("h1", [key("a")]);
        expect(await reserve("h3", 1, { a: 1 })).toMatchObject({ granted: false, held: 1 });
        await counters.release("h2", [key("a")]);
        expect(await reserve("h3", 1, { a: 1 })).toEqual({ granted: true });
      });

      it("grants exactly K of N parallel reserves against a limit of K, on every key alike", async () => {
        const N = 40;
        const K = 7;
        const results = await Promise.all(Array.from({ length: N }, (_, i) => reserve(`h${i}`, 1, { parent: K, child: 100 })));
        expect(results.filter((r) => r.granted)).toHaveLength(K);
        expect(await counters.held(key("parent"))).toBe(K);
        expect(await counters.held(key("child"))).toBe(K);
      });

      it("never overfills under parallel reserves of mixed sizes, and refuses only what did not fit", async () => {
        await fc.assert(
          fc.asyncProperty(fc.array(fc.integer({ min: 1, max: 6 }), { minLength: 1, maxLength: 30 }), fc.integer({ min: 0, max: 40 }), async (ns, limit) => {
            const k = `p${randomUUID()}`;
            const results = await Promise.all(ns.map((n, i) => reserve(`h${i}`, n, { [k]: limit })));
            const granted = ns.filter((_, i) => results[i]!.granted).reduce((a, b) => a + b, 0);
            const held = await counters.held(key(k));
            expect(held).toBe(granted);
            expect(held).toBeLessThanOrEqual(limit);
            // Holdings only grew during the run, so anything refused was bigger than the room left at the end.
            ns.forEach((n, i) => {
              if (!results[i]!.granted) expect(n).toBeGreaterThan(limit - held);
            });
          }),
          { numRuns: 50 },
        );
      });

      it("rejects nonsense arguments", async () => {
        await expect(reserve("h", 0, { a: 1 })).rejects.toThrow(RangeError);
        await expect(reserve("h", 1.5, { a: 1 })).rejects.toThrow(RangeError);
        await expect(reserve("h", 1, { a: -1 })).rejects.toThrow(RangeError);
        await expect(reserve("h", 1, { a: 1 }, 0)).rejects.toThrow(RangeError);
        await expect(reserve("", 1, { a: 1 })).rejects.toThrow(RangeError);
        await expect(
          counters.reserve({
            holder: "h",
            n: 1,
            ttlMs: 1000,
            limits: [
              { key: key("a"), limit: 1 },
              { key: key("a"), limit: 1 },
            ],
          }),
        ).rejects.toThrow(RangeError);
        expect(await counters.held(key("a"))).toBe(0);
      });
    });

    describe("release", () => {
      it("frees the holder's capacity on the keys named, and only there", async () => {
        await reserve("h1", 2, { a: 2, b: 2 });
        await counters.release("h1", [key("a")]);
        expect(await counters.held(key("a"))).toBe(0);
        expect(await counters.held(key("b"))).toBe(2);
        expect(await reserve("h2", 2, { a: 2 })).toEqual({ granted: true });
      });

      it("never drives a counter negative: repeated, parallel and unknown releases free nothing extra", async () => {
        await Promise.all(["h1", "h2", "h3"].map((h) => reserve(h, 1, { a: 3 })));
        const releases = ["h1", "h2", "h3", "h1", "h2", "h3", "nobody", "h1"].map((h) => counters.release(h, [key("a"), key("never-used")]));
        await Promise.all(releases);
        expect(await counters.held(key("a"))).toBe(0);
        expect(await counters.held(key("never-used"))).toBe(0);
        // A negative count would show as spare room beyond the limit.
        const refill = await Promise.all(Array.from({ length: 5 }, (_, i) => reserve(`r${i}`, 1, { a: 3 })));
        expect(refill.filter((r) => r.granted)).toHaveLength(3);
      });
    });

    describe("expiry", () => {
      it("frees a holding when its time-to-live has passed, and not before", async () => {
        await reserve("crashed", 2, { a: 2 }, 1000);
        now += 999;
        expect(await counters.held(key("a"))).toBe(2);
        expect(await reserve("h2", 1, { a: 2 })).toMatchObject({ granted: false });
        now += 1;
        expect(await counters.held(key("a"))).toBe(0);
        expect(await reserve("h2", 2, { a: 2 }, 1000)).toEqual({ granted: true });
      });

      it("lets a late release of a lapsed holding leave the next holder's capacity alone", async () => {
        await reserve("slow", 1, { a: 1 }, 1000);
        now += 1000;
        expect(await reserve("next", 1, { a: 1 })).toEqual({ granted: true });
        await counters.release("slow", [key("a")]);
        expect(await counters.held(key("a"))).toBe(1);
        expect(await reserve("third", 1, { a: 1 })).toMatchObject({ granted: false });
      });

      it("restarts a holding's time-to-live when its holder reserves again", async () => {
        await reserve("h1", 1, { a: 1 }, 1000);
        now += 900;
        expect(await reserve("h1", 1, { a: 1 }, 1000)).toEqual({ granted: true });
        now += 900;
        expect(await counters.held(key("a"))).toBe(1);
        now += 100;
        expect(await counters.held(key("a"))).toBe(0);
      });

      it("expires each holding on its own", async () => {
        await reserve("short", 1, { a: 5 }, 1000);
        await reserve("long", 1, { a: 5 }, 5000);
        now += 1000;
        expect(await counters.held(key("a"))).toBe(1);
        now += 4000;
        expect(await counters.held(key("a"))).toBe(0);
      });
    });

    describe("incrementWindow", () => {
      const W = 60_000;

      it("counts within a window, n at a time, and reads with n = 0", async () => {
        expect(await counters.incrementWindow(key("w"), 1, W)).toBe(1);
        expect(await counters.incrementWindow(key("w"), 2, W)).toBe(3);
        expect(await counters.incrementWindow(key("w"), 0, W)).toBe(3);
        expect(await counters.incrementWindow(key("other"), 0, W)).toBe(0);
      });

      it("starts again at each multiple of the window length", async () => {
        now = Math.ceil(T0 / W) * W - 1;
        expect(await counters.incrementWindow(key("w"), 5, W)).toBe(5);
        now += 1;
        expect(await counters.incrementWindow(key("w"), 1, W)).toBe(1);
        now += W - 1;
        expect(await counters.incrementWindow(key("w"), 1, W)).toBe(2);
        now += 1;
        expect(await counters.incrementWindow(key("w"), 0, W)).toBe(0);
      });

      it("gives each of N parallel increments its own count", async () => {
        const N = 50;
        const counts = await Promise.all(Array.from({ length: N }, () => counters.incrementWindow(key("w"), 1, W)));
        expect([...counts].sort((x, y) => x - y)).toEqual(Array.from({ length: N }, (_, i) => i + 1));
      });

      it("rejects nonsense arguments", async () => {
        await expect(counters.incrementWindow(key("w"), -1, W)).rejects.toThrow(RangeError);
        await expect(counters.incrementWindow(key("w"), 0.5, W)).rejects.toThrow(RangeError);
        await expect(counters.incrementWindow(key("w"), 1, 0)).rejects.toThrow(RangeError);
      });
    });
  });
}
