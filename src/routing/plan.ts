/**
 * Chooses the ordered list of (upstream, key) attempts for one request and the
 * lane each uses, across the route's tiers (docs/routing.md#tiers). The lane is decided here and nowhere else: the same wire
 * protocol on both sides → passthrough, unless the upstream only streams and
 * the client did not ask for a stream (the answer must then be folded, which
 * is the translate lane's work); otherwise → translate.
 */
import { streamsOnly, type ClientProtocol, type UpstreamProtocol } from "../canonical/protocols.js";
import type { CatalogSnapshot, UpstreamTarget } from "./catalog.js";
import type { KeyHealth } from "./key-health.js";
import { hash32, rendezvous } from "./hashing.js";
import { isHealthy, type PoolKey } from "./key-pool.js";
import { resolveModel, speaksNatively, type ModelResolution, type ResolvedTier, type TierTarget } from "./resolve-model.js";
import type { TierRouter } from "./tier-router.js";

export type Lane = "passthrough" | "translate";

export interface PlannedAttempt {
  target: UpstreamTarget;
  key: PoolKey;
  lane: Lane;
  /** The model name sent to this upstream (the requested one unless a mapping rule chose another). */
  model: string;
  /** The route's tier it belongs to, 0 = primary (one tier when no rule has tiers). */
  tier: number;
}

export function laneFor(client: ClientProtocol, upstream: UpstreamProtocol, clientStreams = true): Lane {
  if (!speaksNatively(client, upstream)) return "translate";
  return clientStreams || !streamsOnly(upstream) ? "passthrough" : "translate";
}

export interface PlanOptions {
  model: string;
  client: ClientProtocol;
  clientStreams: boolean;
  /** Session key that pins a conversation to one upstream key (and one target of a weighted tier). */
  affinity: string | undefined;
  maxAttempts: number;
  now: number;
  /** The model's resolution, when the caller resolved it already (with the account's mappings); else resolved here without them. */
  resolution?: ModelResolution;
  /** The caller's account and ancestors, nearest first, when resolved here: which tenant-owned upstreams it may use. */
  chain?: readonly { readonly id: string }[];
  /** Tier hysteresis; without it a request simply starts at the first tier with a healthy key. */
  router?: TierRouter;
  /** Plan without changing the router's state (explain asks what would happen). */
  readOnly?: boolean;
  /** Uniform in [0, 1): how a request without a session picks among a tier's weighted targets. */
  random?: () => number;
}

export interface Plan {
  attempts: PlannedAttempt[];
  /** Some upstream serves the model (so an empty plan means no usable key, not an unknown model). */
  servedAnywhere: boolean;
  /** The tier the plan starts at: the one that would serve now. */
  tier: number;
  /** Whether each tier has a healthy key now (only computed when the route has more than one tier). */
  healthyTiers: readonly boolean[];
}

/** Whether any upstream of any target of the tier has a healthy key (usually the first key looked at). */
export function tierHealthy(tier: ResolvedTier, now: number): boolean {
  for (const t of tier.targets) for (const u of t.upstreams) for (const k of u.pool.keys) if (isHealthy(k, now)) return true;
  return false;
}

/**
 * A tier's targets in the order to try. One target: itself. Several: a weighted draw
 * without replacement, by exponential races (each target draws -ln(u)/weight, smallest
 * first), so the first target is chosen with probability weight/total. With a session
 * the draw's u is a rendezvous hash of the session and the target, so the session always
 * gets the same order (it stays put) and removing a target moves only its own sessions;
 * without one it is random per request.
 */
export function orderTargets(tier: ResolvedTier, affinity: string | undefined, random: () => number = Math.random): readonly TierTarget[] {
  const targets = tier.targets;
  if (targets.length < 2) return targets;
  const session = affinity === undefined ? 0 : hash32(affinity);
  const drawn = targets.map((t) => {
    const u = affinity === undefined ? 1 - random() : (rendezvous(session, t.hash) + 0.5) / 4294967296;
    return { t, race: -Math.log(u) / t.weight };
  });
  drawn.sort((a, b) => a.race - b.race);
  return drawn.map((d) => d.t);
}

