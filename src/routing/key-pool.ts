/**
 * A pool of credentials for one upstream, ordered by health (kept on the keys
 * by routing/key-health.ts): keys that fail cool down for a while; a key the
 * upstream rejects as invalid is taken out until an admin changes it. A cache-affinity key pins a session to one key by
 * rendezvous hashing, so prompt caches (which are per upstream account) keep hitting.
 */
import { createHash } from "node:crypto";
import type { KeyStats } from "./key-health.js";

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
  /** The health state machine's own state (routing/key-health.ts), made on the key's first lease. */
  health?: KeyStats;
  /** The upstream's name, for metrics and log lines about the key. */
  upstream?: string;
}

export class KeyPool {
  constructor(readonly keys: PoolKey[]) {}

  /**
   * Keys in the order to try: healthy ones first (affinity winner first, then
   * least in-flight), then cooling ones as a last resort so a fully cooled pool
   * still gets one attempt rather than failing outright.
   */
  order(affinity: string | undefined, now: number): PoolKey[] {
    const healthy: PoolKey[] = [];
    const cooling: PoolKey[] = [];
    for (const k of this.keys) {
      if (k.removed) continue;
      (k.coolingUntil > now ? cooling : healthy).push(k);
    }
    if (affinity !== undefined && healthy.length > 1) {
      let best = healthy[0]!;
      let bestScore = -1;
      for (const k of healthy) {
        const score = rendezvousScore(affinity, k.id);
        if (score > bestScore) {
          bestScore = score;
          best = k;
        }
      }
      const rest = healthy.filter((k) => k !== best).sort((a, b) => a.inFlight - b.inFlight);
      return [best, ...rest, ...cooling.sort((a, b) => a.coolingUntil - b.coolingUntil)];
    }
    healthy.sort((a, b) => a.inFlight - b.inFlight);
    cooling.sort((a, b) => a.coolingUntil - b.coolingUntil);
    return [...healthy, ...cooling];
  }
}

function rendezvousScore(affinity: string, keyId: string): number {
  return createHash("sha1").update(affinity).update("\0").update(keyId).digest().readUInt32BE(0);
}
