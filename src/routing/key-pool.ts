/**
 * A pool of credentials for one upstream, ordered by health (kept on the keys by
 * routing/key-health.ts): keys that fail cool down for a while; a key the upstream
 * rejects as invalid is taken out until an admin changes it.
 *
 * Which healthy key a request gets (docs/routing.md#key-selection):
 * - a request with a session (its cache-affinity key) goes to the key with the highest
 *   rendezvous score for that session, so prompt caches (which are per upstream account)
 *   keep hitting, and losing a key moves only the sessions that were on it: every other
 *   key's score for a session is unchanged, so its winner is too. A subscription account
 *   near the end of its usage window (key-headroom.ts) loses its sessions the same way;
 * - a request without one goes to the least loaded key: in-flight requests weighted by
 *   the key's recent latency and error rate, divided by the share of its usage window left
 *   (subscription accounts; 1 for API keys).
 *
 * Selection is one pass over the pool, keeping only the few best keys the planner asks
 * for (`limit`), so a pool of a thousand keys is never sorted per request.
 */
import { hash32, rendezvous } from "./hashing.js";
import type { KeyStats } from "./key-health.js";
import { headroomShare, nearExhaustion, type CodexUsage } from "./key-headroom.js";

export interface PoolKey {
  readonly id: string;
  readonly name: string;
  readonly secret: string;
  readonly fingerprint: string;
  inFlight: number;
  /** Epoch ms until which the key is skipped. */
  coolingUntil: number;
  /** Consecutive failures, for exponential cooldown. */
  failures: number;
  /** Rejected as invalid (401/403): skipped until an admin replaces the key (or a probe restores it). */
  removed: boolean;
  /** Recent latency (an exponentially weighted moving average, ms); 0 = not measured yet. Kept by key health. */
  latencyEwmaMs: number;
  /** Recent share of failed attempts, 0..1; 0 = none or not measured. Kept by key health. */
  errorRate: number;
  /** The health state machine's own state (routing/key-health.ts), made on the key's first lease. */
  health?: KeyStats;
  /** The upstream's name, for metrics and log lines about the key. */
  upstream?: string;
  /** The subscription account's usage windows from its last answer (Codex backend; routing/key-headroom.ts). */
  usage?: CodexUsage;
}

/** Whether a key may take requests now: in the pool and not cooling down. */
export function isHealthy(key: PoolKey, now: number): boolean {
  return !key.removed && key.coolingUntil <= now;
}

/**
 * Latency assumed for a key not measured yet, so a fresh key competes on in-flight count
 * rather than looking free (latency 0 would make its cost 0 however busy it is).
 */
const UNMEASURED_LATENCY_MS = 250;
/** Error rates above this count as this: a key failing every attempt is still finite, it just sorts last. */
const MAX_ERROR_RATE = 0.95;

/**
 * What sending one more request to the key is expected to cost: the requests ahead of it
 * (in flight, plus this one) times how long each takes, divided by the chance it succeeds
 * (a failing key costs a retry elsewhere) and by the share of its subscription's usage
 * window left (an account at 80 % costs five times one at 0 %: headroom is spent evenly).
 */
export function loadCost(key: PoolKey, now: number): number {
  const latency = key.latencyEwmaMs > 0 ? key.latencyEwmaMs : UNMEASURED_LATENCY_MS;
  // `!(x > 0)` also turns NaN into 0.
  const errorRate = !(key.errorRate > 0) ? 0 : Math.min(key.errorRate, MAX_ERROR_RATE);
  return ((key.inFlight + 1) * latency) / (1 - errorRate) / headroomShare(key, now);
}

/** Insert `key` with `score` into the best-first list, keeping at most `limit` (lower score is better). */
function keepBest(keys: PoolKey[], scores: number[], key: PoolKey, score: number, limit: number): void {
  if (keys.length === limit && score >= scores[limit - 1]!) return;
  let i = keys.length < limit ? keys.length : limit - 1;
  while (i > 0 && scores[i - 1]! > score) {
    keys[i] = keys[i - 1]!;
    scores[i] = scores[i - 1]!;
    i--;
  }
  keys[i] = key;
  scores[i] = score;
}

