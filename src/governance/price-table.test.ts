import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { Usage } from "../canonical/usage.js";
import { foldPolicies, policyFieldsInput, policyOf } from "./policy.js";
import { BUILTIN_PRICE_VERSION, BUILTIN_PRICES, costMicros, TablePricer } from "./price-table.js";
import { PROVIDER_PRESETS } from "../canonical/provider-presets.js";

function usage(u: Partial<Usage>): Usage {
  return { inputTokens: 0, cachedInputTokens: 0, cacheWriteTokens: 0, outputTokens: 0, reasoningTokens: 0, ...u };
}

const price = (input: number, cached: number, write: number, output: number) => ({
  input: BigInt(input),
  cachedInput: BigInt(cached),
  cacheWrite: BigInt(write),
  output: BigInt(output),
});

describe("costMicros", () => {
  it("takes cached and cache-write tokens out of the input exactly once (new-api #5003)", () => {
    // $3/M input, $0.30/M cached, $3.75/M write, $15/M output; 10,000 prompt tokens of which 6,000 cached and 1,000 written.
    const p = price(3_000_000, 300_000, 3_750_000, 15_000_000);
    const u = usage({ inputTokens: 10_000, cachedInputTokens: 6_000, cacheWriteTokens: 1_000, outputTokens: 2_000, reasoningTokens: 500 });
    // 3,000 uncached × 3 + 6,000 × 0.3 + 1,000 × 3.75 + 2,000 × 15 (reasoning is inside output) = 9,000 + 1,800 + 3,750 + 30,000 micros
    expect(costMicros(p, u)).toBe(44_550);
    // Subtracting cached twice would bill 0 uncached + … ; billing cached at the input price would bill more: neither matches.
    expect(costMicros(p, u)).not.toBe(9_000 - 18_000 + 1_800 + 3_750 + 30_000);
  });

  it("never bills a negative uncached share when an upstream reports more cached than input", () => {
    const p = price(1_000_000, 100_000, 1_000_000, 0);
    expect(costMicros(p, usage({ inputTokens: 100, cachedInputTokens: 300 }))).toBe(30);
  });

  it("rounds up once, at the end, to a whole micro", () => {
    // 1 token at 1 micro per million = 10^-6 micro: billed as 1, not 0.
    expect(costMicros(price(1, 1, 1, 1), usage({ inputTokens: 1 }))).toBe(1);
    // 3 tokens at 333,333 micros/M = 0.999999 micro: one rounding, not three.
    expect(costMicros(price(333_333, 0, 0, 0), usage({ inputTokens: 3 }))).toBe(1);
    expect(costMicros(price(0, 0, 0, 0), usage({ inputTokens: 3 }))).toBe(0);
  });

  it("equals the exact rational cost rounded up, for any usage and prices", () => {
    const tokens = fc.integer({ min: 0, max: 50_000_000 });
    const micros = fc.integer({ min: 0, max: 200_000_000 });
    fc.assert(
      fc.property(
        tokens,
        tokens,
        tokens,
        tokens,
        micros,
        micros,
        micros,
        micros,
        fc.integer({ min: 1, max: 10_000_000 }),
        (i, c, w, o, pi, pc, pw, po, ppm) => {
          const cached = Math.min(c, i);
          const write = Math.min(w, i - cached);
          const exact =
            (BigInt(i - cached - write) * BigInt(pi) + BigInt(cached) * BigInt(pc) + BigInt(write) * BigInt(pw) + BigInt(o) * BigInt(po)) * BigInt(ppm);
          const d = 10n ** 12n;
          const expected = exact / d + (exact % d === 0n ? 0n : 1n);
          expect(
            costMicros(price(pi, pc, pw, po), usage({ inputTokens: i, cachedInputTokens: cached, cacheWriteTokens: write, outputTokens: o }), BigInt(ppm)),
          ).toBe(Number(expected));
        },
      ),
    );
  });
});

