/**
 * Tiers: resolution of structured routes into tiers of candidates, the planner's order
 * (first tier with a healthy key, weights among a tier's targets, lower tiers after,
 * cooling keys last), and hysteresis driven by the planner's clock (no sleeps).
 */
import { describe, expect, it } from "vitest";
import { poolKey } from "../testing/pool-key.js";
import { compileRuleTexts, type MappingRuleInput } from "../canonical/model-map.js";
import { compileModelPatterns } from "../canonical/model-pattern.js";
import type { Upstream, UpstreamProtocol } from "../storage/ports.js";
import { compileHeaderPolicy } from "../upstream/headers.js";
import type { CatalogSnapshot, UpstreamTarget } from "./catalog.js";
import { createLocalKeyHealth } from "./key-health.js";
import { KeyPool, type PoolKey } from "./key-pool.js";
import { orderTargets, planAttempts, type PlanOptions } from "./plan.js";
import { resolveModel, type MappingSource } from "./resolve-model.js";
import { TierRouter } from "./tier-router.js";

const key = (id: string): PoolKey => poolKey(id);

function upstream(name: string, protocol: UpstreamProtocol, models: string[], keyCount = 1): UpstreamTarget {
  const u = { id: `up_${name}`, name, ownerAccountId: null, protocol, baseUrl: "https://u.test", models, enabled: true, settings: {} } as unknown as Upstream;
  const keys = Array.from({ length: keyCount }, (_, i) => key(`${name}-k${i}`));
  return { upstream: u, protocol, models: compileModelPatterns(models), pool: new KeyPool(keys), sendsCacheKey: false, headers: compileHeaderPolicy({}) };
}

function catalog(rules: MappingRuleInput[]): CatalogSnapshot {
  return {
    upstreams: [
      upstream("anthropic-main", "anthropic", ["claude-*"], 2),
      upstream("bedrock-x", "anthropic", ["claude-*"], 2),
      upstream("openai", "openai-chat", ["gpt-5.4", "gpt-5.4-mini"], 2),
      upstream("openai-backup", "openai-responses", ["gpt-5.4"], 1),
    ],
    owners: new Set(),
    unopened: [],
    version: 1,
    modelMap: compileRuleTexts(rules),
  };
}

const ROUTE: MappingRuleInput = {
  match: "claude-*",
  tiers: [
    [
      { upstream: "anthropic-main", model: "claude-sonnet-4", weight: 3 },
      { upstream: "bedrock-x", weight: 1 },
    ],
    [{ model: "gpt-5.4" }],
  ],
};

const health = createLocalKeyHealth();
const keysOf = (s: CatalogSnapshot, name: string): PoolKey[] => s.upstreams.find((t) => t.upstream.name === name)!.pool.keys;
const base: Omit<PlanOptions, "now"> = { model: "claude-opus-4", client: "anthropic-messages", clientStreams: true, affinity: undefined, maxAttempts: 10 };
const plan = (s: CatalogSnapshot, o: Partial<PlanOptions> & { now: number }) => planAttempts(s, health, { ...base, ...o });
const route = (p: ReturnType<typeof plan>) => p.attempts.map((a) => `${a.tier}:${a.target.upstream.name}:${a.model}:${a.key.id}`);

describe("resolving a structured route", () => {
  it("returns tiers of candidates: a named upstream only, or every upstream serving the model", () => {
    const r = resolveModel(catalog([ROUTE]), "anthropic-messages", "claude-opus-4");
    expect(r.served).toBe("claude-sonnet-4");
    expect(r.tiers.map((t) => t.targets.map((x) => [x.upstreamName ?? null, x.model, x.weight, x.upstreams.map((u) => u.upstream.name)]))).toEqual([
      [
        ["anthropic-main", "claude-sonnet-4", 3, ["anthropic-main"]],
        ["bedrock-x", "claude-opus-4", 1, ["bedrock-x"]],
      ],
      // Native protocol first: a Chat upstream translates for an Anthropic client, the Responses one too; config order then.
      [[null, "gpt-5.4", 1, ["openai", "openai-backup"]]],
    ]);
    expect(r.targets.map((t) => t.upstream.name)).toEqual(["anthropic-main", "bedrock-x", "openai", "openai-backup"]);
    expect(r.routeKey).not.toBe("");
  });

  it("gives a target naming an upstream that does not serve its model no candidate, and the short form one tier", () => {
    const r = resolveModel(
      catalog([{ match: "x-*", tiers: [[{ upstream: "openai", model: "claude-a" }], [{ model: "gpt-5.4-mini" }]] }]),
      "openai-chat",
      "x-1",
    );
    expect(r.tiers.map((t) => t.targets[0]!.upstreams.length)).toEqual([0, 1]);
    expect(r.servedAnywhere).toBe(true);
    const short = resolveModel(catalog(["claude-*=gpt-5.4"]), "openai-chat", "claude-a");
    expect(short.tiers).toHaveLength(1);
    expect(short.routeKey).toBe("");
  });

  it("drops the targets the account may not use, judging a kept name by the request", () => {
    const noGpt: MappingSource = { key: "no-gpt", lookup: () => undefined, usesUpstream: () => true, allows: (m) => !m.startsWith("gpt") };
    const r = resolveModel(catalog([ROUTE]), "anthropic-messages", "claude-opus-4", noGpt);
    expect(r.tiers).toHaveLength(1);
    const noOpus: MappingSource = { key: "no-opus", lookup: () => undefined, usesUpstream: () => true, allows: (m) => m !== "claude-opus-4" };
    expect(resolveModel(catalog([ROUTE]), "anthropic-messages", "claude-opus-4", noOpus).tiers.map((t) => t.targets.map((x) => x.model))).toEqual([
      ["claude-sonnet-4"],
      ["gpt-5.4"],
    ]);
  });
});

