/**
 * The Attempt against the real mock upstream over the real transport: what a
 * credential's verdict on a 401 does, and how the lease reports to key health.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startMockUpstream, type MockUpstream } from "../mock/server.js";
import { createUpstreamHttp } from "../upstream/http-client.js";
import type { Credential, RejectionVerdict } from "../upstream/credentials.js";
import { createLocalKeyHealth } from "../routing/key-health.js";
import { KeyPool, type PoolKey } from "../routing/key-pool.js";
import { compileModelPatterns } from "../canonical/model-pattern.js";
import type { UpstreamTarget } from "../routing/catalog.js";
import { DEFAULT_HEADER_POLICY } from "../upstream/headers.js";
import type { UpstreamRequest, UpstreamTransport } from "../upstream/response.js";
import { createMetrics } from "../observability/metrics.js";
import { createLogger } from "../observability/logger.js";
import type { Exchange, PipelineDeps } from "./exchange.js";
import { Attempt } from "./attempt.js";

let mock: MockUpstream;
const transport = createUpstreamHttp();
beforeAll(async () => {
  mock = await startMockUpstream();
});
afterAll(async () => {
  await transport.close();
  await mock.close();
});

/** A ChatGPT-account-like credential that is missing its token until it "refreshes" on the first rejection. */
class RefreshingCredential implements Credential {
  readonly kind = "chatgpt_account";
  refreshes = 0;
  constructor(private verdict: RejectionVerdict) {}
  async authorize(headers: Record<string, string>): Promise<void> {
    headers["chatgpt-account-id"] = "acct-1";
    if (this.refreshes > 0) headers.authorization = "Bearer fresh-token";
  }
  async rejected(): Promise<RejectionVerdict> {
    this.refreshes++;
    return this.verdict;
  }
}

function setup(credential: Credential, settings: Record<string, unknown> = {}, via: UpstreamTransport = transport) {
  const key: PoolKey = {
    id: "k1",
    name: "k1",
    secret: "unused",
    fingerprint: "fp",
    inFlight: 0,
    coolingUntil: 0,
    failures: 0,
    removed: false,
    latencyEwmaMs: 0,
    errorRate: 0,
  };
  const target: UpstreamTarget = {
    upstream: {
      id: "u1",
      name: "codex",
      ownerAccountId: null,
      protocol: "codex",
      baseUrl: `${mock.url}/backend-api/codex`,
      models: ["gpt-5-codex"],
      enabled: true,
      settings,
      createdAt: "",
      updatedAt: "",
    },
    protocol: "codex",
    models: compileModelPatterns(["gpt-5-codex"]),
    pool: new KeyPool([key]),
    sendsCacheKey: true,
    headers: DEFAULT_HEADER_POLICY,
  };
  const keyHealth = createLocalKeyHealth();
  const deps = {
    transport: via,
    keyHealth,
    credentials: () => credential,
    metrics: createMetrics(),
    logger: createLogger("silent"),
  } as unknown as PipelineDeps;
  const ex = { id: "req_test", headers: {}, signal: new AbortController().signal } as unknown as Exchange;
  return { key, keyHealth, attempt: new Attempt(deps, ex, { target, key, lane: "passthrough", model: "m", tier: 0 }) };
}

const body = Buffer.from(
  JSON.stringify({ model: "gpt-5-codex", instructions: "", store: false, stream: true, input: [{ type: "message", role: "user", content: "hi" }] }),
);

describe("Attempt", () => {
  it("retries once on the same key when the credential refreshed after a 401", async () => {
    const cred = new RefreshingCredential("retry");
    const { key, attempt } = setup(cred);
    const sent = await attempt.send({ body, stream: true, affinityKey: undefined });
    expect(sent.ok).toBe(true);
    expect(cred.refreshes).toBe(1);
    expect(key.inFlight).toBe(1);
    if (sent.ok) await sent.response.bytes();
    attempt.finish("ok");
    expect(key).toMatchObject({ inFlight: 0, removed: false, failures: 0 });
  });

  it("takes the key out when the credential cannot refresh", async () => {
    const cred = new RefreshingCredential("disable");
    const { key, attempt } = setup(cred);
    const sent = await attempt.send({ body, stream: true, affinityKey: undefined });
    expect(sent).toMatchObject({ ok: false, retryable: true, error: { code: "upstream_auth_failed" } });
    expect(cred.refreshes).toBe(1);
    expect(key).toMatchObject({ inFlight: 0, removed: true });
  });

  it("sends with the upstream's timeouts, its connect timeout included, or the defaults", async () => {
    const seen: UpstreamRequest[] = [];
    const spy: UpstreamTransport = { send: (req) => (seen.push(req), transport.send(req)), close: () => Promise.resolve() };
    for (const settings of [{ timeout_ms: 5678, connect_timeout_ms: 1234 }, {}]) {
      const { attempt } = setup(new RefreshingCredential("retry"), settings, spy);
      const sent = await attempt.send({ body, stream: true, affinityKey: undefined });
      if (sent.ok) await sent.response.bytes();
      attempt.finish("ok");
    }
    expect(seen.map((r) => [r.headersTimeoutMs, r.bodyTimeoutMs, r.connectTimeoutMs])).toEqual([
      [5678, 5678, 1234],
      [5678, 5678, 1234],
      [600_000, 600_000, 10_000],
      [600_000, 600_000, 10_000],
    ]);
  });

  it("reads a usage limit as its own class: retryable, and the key cools until the window the upstream names resets", async () => {
    mock.reset();
    mock.script({ match: (r) => r.path === "/backend-api/codex/responses", status: 429, times: 1 });
    const { key, keyHealth, attempt } = setup(new RefreshingCredential("retry"));
    const before = Date.now();
    const sent = await attempt.send({ body, stream: true, affinityKey: undefined });
    expect(sent).toMatchObject({ ok: false, retryable: true, error: { code: "upstream_usage_limit", headers: { "retry-after": "3600" } } });
    expect(keyHealth.view(key, Date.now())).toMatchObject({ state: "cooling", reason: "usage limit reached" });
    expect(key.coolingUntil).toBeGreaterThanOrEqual(before + 3_600_000);
    // The 429's own headers: the window at 100 %.
    expect(key.usage?.primary?.usedPercent).toBe(100);
    expect(key.inFlight).toBe(0);
  });

  it("skips a key disabled after the plan was made, sending nothing", async () => {
    mock.reset();
    mock.clear();
    const { key, keyHealth, attempt } = setup(new RefreshingCredential("retry"));
    keyHealth.report(keyHealth.acquire(key)!, "auth");
    const sent = await attempt.send({ body, stream: true, affinityKey: undefined });
    expect(sent).toMatchObject({ ok: false, retryable: true, error: { code: "no_upstream_key" } });
    expect(mock.requests).toHaveLength(0);
    expect(key.inFlight).toBe(0);
  });
});
