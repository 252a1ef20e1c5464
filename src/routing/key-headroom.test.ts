/**
 * Headroom in key selection: less used accounts first among equally loaded ones, sessions
 * pinned until their key nears exhaustion, a passed reset counting as empty. Exact
 * outcomes over a fixed set of sessions; nothing here depends on timing.
 */
import { describe, expect, it } from "vitest";
import { poolKey } from "../testing/pool-key.js";
import { KeyPool, loadCost, type PoolKey } from "./key-pool.js";
import { NEAR_EXHAUSTION_PERCENT, headroomShare, recordUsage, usedPercent } from "./key-headroom.js";
import type { CodexUsage } from "../upstream/codex-usage.js";

const NOW = 1_767_000_000_000;
const HOUR = 3_600_000;

const key = (id: string): PoolKey => poolKey(id);

function usage(primary: number, secondary = 0, resetsAt = NOW + HOUR, observedAt = NOW): CodexUsage {
  return {
    primary: { usedPercent: primary, windowMinutes: 300, resetsAt },
    secondary: { usedPercent: secondary, windowMinutes: 10080, resetsAt: NOW + 100 * HOUR },
    credits: null,
    observedAt,
  };
}

describe("headroom of a key", () => {
  it("is the tighter window's, a key without usage has all of it, and a passed reset empties the window", () => {
    const k = key("a");
    expect(headroomShare(k, NOW)).toBe(1);
    recordUsage(k, usage(30, 60));
    expect(usedPercent(k, NOW)).toBe(60);
    expect(headroomShare(k, NOW)).toBeCloseTo(0.4);
    recordUsage(k, usage(100, 10, NOW + HOUR, NOW + 1));
    expect(usedPercent(k, NOW)).toBe(100);
    expect(headroomShare(k, NOW)).toBeGreaterThan(0);
    expect(usedPercent(k, NOW + HOUR)).toBe(10);
  });

  it("keeps the newest snapshot when answers finish out of order", () => {
    const k = key("a");
    recordUsage(k, usage(50, 0, NOW + HOUR, NOW + 10));
    recordUsage(k, usage(20, 0, NOW + HOUR, NOW + 5));
    expect(usedPercent(k, NOW)).toBe(50);
  });

  it("divides the load cost by the share left", () => {
    const full = key("full");
    const half = key("half");
    recordUsage(half, usage(50));
    expect(loadCost(half, NOW)).toBeCloseTo(2 * loadCost(full, NOW));
  });
});

describe("least-loaded selection with headroom", () => {
  it("prefers the account with more headroom among equally loaded ones, whichever key the scan starts at", () => {
    const keys = ["a", "b", "c"].map(key);
    recordUsage(keys[0]!, usage(70));
    recordUsage(keys[1]!, usage(10, 20));
    recordUsage(keys[2]!, usage(40));
    const pool = new KeyPool(keys);
    for (let i = 0; i < 6; i++) expect(pool.order(undefined, NOW, 3).map((k) => k.id)).toEqual(["b", "c", "a"]);
    for (let i = 0; i < 6; i++) expect(pool.order(undefined, NOW).map((k) => k.id)).toEqual(["b", "c", "a"]);
  });

  it("still sends to a busier account when the one with headroom is much busier", () => {
    const keys = ["a", "b"].map(key);
    recordUsage(keys[0]!, usage(0));
    recordUsage(keys[1]!, usage(50));
    keys[0]!.inFlight = 3; // cost 4 units against b's 1 × 2
    expect(new KeyPool(keys).order(undefined, NOW, 1)[0]!.id).toBe("b");
  });
});

describe("session pinning with headroom", () => {
  const sessions = Array.from({ length: 2000 }, (_, i) => `s-${i}`);

  it("keeps every session on its key while the key has headroom, and moves only the sessions of a key near exhaustion", () => {
    const keys = ["a", "b", "c", "d"].map(key);
    for (const k of keys) recordUsage(k, usage(10));
    const pool = new KeyPool(keys);
    const before = new Map(sessions.map((s) => [s, pool.order(s, NOW, 1)[0]!.id]));
    // Heavily used but below the threshold: nobody moves.
    recordUsage(keys[0]!, usage(NEAR_EXHAUSTION_PERCENT - 1, 0, NOW + HOUR, NOW + 1));
    for (const s of sessions) expect(pool.order(s, NOW, 1)[0]!.id).toBe(before.get(s));
    // At the threshold: a's sessions move, everyone else stays.
    recordUsage(keys[0]!, usage(NEAR_EXHAUSTION_PERCENT, 0, NOW + HOUR, NOW + 2));
    let moved = 0;
    for (const s of sessions) {
      const now = pool.order(s, NOW, 1)[0]!.id;
      if (before.get(s) === "a") {
        expect(now).not.toBe("a");
        moved++;
      } else expect(now).toBe(before.get(s));
    }
    expect(moved).toBeGreaterThan(0);
    // After the window's reset the sessions come back.
    for (const s of sessions) expect(pool.order(s, NOW + HOUR, 1)[0]!.id).toBe(before.get(s));
  });

  it("stays pinned when every key is near exhaustion", () => {
    const keys = ["a", "b", "c"].map(key);
    const pool = new KeyPool(keys);
    const before = new Map(sessions.map((s) => [s, pool.order(s, NOW, 1)[0]!.id]));
    for (const k of keys) recordUsage(k, usage(99));
    for (const s of sessions) expect(pool.order(s, NOW, 1)[0]!.id).toBe(before.get(s));
  });
});
