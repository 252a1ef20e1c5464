/**
 * An account's policy: what it and every account below it may do. It is stored in the
 * account's `settings` document, one field per rule; accounts form a tree and a child
 * can only narrow what its parent allows. Two operations carry that rule:
 *
 * - {@link foldPolicies} folds an account's chain (the account, then its ancestors)
 *   into the effective policy the data plane enforces. It never grants more than any
 *   account on the chain, whatever is stored, so the guarantee does not depend on
 *   every writer having checked: lists intersect (model, address, origin and upstream
 *   allow-lists), deny-lists add up, limits and spend caps take the smallest value, the
 *   price multiplier the largest, and the time zone is the nearest one set.
 * - {@link checkWithinParent} lists where a child's own policy reaches beyond its
 *   parent's effective one, naming the bound and the ancestor that set it; the admin API
 *   refuses such a write, so what is stored reads the same as what is enforced.
 *
 * Every folded value remembers the account that set it (the effective-policy view
 * shows it, and limits need it: a parent's limit counts its whole subtree's traffic).
 * The fold runs once per account when the principals snapshot is built, never per request.
 */
import { z } from "zod";
import {
  compileModelMap,
  parseMappingRule,
  restrictRule,
  ruleFromInput,
  servedModelProblem,
  type CompiledModelMap,
  type MappingRule,
  type MappingRuleInput,
} from "../canonical/model-map.js";
import { compileModelPatterns, coversPattern, type ModelMatcher } from "../canonical/model-pattern.js";
import { compileCidrs, parseCidr, type CidrMatcher } from "./cidr.js";
import { priceListInput, priceListStored, type PriceList } from "./price-table.js";
import { withMembers } from "../canonical/shared-shape.js";

/** Model names or `*` patterns, the syntax of canonical/model-pattern.ts. */
export const modelPatterns = z.array(z.string().min(1));

/** A mapping rule in the short form `requested=served` (canonical/model-map.ts), e.g. `claude-*=gpt-5.4`. */
const shortRule = z.string().superRefine((text, ctx) => {
  const r = parseMappingRule(text);
  if (typeof r === "string") ctx.addIssue({ code: "custom", message: r });
});

/** Most tiers in a route, and most targets in a tier: routes are a handful of upstreams, not data. */
export const MAX_ROUTE_TIERS = 8;
export const MAX_TIER_TARGETS = 32;
export const MAX_TARGET_WEIGHT = 10_000;

/**
 * The structured form of a rule: `{match, tiers: [[{upstream?, model?, weight?}, …], …]}`,
 * tiers primary first (docs/routing.md#structured-routes). `strict` refuses unknown keys
 * (admin input, YAML), so a misspelt `weigth` is an error naming it; stored documents are
 * read leniently, so a node keeps reading rules a newer node wrote.
 */
function structuredRule(strict: boolean) {
  const object = strict ? z.strictObject : z.object;
  const target = object({
    /** An upstream's name (the syntax of upstream names); absent = any upstream serving the model. */
    upstream: z
      .string()
      .regex(/^[a-zA-Z0-9][a-zA-Z0-9._-]{0,63}$/, "must be an upstream name: 1-64 letters, digits, '.', '_' or '-'")
      .optional(),
    /** The model sent upstream; absent = the requested name. */
    model: z
      .string()
      .superRefine((m, ctx) => {
        const problem = servedModelProblem(m);
        if (problem) ctx.addIssue({ code: "custom", message: problem });
      })
      .optional(),
    weight: z.number().int("must be a whole number").min(1).max(MAX_TARGET_WEIGHT).optional(),
  }).refine((t) => t.upstream !== undefined || t.model !== undefined, { message: "a target names an upstream, a model, or both" });
  return object({
    match: z.string().trim().min(1, "the requested name or `*` pattern the rule applies to"),
    tiers: z
      .array(z.array(target).min(1, "a tier lists at least one target").max(MAX_TIER_TARGETS))
      .min(1, "list at least one tier, primary first")
      .max(MAX_ROUTE_TIERS),
  });
}

/**
 * One rule in either form. A plain union would report any type mistake deep inside a
 * structured rule as "invalid input" at the rule (neither option matched), so the
 * element first accepts any string or object and then validates it with the schema of
 * its form, keeping that schema's issue paths (`tiers.1.0.weight`). The OpenAPI
 * document gets the precise union.
 */
function mappingRule(strict: boolean) {
  const structured = structuredRule(strict);
  const precise = z.union([shortRule, structured]);
  return z
    .union([z.string(), z.looseObject({})], { error: "a rule is a string `requested=served` or a structured route `{match, tiers}`" })
    .superRefine((value, ctx) => {
      const r = (typeof value === "string" ? shortRule : structured).safeParse(value);
      if (!r.success) for (const issue of r.error.issues) ctx.addIssue({ code: "custom", message: issue.message, path: issue.path });
    })
    .meta({ anyOf: (z.toJSONSchema(precise, { io: "input" }) as { anyOf: unknown[] }).anyOf }) as unknown as typeof precise;
}

