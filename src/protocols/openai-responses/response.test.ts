import { describe, expect, it } from "vitest";
import { GatewayError } from "../../canonical/errors.js";
import type { CanonicalResponse } from "../../canonical/response.js";
import { foldStream } from "../common/fold-stream.js";
import { openaiResponsesClientCodec, openaiResponsesUpstreamCodec, RESPONSE_MEMBERS } from "./index.js";
import { decodeEvents, testCtx, upstreamTextStream } from "./test-support.js";

const answer: CanonicalResponse = {
  meta: { id: "chatcmpl-123", model: "upstream-model", created: 1_700_000_900 },
  content: [
    { type: "reasoning", text: "why", signature: "gAAAAsig" },
    { type: "text", text: "one" },
    { type: "text", text: "two" },
    { type: "tool-call", callId: "call_9", name: "multi_agent_v1.spawn_agent", arguments: "{}" },
  ],
  finishReason: "tool-calls",
  usage: { inputTokens: 50, cachedInputTokens: 10, cacheWriteTokens: 0, outputTokens: 20, reasoningTokens: 5 },
};

describe("non-stream responses", () => {
  it("encodes a canonical answer as a response object", () => {
    const body = openaiResponsesClientCodec.encodeResponse(answer, testCtx("my-model"));
    expect(body).toMatchObject({
      id: "resp_123",
      object: "response",
      created_at: 1_700_000_900,
      status: "completed",
      model: "my-model",
      error: null,
      incomplete_details: null,
      usage: {
        input_tokens: 50,
        input_tokens_details: { cached_tokens: 10 },
        output_tokens: 20,
        output_tokens_details: { reasoning_tokens: 5 },
        total_tokens: 70,
      },
      output: [
        { type: "reasoning", summary: [{ type: "summary_text", text: "why" }], encrypted_content: "gAAAAsig" },
        {
          type: "message",
          role: "assistant",
          content: [
            { type: "output_text", text: "one" },
            { type: "output_text", text: "two" },
          ],
        },
        { type: "function_call", call_id: "call_9", name: "spawn_agent", namespace: "multi_agent_v1", arguments: "{}", status: "completed" },
      ],
    });
  });

  it("decodes what it encodes", () => {
    const ctx = testCtx();
    const body = openaiResponsesClientCodec.encodeResponse(answer, ctx);
    const back = openaiResponsesUpstreamCodec.decodeResponse(body, ctx);
    expect(back.content).toEqual(answer.content);
    expect(back.usage).toEqual(answer.usage);
    expect(back.finishReason).toBe("tool-calls");
  });

  it("maps incomplete and failed upstream answers", () => {
    const ctx = testCtx();
    const cut = openaiResponsesUpstreamCodec.decodeResponse(
      { id: "r", status: "incomplete", incomplete_details: { reason: "max_output_tokens" }, output: [] },
      ctx,
    );
    expect(cut.finishReason).toBe("length");
    expect(() => openaiResponsesUpstreamCodec.decodeResponse({ status: "failed", error: { code: "server_error", message: "x" } }, ctx)).toThrow(GatewayError);
  });

  it("folds a decoded stream into the same answer a non-stream decode gives", () => {
    const folded = foldStream(decodeEvents(upstreamTextStream()));
    expect(folded).toEqual({
      meta: { id: "resp_abc123", model: "gpt-5", created: 1_700_000_100 },
      content: [
        { type: "reasoning", text: "Thinking.\n\nMore.", signature: "gAAAAblob" },
        { type: "text", text: "Hello" },
      ],
      finishReason: "stop",
      usage: { inputTokens: 1200, cachedInputTokens: 1024, cacheWriteTokens: 0, outputTokens: 300, reasoningTokens: 200 },
    });
  });

  it("fold throws the stream's error", () => {
    expect(() => foldStream([{ type: "error", error: { kind: "rate_limit", message: "slow down", code: "rate_limit_exceeded" } }])).toThrow(
      expect.objectContaining({ kind: "rate_limit", code: "upstream_error", upstreamCode: "rate_limit_exceeded" }),
    );
  });
});

