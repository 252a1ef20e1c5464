/**
 * The behaviour every Counters and Meter engine must show, run by each engine's test file
 * (counters-memory.test.ts, storage/redis/meter.test.ts): `runCountersContract` for the
 * holdings and fixed windows of `Counters`, `runMeterContract` for `take`, `finish`,
 * `rebase` and `counted`.
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
import type { Counters, FixedWindow, HoldLine, Meter, ReserveRequest, SlidingWindow, TakeResult, WindowLine } from "./counters.js";

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

export function runMeterContract(name: string, makeMeter: (now: () => number) => Meter | Promise<Meter>): void {
  describe(`${name} meter contract`, () => {
    let now: number;
    let meter: Meter;
    let ns: string;
    const key = (s: string) => `{${ns}}:${s}`;
    /** A minute in 60 one-second buckets, and 60 s in 6 ten-second buckets. */
    const MINUTE: SlidingWindow = { kind: "sliding", windowMs: 60_000, buckets: 60 };
    const COARSE: SlidingWindow = { kind: "sliding", windowMs: 60_000, buckets: 6 };
    const hold = (k: string, n: number, limit?: number): HoldLine => ({ key: key(k), n, ...(limit === undefined ? {} : { limit }) });
    const win = (k: string, n: number, limit: number, window: SlidingWindow | FixedWindow = MINUTE): WindowLine => ({ key: key(k), n, limit, window });
    const take = (holder: string, holds: HoldLine[], windows: WindowLine[] = [], ttlMs = 60_000) => meter.take({ holder, ttlMs, holds, windows });
    const marks = (r: TakeResult): readonly string[] => {
      if (!r.granted) throw new Error(`refused: ${JSON.stringify(r)}`);
      return r.marks;
    };
    const finish = (holder: string, f: Partial<Omit<Parameters<Meter["finish"]>[0], "holder">>) =>
      meter.finish({ holder, release: [], corrections: [], carry: [], ...f });

    beforeEach(async () => {
      now = T0;
      ns = randomUUID();
      meter = await makeMeter(() => now);
    });

    describe("take", () => {
      it("takes every hold and window line at once and hands back one mark per window line", async () => {
        const r = await take("h1", [hold("conc", 1, 2)], [win("rpm", 1, 10), win("tpm", 300, 1000)]);
        expect(r.granted).toBe(true);
        expect(marks(r)).toHaveLength(2);
        expect(await meter.held(key("conc"))).toBe(1);
        expect(await meter.counted(key("rpm"), MINUTE)).toBe(1);
        expect(await meter.counted(key("tpm"), MINUTE)).toBe(300);
        expect(await meter.counted(key("never"), MINUTE)).toBe(0);
      });

      it("takes all or none across holds and windows, naming the first full line", async () => {
        marks(await take("other", [hold("b", 1, 1)], [win("w2", 5, 5)]));
        // Both hold b and window w2 are full: the hold, listed first among the kinds, is named.
        expect(await take("h1", [hold("a", 1, 5), hold("b", 1, 1)], [win("w1", 1, 10), win("w2", 1, 5)])).toEqual({
          granted: false,
          reason: "full",
          key: key("b"),
          used: 1,
          limit: 1,
          retryAfterMs: undefined,
        });
        // Only window w2 is full: it is named, and nothing of the other lines was taken.
        expect(await take("h1", [hold("a", 1, 5), hold("b", 1, 2)], [win("w1", 1, 10), win("w2", 1, 5)])).toMatchObject({
          granted: false,
          reason: "full",
          key: key("w2"),
          used: 5,
          limit: 5,
        });
        expect(await meter.held(key("a"))).toBe(0);
        expect(await meter.held(key("b"))).toBe(1);
        expect(await meter.counted(key("w1"), MINUTE)).toBe(0);
        expect(await meter.counted(key("w2"), MINUTE)).toBe(5);
      });

      it("counts a window line of n = 0 as a check only, and refuses a window whose n alone exceeds its limit", async () => {
        marks(await take("h1", [], [win("w", 0, 0)]));
        expect(await meter.counted(key("w"), MINUTE)).toBe(0);
        expect(await take("h2", [], [win("w", 3, 2)])).toMatchObject({ granted: false, key: key("w"), used: 0, limit: 2, retryAfterMs: 60_000 });
      });

      it("replaces the holder's own holding, so its used figure leaves that holding out", async () => {
        marks(await take("h1", [hold("a", 2, 3)]));
        marks(await take("h1", [hold("a", 3, 3)]));
        expect(await meter.held(key("a"))).toBe(3);
        expect(await take("h2", [hold("a", 1, 3)])).toMatchObject({ granted: false, key: key("a"), used: 3, limit: 3 });
      });

      it("says when a sliding window has room again: when the oldest buckets holding the excess leave it", async () => {
        const bucketMs = 10_000;
        const b0 = Math.floor(T0 / bucketMs);
        marks(await take("h1", [], [win("w", 3, 5, COARSE)]));
        now += 20_000;
        marks(await take("h2", [], [win("w", 2, 5, COARSE)]));
        const soon = (b0 + 6) * bucketMs - now;
        expect(await take("h3", [], [win("w", 1, 5, COARSE)])).toEqual({
          granted: false,
          reason: "full",
          key: key("w"),
          used: 5,
          limit: 5,
          retryAfterMs: soon,
        });
        expect(await take("h3", [], [win("w", 4, 5, COARSE)])).toMatchObject({ retryAfterMs: (b0 + 8) * bucketMs - now });
        // More than the limit can ever hold: a whole window.
        expect(await take("h3", [], [win("w", 6, 5, COARSE)])).toMatchObject({ retryAfterMs: 60_000 });
        now += soon - 1;
        expect(await take("h3", [], [win("w", 1, 5, COARSE)])).toMatchObject({ granted: false, retryAfterMs: 1 });
        now += 1;
        marks(await take("h3", [], [win("w", 1, 5, COARSE)]));
        expect(await meter.counted(key("w"), COARSE)).toBe(3);
      });

      it("says when a fixed window resets, and starts the next window from zero", async () => {
        const day: FixedWindow = { kind: "fixed", id: "d1", endsAt: T0 + 5000 };
        const next: FixedWindow = { kind: "fixed", id: "d2", endsAt: T0 + 5000 + 86_400_000 };
        marks(await take("h1", [], [win("d", 2, 2, day)]));
        expect(await take("h2", [], [win("d", 1, 2, day)])).toEqual({ granted: false, reason: "full", key: key("d"), used: 2, limit: 2, retryAfterMs: 5000 });
        now += 1000;
        expect(await take("h2", [], [win("d", 1, 2, day)])).toMatchObject({ retryAfterMs: 4000 });
        now += 4000;
        marks(await take("h2", [], [win("d", 1, 2, next)]));
        expect(await meter.counted(key("d"), next)).toBe(1);
        expect(await meter.counted(key("d"), day)).toBe(2);
      });

      it("counts an event until its bucket leaves the window, moving with the clock", async () => {
        const b0 = Math.floor(T0 / 1000);
        marks(await take("h1", [], [win("w", 1, 1)]));
        now = (b0 + 60) * 1000 - 1;
        expect(await meter.counted(key("w"), MINUTE)).toBe(1);
        expect(await take("h2", [], [win("w", 1, 1)])).toMatchObject({ granted: false, retryAfterMs: 1 });
        now += 1;
        expect(await meter.counted(key("w"), MINUTE)).toBe(0);
        marks(await take("h2", [], [win("w", 1, 1)]));
      });

      it("lets holdings lapse after the holder's time-to-live", async () => {
        marks(await take("crashed", [hold("a", 1, 1)], [], 1000));
        now += 999;
        expect(await take("h2", [hold("a", 1, 1)])).toMatchObject({ granted: false });
        now += 1;
        marks(await take("h2", [hold("a", 1, 1)]));
      });

      it("grants exactly K of 200 parallel takes against a limit of K, on holds and windows alike", async () => {
        const K = 13;
        await meter.rebase({ key: key("credit"), balance: 1000, seq: 1 });
        const results = await Promise.all(
          Array.from({ length: 200 }, (_, i) => take(`h${i}`, [hold("parent", 1, K), hold("credit", 2)], [win("rpm", 1, 1000), win("tpm", 10, 10_000)])),
        );
        expect(results.filter((r) => r.granted)).toHaveLength(K);
        expect(await meter.held(key("parent"))).toBe(K);
        expect(await meter.held(key("credit"))).toBe(2 * K);
        expect(await meter.counted(key("rpm"), MINUTE)).toBe(K);
        expect(await meter.counted(key("tpm"), MINUTE)).toBe(10 * K);
        const windows = await Promise.all(
          Array.from({ length: 200 }, (_, i) => take(`w${i}`, [], [win("rpd", 1, K, { kind: "fixed", id: "d", endsAt: T0 + 1000 })])),
        );
        expect(windows.filter((r) => r.granted)).toHaveLength(K);
        const credit = await Promise.all(Array.from({ length: 200 }, (_, i) => take(`c${i}`, [hold("credit", 7)])));
        // 1000 - 26 already held leaves room for 139 holdings of 7.
        expect(credit.filter((r) => r.granted)).toHaveLength(Math.floor((1000 - 2 * K) / 7));
      });

      it("rejects nonsense arguments", async () => {
        await expect(take("h", [hold("a", 0, 1)])).rejects.toThrow(RangeError);
        await expect(take("h", [], [win("w", -1, 1)])).rejects.toThrow(RangeError);
        await expect(take("h", [], [win("w", 1, 1, { kind: "sliding", windowMs: 1000, buckets: 7 })])).rejects.toThrow(RangeError);
        await expect(take("", [hold("a", 1, 1)])).rejects.toThrow(RangeError);
        await expect(take("h", [hold("a", 1, 1), hold("a", 1, 1)])).rejects.toThrow(RangeError);
      });
    });

    describe("finish", () => {
      it("ends the holder's holdings on the keys named, and only there; again is harmless", async () => {
        marks(await take("h1", [hold("a", 2, 5), hold("b", 2, 5)]));
        marks(await take("h2", [hold("a", 1, 5)]));
        await finish("h1", { release: [key("a")] });
        await finish("h1", { release: [key("a"), key("never")] });
        expect(await meter.held(key("a"))).toBe(1);
        expect(await meter.held(key("b"))).toBe(2);
      });

      it("corrects only the marked bucket, never below 0", async () => {
        const [m1] = marks(await take("h1", [], [win("w", 5, 100)]));
        now += 5000;
        const [m2] = marks(await take("h2", [], [win("w", 2, 100)]));
        expect(m2).not.toBe(m1);
        await finish("h1", { corrections: [{ key: key("w"), window: MINUTE, mark: m1!, delta: -3 }] });
        expect(await meter.counted(key("w"), MINUTE)).toBe(4);
        await finish("h1", { corrections: [{ key: key("w"), window: MINUTE, mark: m1!, delta: -100 }] });
        // The first bucket went to 0, not below; the second kept its 2.
        expect(await meter.counted(key("w"), MINUTE)).toBe(2);
        await finish("h2", { corrections: [{ key: key("w"), window: MINUTE, mark: m2!, delta: 8 }] });
        expect(await meter.counted(key("w"), MINUTE)).toBe(10);
        // The corrected bucket leaves the window when its own time comes, with what it holds.
        now = (Number(m1) + 60) * 1000;
        expect(await meter.counted(key("w"), MINUTE)).toBe(10);
        now = (Number(m2) + 60) * 1000;
        expect(await meter.counted(key("w"), MINUTE)).toBe(0);
        // A correction of a bucket that has left the window changes nothing.
        await finish("h2", { corrections: [{ key: key("w"), window: MINUTE, mark: m2!, delta: 50 }] });
        expect(await meter.counted(key("w"), MINUTE)).toBe(0);
      });

      it("corrects a fixed window, never below 0", async () => {
        const day: FixedWindow = { kind: "fixed", id: "d", endsAt: T0 + 86_400_000 };
        const [m] = marks(await take("h1", [], [win("d", 5, 10, day)]));
        await finish("h1", { corrections: [{ key: key("d"), window: day, mark: m!, delta: 2 }] });
        expect(await meter.counted(key("d"), day)).toBe(7);
        await finish("h1", { corrections: [{ key: key("d"), window: day, mark: m!, delta: -20 }] });
        expect(await meter.counted(key("d"), day)).toBe(0);
        marks(await take("h2", [], [win("d", 10, 10, day)]));
      });

      it("carries an amount to another holder in the same step as the release, adding to it and refreshing its expiry", async () => {
        await meter.rebase({ key: key("credit"), balance: 100, seq: 1 });
        marks(await take("r1", [hold("credit", 40)]));
        await finish("r1", { release: [key("credit")], carry: [{ key: key("credit"), holder: "node", n: 30, ttlMs: 1000 }] });
        expect(await meter.held(key("credit"))).toBe(30);
        now += 900;
        await finish("r2", { carry: [{ key: key("credit"), holder: "node", n: 5, ttlMs: 1000 }] });
        expect(await meter.held(key("credit"))).toBe(35);
        expect(await take("r3", [hold("credit", 66)])).toMatchObject({ granted: false, key: key("credit"), used: 35, limit: 100 });
        now += 999;
        expect(await meter.held(key("credit"))).toBe(35);
        now += 1;
        expect(await meter.held(key("credit"))).toBe(0);
      });
    });

    describe("rebase", () => {
      it("answers unknown_balance for a hold without a limit until a balance is set", async () => {
        expect(await take("h1", [hold("a", 1, 5), hold("credit", 10)])).toEqual({ granted: false, reason: "unknown_balance", key: key("credit") });
        expect(await meter.held(key("a"))).toBe(0);
        await meter.rebase({ key: key("credit"), balance: 25, seq: 1 });
        marks(await take("h1", [hold("a", 1, 5), hold("credit", 10)]));
        marks(await take("h2", [hold("credit", 15)]));
        expect(await take("h3", [hold("credit", 1)])).toEqual({
          granted: false,
          reason: "full",
          key: key("credit"),
          used: 25,
          limit: 25,
          retryAfterMs: undefined,
        });
      });

      it("forgets the balance at validUntil", async () => {
        await meter.rebase({ key: key("credit"), balance: 10, seq: 1, validUntil: T0 + 1000 });
        now += 999;
        marks(await take("h1", [hold("credit", 1)]));
        now += 1;
        expect(await take("h2", [hold("credit", 1)])).toEqual({ granted: false, reason: "unknown_balance", key: key("credit") });
        await meter.rebase({ key: key("credit"), balance: 10, seq: 2 });
        marks(await take("h2", [hold("credit", 1)]));
      });

      it("takes a reload at the same seq once the view has lapsed (a grant expired: no newer ledger row), and only then", async () => {
        await meter.rebase({ key: key("credit"), balance: 10, seq: 7, validUntil: T0 + 1000 });
        // Not lapsed: the same seq changes nothing.
        await meter.rebase({ key: key("credit"), balance: 1, seq: 7 });
        marks(await take("h1", [hold("credit", 5)]));
        now += 1000;
        expect(await take("h2", [hold("credit", 1)])).toEqual({ granted: false, reason: "unknown_balance", key: key("credit") });
        await meter.rebase({ key: key("credit"), balance: 8, seq: 7 });
        // The reloaded balance of 8 counts h1's 5: 3 are left.
        expect(await take("h2", [hold("credit", 4)])).toMatchObject({ granted: false, reason: "full", used: 5, limit: 8 });
        marks(await take("h2", [hold("credit", 3)]));
      });

      it("applies only a newer seq, but a stale rebase's drop still applies", async () => {
        await finish("r1", { carry: [{ key: key("credit"), holder: "node", n: 8, ttlMs: 60_000 }] });
        await meter.rebase({ key: key("credit"), balance: 10, seq: 5 });
        await meter.rebase({ key: key("credit"), balance: 1000, seq: 4, drop: { holder: "node", n: 3 } });
        await meter.rebase({ key: key("credit"), balance: 1000, seq: 5 });
        expect(await meter.held(key("credit"))).toBe(5);
        expect(await take("h1", [hold("credit", 6)])).toMatchObject({ granted: false, used: 5, limit: 10 });
        await meter.rebase({ key: key("credit"), balance: 20, seq: 6, drop: { holder: "node", n: 100 } });
        expect(await meter.held(key("credit"))).toBe(0);
        marks(await take("h1", [hold("credit", 20)]));
      });

      it("drops only the named holder's holding, never below 0", async () => {
        await meter.rebase({ key: key("credit"), balance: 50, seq: 1 });
        marks(await take("req", [hold("credit", 10)]));
        await finish("r0", { carry: [{ key: key("credit"), holder: "node", n: 4, ttlMs: 60_000 }] });
        await meter.rebase({ key: key("credit"), balance: 46, seq: 2, drop: { holder: "node", n: 4 } });
        await meter.rebase({ key: key("credit"), balance: 46, seq: 3, drop: { holder: "node", n: 4 } });
        await meter.rebase({ key: key("credit"), balance: 46, seq: 4, drop: { holder: "nobody", n: 4 } });
        expect(await meter.held(key("credit"))).toBe(10);
      });
    });
  });
}
