/**
 * An account's policy: what it and every account below it may do. It is stored in the
 * account's `settings` document, one field per rule; accounts form a tree and a child
 * can only narrow what its parent allows. Two operations carry that rule:
 *
 * - {@link foldPolicies} folds an account's chain (the account, then its ancestors)
 *   into the effective policy the data plane enforces. It never grants more than any
 *   account on the chain, whatever is stored, so the guarantee does not depend on
 *   every writer having checked.
 * - {@link checkWithinParent} lists where a child's own policy reaches beyond its
 *   parent's effective one; the admin API refuses such a write, so what is stored
 *   reads the same as what is enforced.
 *
 * Today a policy holds the model allow-list and the model mappings. Each later rule
 * (rate limits, quotas) adds a field to the schema, a narrowing step to the fold
 * (limits take the smaller value, lists intersect) and a comparison to the check.
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

/**
 * The stored policy. Unknown keys are ignored, not refused: the settings document may
 * carry other things, and a node must keep reading policies that a newer node wrote.
 */
export const policySchema = z.object({
  /** Model names or patterns the account may use; absent = whatever its parent may use; empty = none. */
  models: modelPatterns.optional(),
  /**
   * Model mappings, most specific first within the list; absent or empty = only what the
   * parent maps. A child's rules are consulted before its ancestors', and each rule may
   * only name a served model the account may use.
   */
  model_map: modelMapRules.optional(),
});

export type Policy = z.infer<typeof policySchema>;

/** The policy of an account that stored nothing: it inherits everything. */
export const INHERIT: Policy = {};

/** One account's model allow-list, compiled. */
export interface ModelAllowList {
  readonly patterns: readonly string[];
  readonly matcher: ModelMatcher;
}

/** What an account may do once every ancestor's policy has had its say. */
export interface EffectivePolicy {
  /**
   * Allow-lists a model must pass, every one of them; none = every model. A chain whose
   * stored lists each narrow the one above folds to a single list, the nearest.
   */
  readonly models: readonly ModelAllowList[];
  /**
   * Mapping rules, the account's own list first, then its parent's, up to the root: the
   * nearest list with a matching rule decides, so a child overrides what it inherits.
   * Rules whose served model the account may not use are left out.
   */
  readonly modelMap: readonly CompiledModelMap[];
}

/** The effective policy of a root account that stored nothing. */
export const UNRESTRICTED: EffectivePolicy = { models: [], modelMap: [] };

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
  for (const key of Object.keys(policySchema.shape)) delete next[key];
  for (const [key, value] of Object.entries(policy)) if (value !== undefined) next[key] = value;
  return next;
}

/** Folds a chain, nearest account first (the account, its parent, …, the root), into its effective policy. */
export function foldPolicies(chain: readonly Policy[]): EffectivePolicy {
  let effective = UNRESTRICTED;
  for (let i = chain.length - 1; i >= 0; i--) effective = narrow(effective, chain[i]!);
  return effective;
}

/** `parent`'s effective policy as narrowed by a child's own policy. */
export function narrow(parent: EffectivePolicy, child: Policy): EffectivePolicy {
  const models = narrowModels(parent.models, child.models);
  return { models, modelMap: narrowModelMap(parent, models, child.model_map) };
}

/**
 * The child's own rules in front of the inherited lists, each list keeping only rules
 * toward models the child may use: a child narrower than its parent must not be sent to
 * a model it may not use by a rule it inherited, and a stored rule that skipped the
 * admin check must not reach beyond the allow-list either.
 */
function narrowModelMap(parent: EffectivePolicy, models: readonly ModelAllowList[], own: readonly MappingRuleInput[] | undefined): readonly CompiledModelMap[] {
  const allowed = (m: string): boolean => models.every((l) => l.matcher.matches(m));
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
  // The allow-list did not change: the inherited lists were already filtered against it.
  if (models === parent.models) return lists.length === 0 ? parent.modelMap : [...lists, ...parent.modelMap];
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

function narrowModels(parent: readonly ModelAllowList[], own: readonly string[] | undefined): readonly ModelAllowList[] {
  if (own === undefined) return parent;
  const list: ModelAllowList = { patterns: [...own], matcher: compileModelPatterns(own) };
  // A list inside every inherited one is the whole intersection: keep it alone, so an
  // honest tree costs one list per principal. Otherwise (a stored child wider than its
  // parent) every list stays and a model must pass them all.
  return own.every((p) => parent.every((l) => coversPattern(l.matcher, p))) ? [list] : [...parent, list];
}

export function allowsModel(policy: EffectivePolicy, model: string): boolean {
  for (const l of policy.models) if (!l.matcher.matches(model)) return false;
  return true;
}

function allowsPattern(policy: EffectivePolicy, pattern: string): boolean {
  return policy.models.every((l) => coversPattern(l.matcher, pattern));
}

/** One place where a child's policy reaches beyond its parent's. */
export interface PolicyViolation {
  /** The policy field, then the offending entry's index, e.g. `["models", 1]`. */
  readonly path: readonly [keyof Policy, ...(string | number)[]];
  /** The offending value as the child stated it. */
  readonly value: unknown;
  readonly message: string;
}

/**
 * Where `child`'s own policy would allow something `parent` (the parent account's
 * effective policy) does not; empty when the child only narrows. A model pattern is
 * within the parent when every name it matches is allowed (see coversPattern), so
 * `gpt-4o*` is within `gpt-*` and `gpt-*` is not within `gpt-4o*`.
 */
export function checkWithinParent(parent: EffectivePolicy, child: Policy): PolicyViolation[] {
  const violations: PolicyViolation[] = [];
  for (const [i, pattern] of (child.models ?? []).entries()) {
    if (!allowsPattern(parent, pattern)) {
      violations.push({ path: ["models", i], value: pattern, message: `model '${pattern}' is not within what the parent account allows` });
    }
  }
  // A mapping may only send the account to a model it may use: within the parent's
  // effective list and within the child's own list when it states one.
  const own = narrow(parent, { models: child.models });
  // Every target of every tier counts: a backup tier must not reach further than the primary.
  for (const [i, input] of (child.model_map ?? []).entries()) {
    const rule = ruleFromInput(input);
    if (typeof rule === "string") continue;
    if (typeof input === "string") {
      if (!allowsModel(own, rule.target ?? rule.pattern)) {
        violations.push({ path: ["model_map", i], value: input, message: `mapping '${input}' serves model '${rule.target}', which the account may not use` });
      }
      continue;
    }
    for (const [t, tier] of rule.tiers.entries()) {
      for (const [j, target] of tier.entries()) {
        const served = target.model ?? rule.pattern;
        if (allowsModel(own, served)) continue;
        const what = target.model === undefined ? `the requested names '${rule.pattern}'` : `model '${served}'`;
        violations.push({
          path: ["model_map", i, "tiers", t, j, "model"],
          value: `${rule.pattern}: tier ${t + 1}, ${served}`,
          message: `mapping '${rule.pattern}' serves ${what} in tier ${t + 1}, which the account may not use`,
        });
      }
    }
  }
  return violations;
}
