import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { startMockUpstream } from "./server.js";
import { assertChatStream, parseSse } from "./stream-order.js";
import { OPENAI_HEADERS, rawRequest } from "./testing.js";
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

const TOOLS = [
  {
    type: "function",
    function: {
      name: "get_weather",
      parameters: { type: "object", properties: { city: { type: "string" }, days: { type: "integer" } }, required: ["city", "days"] },
    },
  },
  { type: "function", function: { name: "get_time", parameters: { type: "object", properties: { tz: { type: "string", enum: ["UTC", "CET"] } } } } },
];

function chat(body: Record<string, unknown>, headers: Record<string, string> = {}) {
  return rawRequest(mock.url, "/v1/chat/completions", { headers: { ...OPENAI_HEADERS, ...headers }, body: { model: "gpt-4o", ...body } });
}
const user = (content: string) => [{ role: "user", content }];

type Rec = Record<string, unknown>;
const choice0 = (c: Rec | undefined): Rec => ((c?.choices as Rec[] | undefined)?.[0] ?? {}) as Rec;
const deltaOf = (c: Rec | undefined): Rec => (choice0(c).delta ?? {}) as Rec;

describe("OpenAI Chat: non-stream", () => {
  it("answers a deterministic text that echoes the request, with OpenAI usage", async () => {
    const body = { messages: user("What is up?") };
    const r = await chat(body);
    expect(r.status).toBe(200);
    expect(r.headers["content-type"]).toBe("application/json");
    const j = r.json() as Rec;
    expect(j.object).toBe("chat.completion");
    const c = choice0(j);
    const msg = c.message as Rec;
    expect(msg.role).toBe("assistant");
    expect(msg.content).toBe("Hello from mock openai-chat (model gpt-4o). You said: “What is up?”. Ünïcödé check: café ✓ 🚀");
    expect(c.finish_reason).toBe("stop");
    const usage = j.usage as Rec;
    expect(usage.prompt_tokens).toBe(Math.ceil(Buffer.byteLength(JSON.stringify({ model: "gpt-4o", ...body })) / 4));
    expect(usage.total_tokens).toBe((usage.prompt_tokens as number) + (usage.completion_tokens as number));
    expect(usage.prompt_tokens_details).toEqual({ cached_tokens: 0, audio_tokens: 0 });
  });

  it("calls two tools in parallel with distinct ids and schema-valid arguments", async () => {
    const r = await chat({ messages: user("[[mock:parallel_tools]] weather and time"), tools: TOOLS });
    const c = choice0(r.json() as Rec);
    expect(c.finish_reason).toBe("tool_calls");
    const calls = (c.message as Rec).tool_calls as Array<{ id: string; type: string; function: { name: string; arguments: string } }>;
    expect(calls.map((x) => x.function.name)).toEqual(["get_weather", "get_time"]);
    expect(new Set(calls.map((x) => x.id)).size).toBe(2);
    expect(JSON.parse(calls[0]?.function.arguments ?? "")).toEqual({ city: "mock", days: 1 });
    expect(JSON.parse(calls[1]?.function.arguments ?? "")).toEqual({ tz: "UTC" });
    expect((c.message as Rec).content).toBeNull();
    const single = choice0((await chat({ messages: user("[[mock:parallel_tools]]"), tools: TOOLS, parallel_tool_calls: false })).json() as Rec);
    expect(((single.message as Rec).tool_calls as unknown[]).length).toBe(1);
  });

  it("honours tool_choice: required forces a call, none forbids one", async () => {
    const forced = choice0((await chat({ messages: user("hi"), tools: TOOLS, tool_choice: "required" })).json() as Rec);
    expect(forced.finish_reason).toBe("tool_calls");
    const named = choice0(
      (await chat({ messages: user("hi"), tools: TOOLS, tool_choice: { type: "function", function: { name: "get_time" } } })).json() as Rec,
    );
    expect(((named.message as Rec).tool_calls as Array<{ function: { name: string } }>)[0]?.function.name).toBe("get_time");
    const none = choice0((await chat({ messages: user("[[mock:tool_call]]"), tools: TOOLS, tool_choice: "none" })).json() as Rec);
    expect(none.finish_reason).toBe("stop");
  });

  it("answers with text once the conversation ends with a tool result", async () => {
    const messages = [
      { role: "user", content: "[[mock:tool_call]] weather?" },
      { role: "assistant", content: null, tool_calls: [{ id: "call_1", type: "function", function: { name: "get_weather", arguments: "{}" } }] },
      { role: "tool", tool_call_id: "call_1", content: "sunny" },
    ];
    const c = choice0((await chat({ messages, tools: TOOLS })).json() as Rec);
    expect(c.finish_reason).toBe("stop");
    expect(typeof (c.message as Rec).content).toBe("string");
  });

  it("reports reasoning as reasoning_content and reasoning_tokens inside completion_tokens", async () => {
    const j = (await chat({ messages: user("[[mock:reasoning]] think") })).json() as Rec;
    expect(typeof (choice0(j).message as Rec).reasoning_content).toBe("string");
    const u = j.usage as { completion_tokens: number; completion_tokens_details: { reasoning_tokens: number } };
    expect(u.completion_tokens_details.reasoning_tokens).toBeGreaterThan(0);
    expect(u.completion_tokens).toBeGreaterThan(u.completion_tokens_details.reasoning_tokens);
  });

  it("truncates with finish_reason length on [[mock:max_tokens]] and on a small max_completion_tokens", async () => {
    expect(choice0((await chat({ messages: user("[[mock:max_tokens]]") })).json() as Rec).finish_reason).toBe("length");
    const j = (await chat({ messages: user("hello there"), max_completion_tokens: 3 })).json() as Rec;
    expect(choice0(j).finish_reason).toBe("length");
    expect((j.usage as Rec).completion_tokens).toBe(3);
  });

  it("reports cached tokens when the same prompt_cache_key comes back", async () => {
    const body = { messages: user("cache me please"), prompt_cache_key: "conv-1" };
    const first = (await chat(body)).json() as { usage: { prompt_tokens: number; prompt_tokens_details: { cached_tokens: number } } };
    const second = (await chat(body)).json() as typeof first;
    expect(first.usage.prompt_tokens_details.cached_tokens).toBe(0);
    expect(second.usage.prompt_tokens_details.cached_tokens).toBe(second.usage.prompt_tokens);
    const forced = (await chat({ messages: user("[[mock:cached=5]]") })).json() as typeof first;
    expect(forced.usage.prompt_tokens_details.cached_tokens).toBe(5);
    expect(forced.usage.prompt_tokens_details).not.toHaveProperty("cache_write_tokens");
  });

  it("reports cache writes inside prompt_tokens on [[mock:cache_write=N]], in the stream's usage chunk too", async () => {
    const j = (await chat({ messages: user("[[mock:cached=5,cache_write=7]]") })).json() as { usage: Rec };
    expect(j.usage.prompt_tokens_details).toEqual({ cached_tokens: 5, cache_write_tokens: 7, audio_tokens: 0 });
    expect(j.usage.prompt_tokens).toBeGreaterThanOrEqual(12);
    const body = { messages: user("[[mock:cache_write=7]]"), stream: true, stream_options: { include_usage: true } };
    const chunks = parseSse((await chat(body)).body).filter((e) => e.json?.usage);
    expect(chunks.map((e) => ((e.json as { usage: Rec }).usage.prompt_tokens_details as Rec).cache_write_tokens)).toEqual([7]);
  });
});

