/**
 * Model mapping rules (routes): what a requested model is served by. A rule matches the
 * requested name (an exact name or a `*` pattern, the syntax of model-pattern.ts) and
 * lists tiers, primary first, each a weighted set of targets; a target names the model
 * sent upstream, the upstream, or both. Two forms are read (docs/routing.md):
 *
 * - the short form `claude-*=gpt-5.4`: one tier with one target, the model alone;
 * - the structured form `{match, tiers: [[{upstream?, model?, weight?}, …], …]}`.
 *
 * The same rules come from account policies (governance) and from the gateway-wide
 * `model_map` in YAML (routing), so they live here, where both may import them; the zod
 * schemas that validate the structured form at the door are governance's (policy.ts),
 * since this folder imports no package.
 *
 * Within one list of rules, an exact name beats every pattern; among patterns, the one
 * with more literal characters wins (`claude-opus-*` over `claude-*` over `*`), and on a
 * tie the rule listed first wins. The order is settled once, when the list is compiled.
 */

/** One target of a tier: where and as what a matched request may be served. */
export interface RouteTarget {
  /** The upstream's name; absent = any upstream serving the model the caller may use. */
  readonly upstream?: string;
  /** The model name sent upstream; absent = the requested name, unchanged. */
  readonly model?: string;
  /** Relative share of the tier's traffic (a positive whole number; 1 when unstated). */
  readonly weight: number;
}

/** A tier: targets sharing traffic by weight. */
export type RouteTier = readonly RouteTarget[];

export interface MappingRule {
  /** What the client asks for: a name or a `*` pattern. */
  readonly pattern: string;
  /** Primary first: a request goes to the first tier with a healthy key (routing/plan.ts). */
  readonly tiers: readonly RouteTier[];
  /** The model the first target of the first tier serves; undefined when that target keeps the requested name. */
  readonly target: string | undefined;
  /** The rule as text (`pattern=target` for the short form), for logs, explanations and telling rules apart. */
  readonly source: string;
}

/** The structured form as read from YAML or JSON (after the schema's defaults). */
export interface StructuredRuleInput {
  readonly match: string;
  readonly tiers: ReadonlyArray<ReadonlyArray<{ readonly upstream?: string; readonly model?: string; readonly weight?: number }>>;
}

/** A rule as stored and configured: the short text or the structured object. */
export type MappingRuleInput = string | StructuredRuleInput;

export interface CompiledModelMap {
  readonly rules: readonly MappingRule[];
  /** The rule that applies to `model`, or undefined when none matches. */
  lookup(model: string): MappingRule | undefined;
}

const SHORT_FORM_HINT = "is not of the form requested=served (e.g. claude-*=gpt-5.4)";

/**
 * Reads one `pattern=target` rule; returns a reason instead when it is malformed. The
 * target must be a plain name: a wildcard there would leave the served model unknown.
 */
export function parseMappingRule(text: string): MappingRule | string {
  const eq = text.indexOf("=");
  if (eq <= 0 || eq === text.length - 1) return `'${text}' ${SHORT_FORM_HINT}`;
  const pattern = text.slice(0, eq).trim();
  const target = text.slice(eq + 1).trim();
  if (!pattern || !target) return `'${text}' ${SHORT_FORM_HINT}`;
  if (target.includes("=") || target.includes("*")) return `'${text}': the served model must be one plain name`;
  return { pattern, tiers: [[{ model: target, weight: 1 }]], target, source: `${pattern}=${target}` };
}

/** Why a served model name is unusable, or undefined: it must be one plain name. */
export function servedModelProblem(model: string): string | undefined {
  if (model.trim() !== model || model === "") return "must be a model name without surrounding spaces";
  if (model.includes("*") || model.includes("=")) return "must be one plain model name (no '*' or '=')";
  return undefined;
}

/** `model@upstream` (either part may be absent), with the weight when it is not 1. */
function targetText(t: RouteTarget): string {
  const where = `${t.model ?? "(requested)"}${t.upstream === undefined ? "" : `@${t.upstream}`}`;
  return t.weight === 1 ? where : `${where}*${t.weight}`;
}

/**
 * The text of a rule: the short form when it is one (one tier, one target, a model and
 * no upstream), else `pattern=[a@up*3, b] > [c]`, tiers from primary down.
 */
export function ruleText(pattern: string, tiers: readonly RouteTier[]): string {
  const only = tiers.length === 1 && tiers[0]!.length === 1 ? tiers[0]![0]! : undefined;
  if (only && only.upstream === undefined && only.model !== undefined) return `${pattern}=${only.model}`;
  return `${pattern}=${tiers.map((tier) => `[${tier.map(targetText).join(", ")}]`).join(" > ")}`;
}

