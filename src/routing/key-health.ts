/**
 * Key health behind a small port: the order in which a pool's keys are tried,
 * a lease for each attempt on a key, and a report of how the attempt went.
 * Today's engine keeps health in this process (on the pool's key objects, so
 * it survives a catalog reload); a shared engine for a cluster implements the
 * same three calls.
 */
import type { KeyPool, PoolKey } from "./key-pool.js";

/** Why an attempt on a key failed, as far as the key's health is concerned. */
export type FailureClass = "rate_limited" | "server_error" | "network" | "auth";

export type KeyOutcome = "ok" | "neutral" | FailureClass;

/** One attempt's hold on a key: counted in flight until reported. */
export interface KeyLease {
  readonly key: PoolKey;
}

export interface KeyHealth {
  /** Keys to try, best first (see KeyPool.order). */
  order(pool: KeyPool, affinity: string | undefined, now: number, limit?: number): PoolKey[];
  acquire(key: PoolKey): KeyLease;
  /**
   * How the attempt on the leased key ended: "ok", a failure class, or
   * "neutral" (it says nothing about the key: the client left, or the upstream
   * refused the request itself). A lease is reported once; later reports are
   * ignored. `retryAfterMs` is the upstream's own wish and wins over the
   * default backoff.
   */
  report(lease: KeyLease, outcome: KeyOutcome, retryAfterMs?: number): void;
}

const BASE_COOLDOWN_MS: Record<Exclude<FailureClass, "auth">, number> = { rate_limited: 15_000, server_error: 5_000, network: 2_000 };
const MAX_COOLDOWN_MS = 300_000;

class LocalLease implements KeyLease {
  reported = false;
  constructor(readonly key: PoolKey) {}
}

/** Health kept in this process: in-flight counts, exponential cooldown, removal on an auth failure. */
export function createLocalKeyHealth(now: () => number = Date.now): KeyHealth {
  return {
    order: (pool, affinity, at, limit) => pool.order(affinity, at, limit),
    acquire(key) {
      key.inFlight++;
      return new LocalLease(key);
    },
    report(lease, outcome, retryAfterMs) {
      if (!(lease instanceof LocalLease) || lease.reported) return;
      lease.reported = true;
      const key = lease.key;
      key.inFlight--;
      if (outcome === "neutral") return;
      if (outcome === "ok") {
        key.failures = 0;
        key.coolingUntil = 0;
        return;
      }
      key.failures++;
      if (outcome === "auth") {
        // Rejected as invalid: out of the pool until an admin changes the key (a reload).
        key.removed = true;
        return;
      }
      const backoff = Math.min(BASE_COOLDOWN_MS[outcome] * 2 ** Math.min(key.failures - 1, 5), MAX_COOLDOWN_MS);
      key.coolingUntil = now() + (retryAfterMs ?? backoff);
    },
  };
}