/**
 * Model mapping rules, each in the short form (`claude-*=gpt-5.4`) or the structured one
 * (tiers of weighted targets), as stored: read leniently.
 */
export const modelMapRules = z.array(mappingRule(false));

/** The same rules as the admin API and the YAML file take them: unknown keys in a structured rule are refused. */
export const modelMapRulesInput = z.array(mappingRule(true));

/** The rate and concurrency limits, each a positive whole number: requests per minute/hour/day, tokens per minute/hour/day, requests in flight. */
export const LIMIT_FIELDS = ["rpm", "rph", "rpd", "tpm", "tph", "tpd", "concurrency"] as const;
export type LimitField = (typeof LIMIT_FIELDS)[number];

/** Spend caps in integer micro-units of the billing currency, per natural day and month in the account's time zone. */
export const SPEND_CAP_FIELDS = ["daily_micros", "monthly_micros"] as const;
export type SpendCapField = (typeof SPEND_CAP_FIELDS)[number];

const limitValue = z.number().int().positive().max(Number.MAX_SAFE_INTEGER);
/** Most quota lines one account states: quotas are a handful of allowances, not data. */
export const MAX_QUOTAS = 16;
const microsValue = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);
const limitShape = Object.fromEntries(LIMIT_FIELDS.map((f) => [f, limitValue.optional()])) as Record<LimitField, z.ZodOptional<typeof limitValue>>;

/** An IPv4 or IPv6 CIDR range, or a single address. */
export const cidrText = z.string().superRefine((text, ctx) => {
  const r = parseCidr(text);
  if (typeof r === "string") ctx.addIssue({ code: "custom", message: r });
});

/** A browser origin, `scheme://host[:port]`, as the Origin header carries it. */
export const originText = z.string().superRefine((text, ctx) => {
  if (normalizeOrigin(text) !== text) {
    ctx.addIssue({
      code: "custom",
      message: `'${text}' is not an origin: write scheme://host[:port] in lower case, without a path (e.g. https://app.example.com)`,
    });
  }
});

/** An IANA time zone name (`Europe/Paris`, `UTC`), as Intl knows it. */
export const timeZoneText = z.string().superRefine((text, ctx) => {
  if (!isTimeZone(text)) ctx.addIssue({ code: "custom", message: `'${text}' is not an IANA time zone name (e.g. UTC, Europe/Paris, America/New_York)` });
});

/** An upstream's name (the syntax of upstream names in the admin API and the YAML file). */
export const upstreamName = z.string().regex(/^[a-zA-Z0-9][a-zA-Z0-9._-]{0,63}$/, "must be an upstream name: 1-64 letters, digits, '.', '_' or '-'");

/**
 * The policy fields and their shapes. `strict` refuses unknown keys inside the nested
 * objects (admin input, the YAML file); the stored document is read leniently, so a node
 * keeps reading policies that a newer node wrote.
 */
function policyShape(strict: boolean) {
  const object = strict ? z.strictObject : z.object;
  const limitSet = object(limitShape);
  return {
    /** Model names or patterns the account may use; absent = whatever its parent may use; empty = none. */
    models: modelPatterns.optional(),
    /** Model names or patterns the account and its subtree may never use, whatever an allow-list says. */
    deny_models: modelPatterns.optional(),
    /**
     * Model mappings, most specific first within the list; absent or empty = only what the
     * parent maps. A child's rules are consulted before its ancestors', and each rule may
     * only name a served model the account may use.
     */
    model_map: modelMapRules.optional(),
    /** Rate and concurrency limits for the account's whole subtree, and per model pattern (`per_model`). */
    limits: object(withMembers(limitShape, { per_model: z.record(z.string().min(1), limitSet).optional() })).optional(),
    /** Spend caps (stored and checked here; the governance issue enforces them). */
    spend_caps: object(
      Object.fromEntries(SPEND_CAP_FIELDS.map((f) => [f, microsValue.optional()])) as Record<SpendCapField, z.ZodOptional<typeof microsValue>>,
    ).optional(),
    /**
     * Whose credit pays (docs/billing.md): `payer: parent` draws on the parent's wallet
     * (a root always pays for itself); `overdraft_micros` makes the wallet prepaid (a
     * request must be covered by unexpired credit plus the overdraft), unset on the whole
     * chain = postpaid.
     */
    credit: object({ payer: z.enum(["self", "parent"]).optional(), overdraft_micros: microsValue.optional() }).optional(),
    /** Usage allowances per natural day or month for the account's whole subtree, in requests and/or tokens, optionally for models matching `model`. */
    quotas: z
      .array(
        object({
          per: z.enum(["day", "month"]),
          requests: limitValue.optional(),
          tokens: limitValue.optional(),
          model: z.string().min(1).optional(),
        }).refine((q) => q.requests !== undefined || q.tokens !== undefined, { message: "a quota states requests, tokens, or both" }),
      )
      .max(MAX_QUOTAS)
      .optional(),
    /** When a quota on the chain is used up: refuse (`quota_exceeded`), or bill the request to credit instead. Any `refuse` on the chain wins. */
    on_quota_exhausted: z.enum(["refuse", "pay_as_you_go"]).optional(),
    /** Client addresses (CIDR ranges) the subtree's keys may be used from; absent = anywhere. */
    ip_allow: z.array(cidrText).optional(),
    /** Browser origins the subtree's keys may be used from; a request with no Origin header is not a browser's and passes. */
    origins: z.array(originText).optional(),
    /** Upstreams (by name) the subtree's requests may be routed to; absent = every upstream. */
    upstreams: z.array(upstreamName).optional(),
    /** What the subtree's usage is billed at, relative to cost; never below the parent's (the gateway's base is 1). */
    price_multiplier: z.number().positive().finite().optional(),
    /** The time zone of natural-day and natural-month windows; absent = the nearest ancestor's, UTC at the top. */
    time_zone: timeZoneText.optional(),
    /**
     * Prices per model name or pattern, micro-units per million tokens (governance/price-table.ts).
     * Not a bound: a top-level account's entry replaces the gateway's price, an entry below may
     * only raise it (docs/configuration.md#pricing).
     */
    prices: (strict ? priceListInput : priceListStored).optional(),
  };
}

