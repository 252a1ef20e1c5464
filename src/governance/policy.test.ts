import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { allowsModel, checkWithinParent, foldPolicies, INHERIT, mappedModel, policyOf, UNRESTRICTED, withPolicy, type Policy } from "./policy.js";

/** What one account's own policy allows, read straight from its list (no fold involved). */
function ownAllows(p: Policy, model: string): boolean {
  if (p.models === undefined) return true;
  return p.models.some((pattern) => new RegExp(`^${pattern.split("*").map(escape).join(".*")}$`, "s").test(model));
}
function escape(s: string): string {
  return s.replace(/[.+?^${}()|[\]\\]/g, "\\$&");
}

/** A character no generated pattern contains, so `*` → WILD gives a name only a wildcard can match. */
const WILD = "§";
const witness = (pattern: string): string => pattern.replaceAll("*", WILD);

// A small alphabet makes overlaps between names and patterns common.
const name = fc.string({ unit: fc.constantFrom("a", "b", "-"), minLength: 1, maxLength: 4 });
const pattern = fc.string({ unit: fc.constantFrom("a", "b", "-", "*"), minLength: 1, maxLength: 4 });
const policy: fc.Arbitrary<Policy> = fc.oneof(
  { arbitrary: fc.constant(INHERIT), weight: 1 },
  { arbitrary: fc.record({ models: fc.array(pattern, { maxLength: 3 }) }), weight: 3 },
);
const chain = fc.array(policy, { minLength: 1, maxLength: 5 });
/** Names to probe: random ones plus names the chain's own patterns match (wildcards filled in several ways). */
function probes(policies: readonly Policy[], extra: readonly string[]): string[] {
  const out = new Set(extra);
  for (const p of policies) for (const pat of p.models ?? []) for (const fill of ["", "a", "b-", WILD]) out.add(pat.replaceAll("*", fill));
  return [...out];
}

