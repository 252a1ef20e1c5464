import { describe, expect, it } from "vitest";
import type { StreamPart } from "../../canonical/stream.js";
import { ctxFor, runEncoder } from "../anthropic-messages/test-support.js";
import { decodeChatRequest } from "./decode-request.js";
import { ChatStreamEncoder } from "./stream-encode.js";
import { validateChatStream } from "./validate.js";

const meta = { id: "msg_01", model: "claude-x", created: 1_700_000_500 };
const usage = { inputTokens: 2360, cachedInputTokens: 2048, cacheWriteTokens: 300, outputTokens: 50, reasoningTokens: 20 };

const parts: StreamPart[] = [
  { type: "response-start", meta },
  { type: "reasoning-start", id: "r" },
  { type: "reasoning-delta", id: "r", delta: "hm" },
  { type: "reasoning-end", id: "r", signature: "sig" },
  { type: "text-start", id: "t" },
  { type: "text-delta", id: "t", delta: "Hi" },
  { type: "text-end", id: "t" },
  { type: "tool-call-start", id: "3", callId: "toolu_1", name: "Bash" },
  { type: "tool-call-delta", id: "3", delta: '{"c":' },
  { type: "tool-call-end", id: "3", arguments: '{"c":1}' },
  { type: "tool-call-start", id: "5", callId: "toolu_2", name: "Read" },
  { type: "tool-call-end", id: "5", arguments: "{}" },
  { type: "usage", usage },
  { type: "finish", reason: "tool-calls" },
];

describe("ChatStreamEncoder", () => {
  it("emits chunks with one id, role first, tool ordinals, finish, usage and [DONE]", () => {
    const ctx = ctxFor("gpt-client");
    ctx.clientRequest = decodeChatRequest({
      model: "gpt-client",
      messages: [{ role: "user", content: "x" }],
      stream: true,
      stream_options: { include_usage: true },
    });
    const events = runEncoder(new ChatStreamEncoder(ctx), parts);
    expect(validateChatStream(events)).toEqual([]);
    const chunks = events.map((e) => e.data) as Array<Record<string, unknown>>;
    expect(chunks[0]).toEqual({
      id: "msg_01",
      object: "chat.completion.chunk",
      created: 1_700_000_500,
      model: "gpt-client",
      choices: [{ index: 0, delta: { role: "assistant", content: "" }, finish_reason: null }],
      usage: null,
    });
    const deltas = chunks.slice(1, -3).map((c) => (c.choices as Array<{ delta: unknown }>)[0]?.delta);
    expect(deltas).toEqual([
      { reasoning_content: "hm" },
      { content: "Hi" },
      { tool_calls: [{ index: 0, id: "toolu_1", type: "function", function: { name: "Bash", arguments: "" } }] },
      { tool_calls: [{ index: 0, function: { arguments: '{"c":' } }] },
      { tool_calls: [{ index: 0, function: { arguments: "1}" } }] },
      { tool_calls: [{ index: 1, id: "toolu_2", type: "function", function: { name: "Read", arguments: "" } }] },
      { tool_calls: [{ index: 1, function: { arguments: "{}" } }] },
    ]);
    expect(chunks.at(-3)?.choices).toEqual([{ index: 0, delta: {}, finish_reason: "tool_calls" }]);
    expect(chunks.at(-2)).toMatchObject({
      choices: [],
      usage: {
        prompt_tokens: 2360,
        completion_tokens: 50,
        total_tokens: 2410,
        prompt_tokens_details: { cached_tokens: 2048, cache_write_tokens: 300 },
        completion_tokens_details: { reasoning_tokens: 20 },
      },
    });
    expect(events.at(-1)).toEqual({ data: "[DONE]" });
  });

  it("sends no usage chunk unless the client asked", () => {
    const events = runEncoder(new ChatStreamEncoder(ctxFor()), parts);
    expect(validateChatStream(events)).toEqual([]);
    expect(events.some((e) => typeof e.data === "object" && (e.data as { usage?: unknown }).usage !== undefined)).toBe(false);
  });

  it("ends with an error chunk and nothing after it", () => {
    const enc = new ChatStreamEncoder(ctxFor());
    const events = [
      ...enc.push({ type: "response-start", meta }),
      ...enc.push({ type: "text-delta", id: "t", delta: "x" }),
      ...enc.push({ type: "error", error: { kind: "overloaded", message: "busy", code: "overloaded_error" } }),
      ...enc.push({ type: "text-delta", id: "t", delta: "y" }),
      ...enc.end(),
    ];
    expect(events.at(-1)).toEqual({ data: { error: { message: "busy", type: "server_error", param: null, code: "overloaded_error" } } });
    expect(validateChatStream(events)).toEqual([]);
  });

  it("derives a finish reason when the canonical stream had none", () => {
    const events = runEncoder(new ChatStreamEncoder(ctxFor()), [{ type: "text-delta", id: "t", delta: "x" }]);
    expect(validateChatStream(events)).toEqual([]);
    expect((events.at(-2)?.data as { choices: Array<{ finish_reason: string }> }).choices[0]?.finish_reason).toBe("stop");
  });
});