describe("TablePricer", () => {
  const u = usage({ inputTokens: 1_000_000, cachedInputTokens: 400_000, outputTokens: 100_000 });

  it("prices from the built-in table, most specific pattern first, naming the entry", () => {
    const pricer = new TablePricer();
    // gpt-5-mini*: $0.25 in, $0.025 cached, $2 out → 600,000×0.25 + 400,000×0.025 + 100,000×2 = 150,000 + 10,000 + 200,000
    expect(pricer.cost(undefined, "gpt-5-mini-2025-08-07", u)).toEqual({ micros: 360_000, version: `${BUILTIN_PRICE_VERSION}/gpt-5-mini*` });
    expect(pricer.cost(undefined, "gpt-5", u).version).toBe(`${BUILTIN_PRICE_VERSION}/gpt-5*`);
    expect(pricer.cost(undefined, "claude-opus-4-5-20251101", u).version).toBe(`${BUILTIN_PRICE_VERSION}/claude-opus-4-5*`);
    expect(pricer.cost(undefined, "claude-opus-4-1", u).version).toBe(`${BUILTIN_PRICE_VERSION}/claude-opus-4*`);
  });

  it("prices nothing it does not know, and says so", () => {
    expect(new TablePricer().cost(undefined, "my-own-model", u)).toEqual({ micros: 0, version: "unpriced" });
    expect(new TablePricer({ builtin: false }).cost(undefined, "gpt-5", u)).toEqual({ micros: 0, version: "unpriced" });
  });

  it("has a seed price for the common models of every preset provider", () => {
    const pricer = new TablePricer();
    const samples: Record<string, string[]> = {
      openai: ["gpt-5.4", "gpt-4.1", "o3", "o4-mini"],
      anthropic: ["claude-opus-4-5", "claude-sonnet-4-5", "claude-haiku-4-5"],
      deepseek: ["deepseek-chat", "deepseek-reasoner"],
      dashscope: ["qwen3-max", "qwen-plus"],
      "volcengine-ark": ["doubao-seed-1-6-250615"],
      moonshot: ["kimi-k2-0905-preview"],
      zhipu: ["glm-4.6"],
      minimax: ["MiniMax-M2"],
      hunyuan: ["hunyuan-turbos-latest"],
      qianfan: ["ernie-4.5-turbo-128k"],
    };
    for (const [preset, models] of Object.entries(samples)) {
      expect(PROVIDER_PRESETS).toHaveProperty(preset);
      for (const m of models) expect(pricer.cost(undefined, m, u).micros, `${preset}: ${m}`).toBeGreaterThan(0);
    }
    for (const [pattern, p] of Object.entries(BUILTIN_PRICES)) {
      for (const v of [p.input, p.output, p.cached_input ?? 0, p.cache_write ?? 0]) expect(Number.isSafeInteger(v), pattern).toBe(true);
    }
  });

  it("takes the YAML table before the built-in one, labelled with its version", () => {
    const pricer = new TablePricer({ models: { "gpt-5*": { input: 2_000_000, output: 0 } }, version: "acme-2027-01" });
    expect(pricer.cost(undefined, "gpt-5.4", usage({ inputTokens: 1000 }))).toEqual({ micros: 2_000, version: "acme-2027-01/gpt-5*" });
    // Cached input defaults to the input price when a row leaves it out.
    expect(pricer.cost(undefined, "gpt-5.4", usage({ inputTokens: 1000, cachedInputTokens: 1000 })).micros).toBe(2_000);
    expect(pricer.cost(undefined, "claude-sonnet-4-5", u).version).toBe(`${BUILTIN_PRICE_VERSION}/claude-sonnet-4*`);
  });

  it("a top-level account's prices replace the gateway's; a sub-account's may only raise them; the multiplier applies on top", () => {
    const pricer = new TablePricer({ models: { m: { input: 10_000_000, output: 10_000_000 } }, version: "v1" });
    const one = usage({ inputTokens: 1000, outputTokens: 1000 });
    const tenant = { accountId: "t", policy: { prices: { "m*": { input: 1_000_000, output: 2_000_000 } } } };
    const cheaperChild = { accountId: "c", policy: { prices: { m: { input: 500_000, output: 5_000_000 } } } };
    const root = { accountId: "r", policy: {} };
    // The tenant under nobody: its contract price.
    const t = foldPolicies([tenant]);
    expect(pricer.cost(t, "m", one)).toMatchObject({ micros: 3_000 });
    expect(pricer.cost(t, "m", one).version).toMatch(/^account:t@[0-9a-f]{8}$/);
    // The same price list one level down (written by the parent's admins) cannot go below the gateway's.
    const below = foldPolicies([tenant, root]);
    expect(pricer.cost(below, "m", one).micros).toBe(20_000);
    // A child of the tenant: each component the larger of its own and the tenant's.
    const child = foldPolicies([cheaperChild, tenant]);
    expect(pricer.cost(child, "m", one).micros).toBe(1_000 + 5_000);
    expect(pricer.cost(child, "m", one).version).toMatch(/^account:t@[0-9a-f]{8}\+account:c@[0-9a-f]{8}$/);
    // The multiplier (largest along the chain) multiplies the result, exactly.
    const marked = foldPolicies([{ accountId: "c", policy: { price_multiplier: 1.15 } }, tenant]);
    expect(pricer.cost(marked, "m", one)).toMatchObject({ micros: 3_450 });
    expect(pricer.cost(marked, "m", one).version).toMatch(/;x1\.15$/);
  });

  it("estimates with the same prices and multiplier", () => {
    const pricer = new TablePricer({ models: { m: { input: 1_000_000, output: 4_000_000 } } });
    const policy = foldPolicies([{ accountId: "a", policy: { price_multiplier: 2 } }]);
    expect(pricer.estimate(policy, "m", { inputTokens: 1000, outputTokens: 500 })).toBe(2 * (1_000 + 2_000));
    expect(pricer.estimate(undefined, "unknown", { inputTokens: 1000, outputTokens: 500 })).toBe(0);
  });

  it("keeps answering the same past the per-policy cache bound", () => {
    const models: Record<string, { input: number; output: number }> = { m: { input: 1_000_000, output: 0 } };
    const pricer = new TablePricer({ models });
    const policy = foldPolicies([{ accountId: "a", policy: {} }]);
    expect(pricer.cost(policy, "m", usage({ inputTokens: 1000 })).micros).toBe(1_000);
    // Thousands of distinct names overflow the bounded cache (it is cleared and refilled).
    for (let i = 0; i < 5_000; i++) pricer.cost(policy, `other-${i}`, usage({}));
    expect(pricer.cost(policy, "m", usage({ inputTokens: 1000 })).micros).toBe(1_000);
  });
});

