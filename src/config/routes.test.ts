/**
 * Structured routes and the routing section in the YAML file: accepted beside the short
 * form, with each mistake reported at its field, and the hold-down's default.
 */
import { describe, expect, it } from "vitest";
import { ConfigError, parseConfig } from "./load.js";

function error(yaml: string): string {
  try {
    parseConfig(yaml, "test.yaml", {});
  } catch (e) {
    if (e instanceof ConfigError) return e.message;
    throw e;
  }
  throw new Error("the config was accepted");
}

describe("structured routes in YAML", () => {
  it("accepts both forms, gateway-wide and on an account, and defaults the hold-down to 30 s", () => {
    const config = parseConfig(
      `
model_map:
  - "o3=gpt-5.4"
  - match: "claude-*"
    tiers:
      - - {upstream: anthropic-main, model: claude-sonnet-4, weight: 3}
        - {upstream: bedrock-x}
      - [{model: gpt-5.4}]
accounts:
  - name: acme
    model_map:
      - match: "gpt-*"
        tiers: [[{model: gpt-5.4-mini}]]
`,
      "test.yaml",
      {},
    );
    expect(config.model_map[1]).toEqual({
      match: "claude-*",
      tiers: [[{ upstream: "anthropic-main", model: "claude-sonnet-4", weight: 3 }, { upstream: "bedrock-x" }], [{ model: "gpt-5.4" }]],
    });
    expect(config.accounts[0]!.model_map).toEqual([{ match: "gpt-*", tiers: [[{ model: "gpt-5.4-mini" }]] }]);
    expect(config.routing.tier_hold_down_ms).toBe(30_000);
    expect(parseConfig("routing: {tier_hold_down_ms: 0}\n", "test.yaml", {}).routing.tier_hold_down_ms).toBe(0);
  });

  it("names the field of each mistake", () => {
    expect(error(`model_map:\n  - "o3=gpt-5.4"\n  - {match: "c-*", tiers: [[{model: m, weight: 0}]]}\n`)).toContain("model_map[1].tiers[0][0].weight");
    expect(error(`model_map: [{match: "c-*", tiers: [[{model: m, weigth: 2}]]}]\n`)).toContain('model_map[0].tiers[0][0]: Unrecognized key: "weigth"');
    expect(error(`accounts: [{name: a, model_map: [{match: "c-*", tiers: [[{model: "m*"}]]}]}]\n`)).toContain("accounts[0].model_map[0].tiers[0][0].model");
    expect(error(`model_map: [{match: "c-*", tiers: []}]\n`)).toContain("model_map[0].tiers");
    expect(error(`model_map: [{match: "c-*", tiers: [[{weight: 2}]]}]\n`)).toContain("a target names an upstream, a model, or both");
    expect(error(`routing: {tier_hold_down_ms: -1}\n`)).toContain("routing.tier_hold_down_ms");
    expect(error(`routing: {hold_down: 5}\n`)).toContain("hold_down");
  });
});
