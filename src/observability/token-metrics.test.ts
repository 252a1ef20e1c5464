import fc from "fast-check";
import { Counter, Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { createTokenMetrics, type TokenCounts, type TokenMetrics } from "./token-metrics.js";

/** The counter as prom-client's own Counter keeps it, one `inc` per kind a request used. */
function reference(registry: Registry): TokenMetrics {
  const tokens = new Counter({
    name: "switchyard_tokens_total",
    help: "Metered tokens by model and kind (input, cached_input, cache_write, output, reasoning)",
    labelNames: ["model", "kind"],
    registers: [registry],
  });
  return {
    add(model, u) {
      if (u.inputTokens) tokens.inc({ model, kind: "input" }, u.inputTokens);
      if (u.cachedInputTokens) tokens.inc({ model, kind: "cached_input" }, u.cachedInputTokens);
      if (u.cacheWriteTokens) tokens.inc({ model, kind: "cache_write" }, u.cacheWriteTokens);
      if (u.outputTokens) tokens.inc({ model, kind: "output" }, u.outputTokens);
      if (u.reasoningTokens) tokens.inc({ model, kind: "reasoning" }, u.reasoningTokens);
    },
  };
}

// Model names with characters the exposition escapes, and counts that are absent, zero or large.
const model = fc.constantFrom("gpt-5.4", "claude-sonnet-4-5", 'we"ird\\model\nname', "m");
const n = fc.oneof(fc.constant(undefined), fc.constant(0), fc.nat({ max: 5 }), fc.nat({ max: 2_000_000 }));
const usage: fc.Arbitrary<TokenCounts> = fc.record(
  { inputTokens: n, cachedInputTokens: n, cacheWriteTokens: n, outputTokens: n, reasoningTokens: n },
  { requiredKeys: [] },
);
const op = fc.oneof(fc.record({ kind: fc.constant("add" as const), model, usage }), fc.record({ kind: fc.constant("scrape" as const) }));

describe("token metrics", () => {
  it("expose what prom-client's own counter exposes for the same requests, scraped at any point", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { maxLength: 40 }), async (ops) => {
        const ours = new Registry();
        const theirs = new Registry();
        const fast = createTokenMetrics(ours);
        const slow = reference(theirs);
        for (const o of ops) {
          if (o.kind === "scrape") expect(await ours.metrics()).toBe(await theirs.metrics());
          else for (const m of [fast, slow]) m.add(o.model, o.usage);
        }
        expect(await ours.metrics()).toBe(await theirs.metrics());
        expect(await ours.getMetricsAsJSON()).toEqual(await theirs.getMetricsAsJSON());
      }),
      { numRuns: 300 },
    );
  });

  it("drop a count prom-client would refuse, rather than throw on the request path", async () => {
    const registry = new Registry();
    const m = createTokenMetrics(registry);
    m.add("m", { inputTokens: -3, outputTokens: Number.POSITIVE_INFINITY, reasoningTokens: Number.NaN, cachedInputTokens: 2 });
    const text = await registry.metrics();
    expect(text).toContain('switchyard_tokens_total{model="m",kind="cached_input"} 2');
    expect(text).not.toMatch(/kind="(input|output|reasoning)"/);
  });
});
