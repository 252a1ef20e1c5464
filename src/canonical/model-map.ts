/**
 * Model mapping rules: `requested=served`, where `requested` is an exact name or a
 * `*` pattern (the syntax of model-pattern.ts) and `served` is the exact model name the
 * upstream gets, e.g. `claude-*=gpt-5.4`. The same short form is read from account
 * policies (governance) and from the gateway-wide `model_map` in YAML (routing), so it
 * lives here, where both may import it.
 *
 * Within one list of rules, an exact name beats every pattern; among patterns, the one
 * with more literal characters wins (`claude-opus-*` over `claude-*` over `*`), and on a
 * tie the rule listed first wins. The order is settled once, when the list is compiled.
 */

export interface MappingRule {
  /** What the client asks for: a name or a `*` pattern. */
  readonly pattern: string;
  /** The model name sent upstream. */
  readonly target: string;
  /** The rule as written (`pattern=target`), for logs and explanations. */
  readonly source: string;
}

export interface CompiledModelMap {
  readonly rules: readonly MappingRule[];
  /** The rule that applies to `model`, or undefined when none matches. */
  lookup(model: string): MappingRule | undefined;
}

/**
 * Reads one `pattern=target` rule; returns a reason instead when it is malformed. The
 * target must be a plain name: a wildcard there would leave the served model unknown.
 */
export function parseMappingRule(text: string): MappingRule | string {
  const eq = text.indexOf("=");
  if (eq <= 0 || eq === text.length - 1) return `'${text}' is not of the form requested=served (e.g. claude-*=gpt-5.4)`;
  const pattern = text.slice(0, eq).trim();
  const target = text.slice(eq + 1).trim();
  if (!pattern || !target) return `'${text}' is not of the form requested=served (e.g. claude-*=gpt-5.4)`;
  if (target.includes("=") || target.includes("*")) return `'${text}': the served model must be one plain name`;
  return { pattern, target, source: `${pattern}=${target}` };
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

/** Parses and compiles rule texts, skipping malformed ones (schemas refuse them at the door; this is for stored data). */
export function compileRuleTexts(texts: readonly string[]): CompiledModelMap {
  const rules: MappingRule[] = [];
  for (const t of texts) {
    const r = parseMappingRule(t);
    if (typeof r !== "string") rules.push(r);
  }
  return compileModelMap(rules);
}

export const NO_MAPPING: CompiledModelMap = compileModelMap([]);
