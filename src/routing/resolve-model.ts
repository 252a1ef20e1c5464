/**
 * Which upstreams serve a model for a client, after mapping the requested model to the
 * one served (the account's rules, then the gateway's; docs/routing.md). Upstreams
 * owned by an account on the caller's chain come first, the nearest owner's first,
 * then the gateway-wide ones (a tenant's own key pool is what it pays for and expects
 * to be used; the gateway's pool is the fallback); within each of those tiers,
 * native-protocol upstreams first (in config order), then the others. Upstreams owned
 * by anyone else are invisible: they neither serve nor count as serving the model.
 */
import type { ClientProtocol, UpstreamProtocol } from "../canonical/protocols.js";
import type { MappingRule } from "../canonical/model-map.js";
import { LRUCache } from "lru-cache";
import { ownedScope, visibleIn, type CatalogSnapshot, type UpstreamTarget } from "./catalog.js";

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

/**
 * The account's side of mapping, as the pipeline hands it over (routing does not import
 * governance): its own rules and what it may use.
 */
export interface MappingSource {
  /**
   * Names the rule set: equal keys must mean equal rules and allow-lists (the pipeline
   * uses the principals snapshot version and the account id, i.e. the policy version).
   */
  readonly key: string;
  /** The account's own rule for a requested model (its policy, inherited down the tree), or undefined. */
  lookup(model: string): MappingRule | undefined;
  /** Whether the account may use a model: a gateway-wide rule toward a model it may not use is skipped. */
  allows(model: string): boolean;
  /** Whether the account's requests may go to the upstream of this name (its policy's `upstreams`). */
  usesUpstream(name: string): boolean;
}

/** No account rules and no restriction (tests, and callers that only want the gateway's own rules). */
export const NO_ACCOUNT_MAPPING: MappingSource = { key: "", lookup: () => undefined, allows: () => true, usesUpstream: () => true };

/** The model sent upstream and the rule that chose it. */
export interface ModelChoice {
  /** What the upstream is asked for: the requested name when no rule applies. */
  served: string;
  /** The rule that mapped it, and whether it was the account's or the gateway's. */
  rule?: MappingRule;
  ruleFrom?: "account" | "gateway";
}

export interface ModelResolution extends Resolution, ModelChoice {}

/**
 * Most resolutions remembered per catalog snapshot. The requested name is the client's
 * to choose, so the bound is what keeps random names from growing memory; the least
 * recently used entry goes first.
 */
export const RESOLUTION_CACHE_LIMIT = 4096;
const cacheBySnapshot = new WeakMap<CatalogSnapshot, LRUCache<string, ModelResolution>>();

/** The account's rules first (nearest account first, folded by the caller), then the gateway-wide ones. */
export function chooseModel(snapshot: CatalogSnapshot, model: string, mapping: MappingSource): ModelChoice {
  const own = mapping.lookup(model);
  if (own) return { served: own.target, rule: own, ruleFrom: "account" };
  const gateway = snapshot.modelMap.lookup(model);
  if (gateway && mapping.allows(gateway.target)) return { served: gateway.target, rule: gateway, ruleFrom: "gateway" };
  return { served: model };
}

/**
 * Resolved once per (snapshot, rule set, owned scope, client, model) and cached on the
 * snapshot, so a reload invalidates it by construction and a policy change arrives with a
 * new key. `chain` is the caller's account and its ancestors, nearest first (only their
 * ids are read): it decides which tenant-owned upstreams the caller may use.
 */
export function resolveModel(
  snapshot: CatalogSnapshot,
  client: ClientProtocol,
  model: string,
  mapping: MappingSource = NO_ACCOUNT_MAPPING,
  chain: readonly { readonly id: string }[] = [],
): ModelResolution {
  let cache = cacheBySnapshot.get(snapshot);
  if (!cache) {
    // The requested name comes from the client: a flood of made-up names evicts old entries instead of growing the cache.
    cache = new LRUCache({ max: RESOLUTION_CACHE_LIMIT });
    cacheBySnapshot.set(snapshot, cache);
  }
  const scope = ownedScope(snapshot, chain);
  // The scope is part of the key: two accounts sharing a rule set may still see different pools.
  const key = `${mapping.key}\0${scope.join(",")}\0${client}\0${model}`;
  let hit = cache.get(key);
  if (!hit) {
    const choice = chooseModel(snapshot, model, mapping);
    const serving = snapshot.upstreams.filter((t) => visibleIn(t, scope) && mapping.usesUpstream(t.upstream.name) && t.models.matches(choice.served));
    const targets: UpstreamTarget[] = [];
    for (const owner of [...scope, null]) {
      const tier = serving.filter((t) => t.upstream.ownerAccountId === owner);
      targets.push(...tier.filter((t) => speaksNatively(client, t.protocol)), ...tier.filter((t) => !speaksNatively(client, t.protocol)));
    }
    hit = { ...choice, targets, servedAnywhere: serving.length > 0 };
    cache.set(key, hit);
  }
  return hit;
}

/** How many resolutions the snapshot's cache holds (for tests of its bound). */
export function cachedResolutions(snapshot: CatalogSnapshot): number {
  return cacheBySnapshot.get(snapshot)?.size ?? 0;
}
