/**
 * Chooses the ordered list of (upstream, key) attempts for one request, and the
 * lane each would use. The lane is decided here and nowhere else: same wire
 * protocol on both sides → passthrough; otherwise → translate.
 */
import type { ClientProtocol } from "../protocols/codec.js";
import type { CatalogSnapshot, UpstreamTarget } from "../routing/catalog.js";
import type { PoolKey } from "../routing/key-pool.js";
import type { UpstreamProtocol } from "../storage/ports.js";

export type Lane = "passthrough" | "translate";

export interface PlannedAttempt {
  target: UpstreamTarget;
  key: PoolKey;
  lane: Lane;
}

const NATIVE: Record<ClientProtocol, readonly UpstreamProtocol[]> = {
  "openai-chat": ["openai-chat"],
  "openai-responses": ["openai-responses", "codex"],
  "anthropic-messages": ["anthropic"],
};

export function laneFor(client: ClientProtocol, upstream: UpstreamProtocol): Lane {
  return NATIVE[client].includes(upstream) ? "passthrough" : "translate";
}

export interface PlanOptions {
  model: string;
  client: ClientProtocol;
  /** Session key that pins a conversation to one upstream key. */
  affinity: string | undefined;
  maxAttempts: number;
  /** Whether the translate lane is available for this route. */
  allowTranslate: boolean;
  now: number;
}

/** Most distinct (client, model) pairs remembered per catalog snapshot; past it the cache starts over. */
const CACHE_LIMIT = 4096;
const servingCache = new WeakMap<CatalogSnapshot, Map<string, { targets: UpstreamTarget[]; servedAnywhere: boolean }>>();

/**
 * Upstreams serving `model` for this client, native-protocol ones first (in
 * config order). Resolved once per (snapshot, client, model, translate) and
 * cached on the snapshot, so a reload invalidates it by construction.
 */
function servingTargets(snapshot: CatalogSnapshot, o: PlanOptions): { targets: UpstreamTarget[]; servedAnywhere: boolean } {
  let cache = servingCache.get(snapshot);
  if (!cache) {
    cache = new Map();
    servingCache.set(snapshot, cache);
  }
  const key = `${o.client}\0${o.allowTranslate ? 1 : 0}\0${o.model}`;
  let hit = cache.get(key);
  if (!hit) {
    const serving = snapshot.upstreams.filter((t) => t.models.matches(o.model));
    const native = serving.filter((t) => laneFor(o.client, t.protocol) === "passthrough");
    const foreign = o.allowTranslate ? serving.filter((t) => laneFor(o.client, t.protocol) === "translate") : [];
    hit = { targets: [...native, ...foreign], servedAnywhere: serving.length > 0 };
    if (cache.size >= CACHE_LIMIT) cache.clear();
    cache.set(key, hit);
  }
  return hit;
}

/**
 * Attempts in order: each serving upstream contributes its keys in pool order
 * (health changes per request, so that part is not cached); attempts move to
 * the next upstream only after an upstream's keys, capped at `maxAttempts`.
 */
export function planAttempts(snapshot: CatalogSnapshot, o: PlanOptions): { attempts: PlannedAttempt[]; servedAnywhere: boolean } {
  const { targets, servedAnywhere } = servingTargets(snapshot, o);
  const attempts: PlannedAttempt[] = [];
  for (const target of targets) {
    const lane = laneFor(o.client, target.protocol);
    for (const key of target.pool.order(o.affinity, o.now)) {
      if (attempts.length >= o.maxAttempts) return { attempts, servedAnywhere };
      attempts.push({ target, key, lane });
    }
  }
  return { attempts, servedAnywhere };
}
