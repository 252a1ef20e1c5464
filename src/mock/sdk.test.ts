/** The official SDKs, pointed at the mock, must parse everything it sends. */
import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { startMockUpstream } from "./server.js";
import type { MockUpstream } from "./types.js";

let mock: MockUpstream;
let openai: OpenAI;
let anthropic: Anthropic;
beforeAll(async () => {
  mock = await startMockUpstream();
  openai = new OpenAI({ apiKey: "sk-test", baseURL: `${mock.url}/v1`, maxRetries: 0 });
  anthropic = new Anthropic({ apiKey: "sk-ant-test", baseURL: mock.url, maxRetries: 0 });
});
afterAll(() => mock.close());
beforeEach(() => {
  mock.reset();
  mock.clear();
});

const weatherFn = {
  name: "get_weather",
  description: "Weather for a city",
  parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"], additionalProperties: false },
};

describe("openai SDK: chat.completions", () => {
  it("creates a completion", async () => {
    const c = await openai.chat.completions.create({ model: "gpt-4o", messages: [{ role: "user", content: "hi" }] });
    expect(c.choices[0]?.message.content).toContain("Hello from mock openai-chat (model gpt-4o)");
    expect(c.usage?.total_tokens).toBeGreaterThan(0);
  });

  it("streams with include_usage", async () => {
    const stream = await openai.chat.completions.create({
      model: "gpt-4o",
      messages: [{ role: "user", content: "hi" }],
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = "";
    let usage: OpenAI.CompletionUsage | null | undefined;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? "";
      if (chunk.usage) usage = chunk.usage;
    }
    expect(text).toContain("café ✓ 🚀");
    expect(usage?.prompt_tokens).toBeGreaterThan(0);
  });

  it("assembles a streamed tool call with the stream helper", async () => {
    const runner = openai.chat.completions.stream({
      model: "gpt-4o",
      messages: [{ role: "user", content: "[[mock:tool_call]] weather in Paris" }],
      tools: [{ type: "function", function: weatherFn }],
    });
    const final = await runner.finalChatCompletion();
    const call = final.choices[0]?.message.tool_calls?.[0];
    expect(final.choices[0]?.finish_reason).toBe("tool_calls");
    expect(call?.type === "function" ? JSON.parse(call.function.arguments) : undefined).toEqual({ city: "mock" });
  });

  it("raises RateLimitError for a 429 and APIError for an in-stream error chunk", async () => {
    await expect(openai.chat.completions.create({ model: "gpt-4o", messages: [{ role: "user", content: "[[mock:error=429]]" }] })).rejects.toBeInstanceOf(
      OpenAI.RateLimitError,
    );
    const stream = await openai.chat.completions.create({ model: "gpt-4o", messages: [{ role: "user", content: "[[mock:stream_error]]" }], stream: true });
    await expect(
      (async () => {
        for await (const _chunk of stream) void _chunk;
      })(),
    ).rejects.toBeInstanceOf(OpenAI.APIError);
  });
});

describe("openai SDK: responses", () => {
  it("creates a response and exposes output_text", async () => {
    const r = await openai.responses.create({ model: "gpt-5", input: "hello there" });
    expect(r.output_text).toContain("You said: “hello there”");
    expect(r.usage?.input_tokens_details.cached_tokens).toBe(0);
  });

  it("streams text events", async () => {
    const stream = await openai.responses.create({ model: "gpt-5", input: "hello", stream: true });
    const types: string[] = [];
    let text = "";
    for await (const ev of stream) {
      types.push(ev.type);
      if (ev.type === "response.output_text.delta") text += ev.delta;
    }
    expect(types[0]).toBe("response.created");
    expect(types[types.length - 1]).toBe("response.completed");
    expect(text).toContain("🚀");
  });

  it("collects reasoning and a function call with the stream helper", async () => {
    const stream = openai.responses.stream({
      model: "gpt-5",
      input: "[[mock:reasoning]] [[mock:tool_call]]",
      reasoning: { effort: "medium", summary: "auto" },
      include: ["reasoning.encrypted_content"],
      tools: [{ type: "function", strict: false, ...weatherFn }],
    });
    const final = await stream.finalResponse();
    expect(final.output.map((o) => o.type)).toEqual(["reasoning", "function_call"]);
    const fc = final.output[1];
    expect(fc?.type === "function_call" ? JSON.parse(fc.arguments) : undefined).toEqual({ city: "mock" });
    const rs = final.output[0];
    expect(rs?.type === "reasoning" ? rs.encrypted_content : undefined).toMatch(/^gAAAA/);
  });

  it("surfaces response.failed from a stream", async () => {
    const stream = await openai.responses.create({ model: "gpt-5", input: "[[mock:stream_error]]", stream: true });
    let last = "";
    for await (const ev of stream) last = ev.type;
    expect(last).toBe("response.failed");
  });
});

describe("@anthropic-ai/sdk: messages", () => {
  it("creates a message", async () => {
    const m = await anthropic.messages.create({ model: "claude-opus-4-8", max_tokens: 256, messages: [{ role: "user", content: "hi" }] });
    const block = m.content[0];
    expect(block?.type === "text" ? block.text : "").toContain("Hello from mock anthropic-messages");
    expect(m.stop_reason).toBe("end_turn");
  });

  it("streams raw events", async () => {
    const stream = await anthropic.messages.create({ model: "claude-opus-4-8", max_tokens: 256, messages: [{ role: "user", content: "hi" }], stream: true });
    const types: string[] = [];
    for await (const ev of stream) types.push(ev.type);
    expect(types[0]).toBe("message_start");
    expect(types[types.length - 1]).toBe("message_stop");
  });

  it("assembles thinking (with signature) and tool_use with the stream helper", async () => {
    const stream = anthropic.messages.stream({
      model: "claude-opus-4-8",
      max_tokens: 4096,
      thinking: { type: "enabled", budget_tokens: 1024 },
      tools: [{ name: "get_weather", input_schema: { type: "object", properties: { city: { type: "string" } }, required: ["city"] } }],
      messages: [{ role: "user", content: "[[mock:reasoning]] [[mock:tool_call]]" }],
    });
    const final = await stream.finalMessage();
    expect(final.content.map((b) => b.type)).toEqual(["thinking", "tool_use"]);
    const [thinking, tool] = final.content;
    expect(thinking?.type === "thinking" ? thinking.signature.length : 0).toBeGreaterThan(20);
    expect(tool?.type === "tool_use" ? tool.input : undefined).toEqual({ city: "mock" });
    expect(final.stop_reason).toBe("tool_use");
  });

  it("raises typed errors for HTTP errors and for event: error mid-stream", async () => {
    const err: unknown = await anthropic.messages
      .create({ model: "claude-opus-4-8", max_tokens: 10, messages: [{ role: "user", content: "[[mock:error=529]]" }] })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Anthropic.APIError);
    expect((err as InstanceType<typeof Anthropic.APIError>).status).toBe(529);
    const stream = anthropic.messages.stream({ model: "claude-opus-4-8", max_tokens: 10, messages: [{ role: "user", content: "[[mock:stream_error]]" }] });
    const midErr: unknown = await stream.finalMessage().catch((e: unknown) => e);
    expect(midErr).toBeInstanceOf(Anthropic.APIError);
    expect(JSON.stringify((midErr as InstanceType<typeof Anthropic.APIError>).error)).toContain("overloaded_error");
  });

  it("counts tokens and lists models", async () => {
    const count = await anthropic.messages.countTokens({ model: "claude-opus-4-8", messages: [{ role: "user", content: "count" }] });
    expect(count.input_tokens).toBeGreaterThan(0);
    const page = await anthropic.models.list();
    expect(page.data.map((m) => m.id)).toContain("claude-opus-4-8");
  });
});
