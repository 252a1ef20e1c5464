/**
 * Explain (GET /admin/v1/explain, docs/admin-api.md#explain): why a request from an
 * account for a model would go where it goes. It sits in the pipeline because it needs
 * both governance (the account's chain and folded policy) and routing (the catalog, the
 * planner and key health); the admin layer reaches it through the `explain` port that
 * main.ts composes, so admin/ imports neither.
 *
 * It answers with what a real request would do, from the same functions: the account's
 * folded policy (the principals cache's, when one of its keys is cached), the cached
 * resolution, the planner with the pipeline's key health, and the session scoped with
 * the account id exactly as affinity.ts scopes it, and the tier router read without
 * changing it (explaining must not move a session or start a hold-down).
 */
import { usedPercent } from "../routing/key-headroom.js";
import { GatewayError } from "../canonical/errors.js";
import type { ClientProtocol } from "../canonical/protocols.js";
import { restrictRule, ruleFromInput, type CompiledModelMap, type MappingRule } from "../canonical/model-map.js";
import { foldPolicies, limitsFor, policyOf, allowsModel, type EffectivePolicy } from "../governance/policy.js";
import type { Principals } from "../governance/principals.js";
import type { Account, AccountRepo } from "../storage/ports.js";
import type { Catalog } from "../routing/catalog.js";
import type { KeyHealth } from "../routing/key-health.js";
import { isHealthy, type PoolKey } from "../routing/key-pool.js";
import { laneFor, orderTargets, planAttempts, type PlannedAttempt } from "../routing/plan.js";
import type { TierRouter } from "../routing/tier-router.js";
import { resolveModel } from "../routing/resolve-model.js";
import { scopedCacheKey, sessionIdentity } from "./affinity.js";
import { mappingSource } from "./mapping.js";

/** The query of GET /admin/v1/explain, as strings from the URL. */
export type ExplainQuery = Readonly<Record<string, string | undefined>>;

/** The port the admin routes call (AdminDeps.explain). */
export type Explain = (query: ExplainQuery) => Promise<Record<string, unknown>>;

export interface ExplainDeps {
  principals: Principals;
  catalog: Catalog;
  keyHealth: KeyHealth;
  /** The pipeline's tier router, read only; absent = no hysteresis (the first tier with a healthy key serves). */
  tierRouter?: TierRouter;
  accounts: Pick<AccountRepo, "get" | "getByName" | "ancestors">;
  now?: () => number;
}

/** Where a session identity may come from, as a real request carries it (affinity.ts, docs/protocols.md#session-identity). */
const CLIENT_PROTOCOLS: readonly ClientProtocol[] = ["openai-chat", "openai-responses", "anthropic-messages"];

const SESSION_SOURCES = ["session_id", "session-id", "conversation_id", "x-claude-code-session-id", "prompt_cache_key"] as const;
type SessionSource = (typeof SESSION_SOURCES)[number];

const NOTES = [
  "A request starts at the first tier with a healthy key that is not held down (a tier that recovered less than the hold-down ago), unless its session is pinned to a lower tier whose key is still healthy; the other tiers follow in order, and cooling keys come last, as a last resort.",
  "Within a tier, a session picks a target by weighted rendezvous hashing (the same target every turn); a request without a session draws one at random by weight. Each target's upstreams: owned by an account on the chain first (nearest owner first), then gateway-wide; native protocol first within each, in configuration order.",
  "Within an upstream, a session pins to one healthy key by rendezvous hashing; a request without a session goes to the least loaded healthy key (in flight, weighted by recent latency and error rate).",
];

interface RuleCandidate {
  rule: string;
  from: { source: "account"; account_id: string; account_name: string } | { source: "gateway" };
  match: "exact" | "wildcard";
  literal_chars: number;
  /** Position of the rule in its list (0-based). */
  order: number;
  outcome: "chosen" | "outranked" | "skipped";
  why: string;
}

function required(q: ExplainQuery, name: string): string {
  const v = q[name]?.trim();
  if (!v) throw new GatewayError("invalid_request", "invalid_field", `The query parameter '${name}' is required.`, { param: name });
  return v;
}

function literalChars(pattern: string): number {
  let n = 0;
  for (const ch of pattern) if (ch !== "*") n++;
  return n;
}

