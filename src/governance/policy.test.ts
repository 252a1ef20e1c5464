import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import {
  allowsAddress,
  allowsModel,
  allowsOrigin,
  allowsUpstream,
  checkWithinParent,
  foldPolicies,
  INHERIT,
  LIMIT_FIELDS,
  limitsFor,
  mappedModel,
  policyFieldsInput,
  policyOf,
  policySchema,
  UNRESTRICTED,
  violationParam,
  withPolicy,
  type Policy,
} from "./policy.js";

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

/** A chain of policies with account ids a0 (nearest) … an. */
const ids = (chain: Policy[]) => chain.map((policy, i) => ({ accountId: `a${i}`, policy }));

describe("limits, spend caps and the multiplier", () => {
  it("folds each limit to the smallest along the chain, remembering who set it and every account's own limits", () => {
    const effective = foldPolicies(ids([{ limits: { rpm: 50, tpm: 9000 } }, INHERIT, { limits: { rpm: 100, concurrency: 4 } }]));
    expect(effective.limits).toEqual({
      rpm: { value: 50, accountId: "a0" },
      tpm: { value: 9000, accountId: "a0" },
      concurrency: { value: 4, accountId: "a2" },
    });
    expect(effective.limitChain.map((l) => l.accountId)).toEqual(["a0", "a2"]);
    // A child stated above its parent (a parent tightened since) is bound by the parent.
    expect(foldPolicies(ids([{ limits: { rpm: 500 } }, { limits: { rpm: 100 } }])).limits.rpm).toEqual({ value: 100, accountId: "a1" });
  });

  it("applies per-model limits to the models their pattern matches, the tightest winning", () => {
    const effective = foldPolicies(
      ids([{ limits: { per_model: { "gpt-4o*": { rpm: 20 } } } }, { limits: { rpm: 100, per_model: { "gpt-*": { rpm: 40, tpm: 7 } } } }]),
    );
    expect(limitsFor(effective, "gpt-4o-mini")).toMatchObject({ rpm: { value: 20, accountId: "a0" }, tpm: { value: 7, accountId: "a1" } });
    expect(limitsFor(effective, "gpt-5")).toMatchObject({ rpm: { value: 40, accountId: "a1" } });
    expect(limitsFor(effective, "claude")).toEqual({ rpm: { value: 100, accountId: "a1" } });
  });

  it("takes the smallest spend cap and the largest multiplier; the multiplier defaults to the gateway's 1", () => {
    const effective = foldPolicies(
      ids([
        { spend_caps: { daily_micros: 10 }, price_multiplier: 1.5 },
        { spend_caps: { daily_micros: 20, monthly_micros: 300 }, price_multiplier: 1.2 },
      ]),
    );
    expect(effective.spendCaps).toEqual({ daily_micros: { value: 10, accountId: "a0" }, monthly_micros: { value: 300, accountId: "a1" } });
    expect(effective.priceMultiplier).toEqual({ value: 1.5, accountId: "a0" });
    expect(foldPolicies(ids([{ price_multiplier: 0.5 }])).priceMultiplier).toEqual({ value: 1, accountId: null });
  });

  it("refuses a limit, per-model limit or cap above the parent's, and a multiplier below it, naming the bound and who set it", () => {
    const parent = foldPolicies(
      ids([INHERIT, { limits: { rpm: 100, per_model: { "gpt-*": { tpm: 50 } } }, spend_caps: { monthly_micros: 1000 }, price_multiplier: 1.2 }]),
    );
    const violations = checkWithinParent(parent, {
      limits: { rpm: 101, tpm: 5, per_model: { "gpt-4o": { tpm: 60, rpm: 100 }, claude: { tpm: 60 } } },
      spend_caps: { monthly_micros: 1001, daily_micros: 1 },
      price_multiplier: 1.1,
    });
    expect(violations.map((v) => [violationParam(v), v.value, v.bound, v.setBy])).toEqual([
      ["limits.rpm", 101, 100, "a1"],
      ["limits.per_model.gpt-4o.tpm", 60, 50, "a1"],
      ["spend_caps.monthly_micros", 1001, 1000, "a1"],
      ["price_multiplier", 1.1, 1.2, "a1"],
    ]);
    expect(violations[0]!.message).toBe("101 is above the limit of 100");
    // Equal is within.
    expect(checkWithinParent(parent, { limits: { rpm: 100 }, price_multiplier: 1.2 })).toEqual([]);
    // A root is held to the gateway's base multiplier.
    expect(checkWithinParent(UNRESTRICTED, { price_multiplier: 0.9 })).toMatchObject([{ path: ["price_multiplier"], bound: 1, setBy: null }]);
  });

  it("never lets the fold exceed any account's own limit, and checks exactly the children the fold would bind", () => {
    const limitSet = fc.record(Object.fromEntries(LIMIT_FIELDS.map((f) => [f, fc.option(fc.integer({ min: 1, max: 20 }), { nil: undefined })])));
    const p = fc.record({ limits: fc.option(limitSet, { nil: undefined }) }) as fc.Arbitrary<Policy>;
    fc.assert(
      fc.property(fc.array(p, { minLength: 1, maxLength: 5 }), p, (ancestors, child) => {
        const chainIds = ids(ancestors);
        const effective = foldPolicies(chainIds);
        for (const f of LIMIT_FIELDS) {
          const stated = ancestors.flatMap((a) => (a.limits?.[f] === undefined ? [] : [a.limits[f]]));
          expect(effective.limits[f]?.value).toBe(stated.length === 0 ? undefined : Math.min(...stated));
        }
        const flagged = new Set(checkWithinParent(effective, child).map((v) => v.path[1]));
        for (const f of LIMIT_FIELDS) {
          const own = child.limits?.[f];
          const bound = effective.limits[f]?.value;
          expect(flagged.has(f)).toBe(own !== undefined && bound !== undefined && own > bound);
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe("addresses, origins, upstreams, denials and the time zone", () => {
  it("intersects address lists and refuses a child range outside the parent's", () => {
    const parent = foldPolicies(ids([{ ip_allow: ["10.0.0.0/8", "2001:db8::/32"] }]));
    expect(checkWithinParent(parent, { ip_allow: ["10.1.0.0/16", "2001:db8:5::/48", "::ffff:10.2.0.0/112"] })).toEqual([]);
    expect(checkWithinParent(parent, { ip_allow: ["10.0.0.0/7", "192.0.2.1"] }).map((v) => [violationParam(v), v.value, v.setBy])).toEqual([
      ["ip_allow", "10.0.0.0/7", "a0"],
      ["ip_allow", "192.0.2.1", "a0"],
    ]);
    const effective = foldPolicies(ids([{ ip_allow: ["10.1.0.0/16"] }, { ip_allow: ["10.0.0.0/8"] }]));
    expect(effective.ipAllow.map((l) => l.accountId)).toEqual(["a0"]);
    expect(allowsAddress(effective, "::ffff:10.1.9.9")).toBe(true);
    expect(allowsAddress(effective, "10.2.0.1")).toBe(false);
    expect(allowsAddress(effective, undefined)).toBe(false);
    // A stored child wider than its parent still gets only the overlap.
    const wide = foldPolicies(ids([{ ip_allow: ["0.0.0.0/0"] }, { ip_allow: ["10.0.0.0/8"] }]));
    expect(allowsAddress(wide, "11.0.0.1")).toBe(false);
    expect(allowsAddress(UNRESTRICTED, undefined)).toBe(true);
  });

  it("intersects origin and upstream lists; a request without Origin is not judged", () => {
    const effective = foldPolicies(
      ids([
        { origins: ["https://a.example", "https://b.example"], upstreams: ["x", "y"] },
        { origins: ["https://a.example"], upstreams: ["x"] },
      ]),
    );
    expect(allowsOrigin(effective, "https://a.example")).toBe(true);
    expect(allowsOrigin(effective, "https://b.example")).toBe(false);
    expect(allowsOrigin(effective, undefined)).toBe(true);
    expect(allowsUpstream(effective, "x")).toBe(true);
    expect(allowsUpstream(effective, "y")).toBe(false);
    expect(allowsUpstream(UNRESTRICTED, "anything")).toBe(true);
    const parent = foldPolicies(ids([{ origins: ["https://a.example"], upstreams: ["x"] }]));
    expect(checkWithinParent(parent, { origins: ["https://b.example"], upstreams: ["x", "y"] }).map(violationParam)).toEqual(["origins", "upstreams"]);
  });

  it("adds up deny-lists, which win over allow-lists and drop mappings toward what they deny", () => {
    const effective = foldPolicies(
      ids([{ deny_models: ["gpt-4o-mini"] }, { models: ["gpt-*"], deny_models: ["*-preview"], model_map: ["claude-*=gpt-4o-mini", "o3=gpt-5"] }]),
    );
    expect(allowsModel(effective, "gpt-4o")).toBe(true);
    expect(allowsModel(effective, "gpt-4o-mini")).toBe(false);
    expect(allowsModel(effective, "gpt-5-preview")).toBe(false);
    expect(mappedModel(effective, "claude-x")).toBeUndefined();
    expect(mappedModel(effective, "o3")?.target).toBe("gpt-5");
    // A child's mapping toward a model it denies is refused; a deny never exceeds a parent.
    expect(checkWithinParent(UNRESTRICTED, { deny_models: ["a"], model_map: ["x=a"] })).toMatchObject([{ path: ["model_map", 0], bound: ["a"] }]);
    expect(checkWithinParent(foldPolicies(ids([{ deny_models: ["a"] }])), { deny_models: [] })).toEqual([]);
  });

  it("inherits the nearest time zone, UTC at the top", () => {
    expect(foldPolicies(ids([INHERIT, { time_zone: "Europe/Paris" }, { time_zone: "Asia/Tokyo" }])).timeZone).toEqual({
      value: "Europe/Paris",
      accountId: "a1",
    });
    expect(foldPolicies(ids([INHERIT])).timeZone).toEqual({ value: "UTC", accountId: null });
  });

  it("validates every field when reading a policy, failing closed", () => {
    for (const bad of [
      { limits: { rpm: 0 } },
      { limits: { rpm: 1.5 } },
      { spend_caps: { daily_micros: -1 } },
      { ip_allow: ["10.0.0.0/33"] },
      { origins: ["https://a.example/path"] },
      { upstreams: ["bad name"] },
      { price_multiplier: 0 },
      { time_zone: "Mars/Olympus" },
    ]) {
      expect(policyOf(bad).problem, JSON.stringify(bad)).toBeDefined();
      expect(policyOf(bad).policy).toEqual({ models: [] });
    }
    const good = {
      limits: { rpm: 1, per_model: { "gpt-*": { tpm: 5 } } },
      ip_allow: ["::1"],
      origins: ["http://localhost:3000"],
      time_zone: "America/New_York",
    };
    expect(policyOf(good)).toEqual({ policy: good });
  });
});

describe("credit terms, quotas and on_quota_exhausted", () => {
  const fold = (...chain: Array<[string, Policy]>) => foldPolicies(chain.map(([accountId, policy]) => ({ accountId, policy })));

  it("the payer is the nearest account paying for itself; a root always pays", () => {
    expect(fold(["dept", { credit: { payer: "parent" } }], ["org", {}]).credit.payerId).toBe("org");
    expect(fold(["team", { credit: { payer: "parent" } }], ["dept", { credit: { payer: "parent" } }], ["org", {}]).credit.payerId).toBe("org");
    expect(fold(["team", { credit: { payer: "parent" } }], ["dept", {}], ["org", {}]).credit.payerId).toBe("dept");
    expect(fold(["team", {}], ["org", {}]).credit.payerId).toBe("team");
    expect(fold(["org", { credit: { payer: "parent" } }]).credit.payerId).toBe("org");
  });

  it("the wallet's overdraft is the payer's: the smallest from it up; none on the chain = postpaid", () => {
    expect(fold(["team", {}], ["org", {}]).credit.walletOverdraft).toBeUndefined();
    expect(fold(["team", { credit: { overdraft_micros: 10 } }], ["org", { credit: { overdraft_micros: 50 } }]).credit.walletOverdraft).toEqual({
      value: 10,
      accountId: "team",
    });
    // Paying from the parent's wallet: the parent's overdraft, whatever the child states.
    expect(fold(["team", { credit: { payer: "parent", overdraft_micros: 0 } }], ["org", { credit: { overdraft_micros: 50 } }]).credit.walletOverdraft).toEqual({
      value: 50,
      accountId: "org",
    });
  });

  it("refuse anywhere wins over pay_as_you_go; quotas and caps are kept per account, nearest first", () => {
    const p = fold(
      ["team", { on_quota_exhausted: "pay_as_you_go", quotas: [{ per: "day", requests: 5 }] }],
      ["org", { spend_caps: { daily_micros: 9 }, time_zone: "Europe/Paris" }],
    );
    expect(p.credit.onQuotaExhausted).toEqual({ value: "pay_as_you_go", accountId: "team" });
    expect(p.credit.chain.map((b) => [b.accountId, b.timeZone])).toEqual([
      ["team", "Europe/Paris"],
      ["org", "Europe/Paris"],
    ]);
    expect(fold(["team", { on_quota_exhausted: "pay_as_you_go" }], ["org", { on_quota_exhausted: "refuse" }]).credit.onQuotaExhausted.value).toBe("refuse");
  });

  it("a child may not raise the overdraft or switch to pay_as_you_go under a refuse", () => {
    const parent = fold(["org", { credit: { overdraft_micros: 100 }, on_quota_exhausted: "refuse" }]);
    const v = checkWithinParent(parent, { credit: { overdraft_micros: 101 }, on_quota_exhausted: "pay_as_you_go" });
    expect(v.map((x) => x.path.join("."))).toEqual(["credit.overdraft_micros", "on_quota_exhausted"]);
    expect(checkWithinParent(parent, { credit: { overdraft_micros: 100 }, on_quota_exhausted: "refuse" })).toEqual([]);
  });

  it("refuses a quota that states neither requests nor tokens, and unknown keys in admin input", () => {
    expect(policySchema.safeParse({ quotas: [{ per: "day" }] }).success).toBe(false);
    expect(z.object(policyFieldsInput).safeParse({ credit: { payer: "parent", overdraft: 1 } }).success).toBe(false);
  });
});