/**
 * The stored policy. Unknown keys are ignored, not refused: the settings document may
 * carry other things, and a node must keep reading policies that a newer node wrote.
 */
export const policySchema = z.object(policyShape(false));

/** The policy fields as the admin API and the YAML file take them: unknown keys inside them are refused. */
export const policyFieldsInput = policyShape(true);

export type Policy = z.infer<typeof policySchema>;
export type Limits = NonNullable<Policy["limits"]>;
export type LimitSet = Partial<Record<LimitField, number>>;
export type SpendCaps = NonNullable<Policy["spend_caps"]>;
export type Quota = NonNullable<Policy["quotas"]>[number];

/** The names of the policy fields, in the order views list them. */
export const POLICY_FIELDS = Object.keys(policySchema.shape) as Array<keyof Policy>;

/** The policy of an account that stored nothing: it inherits everything. */
export const INHERIT: Policy = {};

/** One account's model allow-list, compiled. */
export interface ModelAllowList {
  readonly patterns: readonly string[];
  readonly matcher: ModelMatcher;
  /** The account that stated it ("" when the fold was not told). */
  readonly accountId: string;
}

/** One account's model deny-list, compiled. */
export interface ModelDenyList {
  readonly patterns: readonly string[];
  readonly matcher: ModelMatcher;
  readonly accountId: string;
}

/** A numeric bound and the account that set it (null: the gateway's default). */
export interface Bound {
  readonly value: number;
  readonly accountId: string | null;
}

export type LimitBounds = Readonly<Partial<Record<LimitField, Bound>>>;

/** An account's own limits, as stated, for counting its subtree's traffic against them. */
export interface AccountLimits {
  readonly accountId: string;
  readonly limits: Limits;
}

/** The tightest limits per model pattern, folded across the chain by the pattern's text. */
export interface PerModelBounds {
  readonly matcher: ModelMatcher;
  readonly bounds: LimitBounds;
}

/** One account's CIDR allow-list. */
export interface AddressAllowList {
  readonly cidrs: readonly string[];
  readonly matcher: CidrMatcher;
  readonly accountId: string;
}

/** One account's list of names (origins, upstreams). */
export interface NameAllowList {
  readonly names: ReadonlySet<string>;
  readonly accountId: string;
}

/** One account's billing rules as stated, for counting its subtree's usage and spend against them (docs/billing.md). */
export interface AccountBilling {
  readonly accountId: string;
  readonly quotas: readonly Quota[];
  readonly spendCaps: SpendCaps;
  /** The account's folded time zone: its quota and cap windows are its natural days and months. */
  readonly timeZone: string;
}

/** Who pays and how (docs/billing.md), folded along the chain. */
export interface CreditTerms {
  /** The account whose wallet pays: the nearest with `payer: self` (the default); "" when the fold was not told ids. */
  readonly payerId: string;
  /** The smallest overdraft stated from this account up to the root (undefined = postpaid), for `checkWithinParent`. */
  readonly overdraft: Bound | undefined;
  /** The overdraft of the payer's wallet (its own folded `overdraft`): undefined = postpaid. */
  readonly walletOverdraft: Bound | undefined;
  /** `pay_as_you_go` only when some account on the chain says so and none says `refuse`. */
  readonly onQuotaExhausted: { readonly value: "refuse" | "pay_as_you_go"; readonly accountId: string | null };
  /** Every account on the chain that states quotas or spend caps, nearest first. */
  readonly chain: readonly AccountBilling[];
}

