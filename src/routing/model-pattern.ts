/**
 * Model name patterns: exact names or `*` wildcards (`claude-*`, `*-mini`).
 * Compiled once at catalog load; matching on the hot path is a Set lookup or a regex test.
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
    globs.push(new RegExp(`^${src}$`));
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
