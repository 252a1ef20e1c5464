import { describe, expect, it } from "vitest";
import type { InboundEvent } from "../codec.js";
import { ctxFor, runDecoder, summarize } from "../anthropic-messages/test-support.js";
import { ChatStreamDecoder } from "./stream-decode.js";

const head = { id: "chatcmpl-1", object: "chat.completion.chunk", created: 1_700_000_123, model: "gpt-5" };
function chunk(delta: Record<string, unknown>, finish: string | null = null, extra: Record<string, unknown> = {}): InboundEvent {
  return { event: undefined, data: JSON.stringify({ ...head, choices: [{ index: 0, delta, finish_reason: finish }], ...extra }) };
}
const done: InboundEvent = { event: undefined, data: "[DONE]" };

describe("ChatStreamDecoder", () => {
  it("decodes reasoning, text, parallel tool calls and the usage chunk", () => {
    const parts = runDecoder(new ChatStreamDecoder(ctxFor()), [
      chunk({ role: "assistant", content: "" }),
      chunk({ reasoning_content: "Think" }),
      chunk({ reasoning_content: "ing." }),
      chunk({ content: "Calling " }),
      chunk({ content: "tools." }),
      chunk({ tool_calls: [{ index: 0, id: "call_a", type: "function", function: { name: "get", arguments: "" } }] }),
      chunk({ tool_calls: [{ index: 1, id: "call_b", type: "function", function: { name: "put", arguments: '{"v"' } }] }),
      chunk({ tool_calls: [{ index: 0, function: { arguments: '{"k":' } }] }),
      chunk({
        tool_calls: [
          { index: 0, function: { arguments: "1}" } },
          { index: 1, function: { arguments: ":2}" } },
        ],
      }),
      chunk({}, "tool_calls"),
      {
        event: undefined,
        data: JSON.stringify({
          ...head,
          choices: [],
          usage: {
            prompt_tokens: 3000,
            completion_tokens: 80,
            total_tokens: 3080,
            prompt_tokens_details: { cached_tokens: 2048 },
            completion_tokens_details: { reasoning_tokens: 30 },
          },
        }),
      },
      done,
    ]);
    expect(parts[0]).toEqual({ type: "response-start", meta: { id: "chatcmpl-1", model: "gpt-5", created: 1_700_000_123 } });
    expect(parts.map((p) => p.type)).toEqual([
      "response-start",
      "reasoning-start",
      "reasoning-delta",
      "reasoning-delta",
      "reasoning-end",
      "text-start",
      "text-delta",
      "text-delta",
      "text-end",
      "tool-call-start",
      "tool-call-start",
      "tool-call-delta",
      "tool-call-delta",
      "tool-call-delta",
      "tool-call-delta",
      "tool-call-end",
      "tool-call-end",
      "finish",
      "usage",
    ]);
    expect(summarize(parts)).toEqual({
      text: "Calling tools.",
      reasoning: "Thinking.",
      tools: [
        { callId: "call_a", name: "get", arguments: '{"k":1}' },
        { callId: "call_b", name: "put", arguments: '{"v":2}' },
      ],
      usage: { inputTokens: 3000, cachedInputTokens: 2048, cacheWriteTokens: 0, outputTokens: 80, reasoningTokens: 30 },
      finish: "tool-calls",
      errors: [],
    });
  });

  it("maps finish reasons and treats stop-with-tool-calls as tool-calls", () => {
    const finishOf = (reason: string, tools = false): unknown =>
      summarize(
        runDecoder(new ChatStreamDecoder(ctxFor()), [
          chunk(tools ? { tool_calls: [{ index: 0, id: "c", type: "function", function: { name: "f", arguments: "{}" } }] } : { content: "x" }),
          chunk({}, reason),
          done,
        ]),
      ).finish;
    expect(finishOf("stop")).toBe("stop");
    expect(finishOf("length")).toBe("length");
    expect(finishOf("content_filter")).toBe("content-filter");
    expect(finishOf("function_call")).toBe("tool-calls");
    expect(finishOf("stop", true)).toBe("tool-calls");
  });

  it("waits for a tool name that arrives after its first fragment", () => {
    const parts = runDecoder(new ChatStreamDecoder(ctxFor()), [
      chunk({ tool_calls: [{ index: 0, id: "c", function: { arguments: '{"a"' } }] }),
      chunk({ tool_calls: [{ index: 0, function: { name: "late", arguments: ":1}" } }] }),
      chunk({}, "tool_calls"),
      done,
    ]);
    expect(summarize(parts).tools).toEqual([{ callId: "c", name: "late", arguments: '{"a":1}' }]);
  });

  it("turns an error payload inside a 200 stream into an error part", () => {
    const parts = runDecoder(new ChatStreamDecoder(ctxFor()), [
      chunk({ content: "par" }),
      { event: undefined, data: JSON.stringify({ error: { message: "Rate limit reached", type: "rate_limit_error", code: "rate_limit_exceeded" } }) },
      chunk({ content: "tial" }),
    ]);
    expect(parts.at(-1)).toEqual({ type: "error", error: { kind: "rate_limit", message: "Rate limit reached", code: "rate_limit_exceeded" } });
  });

  it("reports a stream cut before finish_reason and [DONE]", () => {
    const parts = runDecoder(new ChatStreamDecoder(ctxFor()), [chunk({ content: "half" })]);
    expect(parts.at(-1)).toMatchObject({ type: "error", error: { kind: "upstream", code: "stream_truncated" } });
  });

  it("accepts a finished stream without [DONE], and [DONE] without finish_reason", () => {
    expect(summarize(runDecoder(new ChatStreamDecoder(ctxFor()), [chunk({ content: "a" }, "stop")])).errors).toEqual([]);
    const s = summarize(runDecoder(new ChatStreamDecoder(ctxFor()), [chunk({ content: "a" }), done]));
    expect(s).toMatchObject({ text: "a", finish: "stop", errors: [] });
  });

  it("reads usage attached to the last content chunk and the `reasoning` alias", () => {
    const s = summarize(
      runDecoder(new ChatStreamDecoder(ctxFor()), [
        chunk({ reasoning: "r" }),
        chunk({ content: "a" }, "stop", { usage: { prompt_tokens: 5, completion_tokens: 2, total_tokens: 7 } }),
        done,
      ]),
    );
    expect(s).toMatchObject({ reasoning: "r", text: "a", usage: { inputTokens: 5, outputTokens: 2 } });
  });
});