/** What an account may do once every ancestor's policy has had its say. */
export interface EffectivePolicy {
  /**
   * Allow-lists a model must pass, every one of them; none = every model. A chain whose
   * stored lists each narrow the one above folds to a single list, the nearest.
   */
  readonly models: readonly ModelAllowList[];
  /** Deny-lists from every account on the chain (nearest first): a model matching any of them is refused. */
  readonly denyModels: readonly ModelDenyList[];
  /**
   * Mapping rules, the account's own list first, then its parent's, up to the root: the
   * nearest list with a matching rule decides, so a child overrides what it inherits.
   * Rules whose served model the account may not use are left out.
   */
  readonly modelMap: readonly CompiledModelMap[];
  /** The smallest of each limit along the chain, with the account that set it. */
  readonly limits: LimitBounds;
  /** Per-model limits by pattern text, each field the smallest along the chain. */
  readonly perModelLimits: ReadonlyMap<string, PerModelBounds>;
  /** Every account on the chain that states limits, nearest first, with its own limits (a parent's limit counts its whole subtree). */
  readonly limitChain: readonly AccountLimits[];
  readonly spendCaps: Readonly<Partial<Record<SpendCapField, Bound>>>;
  /** Address allow-lists a client address must pass, every one; none = any address. */
  readonly ipAllow: readonly AddressAllowList[];
  /** Origin allow-lists an Origin header must pass, every one; none = any origin. */
  readonly origins: readonly NameAllowList[];
  /** Upstream allow-lists an upstream must pass, every one; none = every upstream. */
  readonly upstreams: readonly NameAllowList[];
  /** The largest multiplier along the chain; 1 (the gateway's base) when none is set. */
  readonly priceMultiplier: Bound;
  /** The nearest time zone set on the chain; UTC when none is. */
  readonly timeZone: { readonly value: string; readonly accountId: string | null };
  /** Every account on the chain that sets prices, nearest first; `topLevel` marks the chain's top account (its prices replace the gateway's). */
  readonly prices: readonly AccountPrices[];
  /** Credit, quotas and spend caps along the chain (governance/billing.ts). */
  readonly credit: CreditTerms;
}

/** One account's own price list, as stated. */
export interface AccountPrices {
  readonly accountId: string;
  readonly prices: PriceList;
  readonly topLevel: boolean;
}

/** The effective policy of a root account that stored nothing. */
export const UNRESTRICTED: EffectivePolicy = {
  models: [],
  denyModels: [],
  modelMap: [],
  limits: {},
  perModelLimits: new Map(),
  limitChain: [],
  spendCaps: {},
  ipAllow: [],
  origins: [],
  upstreams: [],
  priceMultiplier: { value: 1, accountId: null },
  timeZone: { value: "UTC", accountId: null },
  prices: [],
  credit: { payerId: "", overdraft: undefined, walletOverdraft: undefined, onQuotaExhausted: { value: "refuse", accountId: null }, chain: [] },
};

/**
 * The policy in an account's settings. A document whose policy fields do not parse
 * yields a policy that allows nothing, with the reason: failing closed keeps a
 * corrupt row from granting every model, and the fold carries the refusal to the
 * account's sub-accounts too.
 */
export function policyOf(settings: Readonly<Record<string, unknown>>): { policy: Policy; problem?: string } {
  const parsed = policySchema.safeParse(settings);
  if (parsed.success) return { policy: parsed.data };
  return { policy: { models: [] }, problem: z.prettifyError(parsed.error) };
}

/** The settings document with the policy's fields replaced; fields the policy leaves unset are removed. */
export function withPolicy(settings: Readonly<Record<string, unknown>>, policy: Policy): Record<string, unknown> {
  const next: Record<string, unknown> = { ...settings };
  for (const key of POLICY_FIELDS) delete next[key];
  for (const [key, value] of Object.entries(policy)) if (value !== undefined) next[key] = value;
  return next;
}

/** One account's policy on a chain, with its id (so folded values can say who set them). */
export interface ChainPolicy {
  readonly accountId: string;
  readonly policy: Policy;
}

/** Folds a chain, nearest account first (the account, its parent, …, the root), into its effective policy. */
export function foldPolicies(chain: readonly (Policy | ChainPolicy)[]): EffectivePolicy {
  let effective = UNRESTRICTED;
  for (let i = chain.length - 1; i >= 0; i--) {
    const link = chain[i]!;
    effective = isChainPolicy(link) ? narrow(effective, link.policy, link.accountId) : narrow(effective, link);
  }
  return effective;
}

function isChainPolicy(link: Policy | ChainPolicy): link is ChainPolicy {
  return typeof (link as Partial<ChainPolicy>).accountId === "string" && typeof (link as Partial<ChainPolicy>).policy === "object";
}

/**
 * `parent`'s effective policy as narrowed by a child's own policy. Fields the child does
 * not state are the parent's very objects, so an honest tree costs little per account.
 */
