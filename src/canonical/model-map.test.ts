import { describe, expect, it } from "vitest";
import { compileRuleTexts, parseMappingRule, restrictRule, ruleFromInput, servedModels, type MappingRule } from "./model-map.js";

const served = (rules: string[], model: string): string | undefined => compileRuleTexts(rules).lookup(model)?.target;

describe("model mapping rules", () => {
  it("reads the short form and refuses what is not one", () => {
    // The short form is a route of one tier with one target, the model alone.
    expect(parseMappingRule("claude-*=gpt-5.4")).toEqual({
      pattern: "claude-*",
      tiers: [[{ model: "gpt-5.4", weight: 1 }]],
      target: "gpt-5.4",
      source: "claude-*=gpt-5.4",
    });
    expect(parseMappingRule(" claude-* = gpt-5.4 ")).toMatchObject({ pattern: "claude-*", target: "gpt-5.4" });
    for (const bad of ["claude-*", "=gpt-5.4", "claude-*=", "a=b=c", "claude-*=gpt-*"]) expect(typeof parseMappingRule(bad)).toBe("string");
  });

  it("lets an exact name beat every wildcard, wherever it is listed", () => {
    expect(served(["claude-sonnet-*=gpt-5.4", "claude-sonnet-4-5=gpt-5.4-mini"], "claude-sonnet-4-5")).toBe("gpt-5.4-mini");
    expect(served(["claude-sonnet-*=gpt-5.4", "claude-sonnet-4-5=gpt-5.4-mini"], "claude-sonnet-4")).toBe("gpt-5.4");
  });

  it("prefers the wildcard with more literal characters, whatever the order", () => {
    const rules = ["*=fallback", "claude-*=gpt-5.4", "claude-opus-*=gpt-5.4-pro", "*-haiku-*=gpt-5.4-nano"];
    expect(served(rules, "claude-opus-4-1")).toBe("gpt-5.4-pro");
    expect(served(rules, "claude-sonnet-4-5")).toBe("gpt-5.4");
    // `*-haiku-*` has 7 literal characters, `claude-*` has 7 too: the earlier rule wins the tie.
    expect(served(rules, "claude-haiku-4-5")).toBe("gpt-5.4");
    expect(served(rules, "gemini-2.5-pro")).toBe("fallback");
    expect(served(rules.slice(1), "gemini-2.5-pro")).toBeUndefined();
  });

  it("breaks ties between equally specific rules by rule order", () => {
    expect(served(["a*=first", "*a=second"], "aa")).toBe("first");
    expect(served(["*a=second", "a*=first"], "aa")).toBe("second");
    expect(served(["x=first", "x=second"], "x")).toBe("first");
  });

  it("treats regex characters in names literally", () => {
    expect(served(["gpt-5.4=x"], "gpt-5x4")).toBeUndefined();
    expect(served(["gpt-5.*=x"], "gpt-5.4")).toBe("x");
  });
});

describe("structured routes", () => {
  const rule = (input: Parameters<typeof ruleFromInput>[0]): MappingRule => {
    const r = ruleFromInput(input);
    if (typeof r === "string") throw new Error(r);
    return r;
  };

  it("reads tiers of weighted targets, primary first, with weight 1 when unstated", () => {
    const r = rule({
      match: "claude-*",
      tiers: [[{ upstream: "anthropic-main", model: "claude-sonnet-4", weight: 3 }, { upstream: "bedrock-x" }], [{ model: "gpt-5.4" }]],
    });
    expect(r.tiers).toEqual([
      [
        { upstream: "anthropic-main", model: "claude-sonnet-4", weight: 3 },
        { upstream: "bedrock-x", weight: 1 },
      ],
      [{ model: "gpt-5.4", weight: 1 }],
    ]);
    expect(r.target).toBe("claude-sonnet-4");
    expect(r.source).toBe("claude-*=[claude-sonnet-4@anthropic-main*3, (requested)@bedrock-x] > [gpt-5.4]");
    expect(servedModels(r)).toEqual(["claude-sonnet-4", "claude-*", "gpt-5.4"]);
  });

  it("writes a structured rule that says what a short one says as the short one, so both read the same everywhere", () => {
    expect(rule({ match: "claude-*", tiers: [[{ model: "gpt-5.4" }]] })).toEqual(rule("claude-*=gpt-5.4"));
  });

  it("refuses what is not a route, saying why", () => {
    expect(ruleFromInput({ match: "x", tiers: [] })).toMatch(/at least one tier/);
    expect(ruleFromInput({ match: "x", tiers: [[]] })).toMatch(/tier 1 lists no target/);
    expect(ruleFromInput({ match: "x", tiers: [[{}]] })).toMatch(/names an upstream, a model, or both/);
    expect(ruleFromInput({ match: "x", tiers: [[{ model: "gpt-*" }]] })).toMatch(/one plain model name/);
    expect(ruleFromInput({ match: "x", tiers: [[{ model: "m", weight: 0 }]] })).toMatch(/weight/);
  });

  it("is matched by the same specificity rules as the short form", () => {
    const map = compileRuleTexts(["claude-*=gpt-5.4", { match: "claude-opus-*", tiers: [[{ model: "gpt-5.4-pro" }], [{ model: "gpt-5.4" }]] }]);
    expect(map.lookup("claude-opus-4")?.tiers).toHaveLength(2);
    expect(map.lookup("claude-sonnet-4")?.target).toBe("gpt-5.4");
  });

  it("restricts a rule to the targets a predicate allows, dropping emptied tiers, judging a kept name by the request", () => {
    const r = rule({ match: "claude-*", tiers: [[{ model: "a" }, { model: "b", weight: 2 }], [{ model: "c" }], [{ upstream: "u" }]] });
    expect(restrictRule(r, () => true)).toBe(r);
    expect(restrictRule(r, (m) => m !== "a")?.tiers).toEqual([[{ model: "b", weight: 2 }], [{ model: "c", weight: 1 }], [{ upstream: "u", weight: 1 }]]);
    expect(restrictRule(r, (m) => m === "c")?.tiers).toEqual([[{ model: "c", weight: 1 }]]);
    expect(restrictRule(r, (m) => m === "c")?.target).toBe("c");
    // A target that keeps the requested name: judged by the pattern without a request, by the name with one.
    expect(restrictRule(r, (m) => m === "claude-*")?.tiers).toEqual([[{ upstream: "u", weight: 1 }]]);
    expect(restrictRule(r, (m) => m === "claude-x", "claude-x")?.tiers).toEqual([[{ upstream: "u", weight: 1 }]]);
    expect(restrictRule(r, () => false)).toBeUndefined();
  });
});
