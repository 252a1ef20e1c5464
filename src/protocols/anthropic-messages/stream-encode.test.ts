import { describe, expect, it } from "vitest";
import type { StreamPart } from "../../canonical/stream.js";
import type { OutboundEvent } from "../codec.js";
import { AnthropicStreamEncoder } from "./stream-encode.js";
import { ctxFor, runEncoder } from "./test-support.js";
import { validateAnthropicStream } from "./validate.js";

const meta = { id: "msg_up", model: "gpt-x", created: 1 };
const start: StreamPart = { type: "response-start", meta };

function encode(parts: StreamPart[]): OutboundEvent[] {
  const events = runEncoder(new AnthropicStreamEncoder(ctxFor("claude-client")), parts);
  expect(validateAnthropicStream(events)).toEqual([]);
  return events;
}

/** Compact view: event type, block index and delta payload. */
function shape(events: OutboundEvent[]): string[] {
  return events.map((e) => {
    const d = e.data as Record<string, unknown>;
    const delta = d.delta as Record<string, unknown> | undefined;
    const block = d.content_block as Record<string, unknown> | undefined;
    if (d.type === "content_block_start") return `start ${String(d.index)} ${String(block?.type)}`;
    if (d.type === "content_block_delta")
      return `delta ${String(d.index)} ${String(delta?.type)} ${String(delta?.text ?? delta?.thinking ?? delta?.partial_json ?? delta?.signature)}`;
    if (d.type === "content_block_stop") return `stop ${String(d.index)}`;
    return String(d.type);
  });
}