export function narrow(parent: EffectivePolicy, child: Policy, accountId = ""): EffectivePolicy {
  const models = narrowModels(parent.models, child.models, accountId);
  const denyModels =
    child.deny_models && child.deny_models.length > 0
      ? [{ patterns: [...child.deny_models], matcher: compileModelPatterns(child.deny_models), accountId }, ...parent.denyModels]
      : parent.denyModels;
  const limits = child.limits;
  return {
    models,
    denyModels,
    modelMap: narrowModelMap(parent, models, denyModels, child.model_map),
    limits: limits ? minBounds(parent.limits, limits, accountId) : parent.limits,
    perModelLimits: limits?.per_model ? narrowPerModel(parent.perModelLimits, limits.per_model, accountId) : parent.perModelLimits,
    limitChain: limits && hasAnyLimit(limits) ? [{ accountId, limits }, ...parent.limitChain] : parent.limitChain,
    spendCaps: child.spend_caps ? minBounds(parent.spendCaps, child.spend_caps, accountId) : parent.spendCaps,
    ipAllow: child.ip_allow ? narrowAddresses(parent.ipAllow, child.ip_allow, accountId) : parent.ipAllow,
    origins: child.origins ? narrowNames(parent.origins, child.origins, accountId) : parent.origins,
    upstreams: child.upstreams ? narrowNames(parent.upstreams, child.upstreams, accountId) : parent.upstreams,
    priceMultiplier:
      child.price_multiplier !== undefined && child.price_multiplier > parent.priceMultiplier.value
        ? { value: child.price_multiplier, accountId }
        : parent.priceMultiplier,
    timeZone: child.time_zone !== undefined ? { value: child.time_zone, accountId } : parent.timeZone,
    prices:
      child.prices && Object.keys(child.prices).length > 0
        ? [{ accountId, prices: child.prices, topLevel: parent === UNRESTRICTED }, ...parent.prices]
        : parent.prices,
    credit: narrowCredit(parent, child, accountId),
  };
}

/** The credit terms at `accountId`: who pays, the overdrafts, what happens when a quota runs out, and the chain of quotas and caps. */
function narrowCredit(parent: EffectivePolicy, child: Policy, accountId: string): CreditTerms {
  const p = parent.credit;
  const stated = child.credit?.overdraft_micros;
  const overdraft = stated !== undefined && (p.overdraft === undefined || stated < p.overdraft.value) ? { value: stated, accountId } : p.overdraft;
  // A root (the parent is the empty top) always pays for itself.
  const drawsOnParent = child.credit?.payer === "parent" && parent !== UNRESTRICTED;
  const onQuota = child.on_quota_exhausted;
  const hasQuotas = (child.quotas?.length ?? 0) > 0;
  const hasCaps = child.spend_caps !== undefined && SPEND_CAP_FIELDS.some((f) => child.spend_caps![f] !== undefined);
  const timeZone = child.time_zone ?? parent.timeZone.value;
  return {
    payerId: drawsOnParent ? p.payerId : accountId,
    overdraft,
    walletOverdraft: drawsOnParent ? p.walletOverdraft : overdraft,
    onQuotaExhausted:
      onQuota === undefined || (p.onQuotaExhausted.value === "refuse" && p.onQuotaExhausted.accountId !== null)
        ? p.onQuotaExhausted
        : { value: onQuota, accountId },
    chain: hasQuotas || hasCaps ? [{ accountId, quotas: child.quotas ?? [], spendCaps: child.spend_caps ?? {}, timeZone }, ...p.chain] : p.chain,
  };
}

function hasAnyLimit(limits: Limits): boolean {
  return LIMIT_FIELDS.some((f) => limits[f] !== undefined) || Object.keys(limits.per_model ?? {}).length > 0;
}

/** Each field the smaller of the inherited bound and the child's own value. */
function minBounds<F extends string>(
  parent: Readonly<Partial<Record<F, Bound>>>,
  own: Partial<Record<F, unknown>>,
  accountId: string,
): Partial<Record<F, Bound>> {
  const out: Partial<Record<F, Bound>> = { ...parent };
  for (const [field, value] of Object.entries(own) as Array<[F, unknown]>) {
    if (typeof value !== "number") continue;
    const inherited = parent[field];
    if (inherited === undefined || value < inherited.value) out[field] = { value, accountId };
  }
  return out;
}

function narrowPerModel(
  parent: ReadonlyMap<string, PerModelBounds>,
  own: Readonly<Record<string, LimitSet>>,
  accountId: string,
): ReadonlyMap<string, PerModelBounds> {
  const out = new Map(parent);
  for (const [pattern, set] of Object.entries(own)) {
    const inherited = out.get(pattern);
    out.set(pattern, { matcher: inherited?.matcher ?? compileModelPatterns([pattern]), bounds: minBounds(inherited?.bounds ?? {}, set, accountId) });
  }
  return out;
}