function globMatches(pattern: string, model: string): boolean {
  if (!pattern.includes("*")) return pattern === model;
  const src = pattern
    .split("*")
    .map((s) => s.replace(/[.+?^${}()|[\]\\]/g, "\\$&"))
    .join(".*");
  return new RegExp(`^${src}$`, "s").test(model);
}

/** The rules of one list that match `model`, best first (exact, then more literal characters, then list order). */
function matching(list: CompiledModelMap, model: string): Array<{ rule: MappingRule; order: number; exact: boolean; literal: number }> {
  return list.rules
    .map((rule, order) => ({ rule, order, exact: !rule.pattern.includes("*"), literal: literalChars(rule.pattern) }))
    .filter((c) => globMatches(c.rule.pattern, model))
    .sort((a, b) => Number(b.exact) - Number(a.exact) || b.literal - a.literal || a.order - b.order);
}

/** The account on the chain (nearest first) whose own model_map holds every rule of a folded list. */
function ownerOf(list: CompiledModelMap, chain: readonly Account[]): Account | undefined {
  for (const a of chain) {
    const own = policyOf(a.settings).policy.model_map ?? [];
    const sources = new Set(own.map(ruleFromInput).flatMap((r) => (typeof r === "string" ? [] : [r.source])));
    if (list.rules.every((r) => sources.has(r.source))) return a;
  }
  return undefined;
}

function why(c: { exact: boolean; literal: number; order: number }, winner: { exact: boolean; literal: number; order: number }): string {
  if (winner.exact && !c.exact) return "an exact rule beats every wildcard";
  if (c.literal < winner.literal) return `fewer literal characters (${c.literal} < ${winner.literal})`;
  return `same specificity, listed later (position ${c.order} after ${winner.order})`;
}

function keyView(k: PoolKey, now: number): Record<string, unknown> {
  return {
    id: k.id,
    name: k.name,
    fingerprint: k.fingerprint,
    state: k.removed ? "removed" : k.coolingUntil > now ? "cooling" : "healthy",
    in_flight: k.inFlight,
    cooling_until: k.coolingUntil > now ? new Date(k.coolingUntil).toISOString() : null,
    failures: k.failures,
    removed: k.removed,
    latency_ewma_ms: k.latencyEwmaMs,
    error_rate: k.errorRate,
    // A subscription account's tighter usage window, as key selection reads it (routing/key-headroom.ts); null for API keys.
    used_percent: k.usage ? usedPercent(k, now) : null,
  };
}

/**
 * The limits that would apply to a request for `model` (the chain's smallest, per-model
 * limits whose pattern matches included), each with the account that set it; null when
 * the chain sets none.
 */
export function limitsView(policy: EffectivePolicy, model: string): Record<string, { value: number; set_by: string | null }> | null {
  const out: Record<string, { value: number; set_by: string | null }> = {};
  for (const [field, b] of Object.entries(limitsFor(policy, model))) if (b) out[field] = { value: b.value, set_by: b.accountId };
  return Object.keys(out).length > 0 ? out : null;
}

function attemptView(a: PlannedAttempt): Record<string, unknown> {
  return { tier: a.tier + 1, upstream: a.target.upstream.name, upstream_id: a.target.upstream.id, model: a.model, key_id: a.key.id, key_name: a.key.name };
}

