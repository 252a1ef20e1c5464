/**
 * Which upstreams serve a model for a client, after mapping the requested model to the
 * one served (the account's rules, then the gateway's; docs/routing.md). Upstreams
 * owned by an account on the caller's chain come first, the nearest owner's first,
 * then the gateway-wide ones (a tenant's own key pool is what it pays for and expects
 * to be used; the gateway's pool is the fallback); within each of those tiers,
 * native-protocol upstreams first (in config order), then the others. Upstreams owned
 * by anyone else are invisible: they neither serve nor count as serving the model.
 *
 * A rule's tiers resolve the same way, target by target: a target naming an upstream
 * keeps only upstreams of that name (still visible to the caller, still serving the
 * model), one that names none keeps every upstream serving its model.
 */
import type { ClientProtocol, UpstreamProtocol } from "../canonical/protocols.js";
import { restrictRule, ruleText, type MappingRule } from "../canonical/model-map.js";
import { LRUCache } from "lru-cache";
import { hash32 } from "./hashing.js";
import { ownedScope, visibleIn, type CatalogSnapshot, type UpstreamTarget } from "./catalog.js";
import { withMembers } from "../canonical/shared-shape.js";

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
  /**
   * The primary model: what the first target of the first tier sends upstream (the
   * requested name when no rule applies). Admission judges this one; every other target
   * was checked against the same allow-lists when the rule was written and again here.
   */
  served: string;
  /** The rule that mapped it (only the targets the account may use), and whether it was the account's or the gateway's. */
  rule?: MappingRule;
  ruleFrom?: "account" | "gateway";
}

/** One target of a tier, resolved: the model it serves and the upstreams that serve it. */
export interface TierTarget {
  /** The upstream the rule names, if it names one. */
  readonly upstreamName: string | undefined;
  /** The model sent upstream. */
  readonly model: string;
  readonly weight: number;
  /** A hash of the target's identity, so a session's weighted choice survives reordering the rule (routing/plan.ts). */
  readonly hash: number;
  /** Upstreams serving it, in the order of the file comment (owned nearest first, then native protocol first). */
  readonly upstreams: readonly UpstreamTarget[];
}

export interface ResolvedTier {
  readonly targets: readonly TierTarget[];
}

export interface ModelResolution extends Resolution, ModelChoice {
  /** Tiers, primary first; a request without a rule has one tier with one target, the requested model. */
  tiers: readonly ResolvedTier[];
  /**
   * Names the route for tier hysteresis (routing/tier-router.ts): the rule, the owned scope,
   * and the requested model when a target keeps it; "" when there is one tier (nothing to hold).
   */
  routeKey: string;
}

/**
 * Most resolutions remembered per catalog snapshot. The requested name is the client's
 * to choose, so the bound is what keeps random names from growing memory; the least
 * recently used entry goes first.
 */
export const RESOLUTION_CACHE_LIMIT = 4096;
const cacheBySnapshot = new WeakMap<CatalogSnapshot, LRUCache<string, ModelResolution>>();

/**
 * The account's rules first (nearest account first, folded by the caller), then the
 * gateway-wide ones. Targets toward models the account may not use are dropped (for a
 * target that keeps the requested name, the name itself is judged); a rule left with
 * none does not apply.
 */
export function chooseModel(snapshot: CatalogSnapshot, model: string, mapping: MappingSource): ModelChoice {
  const own = mapping.lookup(model);
  const ownAllowed = own && restrictRule(own, mapping.allows, model);
  if (ownAllowed) return { served: ownAllowed.target ?? model, rule: ownAllowed, ruleFrom: "account" };
  const gateway = snapshot.modelMap.lookup(model);
  const gatewayAllowed = gateway && restrictRule(gateway, mapping.allows, model);
  if (gatewayAllowed) return { served: gatewayAllowed.target ?? model, rule: gatewayAllowed, ruleFrom: "gateway" };
  return { served: model };
}

/** Upstreams serving `model` for this client: owned by the nearest account first, gateway-wide last; native protocol first within each. */
function servingUpstreams(
  snapshot: CatalogSnapshot,
  scope: readonly string[],
  client: ClientProtocol,
  model: string,
  upstreamName: string | undefined,
  uses: (name: string) => boolean,
): UpstreamTarget[] {
  const serving = snapshot.upstreams.filter(
    (t) => (upstreamName === undefined || t.upstream.name === upstreamName) && visibleIn(t, scope) && uses(t.upstream.name) && t.models.matches(model),
  );
  const ordered: UpstreamTarget[] = [];
  for (const owner of [...scope, null]) {
    const tier = serving.filter((t) => t.upstream.ownerAccountId === owner);
    ordered.push(...tier.filter((t) => speaksNatively(client, t.protocol)), ...tier.filter((t) => !speaksNatively(client, t.protocol)));
  }
  return ordered;
}

function resolveTiers(
  snapshot: CatalogSnapshot,
  scope: readonly string[],
  client: ClientProtocol,
  model: string,
  choice: ModelChoice,
  /** The account's upstream allow-list (its policy's `upstreams`). */
  uses: (name: string) => boolean,
): ResolvedTier[] {
  const rule = choice.rule;
  if (!rule) {
    return [
      {
        targets: [
          { upstreamName: undefined, model, weight: 1, hash: hash32(model), upstreams: servingUpstreams(snapshot, scope, client, model, undefined, uses) },
        ],
      },
    ];
  }
  return rule.tiers.map((tier) => ({
    targets: tier.map((t) => {
      const served = t.model ?? model;
      return {
        upstreamName: t.upstream,
        model: served,
        weight: t.weight,
        hash: hash32(`${t.upstream ?? ""}\0${served}`),
        upstreams: servingUpstreams(snapshot, scope, client, served, t.upstream, uses),
      };
    }),
  }));
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
    const tiers = resolveTiers(snapshot, scope, client, model, choice, (name) => mapping.usesUpstream(name));
    const targets = [...new Set(tiers.flatMap((t) => t.targets.flatMap((x) => x.upstreams)))];
    const keepsRequested = choice.rule?.tiers.some((t) => t.some((x) => x.model === undefined)) ?? false;
    // The tiers as restricted for this caller, not the rule as written: two accounts allowed
    // different targets of one rule have different tiers, so they must not share tier state.
    const routed = choice.rule && tiers.length > 1 ? ruleText(choice.rule.pattern, choice.rule.tiers) : "";
    const routeKey = routed === "" ? "" : `${choice.ruleFrom}\0${scope.join(",")}\0${routed}${keepsRequested ? `\0${model}` : ""}`;
    hit = withMembers(choice, { tiers, targets, servedAnywhere: targets.length > 0, routeKey });
    cache.set(key, hit);
  }
  return hit;
}

/** How many resolutions the snapshot's cache holds (for tests of its bound). */
export function cachedResolutions(snapshot: CatalogSnapshot): number {
  return cacheBySnapshot.get(snapshot)?.size ?? 0;
}
