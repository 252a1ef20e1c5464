/** A fresh, idle pool key for routing tests: healthy, nothing in flight, no history. */
import type { PoolKey } from "../routing/key-pool.js";

export function poolKey(id: string, over: Partial<PoolKey> = {}): PoolKey {
  return {
    id,
    name: id,
    secret: "s",
    fingerprint: id,
    inFlight: 0,
    coolingUntil: 0,
    failures: 0,
    removed: false,
    latencyEwmaMs: 0,
    errorRate: 0,
    ...over,
  };
}
