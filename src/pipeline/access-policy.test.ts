/**
 * Where a request may come from and what it may ask for, end to end over real sockets:
 * an account's `ip_allow` ranges (IPv4, IPv6, IPv4-mapped IPv6, and X-Forwarded-For
 * only from `server.trusted_proxies`), its allowed `origins` and its `deny_models`, each
 * refused with 403 and a stable code in the client's own protocol.
 *
 * The gateway listens on `::`, so one socket family serves both loopbacks: a client on
 * 127.0.0.1 reaches it as `::ffff:127.0.0.1`, one on [::1] as `::1`.
 */
import { request } from "node:http";
import WebSocket from "ws";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { stackYaml, startStack, type Stack } from "../testing/stack.js";

const KEYS = {
  v4: "sk-test-policy-v4-0000000000000001",
  v6: "sk-test-policy-v6-0000000000000002",
  mapped: "sk-test-policy-mapped-00000000003",
  office: "sk-test-policy-office-00000000004",
  web: "sk-test-policy-web-0000000000000005",
  deny: "sk-test-policy-deny-000000000000006",
  inherits: "sk-test-policy-child-00000000000007",
};

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({
    yaml: (mockUrl) =>
      stackYaml(
        mockUrl,
        `  - name: v4-loopback
    ip_allow: ["127.0.0.1/32"]
    keys: [${KEYS.v4}]
  - name: v6-loopback
    ip_allow: ["::1"]
    keys: [${KEYS.v6}]
  - name: mapped-range
    ip_allow: ["::ffff:127.0.0.0/104"]
    keys: [${KEYS.mapped}]
  - name: office
    ip_allow: ["10.0.0.0/8", "2001:db8::/32"]
    keys: [${KEYS.office}]
  - name: office-team
    parent: office
    ip_allow: ["10.1.0.0/16"]
    keys: [${KEYS.inherits}]
  - name: web
    origins: ["https://app.example.com", "http://localhost:3000"]
    keys: [${KEYS.web}]
  - name: no-mini
    deny_models: ["gpt-4o-mini*"]
    keys: [${KEYS.deny}]
`,
      ).replace("host: 127.0.0.1", 'host: "::"\n  trusted_proxies: ["::1/128"]'),
  });
});
afterAll(() => stack?.close());
beforeEach(() => stack.fresh());

interface Answer {
  status: number;
  json: { error?: { code?: string; type?: string; message?: string }; type?: string };
}

/** One request over a fresh connection from the given loopback, with exactly these headers. */
function send(from: "127.0.0.1" | "::1", path: string, key: string, body: unknown, headers: Record<string, string> = {}): Promise<Answer> {
  const text = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: from,
        port: stack.gw.port,
        path,
        method: "POST",
        agent: false,
        headers: {
          authorization: `Bearer ${key}`,
          "x-api-key": key,
          "content-type": "application/json",
          "content-length": Buffer.byteLength(text),
          ...headers,
        },
      },
      (res) => {
        let data = "";
        res.setEncoding("utf8");
        res.on("data", (d: string) => (data += d));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(data) as Answer["json"] }));
      },
    );
    req.on("error", reject);
    req.end(text);
  });
}

const chat = (from: "127.0.0.1" | "::1", key: string, headers: Record<string, string> = {}, model = "gpt-4o") =>
  send(from, "/v1/chat/completions", key, { model, messages: [{ role: "user", content: "hi" }] }, headers);
const messages = (from: "127.0.0.1" | "::1", key: string, headers: Record<string, string> = {}, model = "claude-test-sonnet") =>
  send(from, "/v1/messages", key, { model, max_tokens: 16, messages: [{ role: "user", content: "hi" }] }, { "anthropic-version": "2023-06-01", ...headers });

