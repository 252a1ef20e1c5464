import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { ANTHROPIC_ERROR_TYPES } from "./anthropic.js";
import { startMockUpstream } from "./server.js";
import { assertAnthropicStream, parseSse, type ParsedEvent } from "./stream-order.js";
import { ANTHROPIC_HEADERS, rawRequest } from "./testing.js";
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
const TOOLS = [
  { name: "Bash", input_schema: { type: "object", properties: { command: { type: "string" }, timeout: { type: "number" } }, required: ["command"] } },
  { type: "web_search_20250305", name: "web_search", max_uses: 3 },
];

function messages(body: Rec, headers: Record<string, string> = ANTHROPIC_HEADERS, path = "/v1/messages") {
  return rawRequest(mock.url, path, { headers, body: { model: "claude-opus-4-8", max_tokens: 1024, ...body } });
}
const user = (text: string) => [{ role: "user", content: text }];
const ofType = (events: ParsedEvent[], type: string) => events.filter((e) => e.json?.type === type).map((e) => e.json as Rec);

describe("Anthropic Messages: non-stream", () => {
  it("returns a message with a text block, end_turn and usage that excludes cache tokens", async () => {
    const r = await messages({ messages: user("Hello") });
    expect(r.status).toBe(200);
    expect(typeof r.headers["request-id"]).toBe("string");
    const j = r.json() as Rec;
    expect(j).toMatchObject({ type: "message", role: "assistant", model: "claude-opus-4-8", stop_reason: "end_turn", stop_sequence: null });
    expect(j.content).toEqual([
      { type: "text", text: "Hello from mock anthropic-messages (model claude-opus-4-8). You said: “Hello”. Ünïcödé check: café ✓ 🚀" },
    ]);
    expect(j.usage).toMatchObject({ cache_creation_input_tokens: 0, cache_read_input_tokens: 0, service_tier: "standard" });
  });

  it("accepts ?beta=true and Authorization: Bearer instead of x-api-key", async () => {
    const { "x-api-key": _k, ...noKey } = ANTHROPIC_HEADERS;
    const r = await messages({ messages: user("hi") }, { ...noKey, authorization: "Bearer oauth-token" }, "/v1/messages?beta=true");
    expect(r.status).toBe(200);
    expect(mock.requests[0]?.url).toBe("/v1/messages?beta=true");
  });

  it("calls the first custom tool (server tools are skipped) with schema-valid input", async () => {
    const j = (await messages({ tools: TOOLS, messages: user("[[mock:tool_call]]") })).json() as { content: Rec[]; stop_reason: string };
    expect(j.stop_reason).toBe("tool_use");
    expect(j.content).toHaveLength(1);
    expect(j.content[0]).toMatchObject({ type: "tool_use", name: "Bash", input: { command: "mock" } });
    expect(String(j.content[0]?.id)).toMatch(/^toolu_[A-Za-z0-9_-]+$/);
    const twoTools = [TOOLS[0], { name: "Read", input_schema: { type: "object", properties: { path: { type: "string" } }, required: ["path"] } }];
    const both = (await messages({ tools: twoTools, messages: user("[[mock:parallel_tools]]") })).json() as { content: Rec[] };
    expect(both.content.map((b) => b.name)).toEqual(["Bash", "Read"]);
    const one = (
      await messages({ tools: twoTools, tool_choice: { type: "auto", disable_parallel_tool_use: true }, messages: user("[[mock:parallel_tools]]") })
    ).json() as { content: Rec[] };
    expect(one.content).toHaveLength(1);
  });

  it("adds a thinking block only when thinking is enabled", async () => {
    const on = (await messages({ thinking: { type: "enabled", budget_tokens: 2048 }, max_tokens: 4096, messages: user("[[mock:reasoning]]") })).json() as {
      content: Rec[];
    };
    expect(on.content.map((b) => b.type)).toEqual(["thinking", "text"]);
    expect(String(on.content[0]?.signature)).not.toMatch(/^gAAAA/);
    const off = (await messages({ messages: user("[[mock:reasoning]]") })).json() as { content: Rec[] };
    expect(off.content.map((b) => b.type)).toEqual(["text"]);
  });

  it("with thinking enabled, refuses a tool loop whose last assistant message does not start with its thinking, as the real API does", async () => {
    const call = { type: "tool_use", id: "toolu_1", name: "Bash", input: { command: "ls" } };
    const loop = (assistant: Rec[]) => [
      { role: "user", content: "list the files" },
      { role: "assistant", content: assistant },
      { role: "user", content: [{ type: "tool_result", tool_use_id: "toolu_1", content: "a.txt" }] },
    ];
    {
      const thinking = { type: "enabled", budget_tokens: 2048 };
      const refused = await messages({ thinking, max_tokens: 4096, tools: TOOLS, messages: loop([call]) });
      expect(refused.status).toBe(400);
      expect(refused.json()).toMatchObject({ type: "error", error: { type: "invalid_request_error" } });
      expect((refused.json() as { error: { message: string } }).error.message).toMatch(
        /^messages\.1\.content\.0\.type: Expected `thinking` or `redacted_thinking`, but found `tool_use`\. When `thinking` is enabled/,
      );
      const replayed = loop([{ type: "thinking", thinking: "", signature: "sig" }, call]);
      expect((await messages({ thinking, max_tokens: 4096, tools: TOOLS, messages: replayed })).status).toBe(200);
      const redacted = loop([{ type: "redacted_thinking", data: "opaque" }, call]);
      expect((await messages({ thinking, max_tokens: 4096, tools: TOOLS, messages: redacted })).status).toBe(200);
    }
    // Without thinking, with adaptive thinking (the model may not have thought), or once the loop
    // is over (a new user question), nothing is required.
    expect((await messages({ tools: TOOLS, messages: loop([call]) })).status).toBe(200);
    expect((await messages({ thinking: { type: "adaptive" }, tools: TOOLS, messages: loop([call]) })).status).toBe(200);
    const over = [...loop([call]), { role: "assistant", content: "a.txt" }, { role: "user", content: "thanks" }];
    expect((await messages({ thinking: { type: "enabled", budget_tokens: 2048 }, max_tokens: 4096, tools: TOOLS, messages: over })).status).toBe(200);
  });

  it("stops with max_tokens when truncated", async () => {
    expect(((await messages({ messages: user("[[mock:max_tokens]]") })).json() as Rec).stop_reason).toBe("max_tokens");
    const small = (await messages({ max_tokens: 2, messages: user("hi") })).json() as { stop_reason: string; usage: Rec };
    expect(small.stop_reason).toBe("max_tokens");
    expect(small.usage.output_tokens).toBe(2);
  });

  it("reports [[mock:cached=N,cache_write=M]] as cache reads and writes outside input_tokens", async () => {
    const u = ((await messages({ messages: user("[[mock:cached=5,cache_write=7]]") })).json() as { usage: Rec }).usage;
    expect(u).toMatchObject({ cache_read_input_tokens: 5, cache_creation_input_tokens: 7, cache_creation: { ephemeral_5m_input_tokens: 7 } });
  });

  it("reports thinking tokens (part of output_tokens) only when the answer has a thinking block", async () => {
    const thinking = { type: "adaptive" };
    const withThinking = ((await messages({ thinking, messages: user("[[mock:reasoning]]") })).json() as { usage: Rec }).usage;
    const details = withThinking.output_tokens_details as { thinking_tokens: number };
    expect(details.thinking_tokens).toBeGreaterThan(0);
    expect(details.thinking_tokens).toBeLessThan(withThinking.output_tokens as number);
    expect(((await messages({ messages: user("[[mock:reasoning]]") })).json() as { usage: Rec }).usage).not.toHaveProperty("output_tokens_details");
    const events = parseSse((await messages({ thinking, stream: true, messages: user("[[mock:reasoning]]") })).body);
    expect(((ofType(events, "message_start")[0]?.message as Rec).usage as Rec).output_tokens_details).toBeUndefined();
    expect((ofType(events, "message_delta")[0]?.usage as Rec).output_tokens_details).toEqual(details);
  });

  it("writes then reads the prompt cache for cache_control prefixes; input_tokens excludes both", async () => {
    const body = {
      system: [{ type: "text", text: "You are a careful assistant. ".repeat(40), cache_control: { type: "ephemeral" } }],
      messages: user("first question"),
    };
    const a = ((await messages(body)).json() as { usage: Record<string, number> }).usage;
    const b = ((await messages(body)).json() as { usage: Record<string, number> }).usage;
    const total = Math.ceil(Buffer.byteLength(JSON.stringify({ model: "claude-opus-4-8", max_tokens: 1024, ...body })) / 4);
    expect(a.cache_creation_input_tokens).toBeGreaterThan(0);
    expect(a.cache_read_input_tokens).toBe(0);
    expect(b.cache_read_input_tokens).toBe(a.cache_creation_input_tokens);
    expect(b.cache_creation_input_tokens).toBe(0);
    for (const u of [a, b]) {
      expect((u.input_tokens ?? 0) + (u.cache_read_input_tokens ?? 0) + (u.cache_creation_input_tokens ?? 0)).toBe(total);
      expect(u.input_tokens).toBeGreaterThan(0);
    }
  });

  it("counts tokens deterministically", async () => {
    const body = { model: "claude-opus-4-8", messages: user("count me") };
    const r = await rawRequest(mock.url, "/v1/messages/count_tokens?beta=true", { headers: ANTHROPIC_HEADERS, body });
    expect(r.status).toBe(200);
    expect(r.json()).toEqual({ input_tokens: Math.ceil(Buffer.byteLength(JSON.stringify(body)) / 4) });
  });
});

