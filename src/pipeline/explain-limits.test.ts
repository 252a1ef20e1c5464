/**
 * The limits explain shows, read structurally from the folded policy: null when the
 * policy carries no limits, else each field's smallest value along the chain and the
 * per-model limits whose pattern matches the served model, with who set it.
 */
import { describe, expect, it } from "vitest";
import { compileModelPatterns } from "../canonical/model-pattern.js";
import { UNRESTRICTED, type EffectivePolicy } from "../governance/policy.js";
import { limitsView } from "./explain.js";

describe("limits in explain", () => {
  it("is null for a policy without limits", () => {
    expect(limitsView(UNRESTRICTED, "gpt-5.4")).toBeNull();
  });

  it("takes the smallest of the account limits and the matching per-model ones, naming who set each", () => {
    const policy = {
      ...UNRESTRICTED,
      limits: { rpm: { value: 100, accountId: "acc_root" }, concurrency: { value: 8, accountId: "acc_team" } },
      perModelLimits: new Map([
        [
          "gpt-*",
          { matcher: compileModelPatterns(["gpt-*"]), bounds: { rpm: { value: 20, accountId: "acc_team" }, tpm: { value: 5000, accountId: "acc_team" } } },
        ],
        ["claude-*", { matcher: compileModelPatterns(["claude-*"]), bounds: { rpm: { value: 1, accountId: "acc_root" } } }],
      ]),
    } as unknown as EffectivePolicy;
    expect(limitsView(policy, "gpt-5.4")).toEqual({
      rpm: { value: 20, set_by: "acc_team" },
      concurrency: { value: 8, set_by: "acc_team" },
      tpm: { value: 5000, set_by: "acc_team" },
    });
    expect(limitsView(policy, "o3")).toEqual({ rpm: { value: 100, set_by: "acc_root" }, concurrency: { value: 8, set_by: "acc_team" } });
    // Limits only for other models: none apply.
    const other = {
      ...UNRESTRICTED,
      perModelLimits: new Map([["claude-*", { matcher: compileModelPatterns(["claude-*"]), bounds: { rpm: { value: 1, accountId: "a" } } }]]),
    };
    expect(limitsView(other as unknown as EffectivePolicy, "o3")).toBeNull();
  });
});
