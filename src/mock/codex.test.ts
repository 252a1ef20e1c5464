import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { CODEX_UNSUPPORTED } from "./codex.js";
import { startMockUpstream } from "./server.js";
import { assertResponsesStream, parseSse } from "./stream-order.js";
import { CODEX_HEADERS, rawRequest } from "./testing.js";
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
const PATH = "/backend-api/codex/responses";
const VALID = {
  model: "gpt-5-codex",
  instructions: "",
  input: [{ type: "message", role: "user", content: [{ type: "input_text", text: "hello" }] }],
  tools: [{ type: "function", name: "exec_command", parameters: { type: "object", properties: { cmd: { type: "string" } }, required: ["cmd"] } }],
  store: false,
  stream: true,
  include: ["reasoning.encrypted_content"],
  reasoning: { summary: "auto" },
  prompt_cache_key: "conv-codex",
};

function codex(body: Rec, headers: Record<string, string> = CODEX_HEADERS, path = PATH) {
  return rawRequest(mock.url, path, { headers, body });
}
async function detailOf(body: Rec): Promise<unknown> {
  const r = await codex(body);
  expect(r.status).toBe(400);
  return (r.json() as { detail: unknown }).detail;
}

describe("Codex backend: body-rule rejections (docs/protocols.md#codex-body-rules)", () => {
  it("requires store:false, given explicitly", async () => {
    expect(await detailOf({ ...VALID, store: true })).toBe("Store must be set to false");
    const { store: _store, ...noStore } = VALID;
    expect(await detailOf(noStore)).toBe("Store must be set to false");
  });

  it("requires stream:true", async () => {
    expect(await detailOf({ ...VALID, stream: false })).toBe("Stream must be set to true");
  });

  it("requires instructions as a string ('' is fine)", async () => {
    const { instructions: _i, ...noInstructions } = VALID;
    expect(await detailOf(noInstructions)).toBe("Instructions are required");
    expect(await detailOf({ ...VALID, instructions: ["x"] })).toBe("Instructions must be a string");
    expect((await codex({ ...VALID, instructions: "" })).status).toBe(200);
  });

  it.each(CODEX_UNSUPPORTED.map((p) => [p]))("rejects %s with Unsupported parameter", async (param) => {
    expect(await detailOf({ ...VALID, [param]: param === "user" ? "u" : 1 })).toBe(`Unsupported parameter: ${param}`);
  });

  it("accepts service_tier priority only", async () => {
    expect((await codex({ ...VALID, service_tier: "priority" })).status).toBe(200);
    expect(await detailOf({ ...VALID, service_tier: "flex" })).toBe("Unsupported parameter: service_tier");
  });

  it("rejects prompt_cache_breakpoint inside content parts and a string input", async () => {
    const input = [{ type: "message", role: "user", content: [{ type: "input_text", text: "x", prompt_cache_breakpoint: { mode: "explicit" } }] }];
    expect(await detailOf({ ...VALID, input })).toBe("Unsupported parameter: prompt_cache_breakpoint");
    expect(await detailOf({ ...VALID, input: "hello" })).toBe("Input must be a list");
  });

  it("answers a body that is not JSON with a 400 detail, after the auth check", async () => {
    const r = await rawRequest(mock.url, PATH, { headers: CODEX_HEADERS, body: "{oops" });
    expect(r.status).toBe(400);
    expect(r.json()).toEqual({ detail: "We could not parse the JSON body of your request." });
    const { authorization: _a, ...noAuth } = CODEX_HEADERS;
    expect((await rawRequest(mock.url, PATH, { headers: noAuth, body: "{oops" })).status).toBe(401);
  });

  it("requires a Bearer token (401) and chatgpt-account-id (400)", async () => {
    const { authorization: _a, ...noAuth } = CODEX_HEADERS;
    const r401 = await codex(VALID, noAuth);
    expect(r401.status).toBe(401);
    expect(r401.json()).toHaveProperty("detail");
    const { "chatgpt-account-id": _c, ...noAccount } = CODEX_HEADERS;
    const r400 = await codex(VALID, noAccount);
    expect(r400.status).toBe(400);
    expect(r400.json()).toEqual({ detail: "Missing ChatGPT-Account-Id header" });
  });
});