describe("Anthropic Messages: errors", () => {
  it("requires max_tokens (400 invalid_request_error with request_id)", async () => {
    const r = await rawRequest(mock.url, "/v1/messages", { headers: ANTHROPIC_HEADERS, body: { model: "c", messages: user("x") } });
    expect(r.status).toBe(400);
    const j = r.json() as Rec;
    expect(j).toMatchObject({ type: "error", error: { type: "invalid_request_error", message: "max_tokens: Field required" } });
    expect(String(j.request_id)).toMatch(/^req_/);
  });

  it("requires a key (401) and anthropic-version (400)", async () => {
    const { "x-api-key": _k, ...noKey } = ANTHROPIC_HEADERS;
    const r401 = await messages({ messages: user("x") }, noKey);
    expect(r401.status).toBe(401);
    expect((r401.json() as { error: Rec }).error.type).toBe("authentication_error");
    const { "anthropic-version": _v, ...noVersion } = ANTHROPIC_HEADERS;
    expect((await messages({ messages: user("x") }, noVersion)).status).toBe(400);
  });

  it.each(Object.entries(ANTHROPIC_ERROR_TYPES))("maps status %s to %s", async (status, type) => {
    const r = await messages({ messages: user(`[[mock:error=${status}]]`) });
    expect(r.status).toBe(Number(status));
    expect(r.json()).toMatchObject({ type: "error", error: { type } });
  });

  it("rejects budget_tokens >= max_tokens", async () => {
    const r = await messages({ max_tokens: 2000, thinking: { type: "enabled", budget_tokens: 2000 }, messages: user("x") });
    expect(r.status).toBe(400);
  });
});

