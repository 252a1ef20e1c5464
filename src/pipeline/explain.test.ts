/**
 * Explain through the real admin API, and the route header on real answers: a stack with
 * a mapping (account rules and a gateway rule competing), two upstreams serving the
 * mapped model and a cooled key. The session pin explain reports is compared with the
 * key a real request carrying the same session header was sent with.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { eventually, startStack, stackYaml, type Stack } from "../testing/stack.js";

const ADMIN_TOKEN = "admin-token-for-tests-0123456789-abcdef";
const EX_KEY = "sk-test-explain-00000000000000005";
const CHILD_KEY = "sk-test-explkid-00000000000000006";

const EXTRA_UPSTREAMS = `  - name: primary
    protocol: openai-chat
    base_url: MOCK/v1
    keys: [mock-primary-key-1, mock-primary-key-2, mock-primary-key-3]
    models: ["mapped-target"]
  - name: backup
    protocol: anthropic
    base_url: MOCK
    keys: [mock-backup-key-1]
    models: ["mapped-target"]
`;
const EXTRA = `  - name: explainer
    model_map: ["fancy-*=mapped-target", "fancy-mod*=mapped-target"]
    keys: [${EX_KEY}]
  - name: explainer-kid
    parent: explainer
    models: ["gpt-4o"]
    keys: [${CHILD_KEY}]
model_map: ["fancy-model=gpt-4o"]
`;

function yaml(routeHeader: boolean): (mockUrl: string) => string {
  const base = (mockUrl: string): string => stackYaml(mockUrl, EXTRA, EXTRA_UPSTREAMS);
  return routeHeader ? (mockUrl) => base(mockUrl).replace("  shutdown_grace_ms: 5000\n", "  shutdown_grace_ms: 5000\n  route_header: true\n") : base;
}

let stack: Stack;
let plain: Stack;
beforeAll(async () => {
  const env = { SWITCHYARD_ADMIN_TOKEN: ADMIN_TOKEN };
  [stack, plain] = await Promise.all([startStack({ env, yaml: yaml(true) }), startStack({ env, yaml: yaml(false) })]);
});
afterAll(() => Promise.all([stack.close(), plain.close()]));
beforeEach(() => {
  stack.fresh();
  plain.fresh();
});

async function explain(query: Record<string, string>, token = ADMIN_TOKEN): Promise<{ status: number; json: any }> {
  const res = await fetch(`${stack.gw.url}/admin/v1/explain?${new URLSearchParams(query)}`, { headers: { authorization: `Bearer ${token}` } });
  return { status: res.status, json: await res.json() };
}

function primaryKeys(s: Stack): { id: string; secret: string; coolingUntil: number; failures: number }[] {
  return s.gw.catalog.snapshot.upstreams.find((t) => t.upstream.name === "primary")!.pool.keys;
}

/** Puts one of primary's keys in cooldown, as a 429 would. */
function coolSecondKey(): string {
  const key = primaryKeys(stack)[1]!;
  Object.assign(key, { coolingUntil: Date.now() + 600_000, failures: 1 });
  return key.id;
}

async function chat(s: Stack, model: string, o: { key?: string; stream?: boolean; headers?: Record<string, string> } = {}): Promise<Response> {
  return fetch(`${s.gw.url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${o.key ?? EX_KEY}`, "content-type": "application/json", ...o.headers },
    body: JSON.stringify({ model, stream: o.stream ?? false, messages: [{ role: "user", content: "hi" }] }),
  });
}