export function createExplain(deps: ExplainDeps): Explain {
  const now = deps.now ?? Date.now;
  return async (q) => {
    const accountRef = required(q, "account");
    const model = required(q, "model");
    const protocolText = q.protocol?.trim() || "openai-chat";
    if (!(CLIENT_PROTOCOLS as readonly string[]).includes(protocolText)) {
      throw new GatewayError("invalid_request", "invalid_field", `The query parameter 'protocol' must be one of ${CLIENT_PROTOCOLS.join(", ")}.`, {
        param: "protocol",
      });
    }
    const protocol = protocolText as ClientProtocol;
    const sessionSource = (q.session_source?.trim() || "session_id") as SessionSource;
    if (!SESSION_SOURCES.includes(sessionSource)) {
      throw new GatewayError("invalid_request", "invalid_field", `The query parameter 'session_source' must be one of ${SESSION_SOURCES.join(", ")}.`, {
        param: "session_source",
      });
    }

    const account = (await deps.accounts.get(accountRef)) ?? (await deps.accounts.getByName(accountRef));
    if (!account) throw new GatewayError("not_found", "account_not_found", `No account with the id or name '${accountRef}'.`, { param: "account" });
    const chain: Account[] = [account, ...(await deps.accounts.ancestors(account.id))];

    // The policy a request would be judged by: the principals cache's own object when a key of
    // the account is cached (so the resolution is the very one cached for requests), else the same fold.
    const policy: EffectivePolicy = deps.principals.cachedPolicy(account.id) ?? foldPolicies(chain.map((a) => policyOf(a.settings).policy));

    const snapshot = deps.catalog.snapshot;
    const resolution = resolveModel(snapshot, protocol, model, mappingSource(policy), chain);

    // Every rule that matches, in the order the resolution consults them, and why each lost.
    const candidates: RuleCandidate[] = [];
    let winner: { exact: boolean; literal: number; order: number } | undefined;
    const consider = (list: CompiledModelMap, from: RuleCandidate["from"], skip?: (r: MappingRule) => string | undefined): void => {
      for (const c of matching(list, model)) {
        const skipped = winner ? undefined : skip?.(c.rule);
        let outcome: RuleCandidate["outcome"];
        let reason: string;
        if (skipped) {
          outcome = "skipped";
          reason = skipped;
        } else if (!winner) {
          outcome = "chosen";
          reason = c.exact ? "exact match" : `most specific matching wildcard (${c.literal} literal characters), first of its list`;
          if (from.source === "gateway") reason += "; no account rule matched";
          else reason += from.account_id === account.id ? "; the account's own rules come first" : "; inherited, no nearer account rule matched";
          winner = c;
        } else if (candidates.some((x) => x.outcome === "chosen" && JSON.stringify(x.from) === JSON.stringify(from))) {
          outcome = "outranked";
          reason = why(c, winner);
        } else {
          outcome = "outranked";
          reason =
            from.source === "gateway"
              ? "gateway-wide rules are consulted only when no account rule matches"
              : "a nearer account's rules are consulted first and one of them matched";
        }
        candidates.push({ rule: c.rule.source, from, match: c.exact ? "exact" : "wildcard", literal_chars: c.literal, order: c.order, outcome, why: reason });
      }
    };
    for (const list of policy.modelMap) {
      const owner = ownerOf(list, chain);
      consider(list, owner ? { source: "account", account_id: owner.id, account_name: owner.name } : { source: "account", account_id: "", account_name: "" });
    }
    consider(snapshot.modelMap, { source: "gateway" }, (r) =>
      restrictRule(r, (m) => allowsModel(policy, m), model) ? undefined : `serves only models the account may not use (${r.source})`,
    );
    const chosen = candidates.find((c) => c.outcome === "chosen");

    // Whether the account may use the served model, and if not, who says no.
    const forbiddenBy = chain.flatMap((a): Array<{ id: string; name: string; models?: string[]; deny_models?: string[]; problem?: string }> => {
      const { policy: own, problem } = policyOf(a.settings);
      if (problem) return [{ id: a.id, name: a.name, models: [], problem }];
      const denied = (own.deny_models ?? []).filter((p) => globMatches(p, resolution.served));
      if (denied.length > 0) return [{ id: a.id, name: a.name, deny_models: denied }];
      if (own.models === undefined || own.models.some((p) => globMatches(p, resolution.served))) return [];
      return [{ id: a.id, name: a.name, models: own.models }];
    });
    const disabledBy = chain.filter((a) => a.status !== "active").map((a) => ({ id: a.id, name: a.name, status: a.status }));

    // The session scoped as affinity.ts scopes a real request's identity.
    const session = q.session?.trim() || undefined;
    const identity = session
      ? sessionIdentity({
          headers: sessionSource === "prompt_cache_key" ? {} : { [sessionSource]: session },
          clientCacheKey: sessionSource === "prompt_cache_key" ? session : undefined,
          metadataUserId: () => undefined,
          model,
          promptDigest: () => undefined,
        })
      : undefined;
    const affinity = identity ? scopedCacheKey(account.id, identity) : undefined;
    const at = now();
    const plan = planAttempts(snapshot, deps.keyHealth, {
      model,
      client: protocol,
      clientStreams: true,
      affinity,
      maxAttempts: Number.MAX_SAFE_INTEGER,
      now: at,
      resolution,
      router: deps.tierRouter,
      readOnly: true,
    });

    const upstreams = resolution.targets.map((t) => ({
      id: t.upstream.id,
      name: t.upstream.name,
      owner_account_id: t.upstream.ownerAccountId,
      protocol: t.protocol,
      native: laneFor(protocol, t.protocol) === "passthrough",
      lane: { stream: laneFor(protocol, t.protocol, true), no_stream: laneFor(protocol, t.protocol, false) },
      keys: t.pool.keys.map((k) => keyView(k, at)),
    }));
    const first = plan.attempts[0];
    const healthyInFirst = first ? first.target.pool.keys.filter((k) => isHealthy(k, at)).length : 0;

    // Each tier: whether it could serve, whether it is held down, and its targets with their share and upstreams.
    const healthy = resolution.tiers.length > 1 ? plan.healthyTiers : [resolution.tiers.length === 1 && first !== undefined && isHealthy(first.key, at)];
    const standings =
      deps.tierRouter && resolution.routeKey !== ""
        ? deps.tierRouter.standings(resolution.routeKey, healthy, at)
        : healthy.map((h) => ({ healthy: h, heldDown: false, heldUntil: undefined }));
    const tiers = resolution.tiers.map((tier, i) => {
      const total = tier.targets.reduce((sum, t) => sum + t.weight, 0);
      const order = orderTargets(tier, affinity);
      return {
        tier: i + 1,
        healthy: standings[i]?.healthy ?? false,
        held_down: standings[i]?.heldDown ?? false,
        held_until: standings[i]?.heldUntil === undefined ? null : new Date(standings[i]!.heldUntil!).toISOString(),
        serving: plan.tier === i,
        targets: tier.targets.map((t) => ({
          upstream: t.upstreamName ?? null,
          model: t.model,
          weight: t.weight,
          share: total > 0 ? t.weight / total : 0,
          session_rank: affinity === undefined ? null : order.indexOf(t) + 1,
          upstreams: t.upstreams.map((u) => u.upstream.name),
          note:
            t.upstreams.length > 0
              ? null
              : t.upstreamName === undefined
                ? `no upstream the account may use serves '${t.model}'`
                : `no upstream named '${t.upstreamName}' that the account may use serves '${t.model}'`,
        })),
      };
    });

    return {
      account: { id: account.id, name: account.name, chain: chain.map((a) => ({ id: a.id, name: a.name, status: a.status })) },
      requested_model: model,
      protocol,
      mapping: {
        served_model: resolution.served,
        rule: resolution.rule?.source ?? null,
        from: chosen?.from ?? null,
        reason: chosen ? chosen.why : "no mapping rule matched: the requested model is served as is",
        candidates,
      },
      policy: {
        allowed: forbiddenBy.length === 0 && allowsModel(policy, resolution.served),
        forbidden_by: forbiddenBy,
        account_active: disabledBy.length === 0,
        disabled_by: disabledBy,
      },
      served_anywhere: resolution.servedAnywhere,
      upstreams,
      tiers,
      serving_tier: first ? first.tier + 1 : null,
      hold_down_ms: deps.tierRouter?.holdDownMs ?? null,
      attempt_order: plan.attempts.map(attemptView),
      session: session
        ? {
            session,
            session_source: sessionSource,
            cache_key: affinity,
            pinned: first
              ? {
                  tier: first.tier + 1,
                  model: first.model,
                  upstream: first.target.upstream.name,
                  upstream_id: first.target.upstream.id,
                  key_id: first.key.id,
                  key_name: first.key.name,
                  fingerprint: first.key.fingerprint,
                  why: !isHealthy(first.key, at)
                    ? "no healthy key: the key cooling down the shortest is tried as a last resort"
                    : healthyInFirst > 1
                      ? `rendezvous hashing of the scoped session key over the ${healthyInFirst} healthy keys of the first upstream`
                      : healthyInFirst === 1
                        ? "the only healthy key of the first upstream"
                        : "no healthy key: the key cooling down the shortest is tried as a last resort",
                }
              : null,
          }
        : null,
      limits: limitsView(policy, resolution.served),
      notes: NOTES,
    };
  };
}