describe("prices in a policy", () => {
  it("takes whole micro-units per million tokens, refuses anything else, and reads a stored document leniently", () => {
    const input = policyFieldsInput.prices;
    expect(input.safeParse({ "gpt-5*": { input: 1_250_000, cached_input: 125_000, output: 10_000_000 } }).success).toBe(true);
    expect(input.safeParse({ "gpt-5*": { input: 1.5, output: 1 } }).success).toBe(false);
    expect(input.safeParse({ "gpt-5*": { input: -1, output: 1 } }).success).toBe(false);
    expect(input.safeParse({ "gpt-5*": { input: 1 } }).success).toBe(false);
    expect(input.safeParse({ "gpt-5*": { input: 1, output: 1, batch: 1 } }).success).toBe(false);
    // A newer node's extra component does not make the stored policy unreadable.
    const stored = policyOf({ prices: { "gpt-5*": { input: 1, output: 2, batch: 3 } } });
    expect(stored.problem).toBeUndefined();
    expect(stored.policy.prices?.["gpt-5*"]).toMatchObject({ input: 1, output: 2 });
  });

  it("folds every account's list along the chain, nearest first, marking the top", () => {
    const folded = foldPolicies([
      { accountId: "c", policy: { prices: { a: { input: 1, output: 1 } } } },
      { accountId: "b", policy: {} },
      { accountId: "t", policy: { prices: { b: { input: 2, output: 2 } } } },
    ]);
    expect(folded.prices.map((p) => [p.accountId, p.topLevel])).toEqual([
      ["c", false],
      ["t", true],
    ]);
    // An account that sets none shares its parent's list: no work per account.
    const parent = foldPolicies([{ accountId: "t", policy: { prices: { b: { input: 2, output: 2 } } } }]);
    expect(
      foldPolicies([
        { accountId: "x", policy: {} },
        { accountId: "t", policy: { prices: { b: { input: 2, output: 2 } } } },
      ]).prices,
    ).toHaveLength(1);
    expect(parent.prices[0]!.topLevel).toBe(true);
  });
});