describe("GET /admin/v1/explain", () => {
  it("names the rule that matched, where it came from and why it beat the others", async () => {
    const { status, json } = await explain({ account: "explainer", model: "fancy-model" });
    expect(status).toBe(200);
    expect(json.requested_model).toBe("fancy-model");
    expect(json.mapping).toMatchObject({ served_model: "mapped-target", rule: "fancy-mod*=mapped-target" });
    expect(json.mapping.from).toMatchObject({ source: "account", account_name: "explainer" });
    expect(json.mapping.candidates).toEqual([
      expect.objectContaining({ rule: "fancy-mod*=mapped-target", outcome: "chosen", match: "wildcard", literal_chars: 9 }),
      expect.objectContaining({ rule: "fancy-*=mapped-target", outcome: "outranked", literal_chars: 6, why: "fewer literal characters (6 < 9)" }),
      expect.objectContaining({ rule: "fancy-model=gpt-4o", outcome: "outranked", match: "exact", from: { source: "gateway" } }),
    ]);
    expect(json.mapping.candidates[2].why).toContain("only when no account rule matches");
    expect(json.policy).toMatchObject({ allowed: true, forbidden_by: [], account_active: true });
    // A short rule is one tier with one target; the policy here carries no limits.
    expect(json.tiers).toEqual([
      expect.objectContaining({
        tier: 1,
        healthy: true,
        held_down: false,
        serving: true,
        targets: [expect.objectContaining({ model: "mapped-target", share: 1 })],
      }),
    ]);
    expect(json.serving_tier).toBe(1);
    expect(json.limits).toBeNull();
  });

  it("says when no rule matched, and which account on the chain forbids the served model", async () => {
    const { json } = await explain({ account: "explainer-kid", model: "mapped-target" });
    expect(json.mapping).toMatchObject({ served_model: "mapped-target", rule: null, from: null, candidates: [] });
    expect(json.mapping.reason).toContain("no mapping rule matched");
    expect(json.policy.allowed).toBe(false);
    expect(json.policy.forbidden_by).toEqual([expect.objectContaining({ name: "explainer-kid", models: ["gpt-4o"] })]);
    expect(json.account.chain.map((a: { name: string }) => a.name)).toEqual(["explainer-kid", "explainer"]);
  });

  it("skips the inherited rule toward a model the child may not use; the gateway's exact rule then applies", async () => {
    const { json } = await explain({ account: "explainer-kid", model: "fancy-model" });
    expect(json.mapping).toMatchObject({ served_model: "gpt-4o", rule: "fancy-model=gpt-4o", from: { source: "gateway" } });
    expect(json.mapping.reason).toContain("no account rule matched");
    expect(json.policy.allowed).toBe(true);
  });

  it("lists the candidate upstreams in plan order with their lanes, and every key's health without secrets", async () => {
    const cooled = coolSecondKey();
    const chatView = (await explain({ account: "explainer", model: "fancy-model", protocol: "openai-chat" })).json;
    expect(chatView.upstreams.map((u: { name: string }) => u.name)).toEqual(["primary", "backup"]);
    expect(chatView.upstreams[0].lane).toEqual({ stream: "passthrough", no_stream: "passthrough" });
    expect(chatView.upstreams[1].lane).toEqual({ stream: "translate", no_stream: "translate" });
    const keys = chatView.upstreams[0].keys as Array<Record<string, unknown>>;
    expect(keys).toHaveLength(3);
    const cooledView = keys.find((k) => k.id === cooled)!;
    expect(cooledView).toMatchObject({ state: "cooling", failures: 1, removed: false, in_flight: 0 });
    expect(typeof cooledView.cooling_until).toBe("string");
    for (const k of keys.filter((k) => k.id !== cooled)) expect(k).toMatchObject({ state: "healthy", cooling_until: null, failures: 0 });
    for (const k of keys) {
      expect(Object.keys(k).sort()).toEqual([
        "cooling_until",
        "error_rate",
        "failures",
        "fingerprint",
        "id",
        "in_flight",
        "latency_ewma_ms",
        "name",
        "removed",
        "state",
        "used_percent",
      ]);
      // API keys have no usage window.
      expect(k.used_percent).toBeNull();
    }
    expect(JSON.stringify(chatView)).not.toContain("mock-primary-key");
    // The cooled key comes last in the attempt order, after every healthy key (the backup's too).
    expect(chatView.attempt_order.at(-1)).toMatchObject({ upstream: "primary", key_id: cooled, tier: 1 });
    expect(chatView.attempt_order.at(-2)).toMatchObject({ upstream: "backup" });

    // For an Anthropic client the Anthropic upstream is native, so it comes first.
    const anthropicView = (await explain({ account: "explainer", model: "fancy-model", protocol: "anthropic-messages" })).json;
    expect(anthropicView.upstreams.map((u: { name: string; lane: { stream: string } }) => [u.name, u.lane.stream])).toEqual([
      ["backup", "passthrough"],
      ["primary", "translate"],
    ]);
  });

  it("pins a session to the key a real request with that session header is sent with", async () => {
    const cooled = coolSecondKey();
    const secrets = new Map(primaryKeys(stack).map((k) => [k.id, k.secret]));
    for (const session of ["s-alpha", "s-beta", "s-gamma", "s-delta", "s-epsilon", "s-zeta"]) {
      const { json } = await explain({ account: "explainer", model: "fancy-model", session });
      expect(json.session).toMatchObject({ session, session_source: "session_id", pinned: { upstream: "primary" } });
      expect(json.session.pinned.why).toContain("rendezvous hashing");
      expect(json.session.pinned.key_id).not.toBe(cooled);
      const res = await chat(stack, "fancy-model", { headers: { session_id: session } });
      expect(res.status).toBe(200);
      const seen = stack.mock.requests.at(-1)!;
      expect(seen.headers.authorization).toBe(`Bearer ${secrets.get(json.session.pinned.key_id)}`);
    }
  });

  it("scopes the session with the account: another account's session of the same name gets its own cache key", async () => {
    const a = (await explain({ account: "explainer", model: "fancy-model", session: "same" })).json;
    const b = (await explain({ account: "acme", model: "fancy-model", session: "same" })).json;
    expect(a.session.cache_key).not.toBe(b.session.cache_key);
  });

  it("answers errors in the admin envelope", async () => {
    const missing = await explain({ account: "explainer" });
    expect(missing.status).toBe(400);
    expect(missing.json.error).toMatchObject({ code: "invalid_field", param: "model" });
    const noAccount = await explain({ model: "x" });
    expect(noAccount.json.error).toMatchObject({ code: "invalid_field", param: "account" });
    const badProtocol = await explain({ account: "explainer", model: "x", protocol: "smtp" });
    expect(badProtocol.json.error).toMatchObject({ code: "invalid_field", param: "protocol" });
    const unknown = await explain({ account: "nobody", model: "x" });
    expect(unknown.status).toBe(404);
    expect(unknown.json.error.code).toBe("account_not_found");
    const unauthorised = await explain({ account: "explainer", model: "x" }, "wrong-token");
    expect(unauthorised.status).toBe(401);
    expect(unauthorised.json.error.code).toBe("invalid_admin_token");
  });

  it("is in the OpenAPI document", async () => {
    const doc = (await (await fetch(`${stack.gw.url}/admin/v1/openapi.json`)).json()) as { paths: Record<string, unknown> };
    expect(doc.paths).toHaveProperty(["/admin/v1/explain", "get"]);
  });
});

