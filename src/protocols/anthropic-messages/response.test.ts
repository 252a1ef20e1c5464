import { describe, expect, it } from "vitest";
import type { CanonicalResponse } from "../../canonical/response.js";
import { GatewayError } from "../../canonical/errors.js";
import { decodeAnthropicError, encodeAnthropicError, encodeAnthropicStreamError } from "./errors.js";
import { decodeAnthropicResponse, encodeAnthropicResponse, foldAnthropicStream } from "./response.js";
import { anthropicStopToFinish, finishToAnthropicStop } from "./stop-reason.js";
import { AnthropicStreamEncoder } from "./stream-encode.js";
import { ctxFor, runEncoder } from "./test-support.js";
import { anthropicToCanonicalUsage } from "./meter.js";
import { canonicalToAnthropicUsage } from "./usage.js";

describe("usage conversion (docs/protocols.md#usage-conversion)", () => {
  it("adds cache reads and writes into the canonical input", () => {
    expect(anthropicToCanonicalUsage({ input_tokens: 12, cache_creation_input_tokens: 300, cache_read_input_tokens: 2048, output_tokens: 50 })).toEqual({
      inputTokens: 2360,
      cachedInputTokens: 2048,
      cacheWriteTokens: 300,
      outputTokens: 50,
      reasoningTokens: 0,
    });
  });

  it("subtracts them again for Anthropic clients, never going negative", () => {
    expect(canonicalToAnthropicUsage({ inputTokens: 2360, cachedInputTokens: 2048, cacheWriteTokens: 300, outputTokens: 50, reasoningTokens: 20 })).toEqual({
      input_tokens: 12,
      cache_creation_input_tokens: 300,
      cache_read_input_tokens: 2048,
      output_tokens: 50,
      output_tokens_details: { thinking_tokens: 20 },
    });
    expect(canonicalToAnthropicUsage({ inputTokens: 10, cachedInputTokens: 20, cacheWriteTokens: 0, outputTokens: 0, reasoningTokens: 0 }).input_tokens).toBe(
      0,
    );
  });
});

describe("stop reasons (docs/protocols.md#finish-reasons)", () => {
  const table: Array<[string, string]> = [
    ["end_turn", "stop"],
    ["max_tokens", "length"],
    ["stop_sequence", "stop-sequence"],
    ["tool_use", "tool-calls"],
    ["pause_turn", "pause"],
    ["refusal", "content-filter"],
    ["model_context_window_exceeded", "context-window"],
  ];
  it.each(table)("%s ⇄ %s", (anthropic, canonical) => {
    expect(anthropicStopToFinish(anthropic)).toBe(canonical);
    expect(finishToAnthropicStop(anthropicStopToFinish(anthropic))).toBe(anthropic);
  });
});

describe("non-stream responses", () => {
  const upstream = {
    id: "msg_1",
    type: "message",
    role: "assistant",
    model: "claude-opus-4-8",
    content: [
      { type: "thinking", thinking: "hm", signature: "sig" },
      { type: "text", text: "Here." },
      { type: "tool_use", id: "toolu_1", name: "short", input: { a: 1 } },
      { type: "web_search_tool_result", tool_use_id: "x", content: [] },
    ],
    stop_reason: "tool_use",
    stop_sequence: null,
    usage: { input_tokens: 5, cache_creation_input_tokens: 0, cache_read_input_tokens: 100, output_tokens: 9 },
  };

  it("decodes an upstream message, mapping tool names back", () => {
    const ctx = ctxFor();
    ctx.toolNames.set("short", "original_long_name");
    const res = decodeAnthropicResponse(upstream, ctx);
    expect(res.content).toEqual([
      { type: "reasoning", text: "hm", signature: "sig" },
      { type: "text", text: "Here." },
      { type: "tool-call", callId: "toolu_1", name: "original_long_name", arguments: '{"a":1}' },
    ]);
    expect(res.finishReason).toBe("tool-calls");
    expect(res.usage).toEqual({ inputTokens: 105, cachedInputTokens: 100, cacheWriteTokens: 0, outputTokens: 9, reasoningTokens: 0 });
    expect(ctx.warnings.map((w) => w.code)).toEqual(["content_block_dropped"]);
  });

  it("encodes for the client with its model name", () => {
    const res = decodeAnthropicResponse(upstream, ctxFor());
    const out = encodeAnthropicResponse(res, ctxFor("claude-client"));
    expect(out).toEqual({ ...upstream, model: "claude-client", content: upstream.content.slice(0, 3) });
  });

  it("encodes the same message streamed and non-streamed", () => {
    const res: CanonicalResponse = {
      meta: { id: "msg_2", model: "x", created: 1 },
      content: [
        { type: "reasoning", text: "r", signature: "s" },
        { type: "text", text: "t" },
        { type: "tool-call", callId: "c1", name: "f", arguments: '{"k":[1,2]}' },
      ],
      finishReason: "tool-calls",
      usage: { inputTokens: 10, cachedInputTokens: 4, cacheWriteTokens: 1, outputTokens: 3, reasoningTokens: 0 },
    };
    const events = runEncoder(new AnthropicStreamEncoder(ctxFor("c")), [
      { type: "response-start", meta: res.meta },
      { type: "reasoning-start", id: "r" },
      { type: "reasoning-delta", id: "r", delta: "r" },
      { type: "reasoning-end", id: "r", signature: "s" },
      { type: "text-start", id: "t" },
      { type: "text-delta", id: "t", delta: "t" },
      { type: "text-end", id: "t" },
      { type: "tool-call-start", id: "k", callId: "c1", name: "f" },
      { type: "tool-call-end", id: "k", arguments: '{"k":[1,2]}' },
      { type: "usage", usage: res.usage },
      { type: "finish", reason: "tool-calls" },
    ]);
    expect(foldAnthropicStream(events.map((e) => e.data))).toEqual(encodeAnthropicResponse(res, ctxFor("c")));
  });
});

describe("errors (docs/protocols.md#anthropic-errors)", () => {
  const table: Array<[number, string]> = [
    [400, "invalid_request_error"],
    [401, "authentication_error"],
    [402, "billing_error"],
    [403, "permission_error"],
    [404, "not_found_error"],
    [413, "request_too_large"],
    [429, "rate_limit_error"],
    [504, "timeout_error"],
    [529, "overloaded_error"],
  ];
  it.each(table)("status %d ⇄ %s", (status, type) => {
    const err = decodeAnthropicError(status, JSON.stringify({ type: "error", error: { type, message: "m" } }));
    expect(err.status).toBe(status);
    expect(encodeAnthropicError(err)).toEqual({ status, body: { type: "error", error: { type, message: "m" } } });
  });

  it("treats an upstream api_error as an upstream failure and reads non-JSON bodies", () => {
    const err = decodeAnthropicError(500, '{"type":"error","error":{"type":"api_error","message":"boom"}}');
    expect(err).toMatchObject({ kind: "upstream", status: 502, message: "boom" });
    expect(encodeAnthropicError(err).body.error.type).toBe("api_error");
    expect(decodeAnthropicError(503, "<html>down</html>")).toMatchObject({ kind: "overloaded", message: "<html>down</html>" });
  });

  it("encodes in-stream errors as an error event", () => {
    const err = new GatewayError("invalid_request", "invalid_request", "nope", { param: "x" });
    expect(encodeAnthropicStreamError(err)).toEqual([{ event: "error", data: { type: "error", error: { type: "invalid_request_error", message: "nope" } } }]);
  });
});