/** The key a session would get first in a tier: its first target's first upstream with a healthy key. */
function firstHealthyKey(health: KeyHealth, tier: ResolvedTier, o: PlanOptions): PoolKey | undefined {
  for (const t of orderTargets(tier, o.affinity, o.random)) {
    for (const u of t.upstreams) {
      const k = health.order(u.pool, o.affinity, o.now, 1)[0];
      if (k && isHealthy(k, o.now)) return k;
    }
  }
  return undefined;
}

/** Where the request starts: the session's pinned tier while its key stays healthy, else where new sessions start. */
function startTier(health: KeyHealth, resolution: ModelResolution, healthy: readonly boolean[], o: PlanOptions): number {
  const router = o.router;
  if (!router || resolution.routeKey === "") {
    const first = healthy.indexOf(true);
    return first < 0 ? 0 : first;
  }
  const fresh = router.newSessionTier(resolution.routeKey, healthy, o.now, !o.readOnly);
  if (o.affinity === undefined) return fresh;
  const pin = router.pinned(resolution.routeKey, o.affinity);
  if (!pin || pin.tier === fresh || pin.tier >= healthy.length || !healthy[pin.tier]) return fresh;
  return firstHealthyKey(health, resolution.tiers[pin.tier]!, o)?.id === pin.keyId ? pin.tier : fresh;
}

/**
 * Attempts in order: the starting tier (see {@link startTier}), then the other tiers in
 * order; within a tier, targets by weight and each target's upstreams in resolution
 * order; within an upstream, its keys by health (health changes per request, so this
 * part is not cached). Healthy keys of every tier come before any cooling key, which are
 * kept as a last resort; at most `maxAttempts` in all, and a key is tried once.
 */
export function planAttempts(snapshot: CatalogSnapshot, health: KeyHealth, o: PlanOptions): Plan {
  const resolution = o.resolution ?? resolveModel(snapshot, o.client, o.model, undefined, o.chain);
  const { tiers, servedAnywhere } = resolution;
  const max = o.maxAttempts;
  const healthy = tiers.length > 1 ? tiers.map((t) => tierHealthy(t, o.now)) : ALL_HEALTHY;
  const start = tiers.length > 1 ? startTier(health, resolution, healthy, o) : 0;
  const attempts: PlannedAttempt[] = [];
  const lastResort: PlannedAttempt[] = [];
  // The same key may serve the same model in two tiers (a target without an upstream overlaps one with): try it once.
  const seen = tiers.length > 1 ? new Set<string>() : undefined;
  for (let n = 0; n < tiers.length && attempts.length < max; n++) {
    const tier = n === 0 ? start : n <= start ? n - 1 : n;
    for (const target of orderTargets(tiers[tier]!, o.affinity, o.random)) {
      for (const upstream of target.upstreams) {
        const lane = laneFor(o.client, upstream.protocol, o.clientStreams);
        for (const key of health.order(upstream.pool, o.affinity, o.now, max)) {
          if (seen) {
            const id = `${upstream.upstream.id}\0${key.id}\0${target.model}`;
            if (seen.has(id)) continue;
            seen.add(id);
          }
          const planned = { target: upstream, key, lane, model: target.model, tier };
          if (isHealthy(key, o.now)) {
            attempts.push(planned);
            if (attempts.length >= max) break;
          } else if (lastResort.length < max) lastResort.push(planned);
        }
        if (attempts.length >= max) break;
      }
      if (attempts.length >= max) break;
    }
  }
  for (const planned of lastResort) {
    if (attempts.length >= max) break;
    attempts.push(planned);
  }
  if (o.router && !o.readOnly && o.affinity !== undefined && resolution.routeKey !== "" && attempts[0]) {
    o.router.pin(resolution.routeKey, o.affinity, attempts[0].tier, attempts[0].key.id);
  }
  return { attempts, servedAnywhere, tier: attempts[0]?.tier ?? start, healthyTiers: healthy };
}

const ALL_HEALTHY: readonly boolean[] = Object.freeze([true]);