describe("Anthropic Messages: stream", () => {
  it("streams message_start, ping, text block, message_delta, message_stop", async () => {
    const r = await messages({ stream: true, messages: user("Hi") });
    expect(r.headers["content-type"]).toBe("text/event-stream; charset=utf-8");
    for (const frame of r.text().split("\n\n").filter(Boolean)) expect(frame).toMatch(/^event: [a-z_]+\ndata: [^\n]+$/);
    const events = parseSse(r.body);
    const kinds = assertAnthropicStream(events);
    const n = kinds.filter((k) => k === "content_block_delta").length;
    expect(kinds).toEqual([
      "message_start",
      "content_block_start",
      "ping",
      ...Array<string>(n).fill("content_block_delta"),
      "content_block_stop",
      "message_delta",
      "message_stop",
    ]);
    const text = ofType(events, "content_block_delta")
      .map((d) => (d.delta as Rec).text)
      .join("");
    expect(text).toContain("(model claude-opus-4-8). You said: “Hi”.");
    const start = (ofType(events, "message_start")[0]?.message as Rec).usage as Rec;
    const final = ofType(events, "message_delta")[0] as { delta: Rec; usage: Rec };
    expect(final.delta).toEqual({ stop_reason: "end_turn", stop_sequence: null });
    expect(final.usage.input_tokens).toBe(start.input_tokens);
    expect(final.usage.output_tokens).toBeGreaterThan(1);
  });

  it("streams thinking (thinking_delta then signature_delta) and tool_use (input_json_delta)", async () => {
    const body = { stream: true, thinking: { type: "adaptive" }, tools: TOOLS, messages: user("[[mock:reasoning,tool_call]]") };
    const events = parseSse((await messages(body)).body);
    assertAnthropicStream(events);
    const starts = ofType(events, "content_block_start").map((e) => (e.content_block as Rec).type);
    expect(starts).toEqual(["thinking", "tool_use"]);
    const block0 = ofType(events, "content_block_delta")
      .filter((d) => d.index === 0)
      .map((d) => (d.delta as Rec).type);
    expect(block0[block0.length - 1]).toBe("signature_delta");
    expect(block0.slice(0, -1).every((t) => t === "thinking_delta")).toBe(true);
    const json = ofType(events, "content_block_delta")
      .filter((d) => d.index === 1)
      .map((d) => (d.delta as Rec).partial_json);
    expect(json[0]).toBe("");
    expect(JSON.parse(json.join(""))).toEqual({ command: "mock" });
    expect((ofType(events, "message_delta")[0]?.delta as Rec).stop_reason).toBe("tool_use");
  });

  it("sends event: error (overloaded_error) inside a 200 stream on [[mock:stream_error]]", async () => {
    const r = await messages({ stream: true, messages: user("[[mock:stream_error]]") });
    expect(r.status).toBe(200);
    const events = parseSse(r.body);
    const kinds = assertAnthropicStream(events);
    expect(kinds[kinds.length - 1]).toBe("error");
    expect(kinds).not.toContain("message_stop");
    expect(events[events.length - 1]?.json).toEqual({ type: "error", error: { type: "overloaded_error", message: "Overloaded" } });
  });

  it("cuts the connection after N events", async () => {
    const r = await messages({ stream: true, messages: user("[[mock:reset_after=2]]") });
    expect(r.complete).toBe(false);
    expect(parseSse(r.body).map((e) => e.event)).toEqual(["message_start", "content_block_start"]);
  });

  it("reports stop_reason max_tokens in message_delta when truncated", async () => {
    const events = parseSse((await messages({ stream: true, messages: user("[[mock:max_tokens]]") })).body);
    assertAnthropicStream(events);
    expect((ofType(events, "message_delta")[0]?.delta as Rec).stop_reason).toBe("max_tokens");
  });
});
