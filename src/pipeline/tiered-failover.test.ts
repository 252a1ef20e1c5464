/**
 * Structured routes end to end: a route written in YAML and one written through the
 * admin API, a primary tier whose upstream answers 500 and a backup tier that serves,
 * on the Chat and Messages client protocols, streaming and not. The client sees one
 * clean answer; the route header names the upstream and the tier that served; explain
 * shows the tiers.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { assertAnthropicStream, assertChatStream, parseSse } from "../mock/index.js";
import { eventually, startStack, stackYaml, type Stack } from "../testing/stack.js";
import { runCli } from "../cli/program.js";

const ADMIN_TOKEN = "admin-token-for-tier-tests-0123456789";
const TIER_KEY = "sk-test-tiers-000000000000000007";

const UPSTREAMS = `  - name: prim-chat
    protocol: openai-chat
    base_url: MOCK/v1
    keys: [prim-chat-key]
    models: ["tier-main"]
  - name: back-anthropic
    protocol: anthropic
    base_url: MOCK
    keys: [back-anthropic-key]
    models: ["tier-backup"]
  - name: back-chat
    protocol: openai-chat
    base_url: MOCK/v1
    keys: [back-chat-key]
    models: ["tier-backup"]
`;

// The hold-down is 0 here so tests do not hold each other's routes down; hysteresis is tested with a clock in routing/tiers.test.ts.
const EXTRA = `  - name: tiered
    keys: [${TIER_KEY}]
    model_map:
      - match: "acct-*"
        tiers: [[{upstream: prim-chat, model: tier-main}], [{upstream: back-chat, model: tier-backup}]]
  - name: narrow
    models: ["tier-main", "api-*"]
routing:
  tier_hold_down_ms: 0
model_map:
  - "plain-*=tier-backup"
  - match: "yaml-*"
    tiers:
      - [{upstream: prim-chat, model: tier-main}]
      - [{upstream: back-anthropic, model: tier-backup, weight: 1}]
`;

function yaml(mockUrl: string): string {
  return stackYaml(mockUrl, EXTRA, UPSTREAMS).replace("  shutdown_grace_ms: 5000\n", "  shutdown_grace_ms: 5000\n  route_header: true\n  max_attempts: 4\n");
}

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ env: { SWITCHYARD_ADMIN_TOKEN: ADMIN_TOKEN }, yaml });
});
afterAll(() => stack.close());
beforeEach(() => stack.fresh());

const failPrimary = (): void => stack.mock.script({ match: (r) => r.headers.authorization === "Bearer prim-chat-key", status: 500 });

async function admin(method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(`${stack.gw.url}/admin/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, json: await res.json() };
}

function chat(model: string, stream: boolean, key = TIER_KEY): Promise<Response> {
  return fetch(`${stack.gw.url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: JSON.stringify({ model, stream, messages: [{ role: "user", content: "hi" }] }),
  });
}

function messages(model: string, stream: boolean, key = TIER_KEY): Promise<Response> {
  return fetch(`${stack.gw.url}/v1/messages`, {
    method: "POST",
    headers: { "x-api-key": key, "anthropic-version": "2023-06-01", "content-type": "application/json" },
    body: JSON.stringify({ model, stream, max_tokens: 64, messages: [{ role: "user", content: "hi" }] }),
  });
}

const upstreamKeys = (): string[] => stack.mock.requests.map((r) => String(r.headers.authorization ?? r.headers["x-api-key"]).replace("Bearer ", ""));

describe("a primary tier answering 500: the backup tier serves, the client sees one clean answer", () => {
  for (const stream of [false, true]) {
    it(`Chat client, ${stream ? "streaming" : "JSON"}`, async () => {
      failPrimary();
      const res = await chat("yaml-anything", stream);
      expect(res.status).toBe(200);
      expect(res.headers.get("x-switchyard-route")).toBe("upstream=back-anthropic; tier=2; model=tier-backup");
      if (stream) {
        const text = await res.text();
        assertChatStream(parseSse(Buffer.from(text)));
        expect(text.match(/\[DONE\]/g)).toHaveLength(1);
      } else {
        const body = (await res.json()) as { choices: Array<{ message: { content: string } }>; model: string };
        expect(body.choices).toHaveLength(1);
        expect(body.choices[0]!.message.content.length).toBeGreaterThan(0);
      }
      expect(upstreamKeys()).toEqual(["prim-chat-key", "back-anthropic-key"]);
      await eventually(() => stack.usage.length > 0);
      expect(stack.usage.at(-1)).toMatchObject({ status: 200, attempts: 2, upstream: "back-anthropic", servedModel: "tier-main" });
    });

    it(`Messages client, ${stream ? "streaming" : "JSON"}`, async () => {
      failPrimary();
      const res = await messages("yaml-anything", stream);
      expect(res.status).toBe(200);
      expect(res.headers.get("x-switchyard-route")).toBe("upstream=back-anthropic; tier=2; model=tier-backup");
      if (stream) {
        const text = await res.text();
        assertAnthropicStream(parseSse(Buffer.from(text)));
        expect(text.match(/event: message_stop/g)).toHaveLength(1);
        expect(text).not.toContain("event: error");
      } else {
        const body = (await res.json()) as { type: string; content: Array<{ type: string }> };
        expect(body.type).toBe("message");
        expect(body.content.length).toBeGreaterThan(0);
      }
      expect(upstreamKeys()).toEqual(["prim-chat-key", "back-anthropic-key"]);
    });
  }

  it("follows an account's own structured route from the YAML file", async () => {
    failPrimary();
    const res = await chat("acct-1", true);
    expect(res.status).toBe(200);
    expect(res.headers.get("x-switchyard-route")).toBe("upstream=back-chat; tier=2; model=tier-backup");
    assertChatStream(parseSse(Buffer.from(await res.text())));
    expect(upstreamKeys()).toEqual(["prim-chat-key", "back-chat-key"]);
  });

  it("uses the primary tier while it answers", async () => {
    const res = await messages("yaml-x", false);
    expect(res.status).toBe(200);
    expect(res.headers.get("x-switchyard-route")).toBe("upstream=prim-chat; tier=1; model=tier-main");
    expect(upstreamKeys()).toEqual(["prim-chat-key"]);
  });

  it("counts tokens for the primary model: a backup tier's Anthropic upstream, serving another model, is not asked", async () => {
    const res = await fetch(`${stack.gw.url}/v1/messages/count_tokens`, {
      method: "POST",
      headers: { "x-api-key": TIER_KEY, "anthropic-version": "2023-06-01", "content-type": "application/json" },
      body: JSON.stringify({ model: "yaml-x", messages: [{ role: "user", content: "hi" }] }),
    });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { input_tokens: number }).input_tokens).toBeGreaterThan(0);
    expect(stack.mock.requests).toHaveLength(0);
  });

  it("keeps the short form working unchanged beside structured rules", async () => {
    const res = await chat("plain-x", false);
    expect(res.status).toBe(200);
    expect(res.headers.get("x-switchyard-route")).toMatch(/^upstream=(back-anthropic|back-chat); tier=1; model=tier-backup$/);
  });
});

describe("structured routes through the admin API", () => {
  it("stores a route on an account, shows it back, and routes the account's requests by it", async () => {
    const route = { match: "api-*", tiers: [[{ upstream: "prim-chat", model: "tier-main" }], [{ upstream: "back-chat", model: "tier-backup", weight: 2 }]] };
    const created = await admin("POST", "/accounts", { name: "api-routed", model_map: ["api-short=tier-backup", route] });
    expect(created.status).toBe(201);
    expect(created.json.model_map).toEqual(["api-short=tier-backup", route]);
    const key = await admin("POST", `/accounts/${created.json.id}/keys`, {});
    failPrimary();
    const res = await chat("api-anything", false, key.json.key);
    expect(res.status).toBe(200);
    expect(res.headers.get("x-switchyard-route")).toBe("upstream=back-chat; tier=2; model=tier-backup");
    expect(upstreamKeys()).toEqual(["prim-chat-key", "back-chat-key"]);
  });

  it("refuses a malformed route with invalid_field naming the field", async () => {
    const bad = async (rule: unknown) => (await admin("POST", "/accounts", { name: `bad-${Math.random()}`, model_map: [rule] })).json.error;
    expect(await bad({ match: "x-*", tiers: [[{ model: "m", weigth: 2 }]] })).toMatchObject({ code: "invalid_field", param: "model_map.0.tiers.0.0" });
    expect(await bad({ match: "x-*", tiers: [[{ model: "m" }], [{ model: "n", weight: "3" }]] })).toMatchObject({
      code: "invalid_field",
      param: "model_map.0.tiers.1.0.weight",
    });
    expect(await bad({ match: "x-*", tiers: [] })).toMatchObject({ code: "invalid_field", param: "model_map.0.tiers" });
    expect(await bad({ match: "x-*", tiers: [[{ model: "gpt-*" }]] })).toMatchObject({ code: "invalid_field", param: "model_map.0.tiers.0.0.model" });
  });

  it("refuses a route whose backup tier serves a model the account may not use (exceeds_parent)", async () => {
    const narrow = (await admin("GET", "/accounts")).json.data.find((a: { name: string }) => a.name === "narrow");
    const route = { match: "api-*", tiers: [[{ model: "tier-main" }], [{ model: "tier-backup" }]] };
    const refused = await admin("POST", "/accounts", { name: "narrow-kid", parent_id: narrow.id, model_map: [route] });
    expect(refused.status).toBe(400);
    expect(refused.json.error).toMatchObject({ code: "exceeds_parent", param: "model_map" });
    expect(refused.json.error.message).toContain("serves model 'tier-backup' in tier 2");
    const fine = await admin("POST", "/accounts", { name: "narrow-kid", parent_id: narrow.id, model_map: [{ ...route, tiers: [route.tiers[0]] }] });
    expect(fine.status).toBe(201);
  });
});

describe("explain on a tiered route", () => {
  it("lists the tiers with their targets, the serving tier, and a session's pin", async () => {
    const res = await fetch(`${stack.gw.url}/admin/v1/explain?${new URLSearchParams({ account: "tiered", model: "yaml-1", session: "s-1" })}`, {
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    const json = (await res.json()) as any;
    expect(json.mapping.rule).toBe("yaml-*=[tier-main@prim-chat] > [tier-backup@back-anthropic]");
    expect(json.tiers).toEqual([
      expect.objectContaining({
        tier: 1,
        healthy: true,
        serving: true,
        targets: [expect.objectContaining({ upstream: "prim-chat", model: "tier-main", share: 1 })],
      }),
      expect.objectContaining({
        tier: 2,
        healthy: true,
        serving: false,
        targets: [expect.objectContaining({ upstream: "back-anthropic", upstreams: ["back-anthropic"] })],
      }),
    ]);
    expect(json.serving_tier).toBe(1);
    expect(json.hold_down_ms).toBe(0);
    expect(json.attempt_order.map((a: { tier: number; upstream: string }) => `${a.tier}:${a.upstream}`)).toEqual(["1:prim-chat", "2:back-anthropic"]);
    expect(json.session.pinned).toMatchObject({ tier: 1, upstream: "prim-chat", model: "tier-main" });

    // The primary's key cooling down: tier 2 would serve now.
    const prim = stack.gw.catalog.snapshot.upstreams.find((t) => t.upstream.name === "prim-chat")!.pool.keys[0]!;
    prim.coolingUntil = Date.now() + 600_000;
    const cooled = (await (
      await fetch(`${stack.gw.url}/admin/v1/explain?${new URLSearchParams({ account: "tiered", model: "yaml-1" })}`, {
        headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
      })
    ).json()) as any;
    expect(cooled.serving_tier).toBe(2);
    expect(cooled.tiers.map((t: { healthy: boolean; serving: boolean }) => [t.healthy, t.serving])).toEqual([
      [false, false],
      [true, true],
    ]);
    expect(cooled.attempt_order.map((a: { tier: number }) => a.tier)).toEqual([2, 1]);
  });
});

describe("switchyard explain", () => {
  async function cli(argv: string[]): Promise<{ code: number; out: string; err: string }> {
    let out = "";
    let err = "";
    const code = await runCli([...argv, "--url", stack.gw.url, "--token", ADMIN_TOKEN], {
      env: {},
      out: (t) => void (out += t),
      err: (t) => void (err += t),
      readStdin: () => Promise.resolve(""),
    });
    return { code, out, err };
  }

  it("prints the rule, the tiers, the attempt order and the session's key", async () => {
    const r = await cli(["explain", "--account", "tiered", "--model", "yaml-2", "--session", "s-9", "--protocol", "anthropic-messages"]);
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
    expect(r.out).toContain("rule:     yaml-*=[tier-main@prim-chat] > [tier-backup@back-anthropic]");
    expect(r.out).toContain("tiers (serving now: 1, hold-down 0 ms):");
    expect(r.out).toMatch(/\* tier 1: healthy\n\s+tier-main @ prim-chat {2}weight 1 100% via prim-chat/);
    expect(r.out).toMatch(/ {3}tier 2: healthy\n\s+tier-backup @ back-anthropic/);
    expect(r.out).toMatch(/attempt order:\n {2}1\. tier 1 {2}prim-chat {2}tier-main {2}key /);
    expect(r.out).toMatch(/session s-9: tier 1, prim-chat \/ key /);
    expect(r.out).toContain("limits:   none");
    expect(r.out).not.toContain("prim-chat-key");
  });

  it("creates an account with a structured route (accounts create --route), refused with the field when malformed", async () => {
    const route = { match: "cli-*", tiers: [[{ model: "tier-main" }], [{ model: "tier-backup", weight: 2 }]] };
    const r = await cli(["accounts", "create", "cli-routed", "--model-map", "cli-x=tier-main", "--route", JSON.stringify(route), "--json"]);
    expect(r.err).toBe("");
    expect(JSON.parse(r.out).model_map).toEqual(["cli-x=tier-main", route]);
    const bad = await cli(["accounts", "create", "cli-bad", "--route", '{"match":"x","tiers":[[{"model":"m","weight":0}]]}']);
    expect(bad.code).toBe(1);
    expect(bad.err).toContain("model_map.0.tiers.0.0.weight");
    const notJson = await cli(["accounts", "create", "cli-bad", "--route", "claude-*=gpt"]);
    expect(notJson.code).toBe(2);
    expect(notJson.err.split("\n")[0]).toContain("JSON object");
  });

  it("prints the gateway's answer with --json", async () => {
    const r = await cli(["explain", "--account", "tiered", "--model", "yaml-2", "--json"]);
    expect(r.code).toBe(0);
    const json = JSON.parse(r.out);
    expect(json.tiers).toHaveLength(2);
    expect(json.serving_tier).toBe(1);
  });

  it("says what is missing or wrong in one line", async () => {
    const missing = await cli(["explain", "--account", "tiered"]);
    expect(missing.code).toBe(2);
    expect(missing.err.split("\n")[0]).toContain("--model");
    const unknown = await cli(["explain", "--account", "nobody-here", "--model", "m"]);
    expect(unknown.code).toBe(1);
    expect(unknown.err).toContain("nobody-here");
  });
});
