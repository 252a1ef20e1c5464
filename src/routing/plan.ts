/**
 * Chooses the ordered list of (upstream, key) attempts for one request and the
 * lane each uses. The lane is decided here and nowhere else: the same wire
 * protocol on both sides → passthrough, unless the upstream only streams and
 * the client did not ask for a stream (the answer must then be folded, which
 * is the translate lane's work); otherwise → translate.
 */
import { streamsOnly, type ClientProtocol, type UpstreamProtocol } from "../canonical/protocols.js";
import type { CatalogSnapshot, UpstreamTarget } from "./catalog.js";
import type { KeyHealth } from "./key-health.js";
import type { PoolKey } from "./key-pool.js";
import { resolveModel, speaksNatively, type ModelResolution } from "./resolve-model.js";

export type Lane = "passthrough" | "translate";

export interface PlannedAttempt {
  target: UpstreamTarget;
  key: PoolKey;
  lane: Lane;
  /** The model name sent to this upstream (the requested one unless a mapping rule chose another). */
  model: string;
}

export function laneFor(client: ClientProtocol, upstream: UpstreamProtocol, clientStreams = true): Lane {
  if (!speaksNatively(client, upstream)) return "translate";
  return clientStreams || !streamsOnly(upstream) ? "passthrough" : "translate";
}

export interface PlanOptions {
  model: string;
  client: ClientProtocol;
  clientStreams: boolean;
  /** Session key that pins a conversation to one upstream key. */
  affinity: string | undefined;
  maxAttempts: number;
  now: number;
  /** The model's resolution, when the caller resolved it already (with the account's mappings); else resolved here without them. */
  resolution?: ModelResolution;
  /** The caller's account and ancestors, nearest first, when resolved here: which tenant-owned upstreams it may use. */
  chain?: readonly { readonly id: string }[];
}

export interface Plan {
  attempts: PlannedAttempt[];
  /** Some upstream serves the model (so an empty plan means no usable key, not an unknown model). */
  servedAnywhere: boolean;
}

/**
 * Attempts in order: each serving upstream contributes its keys in health
 * order (health changes per request, so that part is not cached); attempts
 * move to the next upstream only after an upstream's keys, capped at `maxAttempts`.
 */
export function planAttempts(snapshot: CatalogSnapshot, health: KeyHealth, o: PlanOptions): Plan {
  const { targets, servedAnywhere, served } = o.resolution ?? resolveModel(snapshot, o.client, o.model, undefined, o.chain);
  const attempts: PlannedAttempt[] = [];
  for (const target of targets) {
    const lane = laneFor(o.client, target.protocol, o.clientStreams);
    for (const key of health.order(target.pool, o.affinity, o.now)) {
      if (attempts.length >= o.maxAttempts) return { attempts, servedAnywhere };
      attempts.push({ target, key, lane, model: served });
    }
  }
  return { attempts, servedAnywhere };
}