/** A rule from either form; a reason instead when the input is malformed (the schemas refuse that at the door, with the field). */
export function ruleFromInput(input: MappingRuleInput): MappingRule | string {
  if (typeof input === "string") return parseMappingRule(input);
  const pattern = input.match.trim();
  if (!pattern) return "a structured rule needs 'match', the requested name or pattern";
  if (input.tiers.length === 0) return `rule '${pattern}': list at least one tier`;
  const tiers: RouteTarget[][] = [];
  for (const [i, tier] of input.tiers.entries()) {
    if (tier.length === 0) return `rule '${pattern}': tier ${i + 1} lists no target`;
    const targets: RouteTarget[] = [];
    for (const t of tier) {
      if (t.upstream === undefined && t.model === undefined) return `rule '${pattern}': a target names an upstream, a model, or both`;
      if (t.model !== undefined && servedModelProblem(t.model)) return `rule '${pattern}': model '${t.model}' ${servedModelProblem(t.model)}`;
      const weight = t.weight ?? 1;
      if (!Number.isInteger(weight) || weight < 1) return `rule '${pattern}': a weight is a whole number of at least 1`;
      targets.push(
        Object.assign({}, t.upstream === undefined ? undefined : { upstream: t.upstream }, t.model === undefined ? undefined : { model: t.model }, { weight }),
      );
    }
    tiers.push(targets);
  }
  return { pattern, tiers, target: tiers[0]![0]!.model, source: ruleText(pattern, tiers) };
}

/**
 * The rule with only the targets `allowed` accepts (a target that keeps the requested
 * name is judged by `requested` when given, else by the rule's pattern, which
 * model-pattern.ts's matchers read as exact containment), tiers left
 * empty dropped; undefined when nothing is left. The same object when nothing changes.
 */
export function restrictRule(rule: MappingRule, allowed: (model: string) => boolean, requested?: string): MappingRule | undefined {
  let changed = false;
  const tiers: RouteTarget[][] = [];
  for (const tier of rule.tiers) {
    const kept = tier.filter((t) => allowed(t.model ?? requested ?? rule.pattern));
    if (kept.length !== tier.length) changed = true;
    if (kept.length > 0) tiers.push(kept);
  }
  if (!changed) return rule;
  if (tiers.length === 0) return undefined;
  return { pattern: rule.pattern, tiers, target: tiers[0]![0]!.model, source: rule.source };
}

/** Every model a rule may serve (the requested name stands as the rule's pattern), for checks. */
export function servedModels(rule: MappingRule): string[] {
  return [...new Set(rule.tiers.flatMap((tier) => tier.map((t) => t.model ?? rule.pattern)))];
}

/** Literal characters of a pattern: how specific it is. */
function literalLength(pattern: string): number {
  let n = 0;
  for (const ch of pattern) if (ch !== "*") n++;
  return n;
}

function globRegex(pattern: string): RegExp {
  const src = pattern
    .split("*")
    .map((s) => s.replace(/[.+?^${}()|[\]\\]/g, "\\$&"))
    .join(".*");
  return new RegExp(`^${src}$`, "s");
}

/** Compiles rules (already parsed) into one lookup. Malformed texts are the caller's to refuse before this. */
export function compileModelMap(rules: readonly MappingRule[]): CompiledModelMap {
  const exact = new Map<string, MappingRule>();
  const globs: { rule: MappingRule; re: RegExp; literal: number; order: number }[] = [];
  for (const [order, rule] of rules.entries()) {
    if (!rule.pattern.includes("*")) {
      // The first rule for a name wins, as it would among equally specific patterns.
      if (!exact.has(rule.pattern)) exact.set(rule.pattern, rule);
      continue;
    }
    globs.push({ rule, re: globRegex(rule.pattern), literal: literalLength(rule.pattern), order });
  }
  // Most specific first, then rule order: the first pattern that matches is the winner.
  globs.sort((a, b) => b.literal - a.literal || a.order - b.order);
  return {
    rules,
    lookup(model: string): MappingRule | undefined {
      const hit = exact.get(model);
      if (hit) return hit;
      for (const g of globs) if (g.re.test(model)) return g.rule;
      return undefined;
    },
  };
}

/** Parses and compiles rules of either form, skipping malformed ones (schemas refuse them at the door; this is for stored data). */
export function compileRuleTexts(inputs: readonly MappingRuleInput[]): CompiledModelMap {
  const rules: MappingRule[] = [];
  for (const t of inputs) {
    const r = ruleFromInput(t);
    if (typeof r !== "string") rules.push(r);
  }
  return compileModelMap(rules);
}

export const NO_MAPPING: CompiledModelMap = compileModelMap([]);