describe("error envelopes", () => {
  it("encodes a GatewayError in the OpenAI shape", () => {
    const err = new GatewayError("invalid_request", "invalid_value", "bad", { param: "input[0].type" });
    expect(openaiResponsesClientCodec.encodeError(err)).toEqual({
      status: 400,
      body: { error: { message: "bad", type: "invalid_request_error", param: "input[0].type", code: "invalid_value" } },
    });
    expect(openaiResponsesClientCodec.encodeStreamError(err)).toEqual([
      { event: "error", data: { type: "error", code: "invalid_value", message: "bad", param: "input[0].type" } },
    ]);
  });

  it("decodes OpenAI, Codex detail, usage-limit and non-JSON bodies", () => {
    const d = openaiResponsesUpstreamCodec.decodeError;
    expect(d(401, JSON.stringify({ error: { message: "no key", type: "invalid_request_error", code: "invalid_api_key", param: null } }))).toMatchObject({
      kind: "authentication",
      code: "upstream_rejected",
      upstreamCode: "invalid_api_key",
      message: "no key",
    });
    // The upstream's own code is what the client sees.
    const relayed = d(400, JSON.stringify({ error: { message: "too long", type: "invalid_request_error", code: "context_length_exceeded", param: "input" } }));
    expect(openaiResponsesClientCodec.encodeError(relayed).body).toEqual({
      error: { message: "too long", type: "invalid_request_error", param: "input", code: "context_length_exceeded" },
    });
    expect(d(400, JSON.stringify({ error: { message: "no code" } })).wireCode).toBe("upstream_error");
    expect(d(400, JSON.stringify({ detail: "Unsupported parameter: temperature" }))).toMatchObject({
      kind: "invalid_request",
      message: "Unsupported parameter: temperature",
    });
    const limit = d(429, JSON.stringify({ error: { type: "usage_limit_reached", message: "limit", resets_in_seconds: 41.2 } }));
    expect(limit).toMatchObject({ kind: "rate_limit", code: "upstream_rejected", upstreamCode: "usage_limit_reached", headers: { "retry-after": "42" } });
    expect(d(502, "<html>bad gateway</html>")).toMatchObject({ kind: "upstream", message: "<html>bad gateway</html>" });
  });
});

describe("RESPONSE_MEMBERS", () => {
  /** The top-level members decodeResponse reads of `body`, and what it makes of it (or the error it throws). */
  function reads(body: Record<string, unknown>): { read: Set<string>; result: unknown } {
    const read = new Set<string>();
    const watched = new Proxy(body, {
      get(target, key, receiver) {
        if (typeof key === "string") read.add(key);
        return Reflect.get(target, key, receiver) as unknown;
      },
    });
    let result: unknown;
    try {
      result = openaiResponsesUpstreamCodec.decodeResponse(watched, testCtx());
    } catch (err) {
      result = err;
    }
    return { read, result };
  }

  const echo = { instructions: "You are Codex.", tools: [{ type: "function", name: "shell", parameters: {} }], input: [] };
  const answers: Record<string, unknown>[] = [
    { ...echo, ...(openaiResponsesClientCodec.encodeResponse(answer, testCtx()) as Record<string, unknown>) },
    { ...echo, id: "r", status: "incomplete", incomplete_details: { reason: "content_filter" }, output: [], usage: { input_tokens: 3 } },
    { ...echo, status: "failed", error: { code: "server_error", message: "x" } },
  ];

  it("names every member decodeResponse reads, so a lane may hand it only those", () => {
    for (const body of answers) {
      const { read, result } = reads(body);
      expect([...read].filter((k) => !RESPONSE_MEMBERS.includes(k))).toEqual([]);
      const only = Object.fromEntries(Object.entries(body).filter(([k]) => RESPONSE_MEMBERS.includes(k)));
      expect(reads(only).result).toEqual(result);
    }
  });
});
