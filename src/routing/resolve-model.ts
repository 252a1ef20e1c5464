/**
 * Which upstreams serve a model for a client: native-protocol upstreams first
 * (in config order), then the others. Model mappings land here.
 */
import type { ClientProtocol, UpstreamProtocol } from "../canonical/protocols.js";
import type { CatalogSnapshot, UpstreamTarget } from "./catalog.js";

export interface Resolution {
  targets: UpstreamTarget[];
  servedAnywhere: boolean;
}

const NATIVE_UPSTREAMS: Record<ClientProtocol, readonly UpstreamProtocol[]> = {
  "openai-chat": ["openai-chat"],
  "openai-responses": ["openai-responses", "codex"],
  "anthropic-messages": ["anthropic"],
};

/** Whether the upstream speaks the client's own protocol (the Codex backend counts as Responses). */
export function speaksNatively(client: ClientProtocol, upstream: UpstreamProtocol): boolean {
  return NATIVE_UPSTREAMS[client].includes(upstream);
}

/** Most distinct (client, model) pairs remembered per catalog snapshot; past it the cache starts over. */
const CACHE_LIMIT = 4096;
const cacheBySnapshot = new WeakMap<CatalogSnapshot, Map<string, Resolution>>();

/**
 * Resolved once per (snapshot, client, model) and cached on the snapshot, so
 * a reload invalidates it by construction.
 */
export function resolveModel(snapshot: CatalogSnapshot, client: ClientProtocol, model: string): Resolution {
  let cache = cacheBySnapshot.get(snapshot);
  if (!cache) {
    cache = new Map();
    cacheBySnapshot.set(snapshot, cache);
  }
  const key = `${client}\0${model}`;
  let hit = cache.get(key);
  if (!hit) {
    const serving = snapshot.upstreams.filter((t) => t.models.matches(model));
    hit = {
      targets: [...serving.filter((t) => speaksNatively(client, t.protocol)), ...serving.filter((t) => !speaksNatively(client, t.protocol))],
      servedAnywhere: serving.length > 0,
    };
    if (cache.size >= CACHE_LIMIT) cache.clear();
    cache.set(key, hit);
  }
  return hit;
}