/** The limits that apply to requests for `model`: each field the smallest of the chain's limits and its per-model limits whose pattern matches. */
export function limitsFor(policy: EffectivePolicy, model: string): LimitBounds {
  if (policy.perModelLimits.size === 0) return policy.limits;
  let out: Partial<Record<LimitField, Bound>> | undefined;
  for (const entry of policy.perModelLimits.values()) {
    if (!entry.matcher.matches(model)) continue;
    out ??= { ...policy.limits };
    for (const [field, bound] of Object.entries(entry.bounds) as Array<[LimitField, Bound]>) {
      const current = out[field];
      if (current === undefined || bound.value < current.value) out[field] = bound;
    }
  }
  return out ?? policy.limits;
}

/**
 * The child's own rules in front of the inherited lists, each list keeping only rules
 * toward models the child may use: a child narrower than its parent must not be sent to
 * a model it may not use by a rule it inherited, and a stored rule that skipped the
 * admin check must not reach beyond the allow-list either.
 */
function narrowModelMap(
  parent: EffectivePolicy,
  models: readonly ModelAllowList[],
  denyModels: readonly ModelDenyList[],
  own: readonly MappingRuleInput[] | undefined,
): readonly CompiledModelMap[] {
  const allowed = (m: string): boolean => models.every((l) => l.matcher.matches(m)) && !denyModels.some((l) => l.matcher.matches(m));
  const keep = (rules: readonly MappingRule[]): CompiledModelMap | undefined => {
    // Each target of each tier must serve a model the account may use; a rule left with none goes.
    const kept = rules.map((r) => restrictRule(r, allowed)).filter((r): r is MappingRule => r !== undefined);
    return kept.length > 0 ? compileModelMap(kept) : undefined;
  };
  const lists: CompiledModelMap[] = [];
  if (own && own.length > 0) {
    const parsed = own.map(ruleFromInput).filter((r): r is MappingRule => typeof r !== "string");
    const list = keep(parsed);
    if (list) lists.push(list);
  }
  // Neither list changed: the inherited lists were already filtered against them.
  if (models === parent.models && denyModels === parent.denyModels) return lists.length === 0 ? parent.modelMap : [...lists, ...parent.modelMap];
  for (const l of parent.modelMap) {
    const list = l.rules.every((r) => restrictRule(r, allowed) === r) ? l : keep(l.rules);
    if (list) lists.push(list);
  }
  return lists;
}

/** The model a request for `model` is served by under the policy's mappings, with the rule that decided; undefined = no rule. */
export function mappedModel(policy: EffectivePolicy, model: string): MappingRule | undefined {
  for (const list of policy.modelMap) {
    const rule = list.lookup(model);
    if (rule) return rule;
  }
  return undefined;
}

function narrowModels(parent: readonly ModelAllowList[], own: readonly string[] | undefined, accountId: string): readonly ModelAllowList[] {
  if (own === undefined) return parent;
  const list: ModelAllowList = { patterns: [...own], matcher: compileModelPatterns(own), accountId };
  // A list inside every inherited one is the whole intersection: keep it alone, so an
  // honest tree costs one list per principal. Otherwise (a stored child wider than its
  // parent) every list stays and a model must pass them all.
  return own.every((p) => parent.every((l) => coversPattern(l.matcher, p))) ? [list] : [...parent, list];
}

function narrowAddresses(parent: readonly AddressAllowList[], own: readonly string[], accountId: string): readonly AddressAllowList[] {
  const matcher = compileCidrs(own);
  const list: AddressAllowList = { cidrs: [...own], matcher, accountId };
  return matcher.ranges.every((r) => parent.every((l) => l.matcher.covers(r))) ? [list] : [...parent, list];
}

function narrowNames(parent: readonly NameAllowList[], own: readonly string[], accountId: string): readonly NameAllowList[] {
  const list: NameAllowList = { names: new Set(own), accountId };
  return own.every((n) => parent.every((l) => l.names.has(n))) ? [list] : [...parent, list];
}

/** Whether every allow-list on the chain admits the model and no deny-list names it. */
export function allowsModel(policy: EffectivePolicy, model: string): boolean {
  for (const l of policy.models) if (!l.matcher.matches(model)) return false;
  for (const l of policy.denyModels) if (l.matcher.matches(model)) return false;
  return true;
}

/** The deny-list that refuses the model, if any (for the refusal's message). */
export function deniedBy(policy: EffectivePolicy, model: string): ModelDenyList | undefined {
  return policy.denyModels.find((l) => l.matcher.matches(model));
}

/** Whether a client at `address` passes every address allow-list; an unknown address passes none. */
export function allowsAddress(policy: EffectivePolicy, address: string | undefined): boolean {
  if (policy.ipAllow.length === 0) return true;
  if (address === undefined) return false;
  return policy.ipAllow.every((l) => l.matcher.matches(address));
}

/** Whether a request carrying `origin` passes every origin allow-list; no Origin header (not a browser) always passes. */
export function allowsOrigin(policy: EffectivePolicy, origin: string | undefined): boolean {
  if (origin === undefined || policy.origins.length === 0) return true;
  const normalized = normalizeOrigin(origin);
  return normalized !== undefined && policy.origins.every((l) => l.names.has(normalized));
}

