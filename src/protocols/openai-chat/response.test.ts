import { describe, expect, it } from "vitest";
import { GatewayError } from "../../canonical/errors.js";
import type { FinishReason } from "../../canonical/stream.js";
import { ctxFor, runEncoder } from "../anthropic-messages/test-support.js";
import { decodeChatError, encodeChatError, encodeChatStreamError } from "./errors.js";
import { canonicalToChatFinish, chatFinishToCanonical } from "./finish-reason.js";
import { decodeChatResponse, encodeChatResponse, foldChatStream } from "./response.js";
import { ChatStreamEncoder } from "./stream-encode.js";
import { readChatUsage } from "./meter.js";
import { canonicalToChatUsage } from "./usage.js";

describe("usage (docs/protocols.md#usage-conversion)", () => {
  it("keeps cached tokens inside prompt_tokens both ways", () => {
    const u = readChatUsage({
      prompt_tokens: 5000,
      completion_tokens: 70,
      total_tokens: 5070,
      prompt_tokens_details: { cached_tokens: 4096, cache_write_tokens: 512 },
      completion_tokens_details: { reasoning_tokens: 64 },
    });
    expect(u).toEqual({ inputTokens: 5000, cachedInputTokens: 4096, cacheWriteTokens: 512, outputTokens: 70, reasoningTokens: 64 });
    expect(canonicalToChatUsage(u!)).toEqual({
      prompt_tokens: 5000,
      completion_tokens: 70,
      total_tokens: 5070,
      prompt_tokens_details: { cached_tokens: 4096, cache_write_tokens: 512 },
      completion_tokens_details: { reasoning_tokens: 64 },
    });
    expect(readChatUsage(null)).toBeUndefined();
  });
});

describe("finish reasons (docs/protocols.md#finish-reasons)", () => {
  const table: Array<[FinishReason, string]> = [
    ["stop", "stop"],
    ["stop-sequence", "stop"],
    ["length", "length"],
    ["context-window", "length"],
    ["tool-calls", "tool_calls"],
    ["content-filter", "content_filter"],
  ];
  it.each(table)("%s → %s", (canonical, chat) => {
    expect(canonicalToChatFinish(canonical)).toBe(chat);
  });
  it("reads function_call as tool calls", () => {
    expect(chatFinishToCanonical("function_call")).toBe("tool-calls");
  });
});

describe("non-stream responses", () => {
  const upstream = {
    id: "chatcmpl-9",
    object: "chat.completion",
    created: 1_700_000_000,
    model: "gpt-5",
    choices: [
      {
        index: 0,
        message: {
          role: "assistant",
          content: "Sure.",
          reasoning_content: "why not",
          tool_calls: [{ id: "call_1", type: "function", function: { name: "mcp__short", arguments: '{"a":1}' } }],
        },
        finish_reason: "tool_calls",
      },
    ],
    usage: {
      prompt_tokens: 10,
      completion_tokens: 5,
      total_tokens: 15,
      prompt_tokens_details: { cached_tokens: 0 },
      completion_tokens_details: { reasoning_tokens: 2 },
    },
  };

  it("decodes, mapping tool names back", () => {
    const ctx = ctxFor();
    ctx.toolNames.set("mcp__short", "mcp__long__short");
    const res = decodeChatResponse(upstream, ctx);
    expect(res.content).toEqual([
      { type: "reasoning", text: "why not" },
      { type: "text", text: "Sure." },
      { type: "tool-call", callId: "call_1", name: "mcp__long__short", arguments: '{"a":1}' },
    ]);
    expect(res.finishReason).toBe("tool-calls");
  });

  it("encodes what the stream encoder folds to", () => {
    const res = decodeChatResponse(upstream, ctxFor());
    const body = encodeChatResponse(res, ctxFor("client"));
    expect(body).toMatchObject({ id: "chatcmpl-9", object: "chat.completion", model: "client", choices: [{ finish_reason: "tool_calls" }] });
    const events = runEncoder(new ChatStreamEncoder(ctxFor("client"), { includeUsage: true }), [
      { type: "response-start", meta: res.meta },
      { type: "reasoning-delta", id: "r", delta: "why not" },
      { type: "text-delta", id: "t", delta: "Sure." },
      { type: "tool-call-start", id: "c", callId: "call_1", name: "mcp__short" },
      { type: "tool-call-end", id: "c", arguments: '{"a":1}' },
      { type: "usage", usage: res.usage },
      { type: "finish", reason: "tool-calls" },
    ]);
    expect(foldChatStream(events.map((e) => e.data))).toEqual(body);
  });

  it("rejects an answer without choices", () => {
    expect(() => decodeChatResponse({ id: "x" }, ctxFor())).toThrow(GatewayError);
  });
});

describe("errors", () => {
  it("encodes the OpenAI envelope with param and code", () => {
    const err = new GatewayError("invalid_request", "unsupported_value", "n: only n=1", { param: "n" });
    expect(encodeChatError(err)).toEqual({
      status: 400,
      body: { error: { message: "n: only n=1", type: "invalid_request_error", param: "n", code: "unsupported_value" } },
    });
    const types: Array<[GatewayError["kind"], string]> = [
      ["authentication", "authentication_error"],
      ["permission", "permission_error"],
      ["not_found", "invalid_request_error"],
      ["rate_limit", "rate_limit_error"],
      ["billing", "insufficient_quota"],
      ["upstream", "server_error"],
    ];
    for (const [kind, type] of types) expect(encodeChatError(new GatewayError(kind, "internal_error", "m")).body.error.type).toBe(type);
    expect(encodeChatStreamError(new GatewayError("timeout", "upstream_timeout", "slow"))).toEqual([
      { data: { error: { message: "slow", type: "server_error", param: null, code: "upstream_timeout" } } },
    ]);
  });

  it("decodes upstream errors, including Codex-style {detail}", () => {
    const e = decodeChatError(429, JSON.stringify({ error: { message: "quota", type: "insufficient_quota", param: null, code: "insufficient_quota" } }));
    expect(e).toMatchObject({ kind: "rate_limit", code: "upstream_rejected", upstreamCode: "insufficient_quota", message: "quota", status: 429 });
    // The upstream's own code is what the client sees.
    expect(encodeChatError(e).body.error.code).toBe("insufficient_quota");
    expect(encodeChatStreamError(e)).toEqual([{ data: { error: { message: "quota", type: "rate_limit_error", param: null, code: "insufficient_quota" } } }]);
    expect(decodeChatError(400, '{"error":{"message":"bad","type":"invalid_request_error","param":"messages","code":null}}')).toMatchObject({
      kind: "invalid_request",
      param: "messages",
      code: "upstream_rejected",
      upstreamCode: "invalid_request_error",
    });
    expect(decodeChatError(409, "{}").wireCode).toBe("http_409");
    expect(decodeChatError(400, '{"detail":"Unsupported parameter: temperature"}')).toMatchObject({ message: "Unsupported parameter: temperature" });
    expect(decodeChatError(502, "Bad Gateway")).toMatchObject({ kind: "upstream", message: "Bad Gateway" });
  });
});
