import { Agent, request } from "node:http";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { startMockUpstream } from "./server.js";
import { assertChatStream, parseSse } from "./stream-order.js";
import { ANTHROPIC_HEADERS, OPENAI_HEADERS, rawRequest } from "./testing.js";
import type { MockUpstream } from "./types.js";

let mock: MockUpstream;
beforeAll(async () => {
  mock = await startMockUpstream();
});
afterAll(() => mock.close());
beforeEach(() => {
  mock.reset();
  mock.clear();
});

type Rec = Record<string, unknown>;
const chatBody = (content: string, extra: Rec = {}) => ({ model: "gpt-4o", messages: [{ role: "user", content }], ...extra });
const chat = (content: string, headers: Record<string, string> = {}, extra: Rec = {}) =>
  rawRequest(mock.url, "/v1/chat/completions?trace=1", { headers: { ...OPENAI_HEADERS, ...headers }, body: chatBody(content, extra) });
const contentOf = (r: { json(): unknown }) => (r.json() as { choices: Array<{ message: { content: string } }> }).choices[0]?.message.content ?? "";

describe("server: lifecycle and recording", () => {
  it("exposes url and port on 127.0.0.1", () => {
    expect(mock.url).toBe(`http://127.0.0.1:${mock.port}`);
  });

  it("records method, path+query, lower-cased headers, raw body and parsed json", async () => {
    await chat("héllo", { "X-Custom-Header": "A" });
    const rec = mock.requests[0];
    expect(rec?.method).toBe("POST");
    expect(rec?.url).toBe("/v1/chat/completions?trace=1");
    expect(rec?.path).toBe("/v1/chat/completions");
    expect(rec?.headers["x-custom-header"]).toBe("A");
    expect(rec?.body.equals(Buffer.from(JSON.stringify(chatBody("héllo"))))).toBe(true);
    expect(rec?.json).toEqual(chatBody("héllo"));
    mock.clear();
    expect(mock.requests).toHaveLength(0);
  });

  it("keeps only maxRecorded requests", async () => {
    const small = await startMockUpstream({ maxRecorded: 2 });
    try {
      for (const t of ["a", "b", "c"]) await rawRequest(small.url, "/v1/chat/completions", { headers: OPENAI_HEADERS, body: chatBody(t) });
      expect(small.requests.map((r) => (r.json as { messages: Array<{ content: string }> }).messages[0]?.content)).toEqual(["b", "c"]);
    } finally {
      await small.close();
    }
  });

  it("reuses keep-alive connections", async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const once = () =>
      new Promise<boolean>((resolve, reject) => {
        const req = request(`${mock.url}/v1/models`, { agent, headers: OPENAI_HEADERS }, (res) => {
          res.resume();
          res.on("end", () => resolve(req.reusedSocket));
        });
        req.on("error", reject);
        req.end();
      });
    expect(await once()).toBe(false);
    expect(await once()).toBe(true);
    agent.destroy();
  });

  it("answers HEAD / (Claude Code pre-connect), GET /v1/models in both shapes, and 404s", async () => {
    expect((await rawRequest(mock.url, "/", { method: "HEAD" })).status).toBe(200);
    const oa = (await rawRequest(mock.url, "/v1/models", { headers: OPENAI_HEADERS })).json() as { object: string; data: Rec[] };
    expect(oa.object).toBe("list");
    expect(oa.data[0]).toMatchObject({ object: "model", owned_by: "openai" });
    const an = (await rawRequest(mock.url, "/v1/models", { headers: ANTHROPIC_HEADERS })).json() as { data: Rec[]; has_more: boolean };
    expect(an.data[0]).toMatchObject({ type: "model" });
    expect(an.has_more).toBe(false);
    const nf = await rawRequest(mock.url, "/v1/nope", { headers: OPENAI_HEADERS, body: {} });
    expect(nf.status).toBe(404);
    expect((nf.json() as { error: Rec }).error.message).toBe("Invalid URL (POST /v1/nope)");
  });
});