/** Whether the subtree may be routed to the upstream named `name`. */
export function allowsUpstream(policy: EffectivePolicy, name: string): boolean {
  return policy.upstreams.every((l) => l.names.has(name));
}

/** An Origin value in its canonical form (lower-case scheme and host, default port dropped), or undefined when it is not one. */
export function normalizeOrigin(text: string): string | undefined {
  if (!/^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/[^/?#]+$/.test(text)) return undefined;
  try {
    const url = new URL(text);
    if (url.username || url.password) return undefined;
    return url.origin === "null" ? undefined : url.origin;
  } catch {
    return undefined;
  }
}

const knownZones = new Map<string, boolean>();

/** Whether Intl knows the IANA time zone name (results cached: building a formatter is not free). */
export function isTimeZone(name: string): boolean {
  let known = knownZones.get(name);
  if (known === undefined) {
    try {
      new Intl.DateTimeFormat("en-US", { timeZone: name });
      known = name.length > 0;
    } catch {
      known = false;
    }
    if (knownZones.size < 1000) knownZones.set(name, known);
  }
  return known;
}

/** The policy field a violation is about, then the path inside it, e.g. `["limits", "rpm"]`, `["models", 1]`. */
export type PolicyPath = readonly [keyof Policy, ...(string | number)[]];

/** One place where a child's policy reaches beyond its parent's. */
export interface PolicyViolation {
  readonly path: PolicyPath;
  /** The offending value as the child stated it. */
  readonly value: unknown;
  /** The parent's bound it reaches beyond: a number, or the list it is not within. */
  readonly bound: unknown;
  /** The account whose policy set that bound; null = the gateway's own default (the base multiplier of 1), "" = unknown. */
  readonly setBy: string | null;
  /** What is wrong, without account names (the caller names the account). */
  readonly message: string;
}

/**
 * Policy fields whose narrowing may not strand a sub-account: a list a child states
 * entries of. A parent's numeric bound (limits, spend caps, the price multiplier) may
 * move freely: the fold takes the tighter of the two, so a child's stated value simply
 * stops binding while the parent's is tighter, and binds again when it is lifted.
 */
export const LIST_FIELDS: ReadonlySet<keyof Policy> = new Set(["models", "model_map", "ip_allow", "origins", "upstreams"]);

/**
 * Where `child`'s own policy would allow something `parent` (the parent account's
 * effective policy) does not; empty when the child only narrows. A model pattern is
 * within the parent when every name it matches is allowed (see coversPattern), so
 * `gpt-4o*` is within `gpt-*` and `gpt-*` is not within `gpt-4o*`; likewise a CIDR range
 * within a list lies in one of its ranges. A limit or spend cap may not exceed the
 * parent's, a per-model limit may not exceed the parent's limit for every model its
 * pattern matches (the parent's own and those of its per-model patterns that cover it),
 * and the price multiplier may not fall below the parent's.
 */
/** A mapping toward `served`, which `own` (the child's policy as it would be) does not allow: the list or the denial that refuses it, and who set it. */
function mappingViolation(own: EffectivePolicy, path: PolicyViolation["path"], value: string, served: string, what: string): PolicyViolation {
  const list = own.models.find((l) => !l.matcher.matches(served));
  const deny = deniedBy(own, served);
  return {
    path,
    value,
    bound: list ? list.patterns : (deny?.patterns ?? []),
    setBy: list ? list.accountId : (deny?.accountId ?? ""),
    message: list ? `${what}, which is not within ${listText(list.patterns)}` : `${what}, which is denied by ${listText(deny?.patterns ?? [])}`,
  };
}

export function checkWithinParent(parent: EffectivePolicy, child: Policy): PolicyViolation[] {
  const violations: PolicyViolation[] = [];
  for (const [i, pattern] of (child.models ?? []).entries()) {
    const outside = parent.models.find((l) => !coversPattern(l.matcher, pattern));
    if (outside) {
      violations.push({
        path: ["models", i],
        value: pattern,
        bound: outside.patterns,
        setBy: outside.accountId,
        message: `model '${pattern}' is not within ${listText(outside.patterns)}`,
      });
    }
  }
  // A mapping may only send the account to a model it may use: within the parent's
  // effective list and within the child's own list when it states one, and denied nowhere.
  const own = narrow(parent, { models: child.models, deny_models: child.deny_models });
  // Every target of every tier counts: a backup tier must not reach further than the primary.
  for (const [i, input] of (child.model_map ?? []).entries()) {
    const rule = ruleFromInput(input);
    if (typeof rule === "string") continue;
    if (typeof input === "string") {
      const served = rule.target ?? rule.pattern;
      if (!allowsModel(own, served)) violations.push(mappingViolation(own, ["model_map", i], input, served, `mapping '${input}' serves model '${served}'`));
      continue;
    }
    for (const [t, tier] of rule.tiers.entries()) {
      for (const [j, target] of tier.entries()) {
        const served = target.model ?? rule.pattern;
        if (allowsModel(own, served)) continue;
        const what = target.model === undefined ? `the requested names '${rule.pattern}'` : `model '${served}'`;
        const path: PolicyViolation["path"] = ["model_map", i, "tiers", t, j, "model"];
        violations.push(
          mappingViolation(own, path, `${rule.pattern}: tier ${t + 1}, ${served}`, served, `mapping '${rule.pattern}' serves ${what} in tier ${t + 1}`),
        );
      }
    }
  }
  for (const field of LIMIT_FIELDS) {
    const value = child.limits?.[field];
    const bound = parent.limits[field];
    if (value !== undefined && bound !== undefined && value > bound.value) {
      violations.push({ path: ["limits", field], value, bound: bound.value, setBy: bound.accountId, message: `${value} is above the limit of ${bound.value}` });
    }
  }
  for (const [pattern, set] of Object.entries(child.limits?.per_model ?? {})) {
    for (const field of LIMIT_FIELDS) {
      const value = set[field];
      if (value === undefined) continue;
      const bound = perModelBound(parent, pattern, field);
      if (bound !== undefined && value > bound.value) {
        violations.push({
          path: ["limits", "per_model", pattern, field],
          value,
          bound: bound.value,
          setBy: bound.accountId,
          message: `${value} is above the limit of ${bound.value} for models matching '${pattern}'`,
        });
      }
    }
  }
  for (const field of SPEND_CAP_FIELDS) {
    const value = child.spend_caps?.[field];
    const bound = parent.spendCaps[field];
    if (value !== undefined && bound !== undefined && value > bound.value) {
      violations.push({
        path: ["spend_caps", field],
        value,
        bound: bound.value,
        setBy: bound.accountId,
        message: `${value} is above the cap of ${bound.value}`,
      });
    }
  }
  for (const [i, text] of (child.ip_allow ?? []).entries()) {
    const range = parseCidr(text);
    if (typeof range === "string") continue;
    const outside = parent.ipAllow.find((l) => !l.matcher.covers(range));
    if (outside) {
      violations.push({
        path: ["ip_allow", i],
        value: text,
        bound: outside.cidrs,
        setBy: outside.accountId,
        message: `'${text}' is not within ${listText(outside.cidrs)}`,
      });
    }
  }
  for (const field of ["origins", "upstreams"] as const) {
    for (const [i, name] of (child[field] ?? []).entries()) {
      const outside = parent[field].find((l) => !l.names.has(name));
      if (outside) {
        violations.push({
          path: [field, i],
          value: name,
          bound: [...outside.names],
          setBy: outside.accountId,
          message: `'${name}' is not within ${listText([...outside.names])}`,
        });
      }
    }
  }
  const overdraft = child.credit?.overdraft_micros;
  const odBound = parent.credit.overdraft;
  if (overdraft !== undefined && odBound !== undefined && overdraft > odBound.value) {
    violations.push({
      path: ["credit", "overdraft_micros"],
      value: overdraft,
      bound: odBound.value,
      setBy: odBound.accountId,
      message: `${overdraft} is above the overdraft of ${odBound.value}`,
    });
  }
  const onQuota = parent.credit.onQuotaExhausted;
  if (child.on_quota_exhausted === "pay_as_you_go" && onQuota.value === "refuse" && onQuota.accountId !== null) {
    violations.push({
      path: ["on_quota_exhausted"],
      value: "pay_as_you_go",
      bound: "refuse",
      setBy: onQuota.accountId,
      message: "pay_as_you_go is not allowed where an ancestor refuses requests beyond their quota",
    });
  }
  const multiplier = child.price_multiplier;
  if (multiplier !== undefined && multiplier < parent.priceMultiplier.value) {
    const bound = parent.priceMultiplier;
    violations.push({
      path: ["price_multiplier"],
      value: multiplier,
      bound: bound.value,
      setBy: bound.accountId,
      message: `${multiplier} is below the multiplier of ${bound.value}`,
    });
  }
  return violations;
}

/** The parent's tightest bound on `field` over every model `pattern` matches: its own limit and the per-model limits whose pattern covers `pattern`. */
function perModelBound(parent: EffectivePolicy, pattern: string, field: LimitField): Bound | undefined {
  let bound = parent.limits[field];
  for (const entry of parent.perModelLimits.values()) {
    const b = entry.bounds[field];
    if (b !== undefined && coversPattern(entry.matcher, pattern) && (bound === undefined || b.value < bound.value)) bound = b;
  }
  return bound;
}

function listText(items: readonly string[]): string {
  return items.length === 0 ? "an empty list" : `[${items.join(", ")}]`;
}

/** A violation's field as an admin API `param`: `models`, `limits.rpm`, `limits.per_model.gpt-4o.rpm`. */
export function violationParam(v: PolicyViolation): string {
  return LIST_FIELDS.has(v.path[0]) ? v.path[0] : v.path.join(".");
}
