import { describe, expect, it } from "vitest";
import { compileRuleTexts } from "../canonical/model-map.js";
import { compileModelPatterns } from "../canonical/model-pattern.js";
import type { Upstream, UpstreamProtocol } from "../storage/ports.js";
import type { CatalogSnapshot, UpstreamTarget } from "./catalog.js";
import { KeyPool } from "./key-pool.js";
import { compileHeaderPolicy } from "../upstream/headers.js";
import { cachedResolutions, RESOLUTION_CACHE_LIMIT, resolveModel, type MappingSource } from "./resolve-model.js";

function target(name: string, protocol: UpstreamProtocol, models: string[], ownerAccountId: string | null = null): UpstreamTarget {
  const upstream = { id: name, name, ownerAccountId, protocol, baseUrl: "https://u.test", models, enabled: true, settings: {} } as unknown as Upstream;
  return { upstream, protocol, models: compileModelPatterns(models), pool: new KeyPool([]), sendsCacheKey: false, headers: compileHeaderPolicy({}) };
}

function snapshot(gatewayRules: string[] = []): CatalogSnapshot {
  return {
    upstreams: [target("gpt", "openai-responses", ["gpt-5.4", "gpt-5.4-mini"]), target("claude", "anthropic", ["claude-*"])],
    owners: new Set(),
    unopened: [],
    version: 1,
    modelMap: compileRuleTexts(gatewayRules),
  };
}

function account(key: string, rules: string[], allowed: (m: string) => boolean = () => true, upstreams?: string[]): MappingSource {
  const map = compileRuleTexts(rules);
  return { key, lookup: (m) => map.lookup(m), allows: allowed, usesUpstream: (name) => !upstreams || upstreams.includes(name) };
}

describe("resolveModel with mappings", () => {
  it("sends a mapped model to the upstreams serving the model it maps to", () => {
    const r = resolveModel(snapshot(["claude-*=gpt-5.4"]), "anthropic-messages", "claude-sonnet-4-5");
    expect(r).toMatchObject({ served: "gpt-5.4", ruleFrom: "gateway", servedAnywhere: true });
    expect(r.rule?.source).toBe("claude-*=gpt-5.4");
    expect(r.targets.map((t) => t.upstream.name)).toEqual(["gpt"]);
  });

  it("leaves out the upstreams the account's policy does not name, and says when nothing is left", () => {
    const snap = snapshot();
    snap.upstreams.push(target("gpt-backup", "openai-chat", ["gpt-5.4"]));
    const only = account("only-backup", [], () => true, ["gpt-backup"]);
    expect(resolveModel(snap, "openai-chat", "gpt-5.4", only).targets.map((t) => t.upstream.name)).toEqual(["gpt-backup"]);
    expect(resolveModel(snap, "openai-chat", "gpt-5.4", account("all", [])).targets.map((t) => t.upstream.name)).toEqual(["gpt-backup", "gpt"]); // native (chat) first
    const none = resolveModel(snap, "anthropic-messages", "claude-sonnet-4-5", only);
    expect(none.targets).toEqual([]);
    expect(none.servedAnywhere).toBe(false);
  });

  it("serves the requested name when no rule applies", () => {
    const r = resolveModel(snapshot(["claude-opus-*=gpt-5.4"]), "anthropic-messages", "claude-sonnet-4-5");
    expect(r.served).toBe("claude-sonnet-4-5");
    expect(r.rule).toBeUndefined();
    expect(r.targets.map((t) => t.upstream.name)).toEqual(["claude"]);
  });

  it("consults the account's rules before the gateway's, even a wildcard before an exact gateway rule", () => {
    const r = resolveModel(snapshot(["claude-sonnet-4-5=gpt-5.4"]), "anthropic-messages", "claude-sonnet-4-5", account("a", ["claude-*=gpt-5.4-mini"]));
    expect(r).toMatchObject({ served: "gpt-5.4-mini", ruleFrom: "account" });
  });

  it("skips a gateway rule toward a model the account may not use", () => {
    const r = resolveModel(
      snapshot(["claude-*=gpt-5.4"]),
      "anthropic-messages",
      "claude-sonnet-4-5",
      account("b", [], (m) => m.startsWith("claude-")),
    );
    expect(r.served).toBe("claude-sonnet-4-5");
  });

  it("keeps results apart per rule set and per client", () => {
    const s = snapshot();
    expect(resolveModel(s, "anthropic-messages", "claude-x", account("v1", ["claude-*=gpt-5.4"])).served).toBe("gpt-5.4");
    expect(resolveModel(s, "anthropic-messages", "claude-x", account("v2", [])).served).toBe("claude-x");
    expect(resolveModel(s, "openai-chat", "claude-x", account("v1", ["claude-*=gpt-5.4"])).served).toBe("gpt-5.4");
  });

  it("does not grow past its bound under a flood of made-up model names", () => {
    const s = snapshot(["claude-*=gpt-5.4"]);
    for (let i = 0; i < RESOLUTION_CACHE_LIMIT + 500; i++) resolveModel(s, "openai-chat", `random-${i}`);
    expect(cachedResolutions(s)).toBe(RESOLUTION_CACHE_LIMIT);
    // Still correct after eviction.
    expect(resolveModel(s, "openai-chat", "random-0").served).toBe("random-0");
    expect(resolveModel(s, "openai-chat", "claude-3").served).toBe("gpt-5.4");
  });
});

