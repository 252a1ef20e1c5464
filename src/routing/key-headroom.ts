/**
 * Subscription headroom per key (docs/codex.md#subscription-headroom-and-cooldowns,
 * docs/routing.md#key-selection): the Codex backend tells on every answer how much of the
 * account's plan windows is used (upstream/codex-usage.ts reads it); the last snapshot is
 * kept on the key object, where key selection reads it without allocating.
 *
 * - Least-loaded selection divides a key's load cost by the share of its tighter window
 *   left, so of two equally loaded accounts the one with more headroom goes first, and an
 *   account near its limit takes traffic only when the others are much busier.
 * - A session stays on its pinned key until that key's tighter window reaches
 *   {@link NEAR_EXHAUSTION_PERCENT}; it then moves to the next rendezvous choice with
 *   headroom (and comes back after the reset).
 *
 * A window whose reset time has passed counts as empty until the next answer says otherwise.
 */
import type { PoolKey } from "./key-pool.js";
import type { CodexUsage, UsageWindow } from "../upstream/codex-usage.js";

export type { CodexUsage, UsageWindow } from "../upstream/codex-usage.js";

/**
 * A session leaves its pinned key when the key's tighter window is used this much (percent).
 * High, because moving costs the session its prompt cache on the account, while staying costs
 * at worst one `usage_limit_reached` answer, after which the request fails over anyway.
 */
export const NEAR_EXHAUSTION_PERCENT = 95;

/** The share of a window counted as left at most this low, so an exhausted key's cost stays finite and it sorts last. */
const MIN_SHARE_LEFT = 0.02;

/** Keeps an answer's usage snapshot on the key (the newest answer wins). */
export function recordUsage(key: PoolKey, usage: CodexUsage): void {
  // Answers finish out of order; an older snapshot never replaces a newer one.
  if (key.usage && key.usage.observedAt > usage.observedAt) return;
  key.usage = usage;
}

function usedAt(w: UsageWindow | null, now: number): number {
  if (!w) return 0;
  return w.resetsAt !== null && w.resetsAt <= now ? 0 : w.usedPercent;
}

/** The used percent of the key's tighter window at `now` (0 when unknown, or when its reset has passed). */
export function usedPercent(key: PoolKey, now: number): number {
  const u = key.usage;
  if (!u) return 0;
  return Math.max(usedAt(u.primary, now), usedAt(u.secondary, now));
}

/** The share of the key's tighter window left, MIN_SHARE_LEFT..1 (1 for a key without usage, e.g. an API key). */
export function headroomShare(key: PoolKey, now: number): number {
  return key.usage ? Math.max(1 - usedPercent(key, now) / 100, MIN_SHARE_LEFT) : 1;
}

/** Whether a session should leave this key for one with headroom. */
export function nearExhaustion(key: PoolKey, now: number): boolean {
  return key.usage !== undefined && usedPercent(key, now) >= NEAR_EXHAUSTION_PERCENT;
}
