import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import OpenAI from "openai";
import Anthropic from "@anthropic-ai/sdk";
import { ACME_KEY, eventually, startStack, type Stack } from "../testing/stack.js";

let stack: Stack;
let openai: OpenAI;
let anthropic: Anthropic;

beforeAll(async () => {
  stack = await startStack();
  openai = new OpenAI({ apiKey: ACME_KEY, baseURL: `${stack.gw.url}/v1`, maxRetries: 0 });
  anthropic = new Anthropic({ apiKey: ACME_KEY, baseURL: stack.gw.url, maxRetries: 0 });
});
afterAll(() => stack.close());
beforeEach(() => {
  stack.mock.clear();
  stack.mock.reset();
  stack.usage.length = 0;
});

const weatherTool = {
  type: "function" as const,
  function: {
    name: "get_weather",
    description: "Weather for a city",
    parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
  },
};

describe("OpenAI Chat → openai-chat upstream", () => {
  it("answers non-streaming through the official SDK, forwarding the body byte for byte", async () => {
    const res = await openai.chat.completions.create({ model: "gpt-4o", messages: [{ role: "user", content: "héllo" }] });
    expect(res.choices[0]!.message.content).toMatch(/mock/i);
    const seen = stack.mock.requests.at(-1)!;
    expect(seen.path).toBe("/v1/chat/completions");
    expect(seen.headers.authorization).toMatch(/^Bearer mock-chat-key-/);
    expect(seen.json).toEqual({ model: "gpt-4o", messages: [{ role: "user", content: "héllo" }] });
    expect(stack.usage.at(-1)).toMatchObject({ model: "gpt-4o", upstream: "chat", lane: "passthrough", status: 200 });
    expect(stack.usage.at(-1)!.usage.inputTokens).toBeGreaterThan(0);
  });

  it("streams through the official SDK and meters usage", async () => {
    const stream = await openai.chat.completions.create({
      model: "gpt-4o",
      messages: [{ role: "user", content: "stream please" }],
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = "";
    let usage: OpenAI.CompletionUsage | undefined | null;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? "";
      if (chunk.usage) usage = chunk.usage;
    }
    expect(text).toMatch(/mock/i);
    expect(usage?.completion_tokens).toBeGreaterThan(0);
    await eventually(() => stack.usage.length > 0);
    expect(stack.usage[0]!.usage.outputTokens).toBe(usage!.completion_tokens);
  });

  it("meters a stream whose client did not ask for usage, without showing it the usage chunk", async () => {
    const stream = await openai.chat.completions.create({ model: "gpt-4o", messages: [{ role: "user", content: "count me" }], stream: true });
    const chunks: OpenAI.ChatCompletionChunk[] = [];
    for await (const chunk of stream) chunks.push(chunk);
    expect(chunks.every((c) => c.choices.length === 1 && !c.usage)).toBe(true);
    // Not even `"usage": null`: OpenAI sends no usage member at all when the client did not ask.
    expect(chunks.filter((c) => "usage" in c)).toEqual([]);
    expect((stack.mock.requests.at(-1)!.json as { stream_options?: unknown }).stream_options).toEqual({ include_usage: true });
    await eventually(() => stack.usage.length > 0);
    expect(stack.usage[0]!.usage.outputTokens).toBeGreaterThan(0);
    expect(stack.usage[0]!.usage.inputTokens).toBeGreaterThan(0);
  });

  it("completes a tool-call round trip", async () => {
    const first = await openai.chat.completions.create({
      model: "gpt-4o",
      messages: [{ role: "user", content: "weather in Paris? [[mock:tool_call]]" }],
      tools: [weatherTool],
    });
    const call = first.choices[0]!.message.tool_calls?.[0];
    expect(first.choices[0]!.finish_reason).toBe("tool_calls");
    expect(call?.type === "function" && call.function.name).toBe("get_weather");
    const second = await openai.chat.completions.create({
      model: "gpt-4o",
      messages: [
        { role: "user", content: "weather in Paris? [[mock:tool_call]]" },
        first.choices[0]!.message,
        { role: "tool", tool_call_id: call!.id, content: "sunny" },
      ],
      tools: [weatherTool],
    });
    expect(second.choices[0]!.finish_reason).toBe("stop");
  });
});

describe("OpenAI Responses → openai-responses upstream", () => {
  it("answers non-streaming and streaming through the official SDK", async () => {
    const res = await openai.responses.create({ model: "gpt-5", input: "hello" });
    expect(res.output_text).toMatch(/mock/i);
    const stream = await openai.responses.create({ model: "gpt-5", input: "hello", stream: true });
    const types: string[] = [];
    let text = "";
    for await (const ev of stream) {
      types.push(ev.type);
      if (ev.type === "response.output_text.delta") text += ev.delta;
    }
    expect(types[0]).toBe("response.created");
    expect(types.at(-1)).toBe("response.completed");
    expect(text).toMatch(/mock/i);
  });

  it("adds a per-account prompt_cache_key and leaves every other byte alone", async () => {
    const body = '{"model":"gpt-5","input":"same session","stream":false,"x_unknown_field":{"kept":true}}';
    const res = await fetch(`${stack.gw.url}/v1/responses`, {
      method: "POST",
      headers: { authorization: `Bearer ${ACME_KEY}`, "content-type": "application/json" },
      body,
    });
    expect(res.status).toBe(200);
    const sent = stack.mock.requests.at(-1)!.body.toString();
    const key = (JSON.parse(sent) as { prompt_cache_key: string }).prompt_cache_key;
    expect(key).toMatch(/^[0-9a-f-]{36}$/);
    expect(sent).toBe(`{"prompt_cache_key":${JSON.stringify(key)},${body.slice(1)}`);
  });

  it("completes a tool-call round trip while streaming", async () => {
    const tools: OpenAI.Responses.Tool[] = [{ type: "function", name: "get_weather", parameters: weatherTool.function.parameters, strict: false }];
    const first = await openai.responses.create({ model: "gpt-5", input: "weather? [[mock:tool_call]]", tools });
    const call = first.output.find((o) => o.type === "function_call");
    expect(call?.type === "function_call" && call.name).toBe("get_weather");
    if (call?.type !== "function_call") throw new Error("no call");
    const stream = await openai.responses.create({
      model: "gpt-5",
      tools,
      stream: true,
      input: [
        { role: "user", content: "weather? [[mock:tool_call]]" },
        { type: "function_call", call_id: call.call_id, name: call.name, arguments: call.arguments },
        { type: "function_call_output", call_id: call.call_id, output: "sunny" },
      ],
    });
    let completed = false;
    for await (const ev of stream) if (ev.type === "response.completed") completed = true;
    expect(completed).toBe(true);
  });
});

describe("Anthropic Messages → anthropic upstream", () => {
  it("answers non-streaming and streaming through the official SDK", async () => {
    const msg = await anthropic.messages.create({ model: "claude-test-sonnet", max_tokens: 100, messages: [{ role: "user", content: "hi" }] });
    expect(msg.content[0]?.type).toBe("text");
    const stream = anthropic.messages.stream({ model: "claude-test-sonnet", max_tokens: 100, messages: [{ role: "user", content: "hi" }] });
    const final = await stream.finalMessage();
    expect(final.stop_reason).toBe("end_turn");
    expect(final.usage.output_tokens).toBeGreaterThan(0);
    const seen = stack.mock.requests.at(-1)!;
    expect(seen.headers["x-api-key"]).toBe("mock-anthropic-key-1");
    expect(seen.headers.authorization).toBeUndefined();
  });

  it("keeps the query string, beta and session headers, and drops client credentials and topology headers", async () => {
    const body = JSON.stringify({
      model: "claude-test-sonnet",
      max_tokens: 50,
      messages: [{ role: "user", content: "hi" }],
      context_management: { edits: [] },
    });
    const res = await fetch(`${stack.gw.url}/v1/messages?beta=true`, {
      method: "POST",
      headers: {
        "x-api-key": ACME_KEY,
        "anthropic-version": "2023-06-01",
        "anthropic-beta": "claude-code-20250219,interleaved-thinking-2025-05-14",
        "x-claude-code-session-id": "3f1e0e1c-1111-4222-8333-944445555666",
        "x-forwarded-for": "10.1.2.3",
        cookie: "secret=1",
        "content-type": "application/json",
      },
      body,
    });
    expect(res.status).toBe(200);
    const seen = stack.mock.requests.at(-1)!;
    expect(seen.url).toBe("/v1/messages?beta=true");
    expect(seen.headers["anthropic-beta"]).toBe("claude-code-20250219,interleaved-thinking-2025-05-14");
    expect(seen.headers["x-claude-code-session-id"]).toBe("3f1e0e1c-1111-4222-8333-944445555666");
    expect(seen.headers["x-forwarded-for"]).toBeUndefined();
    expect(seen.headers.cookie).toBeUndefined();
    expect(seen.headers["x-api-key"]).toBe("mock-anthropic-key-1");
    expect(seen.body.toString()).toBe(body);
  });

  it("completes a tool-use round trip", async () => {
    const tools: Anthropic.Tool[] = [{ name: "Bash", description: "run", input_schema: { type: "object", properties: { command: { type: "string" } } } }];
    const first = await anthropic.messages.create({
      model: "claude-test-sonnet",
      max_tokens: 200,
      tools,
      messages: [{ role: "user", content: "ls [[mock:tool_call]]" }],
    });
    expect(first.stop_reason).toBe("tool_use");
    const use = first.content.find((b) => b.type === "tool_use");
    if (use?.type !== "tool_use") throw new Error("no tool_use");
    const second = await anthropic.messages
      .stream({
        model: "claude-test-sonnet",
        max_tokens: 200,
        tools,
        messages: [
          { role: "user", content: "ls [[mock:tool_call]]" },
          { role: "assistant", content: first.content },
          { role: "user", content: [{ type: "tool_result", tool_use_id: use.id, content: "file.txt" }] },
        ],
      })
      .finalMessage();
    expect(second.stop_reason).toBe("end_turn");
  });

  it("answers count_tokens without a 404", async () => {
    const r = await anthropic.messages.countTokens({ model: "claude-test-sonnet", messages: [{ role: "user", content: "count me" }] });
    expect(r.input_tokens).toBeGreaterThan(0);
  });
});
