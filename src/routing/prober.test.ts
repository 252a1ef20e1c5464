/**
 * The prober against the real mock upstream over the real transport, one round at a
 * time (tick), on the engine's clock: which keys it probes, with which request per
 * protocol, and what each answer does to the key.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { startMockUpstream, type MockUpstream } from "../mock/server.js";
import { createUpstreamHttp } from "../upstream/http-client.js";
import { createCredentialCache } from "../upstream/credentials.js";
import { DEFAULT_HEADER_POLICY } from "../upstream/headers.js";
import { compileModelPatterns } from "../canonical/model-pattern.js";
import { NO_MAPPING } from "../canonical/model-map.js";
import { createLogger } from "../observability/logger.js";
import type { UpstreamProtocol } from "../storage/ports.js";
import type { CatalogSnapshot, UpstreamTarget } from "./catalog.js";
import { createLocalKeyHealth } from "./key-health.js";
import { KeyPool, type PoolKey } from "./key-pool.js";
import { KeyProber, probeUrl } from "./prober.js";

let mock: MockUpstream;
const transport = createUpstreamHttp();
beforeAll(async () => {
  mock = await startMockUpstream();
});
afterAll(async () => {
  await transport.close();
  await mock.close();
});
beforeEach(() => {
  mock.reset();
  mock.clear();
});

const key = (secret: string): PoolKey => ({
  id: secret,
  name: secret,
  secret,
  fingerprint: `fp-${secret}`,
  inFlight: 0,
  coolingUntil: 0,
  failures: 0,
  removed: false,
  latencyEwmaMs: 0,
  errorRate: 0,
});

function target(name: string, protocol: UpstreamProtocol, baseUrl: string, keys: PoolKey[]): UpstreamTarget {
  return {
    upstream: { id: name, name, ownerAccountId: null, protocol, baseUrl, models: ["m"], enabled: true, settings: {}, createdAt: "", updatedAt: "" },
    protocol,
    models: compileModelPatterns(["m"]),
    pool: new KeyPool(keys),
    sendsCacheKey: false,
    headers: DEFAULT_HEADER_POLICY,
  };
}

function setup(targets: UpstreamTarget[], probeDisabled = false, timeoutMs = 5000) {
  const clock = { now: Date.now() };
  const health = createLocalKeyHealth({ now: () => clock.now, settings: { breakerThreshold: 1, breakerCooldownMs: 10_000 } });
  const snapshot: CatalogSnapshot = { upstreams: targets, unopened: [], owners: new Set(), version: 1, modelMap: NO_MAPPING };
  const prober = new KeyProber({
    catalog: { snapshot },
    health,
    transport,
    credentials: createCredentialCache(),
    logger: createLogger("silent"),
    intervalMs: 60_000,
    timeoutMs,
    probeDisabled,
    now: () => clock.now,
  });
  const fail = (k: PoolKey, outcome: "server_error" | "auth" | "quota") => health.report(health.acquire(k)!, outcome);
  return { clock, health, prober, fail };
}

describe("probe requests per protocol", () => {
  it("list the models under each protocol's base URL", () => {
    expect(probeUrl("openai-chat", "https://api.openai.com/v1/")).toBe("https://api.openai.com/v1/models");
    expect(probeUrl("openai-responses", "https://api.openai.com/v1")).toBe("https://api.openai.com/v1/models");
    expect(probeUrl("anthropic", "https://api.anthropic.com")).toBe("https://api.anthropic.com/v1/models");
    expect(probeUrl("anthropic", "https://api.anthropic.com/v1")).toBe("https://api.anthropic.com/v1/models");
    expect(probeUrl("codex", "https://chatgpt.com/backend-api/codex")).toBe("https://chatgpt.com/backend-api/codex/models");
  });
});

describe("the prober", () => {
  it("probes only open keys past their cooldown, each with its own credential, and restores them", async () => {
    const chatKey = key("sk-chat");
    const claudeKey = key("sk-ant");
    const healthy = key("sk-healthy");
    const { clock, health, prober, fail } = setup([
      target("chat", "openai-chat", `${mock.url}/v1`, [chatKey, healthy]),
      target("claude", "anthropic", mock.url, [claudeKey]),
    ]);
    fail(chatKey, "server_error");
    fail(claudeKey, "server_error");
    expect(await prober.tick()).toBe(0);
    clock.now += 10_000;
    expect(await prober.tick()).toBe(2);
    const seen = mock.requests.map((r) => [r.method, r.path, r.headers.authorization ?? r.headers["x-api-key"], r.headers["anthropic-version"]]);
    expect(seen).toEqual(
      expect.arrayContaining([
        ["GET", "/v1/models", "Bearer sk-chat", undefined],
        ["GET", "/v1/models", "sk-ant", "2023-06-01"],
      ]),
    );
    expect(seen).toHaveLength(2);
    expect(health.view(chatKey, clock.now).state).toBe("healthy");
    expect(health.view(claudeKey, clock.now).state).toBe("healthy");
    expect(await prober.tick()).toBe(0);
  });

  it("a failed probe opens the key again for longer; a 401 disables it", async () => {
    const a = key("sk-a");
    const b = key("sk-b");
    const { clock, health, prober, fail } = setup([target("chat", "openai-chat", `${mock.url}/v1`, [a, b])]);
    fail(a, "server_error");
    fail(b, "server_error");
    mock.script({ match: (r) => r.headers.authorization === "Bearer sk-a", status: 503 });
    mock.script({ match: (r) => r.headers.authorization === "Bearer sk-b", status: 401 });
    clock.now += 10_000;
    expect(await prober.tick()).toBe(2);
    expect(health.view(a, clock.now)).toMatchObject({ state: "open", until: clock.now + 20_000 });
    expect(health.view(b, clock.now)).toMatchObject({ state: "disabled" });
  });

  it("leaves cooling and disabled keys alone, unless disabled ones are to be probed", async () => {
    const quota = key("sk-quota");
    const revoked = key("sk-revoked");
    const targets = [target("chat", "openai-chat", `${mock.url}/v1`, [quota, revoked])];
    const off = setup(targets);
    off.fail(quota, "quota");
    off.fail(revoked, "auth");
    off.clock.now += 60_000;
    expect(await off.prober.tick()).toBe(0);

    const quota2 = key("sk-quota");
    const revoked2 = key("sk-revoked");
    const on = setup([target("chat", "openai-chat", `${mock.url}/v1`, [quota2, revoked2])], true);
    on.fail(quota2, "quota");
    on.fail(revoked2, "auth");
    expect(await on.prober.tick()).toBe(1);
    expect(mock.requests.map((r) => r.headers.authorization)).toEqual(["Bearer sk-revoked"]);
    expect(on.health.view(revoked2, on.clock.now).state).toBe("healthy");
    expect(on.health.view(quota2, on.clock.now).state).toBe("cooling");
  });

  it("says nothing about a key when the upstream has no listing (404): real traffic probes it", async () => {
    const a = key("sk-a");
    const { clock, health, prober, fail } = setup([target("chat", "openai-chat", `${mock.url}/nolisting`, [a])]);
    fail(a, "server_error");
    clock.now += 10_000;
    expect(await prober.tick()).toBe(1);
    expect(health.view(a, clock.now).state).toBe("half_open");
    expect(health.acquire(a)).toBeDefined();
  });

  it("counts a probe that gets no answer in time as a network failure", async () => {
    const a = key("sk-a");
    const { clock, health, prober, fail } = setup([target("chat", "openai-chat", `${mock.url}/v1`, [a])], false, 100);
    fail(a, "server_error");
    mock.script({ match: (r) => r.method === "GET", delayMs: 5000 });
    clock.now += 10_000;
    expect(await prober.tick()).toBe(1);
    expect(health.view(a, clock.now)).toMatchObject({ state: "open", reason: "probe failed (network)" });
  });
});