describe("x-switchyard-route", () => {
  it("names the upstream and the served model on a mapped JSON answer (passthrough lane)", async () => {
    const res = await chat(stack, "fancy-model");
    expect(res.status).toBe(200);
    expect(res.headers.get("x-switchyard-route")).toBe("upstream=primary; tier=1; model=mapped-target");
  });

  it("names the upstream alone on an SSE answer no rule mapped (translate lane)", async () => {
    const res = await chat(stack, "gpt-5", { stream: true });
    expect(res.headers.get("content-type")).toContain("text/event-stream");
    expect(res.headers.get("x-switchyard-route")).toBe("upstream=responses; tier=1");
    await res.text();
  });

  it("names the upstream that answered after a failover, never a key", async () => {
    stack.mock.script({ status: 503, times: 1 });
    const res = await chat(stack, "fancy-model", { stream: true });
    expect(res.status).toBe(200);
    const route = res.headers.get("x-switchyard-route")!;
    expect(route).toMatch(/^upstream=primary; tier=1; model=mapped-target$/);
    expect(route).not.toContain("key");
    await res.text();
    await eventually(() => stack.usage.length > 0);
    expect(stack.usage.at(-1)).toMatchObject({ attempts: 2, upstream: "primary" });
  });

  it("is absent from errors the gateway answers itself", async () => {
    const res = await chat(stack, "no-such-model");
    expect(res.status).toBe(404);
    expect(res.headers.get("x-switchyard-route")).toBeNull();
  });

  it("is off by default", async () => {
    const res = await chat(plain, "fancy-model");
    expect(res.status).toBe(200);
    expect(res.headers.get("x-switchyard-route")).toBeNull();
    const streamed = await chat(plain, "gpt-5", { stream: true });
    expect(streamed.headers.get("x-switchyard-route")).toBeNull();
    await streamed.text();
  });
});