describe("OpenAI Chat: errors", () => {
  it("renders [[mock:error=429]] in the OpenAI envelope with retry-after", async () => {
    const r = await chat({ messages: user("[[mock:error=429]] [[mock:retry_after=2]]") });
    expect(r.status).toBe(429);
    expect(r.headers["retry-after"]).toBe("2");
    const e = (r.json() as { error: Rec }).error;
    expect(Object.keys(e).sort()).toEqual(["code", "message", "param", "type"]);
    expect(e.code).toBe("rate_limit_exceeded");
  });

  it("rejects a missing key, model and messages like api.openai.com", async () => {
    const noKey = await rawRequest(mock.url, "/v1/chat/completions", {
      headers: { "content-type": "application/json" },
      body: { model: "m", messages: user("x") },
    });
    expect(noKey.status).toBe(401);
    expect((noKey.json() as { error: Rec }).error.type).toBe("invalid_request_error");
    expect((await chat({ model: undefined, messages: user("x") })).status).toBe(400);
    const noMessages = (await chat({})).json() as { error: Rec };
    expect(noMessages.error).toMatchObject({ param: "messages", code: "missing_required_parameter" });
    const badOptions = await chat({ messages: user("x"), stream_options: { include_usage: true } });
    expect((badOptions.json() as { error: Rec }).error.param).toBe("stream_options");
  });

  it("answers invalid JSON with a 400 in the OpenAI envelope", async () => {
    const r = await rawRequest(mock.url, "/v1/chat/completions", { headers: OPENAI_HEADERS, body: "{not json" });
    expect(r.status).toBe(400);
    expect((r.json() as { error: Rec }).error.type).toBe("invalid_request_error");
  });
});