describe("AnthropicStreamEncoder", () => {
  it("emits message_start first with the client model and usage in Anthropic convention", () => {
    const events = encode([
      { type: "response-start", meta, usage: { inputTokens: 3000, cachedInputTokens: 2048, cacheWriteTokens: 100, outputTokens: 0, reasoningTokens: 0 } },
      { type: "text-start", id: "t" },
      { type: "text-delta", id: "t", delta: "Hello" },
      { type: "text-end", id: "t" },
      { type: "usage", usage: { inputTokens: 3000, cachedInputTokens: 2048, cacheWriteTokens: 100, outputTokens: 7, reasoningTokens: 2 } },
      { type: "finish", reason: "stop" },
    ]);
    expect(events[0]).toEqual({
      event: "message_start",
      data: {
        type: "message_start",
        message: {
          id: "msg_up",
          type: "message",
          role: "assistant",
          model: "claude-client",
          content: [],
          stop_reason: null,
          stop_sequence: null,
          usage: { input_tokens: 852, cache_creation_input_tokens: 100, cache_read_input_tokens: 2048, output_tokens: 0 },
        },
      },
    });
    expect(events.at(-2)).toEqual({
      event: "message_delta",
      data: {
        type: "message_delta",
        delta: { stop_reason: "end_turn", stop_sequence: null },
        usage: {
          input_tokens: 852,
          cache_creation_input_tokens: 100,
          cache_read_input_tokens: 2048,
          output_tokens: 7,
          output_tokens_details: { thinking_tokens: 2 },
        },
      },
    });
    expect(events.at(-1)).toEqual({ event: "message_stop", data: { type: "message_stop" } });
  });

  it("defers text that arrives while a tool_use block is open", () => {
    const events = encode([
      start,
      { type: "tool-call-start", id: "c", callId: "call_1", name: "Bash" },
      { type: "tool-call-delta", id: "c", delta: '{"a":' },
      { type: "text-start", id: "t" },
      { type: "text-delta", id: "t", delta: "meanwhile" },
      { type: "tool-call-delta", id: "c", delta: "1}" },
      { type: "tool-call-end", id: "c", arguments: '{"a":1}' },
      { type: "text-end", id: "t" },
      { type: "finish", reason: "tool-calls" },
    ]);
    expect(shape(events)).toEqual([
      "message_start",
      "start 0 tool_use",
      'delta 0 input_json_delta {"a":',
      "delta 0 input_json_delta 1}",
      "stop 0",
      "start 1 text",
      "delta 1 text_delta meanwhile",
      "stop 1",
      "message_delta",
      "message_stop",
    ]);
  });

  it("holds a tool call back until the open text block closes", () => {
    const events = encode([
      start,
      { type: "text-start", id: "t" },
      { type: "text-delta", id: "t", delta: "a" },
      { type: "tool-call-start", id: "c", callId: "call.1", name: "f" },
      { type: "tool-call-end", id: "c", arguments: '{"x":true}' },
      { type: "text-delta", id: "t", delta: "b" },
      { type: "text-end", id: "t" },
    ]);
    expect(shape(events)).toEqual([
      "message_start",
      "start 0 text",
      "delta 0 text_delta a",
      "delta 0 text_delta b",
      "stop 0",
      "start 1 tool_use",
      'delta 1 input_json_delta {"x":true}',
      "stop 1",
      "message_delta",
      "message_stop",
    ]);
    // Ids returned to Claude are sanitised; no finish part + a tool call means tool_use.
    const toolStart = events[5]?.data as { content_block: { id: string } };
    expect(toolStart.content_block.id).toBe("call_1");
    expect((events.at(-2)?.data as { delta: { stop_reason: string } }).delta.stop_reason).toBe("tool_use");
  });

  it("sends the signature last in a thinking block, and signature-only or redacted reasoning as its own block", () => {
    const events = encode([
      start,
      { type: "reasoning-start", id: "r1" },
      { type: "reasoning-delta", id: "r1", delta: "think" },
      { type: "reasoning-end", id: "r1", signature: "gAAAAsig" },
      { type: "reasoning-start", id: "r2" },
      { type: "reasoning-end", id: "r2", signature: "sig2" },
      { type: "reasoning-start", id: "r3" },
      { type: "reasoning-end", id: "r3", redacted: "blob" },
      { type: "reasoning-start", id: "r4" },
      { type: "reasoning-end", id: "r4" },
      { type: "text-start", id: "t" },
      { type: "text-end", id: "t" },
    ]);
    expect(shape(events)).toEqual([
      "message_start",
      "start 0 thinking",
      "delta 0 thinking_delta think",
      "delta 0 signature_delta gAAAAsig",
      "stop 0",
      "start 1 thinking",
      "delta 1 signature_delta sig2",
      "stop 1",
      "start 2 redacted_thinking",
      "stop 2",
      "message_delta",
      "message_stop",
    ]);
  });

  it("sends final-only tool arguments as one delta and closes blocks left open at the end", () => {
    const events = encode([
      { type: "tool-call-start", id: "c", callId: "toolu_9", name: "f" },
      { type: "tool-call-end", id: "c", arguments: '{"q":"x"}' },
      { type: "text-start", id: "t" },
      { type: "text-delta", id: "t", delta: "cut off" },
    ]);
    expect(shape(events)).toEqual([
      "message_start",
      "start 0 tool_use",
      'delta 0 input_json_delta {"q":"x"}',
      "stop 0",
      "start 1 text",
      "delta 1 text_delta cut off",
      "stop 1",
      "message_delta",
      "message_stop",
    ]);
  });

  it("maps finish reasons and stop sequences", () => {
    const events = encode([start, { type: "finish", reason: "stop-sequence", stopSequence: "END" }]);
    expect(events.at(-2)?.data).toMatchObject({ delta: { stop_reason: "stop_sequence", stop_sequence: "END" } });
  });

  it("ends with an error event on an error part", () => {
    const enc = new AnthropicStreamEncoder(ctxFor());
    const events = [
      ...enc.push(start),
      ...enc.push({ type: "text-start", id: "t" }),
      ...enc.push({ type: "text-delta", id: "t", delta: "par" }),
      ...enc.push({ type: "error", error: { kind: "rate_limit", message: "slow down" } }),
      ...enc.push({ type: "text-delta", id: "t", delta: "tial" }),
      ...enc.end(),
    ];
    expect(events.at(-1)).toEqual({ event: "error", data: { type: "error", error: { type: "rate_limit_error", message: "slow down" } } });
    expect(validateAnthropicStream(events)).toEqual([]);
  });
});
