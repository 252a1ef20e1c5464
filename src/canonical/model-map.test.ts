import { describe, expect, it } from "vitest";
import { compileRuleTexts, parseMappingRule } from "./model-map.js";

const served = (rules: string[], model: string): string | undefined => compileRuleTexts(rules).lookup(model)?.target;

describe("model mapping rules", () => {
  it("reads the short form and refuses what is not one", () => {
    expect(parseMappingRule("claude-*=gpt-5.4")).toEqual({ pattern: "claude-*", target: "gpt-5.4", source: "claude-*=gpt-5.4" });
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
