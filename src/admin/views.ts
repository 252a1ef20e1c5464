/**
 * What the admin API shows of stored records (snake_case JSON). Secrets never
 * appear: API keys show their prefix, upstream keys their fingerprint.
 */
import type { Account, ApiKey, Upstream, UpstreamKey } from "../storage/ports.js";
import { ruleFromInput } from "../canonical/model-map.js";
import {
  allowsModel,
  LIMIT_FIELDS,
  POLICY_FIELDS,
  policyOf,
  SPEND_CAP_FIELDS,
  type Bound,
  type EffectivePolicy,
  type LimitBounds,
} from "../governance/policy.js";
import { sendsPromptCacheKey } from "../upstream/prompt-cache-key.js";
import { DEFAULT_FORWARD_HEADERS, readForwardHeaders } from "../upstream/headers.js";
import { upstreamTimeouts } from "../upstream/timeouts.js";
import { servesRealtime } from "../upstream/realtime.js";

export function accountView(a: Account): Record<string, unknown> {
  // What is enforced: a stored policy that does not parse reads as allowing no model.
  const policy = policyOf(a.settings).policy;
  const view: Record<string, unknown> = { id: a.id, parent_id: a.parentId, name: a.name, status: a.status };
  // The account's own values; null = inherited (GET /accounts/{id}/effective-policy shows what applies).
  for (const f of POLICY_FIELDS) view[f] = policy[f] ?? null;
  view.created_at = a.createdAt;
  view.updated_at = a.updatedAt;
  return view;
}

type AccountRef = { id: string; name: string };

/**
 * An account's effective policy (GET /accounts/{id}/effective-policy): every field's value
 * after the fold along the chain (nearest first), each with the account that set it
 * (`set_by`; null when nothing on the chain does and the default applies).
 */
export function effectivePolicyView(chain: readonly Account[], policy: EffectivePolicy): Record<string, unknown> {
  const byId = new Map(chain.map((a) => [a.id, a]));
  // An account outside `chain` (above a manage key's own account) set the value, but is not named to it.
  const ref = (id: string | null): AccountRef | { id: null; name: null } | null => {
    if (id === null) return null;
    const a = byId.get(id);
    return a ? { id: a.id, name: a.name } : { id: null, name: null };
  };
  const bound = (b: Bound | undefined) => (b ? { value: b.value, set_by: ref(b.accountId) } : null);
  const bounds = (b: LimitBounds) => Object.fromEntries(LIMIT_FIELDS.map((f) => [f, bound(b[f])]));
  /** Lists intersect: the nearest one, and any further one that still narrows it (only in a tree stored without the checks). */
  const lists = <T extends { accountId: string }>(ls: readonly T[], values: (l: T) => readonly string[]) => {
    const nearest = ls[ls.length - 1];
    return {
      value: nearest ? [...values(nearest)] : null,
      set_by: nearest ? ref(nearest.accountId) : null,
      also_within: ls.slice(0, -1).map((l) => ({ value: [...values(l)], set_by: ref(l.accountId) })),
    };
  };
  const account = chain[0]!;
  return {
    account: { id: account.id, name: account.name },
    chain: chain.map((a) => ({ id: a.id, name: a.name })),
    models: lists(policy.models, (l) => l.patterns),
    deny_models: policy.denyModels.map((l) => ({ value: [...l.patterns], set_by: ref(l.accountId) })),
    model_map: chain.flatMap((a) => {
      // The rules the fold keeps: each account's, in the order consulted, toward models this account may use.
      const rules = (policyOf(a.settings).policy.model_map ?? []).filter((input) => {
        const rule = ruleFromInput(input);
        return typeof rule !== "string" && rule.tiers.some((tier) => tier.some((t) => allowsModel(policy, t.model ?? rule.pattern)));
      });
      return rules.length > 0 ? [{ value: rules, set_by: ref(a.id) }] : [];
    }),
    limits: {
      ...bounds(policy.limits),
      per_model: Object.fromEntries([...policy.perModelLimits].map(([pattern, e]) => [pattern, bounds(e.bounds)])),
      // Every account on the chain that states limits: a request counts against each of them.
      chain: policy.limitChain.map((l) => ({ set_by: ref(l.accountId), limits: l.limits })),
    },
    spend_caps: Object.fromEntries(SPEND_CAP_FIELDS.map((f) => [f, bound(policy.spendCaps[f])])),
    credit: {
      payer: ref(policy.credit.payerId),
      overdraft_micros: bound(policy.credit.walletOverdraft),
      on_quota_exhausted: { value: policy.credit.onQuotaExhausted.value, set_by: ref(policy.credit.onQuotaExhausted.accountId) },
      // Every account on the chain stating quotas or spend caps: a request counts against each.
      chain: policy.credit.chain.map((b) => ({ set_by: ref(b.accountId), quotas: b.quotas, spend_caps: b.spendCaps, time_zone: b.timeZone })),
    },
    ip_allow: lists(policy.ipAllow, (l) => l.cidrs),
    origins: lists(policy.origins, (l) => [...l.names]),
    upstreams: lists(policy.upstreams, (l) => [...l.names]),
    price_multiplier: bound(policy.priceMultiplier),
    time_zone: { value: policy.timeZone.value, set_by: ref(policy.timeZone.accountId) },
    // Every account on the chain that sets prices, nearest first (the fold: docs/configuration.md#pricing).
    prices: policy.prices.map((p) => ({ value: p.prices, set_by: ref(p.accountId) })),
  };
}

export function apiKeyView(k: ApiKey): Record<string, unknown> {
  return {
    id: k.id,
    account_id: k.accountId,
    name: k.name,
    prefix: k.prefix,
    status: k.status,
    scopes: k.scopes,
    expires_at: k.expiresAt,
    models: k.models,
    limits: k.limits,
    // Set once the key was rotated: the replacement's id; the key then works until expires_at.
    replaced_by: k.replacedBy,
    created_at: k.createdAt,
    // Written in batches (governance/key-use.ts): up to about a minute behind.
    last_used_at: k.lastUsedAt,
  };
}

export function upstreamView(u: Upstream): Record<string, unknown> {
  return {
    id: u.id,
    name: u.name,
    owner_account_id: u.ownerAccountId,
    protocol: u.protocol,
    base_url: u.baseUrl,
    models: u.models,
    enabled: u.enabled,
    account_id: typeof u.settings.account_id === "string" ? u.settings.account_id : null,
    oauth: u.settings.oauth !== null && typeof u.settings.oauth === "object" ? u.settings.oauth : null,
    // Effective values, like prompt_cache_key: the setting, or the default that applies.
    timeout_ms: upstreamTimeouts(u.settings).timeoutMs,
    prompt_cache_key: sendsPromptCacheKey(u),
    forward_headers: readForwardHeaders(u.settings.forward_headers) ?? DEFAULT_FORWARD_HEADERS,
    realtime: servesRealtime(u),
    managed_by: u.settings.managed_by === "config" ? "config" : "api",
    created_at: u.createdAt,
    updated_at: u.updatedAt,
  };
}

export function upstreamKeyView(k: UpstreamKey): Record<string, unknown> {
  return {
    id: k.id,
    upstream_id: k.upstreamId,
    name: k.name,
    fingerprint: k.fingerprint,
    status: k.status,
    created_at: k.createdAt,
    // A ChatGPT login's shown side (docs/codex.md#what-the-admin-sees-and-what-to-do-about-it): null for a plain key.
    credential: k.credentialMeta ?? null,
    dead: k.deadAt ? { reason: k.deadReason ?? "unknown", at: k.deadAt } : null,
  };
}