describe("foldPolicies", () => {
  it("inherits everything when no account on the chain says otherwise", () => {
    expect(foldPolicies([])).toEqual(UNRESTRICTED);
    expect(allowsModel(foldPolicies([INHERIT, INHERIT]), "anything")).toBe(true);
  });

  it("takes the nearest list when each list narrows the one above it", () => {
    const effective = foldPolicies([{ models: ["gpt-4o-mini"] }, INHERIT, { models: ["gpt-4o*", "claude-*"] }, { models: ["*"] }]);
    expect(effective.models.map((l) => l.patterns)).toEqual([["gpt-4o-mini"]]);
    expect(allowsModel(effective, "gpt-4o-mini")).toBe(true);
    expect(allowsModel(effective, "gpt-4o")).toBe(false);
  });

  it("intersects when a stored child is wider than its parent", () => {
    // A child reaching beyond its parent (written before the check existed, or by the YAML bootstrap) still gets only the overlap.
    const effective = foldPolicies([{ models: ["gpt-4o", "claude-*"] }, { models: ["gpt-*"] }]);
    expect(allowsModel(effective, "gpt-4o")).toBe(true);
    expect(allowsModel(effective, "claude-3")).toBe(false);
    expect(allowsModel(effective, "gpt-5")).toBe(false);
    expect(allowsModel(foldPolicies([{ models: ["*-mini"] }, { models: ["gpt-*"] }]), "gpt-4o-mini")).toBe(true);
    expect(allowsModel(foldPolicies([{ models: ["*-mini"] }, { models: ["gpt-*"] }]), "o4-mini")).toBe(false);
  });

  it("lets an empty list allow nothing, below it too", () => {
    expect(allowsModel(foldPolicies([{ models: [] }]), "gpt-4o")).toBe(false);
    expect(allowsModel(foldPolicies([INHERIT, { models: ["*"] }, { models: [] }]), "gpt-4o")).toBe(false);
  });

  it("is never wider than any account on the chain, and allows exactly what they all allow", () => {
    fc.assert(
      fc.property(chain, fc.array(name, { maxLength: 8 }), (policies, names) => {
        const effective = foldPolicies(policies);
        for (const model of probes(policies, names)) {
          expect(allowsModel(effective, model)).toBe(policies.every((p) => ownAllows(p, model)));
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe("checkWithinParent", () => {
  it("accepts a child that narrows, names or patterns", () => {
    const parent = foldPolicies([{ models: ["gpt-*", "claude-3-5-sonnet"] }]);
    expect(checkWithinParent(parent, { models: ["gpt-4o", "gpt-4o*", "claude-3-5-sonnet"] })).toEqual([]);
    expect(checkWithinParent(parent, INHERIT)).toEqual([]);
    expect(checkWithinParent(parent, { models: [] })).toEqual([]);
    expect(checkWithinParent(UNRESTRICTED, { models: ["*"] })).toEqual([]);
  });

  it("names each entry that reaches beyond the parent", () => {
    const parent = foldPolicies([{ models: ["gpt-4o*"] }, { models: ["gpt-*", "claude-*"] }]);
    expect(checkWithinParent(parent, { models: ["gpt-4o-mini", "gpt-*", "claude-3", "*"] })).toEqual([
      { path: ["models", 1], value: "gpt-*", bound: ["gpt-4o*"], setBy: "", message: "model 'gpt-*' is not within [gpt-4o*]" },
      { path: ["models", 2], value: "claude-3", bound: ["gpt-4o*"], setBy: "", message: "model 'claude-3' is not within [gpt-4o*]" },
      { path: ["models", 3], value: "*", bound: ["gpt-4o*"], setBy: "", message: "model '*' is not within [gpt-4o*]" },
    ]);
  });

  it("judges against every list of a parent that is itself an intersection", () => {
    const parent = foldPolicies([{ models: ["gpt-4o", "claude-*"] }, { models: ["gpt-*"] }]);
    expect(checkWithinParent(parent, { models: ["gpt-4o"] })).toEqual([]);
    expect(checkWithinParent(parent, { models: ["claude-3"] })).toHaveLength(1);
  });

  it("passes exactly the children whose every name the parent allows", () => {
    fc.assert(
      fc.property(chain, policy, fc.array(name, { maxLength: 8 }), (ancestors, child, names) => {
        const parent = foldPolicies(ancestors);
        const violations = checkWithinParent(parent, child);
        const flagged = new Set(violations.map((v) => v.value));
        for (const pat of child.models ?? []) {
          if (flagged.has(pat)) {
            // Complete: a flagged pattern matches a name the parent refuses.
            expect(ownAllows({ models: [pat] }, witness(pat))).toBe(true);
            expect(allowsModel(parent, witness(pat))).toBe(false);
          } else {
            // Sound: every probed name an accepted pattern matches, the parent allows.
            for (const model of probes([{ models: [pat] }, ...ancestors], names)) {
              if (ownAllows({ models: [pat] }, model)) expect(allowsModel(parent, model)).toBe(true);
            }
          }
        }
        if (violations.length === 0 && child.models !== undefined) {
          // A child within its parent folds to its own list alone.
          expect(foldPolicies([child, ...ancestors]).models.map((l) => l.patterns)).toEqual([child.models]);
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe("policyOf and withPolicy", () => {
  it("reads the policy fields of a settings document and ignores the rest", () => {
    expect(policyOf({})).toEqual({ policy: {} });
    expect(policyOf({ models: ["a", "b*"], future_field: { x: 1 } })).toEqual({ policy: { models: ["a", "b*"] } });
  });

  it("fails closed on a policy field that does not parse", () => {
    const read = policyOf({ models: "gpt-4o" });
    expect(read.policy).toEqual({ models: [] });
    expect(read.problem).toMatch(/models/);
    expect(policyOf({ models: [""] }).policy).toEqual({ models: [] });
  });

  it("replaces the policy fields and keeps the others", () => {
    expect(withPolicy({ models: ["a"], other: 1 }, { models: ["b"] })).toEqual({ models: ["b"], other: 1 });
    expect(withPolicy({ models: ["a"], other: 1 }, INHERIT)).toEqual({ other: 1 });
  });
});

describe("model mappings in the policy", () => {
  const served = (chain: Policy[], model: string): string | undefined => mappedModel(foldPolicies(chain), model)?.target;

  it("inherits a parent's rules down the tree", () => {
    expect(served([INHERIT, INHERIT, { model_map: ["claude-*=gpt-5.4"] }], "claude-sonnet-4-5")).toBe("gpt-5.4");
  });

  it("lets the nearest account's rule override what it inherits", () => {
    const root: Policy = { model_map: ["claude-sonnet-4-5=gpt-5.4-mini", "claude-*=gpt-5.4"] };
    const child: Policy = { model_map: ["claude-*=gpt-5.4-pro"] };
    expect(served([child, root], "claude-sonnet-4-5")).toBe("gpt-5.4-pro");
    // Where the child has no rule, the parent's still apply.
    expect(served([{ model_map: ["o3=gpt-5.4"] }, root], "claude-sonnet-4-5")).toBe("gpt-5.4-mini");
  });

  it("drops rules toward models the account may not use, its own and inherited ones", () => {
    const root: Policy = { model_map: ["claude-*=gpt-5.4"] };
    const narrowChild: Policy = { models: ["claude-*"] };
    expect(served([narrowChild, root], "claude-sonnet-4-5")).toBeUndefined();
    // A stored rule that skipped the admin check is dropped by the fold too.
    expect(served([{ models: ["gpt-5.4-mini"], model_map: ["claude-*=gpt-5.4"] }], "claude-x")).toBeUndefined();
    expect(served([{ models: ["gpt-5.4-mini"], model_map: ["claude-*=gpt-5.4", "claude-x=gpt-5.4-mini"] }], "claude-x")).toBe("gpt-5.4-mini");
  });

  it("checkWithinParent refuses a child's mapping toward a model it may not use", () => {
    const parent = foldPolicies([{ models: ["gpt-5.4", "claude-*"] }]);
    expect(checkWithinParent(parent, { model_map: ["claude-*=gpt-5.4"] })).toEqual([]);
    expect(checkWithinParent(parent, { model_map: ["claude-*=o3"] })).toMatchObject([{ path: ["model_map", 0], value: "claude-*=o3" }]);
    // Within the parent, but outside the child's own narrower list.
    expect(checkWithinParent(parent, { models: ["claude-*"], model_map: ["claude-*=gpt-5.4"] })).toMatchObject([{ path: ["model_map", 0] }]);
  });

  it("refuses a malformed rule when reading a policy", () => {
    expect(policyOf({ model_map: ["claude-*"] }).problem).toBeDefined();
    expect(policyOf({ model_map: ["claude-*=gpt-5.4"] }).policy.model_map).toEqual(["claude-*=gpt-5.4"]);
  });
});