describe("ip_allow", () => {
  it("admits an IPv4 range from an IPv4 client reaching a dual-stack socket as ::ffff:127.0.0.1, and refuses the IPv6 loopback", async () => {
    expect((await chat("127.0.0.1", KEYS.v4)).status).toBe(200);
    const refused = await chat("::1", KEYS.v4);
    expect(refused.status).toBe(403);
    expect(refused.json.error).toMatchObject({ code: "ip_not_allowed" });
    expect(refused.json.error?.message).toContain("::1");
  });

  it("admits an IPv6 address from the IPv6 loopback only", async () => {
    expect((await chat("::1", KEYS.v6)).status).toBe(200);
    expect((await chat("127.0.0.1", KEYS.v6)).json.error?.code).toBe("ip_not_allowed");
  });

  it("holds GET /v1/models to the same address and origin lists as generation", async () => {
    const list = (from: "127.0.0.1" | "::1", key: string, headers: Record<string, string> = {}) =>
      new Promise<number>((resolve, reject) => {
        const req = request(
          { host: from, port: stack.gw.port, path: "/v1/models", method: "GET", agent: false, headers: { authorization: `Bearer ${key}`, ...headers } },
          (res) => {
            res.resume();
            res.on("end", () => resolve(res.statusCode ?? 0));
          },
        );
        req.on("error", reject);
        req.end();
      });
    expect(await list("127.0.0.1", KEYS.v4)).toBe(200);
    expect(await list("::1", KEYS.v4)).toBe(403);
    expect(await list("127.0.0.1", KEYS.web, { origin: "https://app.example.com" })).toBe(200);
    expect(await list("127.0.0.1", KEYS.web, { origin: "https://evil.example" })).toBe(403);
  });

  it("reads an IPv4-mapped range as the IPv4 range it names", async () => {
    expect((await chat("127.0.0.1", KEYS.mapped)).status).toBe(200);
    expect((await chat("::1", KEYS.mapped)).status).toBe(403);
  });

  it("refuses in the client's own protocol: an Anthropic client gets an Anthropic error envelope", async () => {
    const refused = await messages("127.0.0.1", KEYS.office);
    expect(refused.status).toBe(403);
    expect(refused.json).toMatchObject({ type: "error", error: { type: "permission_error" } });
    expect(refused.json.error?.message).toContain("10.0.0.0/8");
    expect(stack.mock.requests).toHaveLength(0);
  });

  it("ignores X-Forwarded-For from a peer that is not a trusted proxy", async () => {
    const spoofed = await chat("127.0.0.1", KEYS.office, { "x-forwarded-for": "10.1.2.3" });
    expect(spoofed.json.error?.code).toBe("ip_not_allowed");
  });

  it("takes the client from X-Forwarded-For when a trusted proxy sends it: the rightmost hop that is not a trusted proxy", async () => {
    expect((await chat("::1", KEYS.office, { "x-forwarded-for": "10.1.2.3" })).status).toBe(200);
    expect((await chat("::1", KEYS.office, { "x-forwarded-for": "2001:db8::7" })).status).toBe(200);
    // The client claims 10.9.9.9 to the proxy, which reports the address it saw; the claim is not the proxy's word.
    expect((await chat("::1", KEYS.office, { "x-forwarded-for": "10.9.9.9, 192.0.2.1" })).json.error?.code).toBe("ip_not_allowed");
    // Hops that are trusted proxies themselves are skipped.
    expect((await chat("::1", KEYS.office, { "x-forwarded-for": "10.1.2.3, ::1" })).status).toBe(200);
    // A hop that is no address leaves the client unknown, which no allow-list admits.
    const garbage = await chat("::1", KEYS.office, { "x-forwarded-for": "not-an-address" });
    expect(garbage.json.error?.code).toBe("ip_not_allowed");
    expect(garbage.json.error?.message).toContain("unknown client address");
  });

  it("applies every ancestor's list: a sub-account admits only what both allow", async () => {
    expect((await chat("::1", KEYS.inherits, { "x-forwarded-for": "10.1.2.3" })).status).toBe(200);
    // Inside the parent's 10.0.0.0/8 but outside the child's own 10.1.0.0/16.
    expect((await chat("::1", KEYS.inherits, { "x-forwarded-for": "10.2.0.1" })).json.error?.code).toBe("ip_not_allowed");
    expect((await chat("::1", KEYS.inherits, { "x-forwarded-for": "2001:db8::7" })).json.error?.code).toBe("ip_not_allowed");
  });
});

describe("Responses over WebSocket", () => {
  /** One response.create turn on a connection opened from the given loopback; the turn's last frame. */
  function turn(from: "127.0.0.1" | "::1", key: string): Promise<{ type: string; error?: { code?: string } }> {
    const host = from === "::1" ? "[::1]" : from;
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(`ws://${host}:${stack.gw.port}/v1/responses`, { headers: { authorization: `Bearer ${key}` } });
      ws.once("error", reject);
      ws.once("open", () => ws.send(JSON.stringify({ type: "response.create", model: "gpt-5", input: "hi" })));
      ws.on("message", (data: Buffer) => {
        const ev = JSON.parse(data.toString("utf8")) as { type: string; error?: { code?: string } };
        if (["response.completed", "response.failed", "error"].includes(ev.type)) {
          ws.close();
          resolve(ev);
        }
      });
    });
  }

  it("judges every turn by the address the connection came from", async () => {
    expect((await turn("::1", KEYS.v6)).type).toBe("response.completed");
    expect(await turn("127.0.0.1", KEYS.v6)).toMatchObject({ type: "error", error: { code: "ip_not_allowed" } });
  });
});

describe("origins", () => {
  it("admits a listed origin and a request without Origin, and refuses any other browser origin", async () => {
    expect((await chat("127.0.0.1", KEYS.web, { origin: "https://app.example.com" })).status).toBe(200);
    expect((await chat("127.0.0.1", KEYS.web, { origin: "http://localhost:3000" })).status).toBe(200);
    // Not a browser: no Origin header.
    expect((await chat("127.0.0.1", KEYS.web)).status).toBe(200);
    const refused = await chat("127.0.0.1", KEYS.web, { origin: "https://evil.example" });
    expect(refused.status).toBe(403);
    expect(refused.json.error).toMatchObject({ code: "origin_not_allowed" });
    // The same host on another port or scheme is another origin.
    expect((await chat("127.0.0.1", KEYS.web, { origin: "http://app.example.com" })).json.error?.code).toBe("origin_not_allowed");
    expect((await chat("127.0.0.1", KEYS.web, { origin: "null" })).json.error?.code).toBe("origin_not_allowed");
    const anthropic = await messages("127.0.0.1", KEYS.web, { origin: "https://evil.example" });
    expect(anthropic).toMatchObject({ status: 403, json: { type: "error", error: { type: "permission_error" } } });
  });

  it("does not restrict accounts that list no origins", async () => {
    expect((await chat("127.0.0.1", KEYS.v4, { origin: "https://anything.example" })).status).toBe(200);
  });
});

describe("deny_models", () => {
  it("refuses a denied model with model_not_allowed, naming the account, and serves the others", async () => {
    const refused = await chat("127.0.0.1", KEYS.deny, {}, "gpt-4o-mini");
    expect(refused.status).toBe(403);
    expect(refused.json.error).toMatchObject({ code: "model_not_allowed" });
    expect(refused.json.error?.message).toBe("Model 'gpt-4o-mini' is denied by account 'no-mini'.");
    expect((await chat("127.0.0.1", KEYS.deny, {}, "gpt-4o")).status).toBe(200);
    expect(stack.mock.requests).toHaveLength(1);
  });
});