describe("planning across tiers", () => {
  it("starts at the primary tier, its keys before the backup's; a key serving two tiers is tried once", () => {
    const s = catalog([{ match: "m", tiers: [[{ upstream: "openai", model: "gpt-5.4" }], [{ model: "gpt-5.4" }]] }]);
    const p = plan(s, { model: "m", client: "openai-chat", now: 0 });
    expect(p.tier).toBe(0);
    expect(route(p)).toEqual(["0:openai:gpt-5.4:openai-k0", "0:openai:gpt-5.4:openai-k1", "1:openai-backup:gpt-5.4:openai-backup-k0"]);
  });

  it("goes to the first tier with a healthy key, keeping the cooling keys as a last resort", () => {
    const s = catalog([ROUTE]);
    for (const name of ["anthropic-main", "bedrock-x"]) for (const k of keysOf(s, name)) k.coolingUntil = 100 + k.id.length;
    const p = plan(s, { now: 50, maxAttempts: 10 });
    expect(p.tier).toBe(1);
    expect(p.healthyTiers).toEqual([false, true]);
    expect(p.attempts.map((a) => a.tier)).toEqual([1, 1, 1, 0, 0, 0, 0]);
    expect(p.attempts.slice(0, 3).map((a) => a.target.upstream.name)).toEqual(["openai", "openai", "openai-backup"]);
    // The attempt budget cuts the last resort first.
    expect(plan(s, { now: 50, maxAttempts: 3 }).attempts.every((a) => a.tier === 1)).toBe(true);
  });

  it("chooses among a tier's targets by weight: exactly the same for a session every time, 3:1 over many sessions", () => {
    const s = catalog([ROUTE]);
    const counts = { "anthropic-main": 0, "bedrock-x": 0 } as Record<string, number>;
    const n = 8_000;
    for (let i = 0; i < n; i++) {
      const affinity = `sess-${i}`;
      const first = plan(s, { now: 0, affinity }).attempts[0]!;
      expect(plan(s, { now: 0, affinity }).attempts[0]).toEqual(first);
      counts[first.target.upstream.name]!++;
    }
    // Binomial(8000, 3/4): sd = sqrt(n p q) ≈ 39; six sd is a bound a fair draw cannot miss, yet 2:1 or 4:1 would.
    const sd = Math.sqrt(n * 0.75 * 0.25);
    expect(Math.abs(counts["anthropic-main"]! - 0.75 * n)).toBeLessThan(6 * sd);
    expect(counts["anthropic-main"]! + counts["bedrock-x"]!).toBe(n);
  });

  it("draws by weight per request without a session (the random source is injectable)", () => {
    const tier = resolveModel(catalog([ROUTE]), "anthropic-messages", "claude-opus-4").tiers[0]!;
    // u = 1 - r; race = -ln(u)/w: r near 0 gives the smallest race, so the first draw's target wins.
    const seq = (...xs: number[]) => {
      let i = 0;
      return () => xs[i++]!;
    };
    expect(orderTargets(tier, undefined, seq(0.01, 0.5)).map((t) => t.upstreamName)).toEqual(["anthropic-main", "bedrock-x"]);
    expect(orderTargets(tier, undefined, seq(0.9, 0.01)).map((t) => t.upstreamName)).toEqual(["bedrock-x", "anthropic-main"]);
  });
});