describe("server: scripting", () => {
  it("sends a canned status and body", async () => {
    mock.script({ status: 418, body: { custom: true }, headers: { "x-extra": "1" } });
    const r = await chat("x");
    expect(r.status).toBe(418);
    expect(r.headers["x-extra"]).toBe("1");
    expect(r.json()).toEqual({ custom: true });
  });

  it("turns a status-only rule into a protocol-shaped error", async () => {
    mock.script({ status: 503 });
    expect(((await chat("x")).json() as { error: Rec }).error.type).toBe("server_error");
    const an = await rawRequest(mock.url, "/v1/messages", { headers: ANTHROPIC_HEADERS, body: { model: "c", max_tokens: 5, messages: [] } });
    expect(an.status).toBe(503);
    expect(an.json()).toMatchObject({ type: "error", error: { type: "api_error" } });
  });

  it("applies match and times, then falls back to the default behaviour", async () => {
    mock.script({ match: (req) => req.headers["x-tenant"] === "t1", scenario: { text: "scripted" }, times: 2 });
    expect(contentOf(await chat("x", { "x-tenant": "t2" }))).toContain("Hello from mock");
    expect(contentOf(await chat("x", { "x-tenant": "t1" }))).toBe("scripted");
    expect(contentOf(await chat("x", { "x-tenant": "t1" }))).toBe("scripted");
    expect(contentOf(await chat("x", { "x-tenant": "t1" }))).toContain("Hello from mock");
  });

  it("ranks script rule over x-mock-scenario header over message directives", async () => {
    expect(contentOf(await chat("[[mock:text=from text]]"))).toBe("from text");
    expect(contentOf(await chat("[[mock:text=from text]]", { "x-mock-scenario": "text=from header, still header" }))).toBe("from header, still header");
    mock.script({ scenario: "text=from rule" });
    expect(contentOf(await chat("[[mock:text=from text]]", { "x-mock-scenario": "text=from header" }))).toBe("from rule");
    mock.reset();
    expect(contentOf(await chat("[[mock:text=from text]]"))).toBe("from text");
  });

  it("delays the response head by delayMs / [[mock:delay]]", async () => {
    mock.script({ delayMs: 120, times: 1 });
    let t = Date.now();
    await chat("x");
    expect(Date.now() - t).toBeGreaterThanOrEqual(110);
    t = Date.now();
    await chat("[[mock:delay=120]]");
    expect(Date.now() - t).toBeGreaterThanOrEqual(110);
  });

  it("paces stream events with chunk_delay", async () => {
    const t = Date.now();
    const r = await chat("[[mock:chunk_delay=15]]", {}, { stream: true });
    const frames = parseSse(r.body).length;
    expect(Date.now() - t).toBeGreaterThanOrEqual((frames - 1) * 15 - 10);
  });

  it("rejects unknown directives loudly", async () => {
    const r = await chat("[[mock:tool_cal]]");
    expect(r.status).toBe(400);
    expect((r.json() as { error: Rec }).error.message).toBe("Unknown mock directive: tool_cal");
  });
});

describe("server: byte_split", () => {
  it("splits frames inside multi-byte characters and the stream still decodes", async () => {
    const r = await chat("[[mock:byte_split]] ünïcode", {}, { stream: true });
    const splitInsideChar = r.chunks.some((c) => {
      const last = c[c.length - 1];
      return last !== undefined && last >= 0xc0;
    });
    expect(splitInsideChar).toBe(true);
    const events = parseSse(r.body);
    assertChatStream(events);
    const text = events.map((e) => ((e.json?.choices as Array<{ delta: Rec }> | undefined)?.[0]?.delta.content as string | undefined) ?? "").join("");
    expect(text).toContain("Ünïcödé check: café ✓ 🚀");
  });
});