describe("resolveModel with tenant-owned upstreams", () => {
  // acme > acme-eu > acme-eu-dev; beta is another tenant.
  function owned(): CatalogSnapshot {
    const upstreams = [
      target("gateway-chat", "openai-chat", ["gpt-5*"]),
      target("gateway-responses", "openai-responses", ["gpt-5*"]),
      target("acme-pool", "openai-responses", ["gpt-5*"], "acme"),
      target("acme-eu-pool", "openai-chat", ["gpt-5*"], "acme-eu"),
      target("beta-pool", "openai-chat", ["gpt-5*", "beta-only"], "beta"),
    ];
    return { upstreams, owners: new Set(["acme", "acme-eu", "beta"]), unopened: [], version: 1, modelMap: compileRuleTexts([]) };
  }
  const chain = (...ids: string[]) => ids.map((id) => ({ id }));
  const names = (r: { targets: UpstreamTarget[] }) => r.targets.map((t) => t.upstream.name);

  it("puts the nearest owner's pool first, then the ancestors', then the gateway's, native first within each", () => {
    const s = owned();
    const r = resolveModel(s, "openai-chat", "gpt-5.4", undefined, chain("acme-eu-dev", "acme-eu", "acme"));
    expect(names(r)).toEqual(["acme-eu-pool", "acme-pool", "gateway-chat", "gateway-responses"]);
  });

  it("never shows a tenant another tenant's upstream, nor that it serves a model", () => {
    const s = owned();
    expect(names(resolveModel(s, "openai-chat", "gpt-5.4", undefined, chain("acme")))).toEqual(["acme-pool", "gateway-chat", "gateway-responses"]);
    expect(names(resolveModel(s, "openai-chat", "gpt-5.4", undefined, chain("beta")))).toEqual(["beta-pool", "gateway-chat", "gateway-responses"]);
    expect(resolveModel(s, "openai-chat", "beta-only", undefined, chain("acme"))).toMatchObject({ targets: [], servedAnywhere: false });
    expect(resolveModel(s, "openai-chat", "beta-only", undefined, chain("beta")).servedAnywhere).toBe(true);
    // No chain (callers outside any account) sees the gateway-wide upstreams only.
    expect(names(resolveModel(s, "openai-chat", "gpt-5.4"))).toEqual(["gateway-chat", "gateway-responses"]);
  });

  it("caches per owned scope, so two accounts with one rule set never share an answer", () => {
    const s = owned();
    const same = account("shared-rules", []);
    expect(names(resolveModel(s, "openai-chat", "gpt-5.4", same, chain("beta")))[0]).toBe("beta-pool");
    expect(names(resolveModel(s, "openai-chat", "gpt-5.4", same, chain("acme")))[0]).toBe("acme-pool");
    expect(names(resolveModel(s, "openai-chat", "gpt-5.4", same, chain("nobody")))[0]).toBe("gateway-chat");
  });
});