describe("hysteresis", () => {
  const HOLD = 30_000;

  function setup() {
    const s = catalog([ROUTE]);
    const router = new TierRouter({ holdDownMs: HOLD });
    const primary = [...keysOf(s, "anthropic-main"), ...keysOf(s, "bedrock-x")];
    const at = (now: number, affinity?: string) => plan(s, { now, affinity, router });
    return { s, router, primary, at };
  }

  it("returns new sessions to a recovered primary only after the hold-down; a session moved meanwhile stays until its key fails", () => {
    const { s, primary, at } = setup();
    expect(at(0, "old").tier).toBe(0);
    for (const k of primary) k.coolingUntil = 10_000;
    // Down: everyone, old and new, goes to the backup.
    expect(at(1_000, "old").tier).toBe(1);
    expect(at(2_000, "during").tier).toBe(1);
    // Recovered at 10 s (first seen healthy at 10 s): held down until 40 s.
    expect(at(10_000).tier).toBe(1);
    expect(at(39_999, "new-1").tier).toBe(1);
    expect(at(40_000, "new-2").tier).toBe(0);
    expect(at(40_001).tier).toBe(0);
    // Sessions that moved stay on the backup while their key there is healthy...
    const pinned = at(41_000, "during").attempts[0]!;
    expect(pinned.tier).toBe(1);
    expect(at(41_000, "old").tier).toBe(1);
    expect(at(41_000, "new-1").tier).toBe(1);
    // ...and return when it fails (its key cools; the backup tier itself stays healthy).
    pinned.key.coolingUntil = 1e12;
    expect(at(42_000, "during").tier).toBe(0);
    expect(at(43_000, "during").tier).toBe(0);
    pinned.key.coolingUntil = 0;
    expect(at(44_000, "during").tier).toBe(0);
    expect(keysOf(s, "openai").length).toBe(2);
  });

  it("restarts the hold-down when the primary fails again before it ends (a flapping upstream does not bounce traffic)", () => {
    const { primary, at } = setup();
    for (const k of primary) k.coolingUntil = 5_000;
    expect(at(1_000).tier).toBe(1);
    expect(at(6_000).tier).toBe(1); // healthy since 6 s
    for (const k of primary) k.coolingUntil = 20_000;
    expect(at(19_000).tier).toBe(1); // down again
    expect(at(20_000).tier).toBe(1); // healthy since 20 s
    expect(at(49_999).tier).toBe(1);
    expect(at(50_000).tier).toBe(0);
  });

  it("prefers a held-down tier to none, and a zero hold-down returns at once", () => {
    const { s, primary, at } = setup();
    for (const k of primary) k.coolingUntil = 5_000;
    expect(at(1_000).tier).toBe(1);
    for (const k of keysOf(s, "openai")) k.coolingUntil = 1e12;
    for (const k of keysOf(s, "openai-backup")) k.coolingUntil = 1e12;
    expect(at(6_000).tier).toBe(0);

    const quick = catalog([ROUTE]);
    const router = new TierRouter({ holdDownMs: 0 });
    for (const k of keysOf(quick, "anthropic-main")) k.coolingUntil = 5_000;
    for (const k of keysOf(quick, "bedrock-x")) k.coolingUntil = 5_000;
    expect(planAttempts(quick, health, { ...base, now: 1_000, router }).tier).toBe(1);
    expect(planAttempts(quick, health, { ...base, now: 5_000, router }).tier).toBe(0);
  });

  it("keys the state by the tiers a caller gets: callers allowed different targets of one rule never share it", () => {
    const s = catalog([ROUTE]);
    const all = resolveModel(s, "anthropic-messages", "claude-opus-4");
    const noSonnet: MappingSource = { key: "no-sonnet", lookup: () => undefined, usesUpstream: () => true, allows: (m) => m !== "claude-sonnet-4" };
    const some = resolveModel(s, "anthropic-messages", "claude-opus-4", noSonnet);
    expect(some.tiers.map((t) => t.targets.length)).toEqual([1, 1]);
    expect(some.routeKey).not.toBe(all.routeKey);
    expect(resolveModel(s, "anthropic-messages", "claude-opus-4", { ...noSonnet, key: "other", allows: () => true }).routeKey).toBe(all.routeKey);
  });

  it("changes nothing when planning read-only (explain)", () => {
    const { s, router, primary } = setup();
    for (const k of primary) k.coolingUntil = 5_000;
    expect(planAttempts(s, health, { ...base, now: 1_000, router, readOnly: true, affinity: "x" }).tier).toBe(1);
    // Never recorded as down, so nothing is held: back at once.
    expect(planAttempts(s, health, { ...base, now: 6_000, router, affinity: "x" }).tier).toBe(0);
    expect(router.pinned(resolveModel(s, "anthropic-messages", "claude-opus-4").routeKey, "x")).toBeUndefined();
  });

  it("keeps per-route state: one route's outage holds nothing on another", () => {
    const s = catalog([ROUTE, { match: "gpt-x", tiers: [[{ model: "gpt-5.4-mini" }], [{ model: "gpt-5.4" }]] }]);
    const router = new TierRouter({ holdDownMs: HOLD });
    for (const k of [...keysOf(s, "anthropic-main"), ...keysOf(s, "bedrock-x")]) k.coolingUntil = 5_000;
    expect(planAttempts(s, health, { ...base, now: 1_000, router }).tier).toBe(1);
    expect(planAttempts(s, health, { ...base, model: "gpt-x", client: "openai-chat", now: 1_000, router }).tier).toBe(0);
    expect(planAttempts(s, health, { ...base, now: 6_000, router }).tier).toBe(1);
    expect(router.standings(resolveModel(s, "anthropic-messages", "claude-opus-4").routeKey, [true, true], 6_000)).toEqual([
      { healthy: true, heldDown: true, heldUntil: 36_000 },
      { healthy: true, heldDown: false, heldUntil: undefined },
    ]);
  });
});
