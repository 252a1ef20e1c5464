/**
 * Key selection: rendezvous pinning for sessions (exact counts on a fixed set of
 * sessions, so nothing here can flake), least loaded for the rest, cooling keys last,
 * and the `limit` that keeps a big pool from being sorted.
 */
import { describe, expect, it } from "vitest";
import { poolKey } from "../testing/pool-key.js";
import { KeyPool, loadCost, type PoolKey } from "./key-pool.js";

const key = (id: string, over: Partial<PoolKey> = {}): PoolKey => poolKey(id, over);
const keys = (n: number): PoolKey[] => Array.from({ length: n }, (_, i) => key(`uk_${i}`));
const sessions = Array.from({ length: 10_000 }, (_, i) => `session-${i}`);

function assignments(pool: KeyPool): Map<string, string> {
  return new Map(sessions.map((s) => [s, pool.order(s, 0, 1)[0]!.id]));
}

describe("rendezvous pinning", () => {
  it("gives each session the same key every time, and spreads sessions evenly", () => {
    const pool = new KeyPool(keys(10));
    const first = assignments(pool);
    expect(assignments(pool)).toEqual(first);
    const counts = new Map<string, number>();
    for (const id of first.values()) counts.set(id, (counts.get(id) ?? 0) + 1);
    // 10,000 sessions over 10 keys: binomial(10000, 0.1), sd 30; six sd either side cannot be missed by a fair spread.
    for (const n of counts.values()) expect(Math.abs(n - 1000)).toBeLessThan(180);
    expect(counts.size).toBe(10);
  });

  it("moves only the sessions of a key that is lost, exactly those, and none of the others", () => {
    for (const n of [5, 20]) {
      const all = keys(n);
      const before = assignments(new KeyPool(all));
      const lost = all[3]!;
      // The key cools down (unhealthy) rather than leaving the pool: the same as losing it for selection.
      lost.coolingUntil = 10;
      const after = new Map(sessions.map((s) => [s, new KeyPool(all).order(s, 5, 1)[0]!.id]));
      lost.coolingUntil = 0;
      const moved = sessions.filter((s) => before.get(s) !== after.get(s));
      const onLost = sessions.filter((s) => before.get(s) === lost.id);
      expect(moved).toEqual(onLost);
      expect(moved.every((s) => after.get(s) !== lost.id)).toBe(true);
      // About 1/N of the sessions: binomial bound, six sd.
      const expected = sessions.length / n;
      expect(Math.abs(moved.length - expected)).toBeLessThan(6 * Math.sqrt(sessions.length * (1 / n) * (1 - 1 / n)));
      // And when the key comes back, its sessions return to it.
      expect(assignments(new KeyPool(all))).toEqual(before);
    }
  });

  it("puts the pinned key first even when it is the busiest, then the rest least loaded", () => {
    const all = keys(4);
    const pinnedId = new KeyPool(all).order("s-1", 0, 1)[0]!.id;
    for (const k of all) k.inFlight = k.id === pinnedId ? 9 : 3;
    const idle = all.find((k) => k.id !== pinnedId)!;
    idle.inFlight = 0;
    const order = new KeyPool(all).order("s-1", 0);
    expect(order[0]!.id).toBe(pinnedId);
    expect(order[1]!.id).toBe(idle.id);
  });
});

describe("least loaded, for requests without a session", () => {
  it("picks the key with the fewest requests in flight", () => {
    const all = keys(5);
    all.forEach((k, i) => (k.inFlight = [4, 2, 0, 3, 1][i]!));
    expect(new KeyPool(all).order(undefined, 0).map((k) => k.id)).toEqual(["uk_2", "uk_4", "uk_1", "uk_3", "uk_0"]);
  });

  it("weighs in-flight requests by recent latency and error rate", () => {
    const fastBusy = key("fast-busy", { inFlight: 3, latencyEwmaMs: 100 }); // 4 x 100 = 400
    const slowIdle = key("slow-idle", { inFlight: 0, latencyEwmaMs: 2000 }); // 1 x 2000
    const failing = key("failing", { inFlight: 0, latencyEwmaMs: 100, errorRate: 0.9 }); // 100 / 0.1 = 1000
    expect(new KeyPool([slowIdle, failing, fastBusy]).order(undefined, 0).map((k) => k.id)).toEqual(["fast-busy", "failing", "slow-idle"]);
    expect(loadCost(key("fresh"), 0)).toBe(loadCost(key("measured", { latencyEwmaMs: 250 }), 0));
    // An error rate of 1 (or a NaN) still gives a finite cost: the key sorts last, it does not vanish.
    expect(Number.isFinite(loadCost(key("dead", { errorRate: 1 }), 0))).toBe(true);
    expect(loadCost(key("nan", { errorRate: Number.NaN }), 0)).toBe(loadCost(key("ok"), 0));
  });

  it("lets equally loaded keys take turns instead of the first taking every request", () => {
    const pool = new KeyPool(keys(4));
    const firsts = Array.from({ length: 8 }, () => pool.order(undefined, 0, 1)[0]!.id);
    expect(new Set(firsts).size).toBe(4);
    expect(firsts.slice(0, 4).sort()).toEqual(["uk_0", "uk_1", "uk_2", "uk_3"]);
  });
});

describe("health in the order", () => {
  it("puts cooling keys last, soonest back first, and leaves removed keys out", () => {
    const all = [key("a", { coolingUntil: 50 }), key("b"), key("c", { coolingUntil: 20 }), key("d", { removed: true }), key("e")];
    expect(new KeyPool(all).order(undefined, 10).map((k) => k.id)).toEqual(["b", "e", "c", "a"]);
    // A session is never pinned to a cooling key while a healthy one exists.
    for (const s of sessions.slice(0, 200)) expect(["b", "e"]).toContain(new KeyPool(all).order(s, 10, 1)[0]!.id);
    // All cooling: the soonest back still gets an attempt.
    expect(new KeyPool([key("x", { coolingUntil: 30 }), key("y", { coolingUntil: 20 })]).order("s", 10).map((k) => k.id)).toEqual(["y", "x"]);
  });

  it("gives the same order whether asked for a few keys (one pass) or all of them (one sort)", () => {
    const all = keys(60);
    all.forEach((k, i) => {
      k.inFlight = (i * 7) % 60;
      if (i % 9 === 0) k.coolingUntil = 100 + i;
      if (i % 17 === 0) k.removed = true;
    });
    const pool = new KeyPool(all);
    for (const session of [undefined, "s-1", "s-2"]) {
      const full = pool.order(session, 50).map((k) => k.id);
      expect(full).toHaveLength(60 - 4);
      for (const limit of [1, 2, 3, 10, 55]) expect(pool.order(session, 50, limit).map((k) => k.id)).toEqual(full.slice(0, limit));
    }
  });

  it("returns at most `limit` keys, the best ones, from a big pool", () => {
    const all = keys(1000);
    all.forEach((k, i) => (k.inFlight = 1000 - i));
    expect(new KeyPool(all).order(undefined, 0, 3).map((k) => k.id)).toEqual(["uk_999", "uk_998", "uk_997"]);
    const withSession = new KeyPool(all).order("s", 0, 3);
    expect(withSession).toHaveLength(3);
    expect(withSession.slice(1).map((k) => k.id)).toEqual(["uk_999", "uk_998", "uk_997"].filter((id) => id !== withSession[0]!.id).slice(0, 2));
  });
});