describe("OpenAI Chat: stream", () => {
  it("streams role, content deltas, finish, usage chunk and [DONE] with include_usage", async () => {
    const r = await chat({ stream: true, stream_options: { include_usage: true }, messages: user("Hi there") });
    expect(r.status).toBe(200);
    expect(r.headers["content-type"]).toBe("text/event-stream; charset=utf-8");
    const text = r.text();
    expect(text).not.toMatch(/^event:/m);
    expect(text.endsWith("data: [DONE]\n\n")).toBe(true);
    for (const frame of text.split("\n\n").filter(Boolean)) expect(frame).toMatch(/^data: [^\n]+$/);
    const events = parseSse(r.body);
    const kinds = assertChatStream(events);
    const contentCount = kinds.filter((k) => k === "content").length;
    expect(contentCount).toBeGreaterThan(3);
    expect(kinds).toEqual(["role", ...Array<string>(contentCount).fill("content"), "finish:stop", "usage", "[DONE]"]);
    const content = events
      .map((e) => deltaOf(e.json).content)
      .filter((c): c is string => typeof c === "string")
      .join("");
    expect(content).toBe("Hello from mock openai-chat (model gpt-4o). You said: “Hi there”. Ünïcödé check: café ✓ 🚀");
    for (const e of events.slice(0, -2)) expect(e.json?.usage).toBeNull();
    const usage = events[events.length - 2]?.json;
    expect(usage?.choices).toEqual([]);
    expect((usage?.usage as Rec).completion_tokens).toBeGreaterThan(0);
  });

  it("omits usage entirely without include_usage", async () => {
    const events = parseSse((await chat({ stream: true, messages: user("x") })).body);
    const kinds = assertChatStream(events);
    expect(kinds).not.toContain("usage");
    for (const e of events) if (e.json) expect("usage" in e.json).toBe(false);
  });

  it("streams a tool call: id and name first, arguments in fragments", async () => {
    const events = parseSse((await chat({ stream: true, messages: user("[[mock:tool_call]]"), tools: TOOLS })).body);
    const kinds = assertChatStream(events);
    expect(kinds).toEqual(["role", "tool_calls", "tool_calls", "tool_calls", "tool_calls", "finish:tool_calls", "[DONE]"]);
    const frags = events.flatMap((e) => (deltaOf(e.json).tool_calls as Rec[] | undefined) ?? []);
    expect(frags[0]).toMatchObject({ index: 0, type: "function", function: { name: "get_weather", arguments: "" } });
    expect(typeof frags[0]?.id).toBe("string");
    for (const f of frags.slice(1)) expect(f.id).toBeUndefined();
    const args = frags.map((f) => (f.function as { arguments: string }).arguments).join("");
    expect(JSON.parse(args)).toEqual({ city: "mock", days: 1 });
  });

  it("streams reasoning_content before the content", async () => {
    const kinds = assertChatStream(parseSse((await chat({ stream: true, messages: user("[[mock:reasoning]]") })).body));
    expect(kinds.indexOf("reasoning")).toBe(1);
    expect(kinds.lastIndexOf("reasoning")).toBeLessThan(kinds.indexOf("content"));
  });

  it("ends with an error chunk and no [DONE] on [[mock:stream_error]]", async () => {
    const r = await chat({ stream: true, messages: user("[[mock:stream_error=server_overloaded]]") });
    expect(r.status).toBe(200);
    const events = parseSse(r.body);
    expect(assertChatStream(events)).toEqual(["role", "content", "content", "error"]);
    expect(events[events.length - 1]?.json).toMatchObject({ error: { type: "server_error", code: "server_overloaded" } });
  });

  it("cuts the connection after N events on [[mock:reset_after=3]]", async () => {
    const r = await chat({ stream: true, messages: user("[[mock:reset_after=3]]") });
    expect(r.status).toBe(200);
    expect(r.complete).toBe(false);
    expect(parseSse(r.body)).toHaveLength(3);
  });

  it("resets a non-stream request without any response", async () => {
    const r = await chat({ messages: user("[[mock:reset_after=1]]") });
    expect(r.status).toBe(0);
    expect(r.error).toBeDefined();
  });

  it("sends finish_reason length when truncated", async () => {
    const kinds = assertChatStream(parseSse((await chat({ stream: true, messages: user("[[mock:max_tokens]]") })).body));
    expect(kinds[kinds.length - 2]).toBe("finish:length");
  });
});