describe("Codex backend: streams", () => {
  it("streams the Responses sequence and ends with response.completed whose output is empty", async () => {
    const r = await codex(VALID);
    expect(r.status).toBe(200);
    expect(r.headers["x-codex-primary-used-percent"]).toBe("12.5");
    const events = parseSse(r.body);
    const kinds = assertResponsesStream(events);
    expect(kinds[0]).toBe("response.created");
    expect(kinds[kinds.length - 1]).toBe("response.completed");
    const completed = events[events.length - 1]?.json?.response as Rec;
    expect(completed.output).toEqual([]);
    expect(completed.store).toBe(false);
    const done = events.filter((e) => e.json?.type === "response.output_item.done").map((e) => e.json?.item as Rec);
    expect(done.map((i) => i.type)).toEqual(["message"]);
  });

  it("also answers on /codex/responses, with reasoning + tool call items only on output_item.done", async () => {
    const body = { ...VALID, input: [{ role: "user", content: [{ type: "input_text", text: "[[mock:reasoning]] [[mock:tool_call]]" }] }] };
    const events = parseSse((await codex(body, CODEX_HEADERS, "/codex/responses")).body);
    assertResponsesStream(events);
    const done = events.filter((e) => e.json?.type === "response.output_item.done").map((e) => e.json?.item as Rec);
    expect(done.map((i) => i.type)).toEqual(["reasoning", "function_call"]);
    expect(String(done[0]?.encrypted_content)).toMatch(/^gAAAA/);
    expect((events[events.length - 1]?.json?.response as Rec).output).toEqual([]);
  });

  it("sends codex.rate_limits first on [[mock:rate_limits]], before sequence_number 0", async () => {
    const body = { ...VALID, input: [{ role: "user", content: [{ type: "input_text", text: "[[mock:rate_limits]]" }] }] };
    const events = parseSse((await codex(body)).body);
    const kinds = assertResponsesStream(events);
    expect(kinds.slice(0, 2)).toEqual(["codex.rate_limits", "response.created"]);
    expect(events[0]?.json).toMatchObject({ plan_type: "plus", rate_limits: { primary: { window_minutes: 300 } } });
    expect(events[1]?.json?.sequence_number).toBe(0);
  });

  it("answers a 429 as usage_limit_reached with rate-limit headers", async () => {
    const r = await codex(VALID, { ...CODEX_HEADERS, "x-mock-scenario": "error=429" });
    expect(r.status).toBe(429);
    expect(r.headers["x-codex-primary-used-percent"]).toBe("100.0");
    expect((r.json() as { error: Rec }).error).toMatchObject({ type: "usage_limit_reached", resets_in_seconds: 3600 });
  });

  it("fails inside the stream with response.failed", async () => {
    const events = parseSse((await codex(VALID, { ...CODEX_HEADERS, "x-mock-scenario": "stream_error=server_error" })).body);
    const kinds = assertResponsesStream(events);
    expect(kinds[kinds.length - 1]).toBe("response.failed");
  });
});

describe("Codex backend: models", () => {
  it("lists models and requires client_version", async () => {
    const ok = await rawRequest(mock.url, "/backend-api/codex/models?client_version=0.169.0", { headers: CODEX_HEADERS });
    expect(ok.status).toBe(200);
    const models = (ok.json() as { models: Array<{ slug: string }> }).models;
    expect(models.map((m) => m.slug)).toContain("gpt-5-codex");
    const missing = await rawRequest(mock.url, "/codex/models", { headers: CODEX_HEADERS });
    expect(missing.status).toBe(400);
  });
});