export class KeyPool {
  /** Each key id's hash, computed once per snapshot: a session's score for a key is one integer mix. */
  private readonly hashes: Uint32Array;
  /** Where the least-loaded scan starts, advanced per request: equally loaded keys take turns instead of the first one taking all. */
  private cursor = 0;

  constructor(readonly keys: PoolKey[]) {
    this.hashes = Uint32Array.from(keys, (k) => hash32(k.id));
  }

  /**
   * Up to `limit` keys in the order to try: healthy ones first (the session's rendezvous
   * winner first, then least loaded), then cooling ones, soonest back first, as a last
   * resort so a fully cooled pool still gets an attempt rather than failing outright.
   * Removed keys never appear. The session's winner is chosen among keys with headroom
   * left (key-headroom.ts); only when every healthy key is near exhaustion among all.
   */
  order(affinity: string | undefined, now: number, limit = this.keys.length): PoolKey[] {
    const n = this.keys.length;
    if (n === 0 || limit <= 0) return [];
    const healthy: PoolKey[] = [];
    const healthyScores: number[] = [];
    const cooling: PoolKey[] = [];
    const coolingScores: number[] = [];
    let pinned: PoolKey | undefined;
    if (affinity !== undefined) {
      const session = hash32(affinity);
      let best = -1;
      let bestSpent = -1;
      let spent: PoolKey | undefined;
      for (let i = 0; i < n; i++) {
        const k = this.keys[i]!;
        if (!isHealthy(k, now)) continue;
        // Ties (one in four billion) go to the earlier key, the same on every node.
        const score = rendezvous(session, this.hashes[i]!);
        if (nearExhaustion(k, now)) {
          if (score > bestSpent) {
            bestSpent = score;
            spent = k;
          }
        } else if (score > best) {
          best = score;
          pinned = k;
        }
      }
      pinned ??= spent;
    }
    const rest = pinned ? limit - 1 : limit;
    const start = affinity === undefined ? this.cursor++ % n : 0;
    if (this.cursor >= n) this.cursor = 0;
    if (limit >= n) return this.orderAll(pinned, start, now);
    for (let j = 0; j < n; j++) {
      const k = this.keys[(start + j) % n]!;
      if (k.removed || k === pinned) continue;
      if (k.coolingUntil > now) keepBest(cooling, coolingScores, k, k.coolingUntil, limit);
      else if (rest > 0) keepBest(healthy, healthyScores, k, loadCost(k, now), rest);
    }
    const ordered = pinned ? [pinned, ...healthy] : healthy;
    for (const k of cooling) {
      if (ordered.length >= limit) break;
      ordered.push(k);
    }
    return ordered;
  }

  /** Every key in order (explain, and callers that want them all): one sort rather than insertion into a list as long as the pool. */
  private orderAll(pinned: PoolKey | undefined, start: number, now: number): PoolKey[] {
    const healthy: Array<{ k: PoolKey; cost: number; at: number }> = [];
    const cooling: Array<{ k: PoolKey; at: number }> = [];
    const n = this.keys.length;
    for (let j = 0; j < n; j++) {
      const k = this.keys[(start + j) % n]!;
      if (k.removed || k === pinned) continue;
      if (k.coolingUntil > now) cooling.push({ k, at: j });
      else healthy.push({ k, cost: loadCost(k, now), at: j });
    }
    // Ties keep scan order, as the one-pass selection does.
    healthy.sort((a, b) => a.cost - b.cost || a.at - b.at);
    cooling.sort((a, b) => a.k.coolingUntil - b.k.coolingUntil || a.at - b.at);
    return [...(pinned ? [pinned] : []), ...healthy.map((e) => e.k), ...cooling.map((e) => e.k)];
  }
}
