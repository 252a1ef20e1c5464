import { describe, expect, it } from "vitest";
import { checkKeyWithinAccount, effectiveLimitsOf, expiryMs } from "./key-policy.js";
import { foldPolicies } from "./policy.js";

describe("key policy", () => {
  it("finds key models beyond the account's effective allow-list", () => {
    const account = foldPolicies([{ models: ["gpt-4o*"] }, { models: ["gpt-*", "claude-*"] }]);
    expect(checkKeyWithinAccount(account, { models: ["gpt-4o-mini"] })).toEqual([]);
    expect(checkKeyWithinAccount(account, { models: ["gpt-4o", "claude-x", "gpt-*"] }).map((v) => v.param)).toEqual(["models.1", "models.2"]);
    expect(checkKeyWithinAccount(foldPolicies([]), { models: ["anything-*"] })).toEqual([]);
  });

  it("compares key limits with the account's effective limits where the policy sets them", () => {
    // The account's effective limits are the smallest along its chain.
    const account = foldPolicies([{ limits: { rpm: 100, per_model: { x: { rpm: 1 } } } }, { limits: { rpm: 200, tpd: 1000 } }]);
    expect(effectiveLimitsOf(account)).toEqual({ rpm: 100, tpd: 1000 });
    expect(checkKeyWithinAccount(account, { limits: { rpm: 100, tpd: 999, concurrency: 50 } })).toEqual([]);
    expect(checkKeyWithinAccount(account, { limits: { rpm: 101 } })).toEqual([
      { param: "limits.rpm", message: "rpm 101 is above the account's effective rpm of 100" },
    ]);
    expect(effectiveLimitsOf(foldPolicies([]))).toEqual({});
  });

  it("reads expiry as a number, failing closed on an unreadable one", () => {
    expect(expiryMs(null)).toBe(Infinity);
    expect(expiryMs("2030-01-01T00:00:00.000Z")).toBe(Date.parse("2030-01-01T00:00:00.000Z"));
    expect(expiryMs("garbage")).toBe(-Infinity);
  });
});
