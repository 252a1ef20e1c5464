/**
 * Structured routes in account policies: the schema names the field that is wrong, the
 * fold keeps only targets the account may use, and checkWithinParent judges every
 * target of every tier.
 */
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { checkWithinParent, foldPolicies, mappedModel, modelMapRules, modelMapRulesInput, policyOf, type Policy } from "./policy.js";

const route = {
  match: "claude-*",
  tiers: [
    [
      { upstream: "anthropic-main", model: "claude-sonnet-4", weight: 3 },
      { upstream: "bedrock-x", weight: 1 },
    ],
    [{ model: "gpt-5.4" }],
  ],
};

function issues(input: unknown): Array<{ path: string; message: string }> {
  const r = modelMapRulesInput.safeParse(input);
  if (r.success) return [];
  return r.error.issues.map((i) => ({ path: i.path.join("."), message: i.message }));
}

describe("the structured form's schema", () => {
  it("takes both forms side by side", () => {
    expect(modelMapRulesInput.parse(["o3=gpt-5.4", route])).toEqual(["o3=gpt-5.4", route]);
  });

  it("names the field of each mistake", () => {
    expect(issues([route, { match: "x", tiers: [[{ model: "m", weight: 0 }]] }])).toEqual([
      { path: "1.tiers.0.0.weight", message: expect.stringMatching(/>=1/) },
    ]);
    expect(issues([{ match: "x", tiers: [[{ model: "m", weigth: 2 }]] }])).toEqual([{ path: "0.tiers.0.0", message: expect.stringContaining("weigth") }]);
    expect(issues([{ match: "x", tiers: [[{ model: "gpt-*" }]] }])).toEqual([
      { path: "0.tiers.0.0.model", message: expect.stringContaining("plain model name") },
    ]);
    expect(issues([{ match: "x", tiers: [[{ weight: 2 }]] }])).toEqual([{ path: "0.tiers.0.0", message: "a target names an upstream, a model, or both" }]);
    expect(issues([{ match: "x", tiers: [[{ upstream: "no spaces" }]] }])).toEqual([
      { path: "0.tiers.0.0.upstream", message: expect.stringContaining("upstream name") },
    ]);
    expect(issues([{ match: "x", tiers: [] }])).toEqual([{ path: "0.tiers", message: "list at least one tier, primary first" }]);
    expect(issues([{ match: "x", tiers: [[]] }])).toEqual([{ path: "0.tiers.0", message: "a tier lists at least one target" }]);
    expect(issues([{ match: "", tiers: [[{ model: "m" }]] }])[0]?.path).toBe("0.match");
    expect(issues(["claude-*"])[0]?.message).toContain("requested=served");
    expect(z.prettifyError(modelMapRulesInput.safeParse([{ match: "x", tiers: [[{ model: "m", weight: 1.5 }]] }]).error!)).toContain("[0].tiers[0][0].weight");
  });

  it("reads a stored rule with a field a newer node added, rather than refusing the whole policy", () => {
    const stored = [{ ...route, added_later: true }];
    expect(modelMapRules.safeParse(stored).success).toBe(true);
    expect(modelMapRulesInput.safeParse(stored).success).toBe(false);
    expect(policyOf({ model_map: stored }).problem).toBeUndefined();
  });
});

describe("structured routes in the fold", () => {
  it("keeps only the targets the account may use, and a tier only while it has one", () => {
    const parent: Policy = { model_map: [route] };
    const tiersOf = (chain: Policy[], model: string) => mappedModel(foldPolicies(chain), model)?.tiers;
    expect(tiersOf([parent], "claude-x")).toHaveLength(2);
    // A child that may use only GPT models keeps the backup tier alone.
    expect(tiersOf([{ models: ["gpt-*"] }, parent], "claude-x")).toEqual([[{ model: "gpt-5.4", weight: 1 }]]);
    // A child that may use claude-* (so the kept-name target stays) but not gpt-5.4.
    expect(tiersOf([{ models: ["claude-*"] }, parent], "claude-x")).toEqual([
      [
        { upstream: "anthropic-main", model: "claude-sonnet-4", weight: 3 },
        { upstream: "bedrock-x", weight: 1 },
      ],
    ]);
    expect(tiersOf([{ models: ["o3"] }, parent], "claude-x")).toBeUndefined();
  });
});

describe("checkWithinParent over every target of every tier", () => {
  const parent = foldPolicies([{ models: ["claude-*", "gpt-5.4"] }]);

  it("accepts a route whose every target the account may use", () => {
    expect(checkWithinParent(parent, { model_map: [route] })).toEqual([]);
  });

  it("names the tier and target that reach beyond, including a backup tier", () => {
    const wide = { match: "claude-*", tiers: [[{ model: "claude-sonnet-4" }], [{ model: "gpt-5.4" }, { model: "o3", weight: 2 }]] };
    expect(checkWithinParent(parent, { model_map: ["x=gpt-5.4", wide] })).toMatchObject([
      { path: ["model_map", 1, "tiers", 1, 1, "model"], value: "claude-*: tier 2, o3", message: expect.stringContaining("'o3' in tier 2") },
    ]);
  });

  it("judges a target that keeps the requested name by the rule's pattern, within the child's own list too", () => {
    const keeps = { match: "*", tiers: [[{ upstream: "any-up" }]] };
    expect(checkWithinParent(parent, { model_map: [keeps] })).toMatchObject([{ path: ["model_map", 0, "tiers", 0, 0, "model"] }]);
    expect(checkWithinParent(parent, { models: ["claude-opus-*"], model_map: [route] }).map((v) => v.path)).toEqual([
      ["model_map", 0, "tiers", 0, 0, "model"],
      ["model_map", 0, "tiers", 0, 1, "model"],
      ["model_map", 0, "tiers", 1, 0, "model"],
    ]);
  });
});
