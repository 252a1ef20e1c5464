/**
 * Model name patterns: exact names or `*` wildcards (`claude-*`, `*-mini`), the one
 * syntax of upstream model lists (routing) and account allow-lists (governance).
 * Compiled once per snapshot; matching on the hot path is a Set lookup or a regex test.
 */
export interface ModelMatcher {
  matches(model: string): boolean;
  /** Exact names (for /v1/models listings). */
  readonly exact: readonly string[];
  readonly patterns: readonly string[];
}

export function compileModelPatterns(patterns: readonly string[]): ModelMatcher {
  const exact = new Set<string>();
  const globs: RegExp[] = [];
  const globSources: string[] = [];
  for (const p of patterns) {
    if (!p.includes("*")) {
      exact.add(p);
      continue;
    }
    globSources.push(p);
    const src = p
      .split("*")
      .map((s) => s.replace(/[.+?^${}()|[\]\\]/g, "\\$&"))
      .join(".*");
    globs.push(new RegExp(`^${src}$`, "s"));
  }
  return {
    exact: [...exact],
    patterns: globSources,
    matches(model: string): boolean {
      if (exact.has(model)) return true;
      for (const g of globs) if (g.test(model)) return true;
      return false;
    },
  };
}

export const ANY_MODEL: ModelMatcher = { exact: [], patterns: ["*"], matches: () => true };

/**
 * Whether `m` matches every name `pattern` matches, decided exactly by matching the
 * pattern's own text with its `*` read as a plain character. If that text matches, each
 * of its `*` sits inside one of m's wildcards, which would take any replacement just
 * as well. If it does not, replace each `*` by a character no pattern of m contains:
 * that name is one `pattern` matches and m cannot (m's wildcards could take the new
 * character, but then they could take `*` too). The same holds for a list of patterns,
 * since the second argument picks out one name.
 */
export function coversPattern(m: ModelMatcher, pattern: string): boolean {
  return m.matches(pattern);
}
