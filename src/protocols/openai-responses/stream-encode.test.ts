import { describe, expect, it } from "vitest";
import type { StreamPart } from "../../canonical/stream.js";
import type { Usage } from "../../canonical/usage.js";
import { foldStream } from "../common/fold-stream.js";
import { asInbound, decodeEvents, encodeParts, types, upstreamTextStream, upstreamToolCallStream } from "./test-support.js";
import { validateResponsesStream } from "./validate.js";

const usage: Usage = { inputTokens: 2000, cachedInputTokens: 1536, cacheWriteTokens: 0, outputTokens: 120, reasoningTokens: 64 };
const start: StreamPart = { type: "response-start", meta: { id: "msg_01XYZ", model: "claude-x", created: 1_700_000_500 } };

function data(events: ReturnType<typeof encodeParts>, type: string): Record<string, unknown> {
  const ev = events.find((e) => (e.data as { type: string }).type === type);
  if (!ev) throw new Error(`no ${type}`);
  return ev.data as Record<string, unknown>;
}

describe("ResponsesStreamEncoder", () => {
  it("emits a text answer in the documented order", () => {
    const events = encodeParts([
      start,
      { type: "text-start", id: "t" },
      { type: "text-delta", id: "t", delta: "Hi" },
      { type: "text-delta", id: "t", delta: " there" },
      { type: "text-end", id: "t" },
      { type: "usage", usage },
      { type: "finish", reason: "stop" },
    ]);
    expect(types(events)).toEqual([
      "response.created",
      "response.in_progress",
      "response.output_item.added",
      "response.content_part.added",
      "response.output_text.delta",
      "response.output_text.delta",
      "response.output_text.done",
      "response.content_part.done",
      "response.output_item.done",
      "response.completed",
    ]);
    expect(validateResponsesStream(events)).toEqual([]);
    expect(events.map((e) => (e.data as { sequence_number: number }).sequence_number)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(data(events, "response.output_text.done").text).toBe("Hi there");
    const completed = data(events, "response.completed").response as Record<string, unknown>;
    expect(completed).toMatchObject({
      id: "resp_01XYZ",
      object: "response",
      status: "completed",
      model: "gpt-test",
      created_at: 1_700_000_500,
      output: [{ type: "message", role: "assistant", status: "completed", content: [{ type: "output_text", text: "Hi there", annotations: [] }] }],
    });
  });

  it("writes usage in the Responses convention (input incl. cached, output incl. reasoning)", () => {
    const events = encodeParts([start, { type: "usage", usage }, { type: "finish", reason: "stop" }]);
    const response = data(events, "response.completed").response as Record<string, unknown>;
    expect(response.usage).toEqual({
      input_tokens: 2000,
      input_tokens_details: { cached_tokens: 1536 },
      output_tokens: 120,
      output_tokens_details: { reasoning_tokens: 64 },
      total_tokens: 2120,
    });
    const withWrites = encodeParts([start, { type: "usage", usage: { ...usage, cacheWriteTokens: 300 } }, { type: "finish", reason: "stop" }]);
    expect((data(withWrites, "response.completed").response as { usage: { input_tokens_details: unknown } }).usage.input_tokens_details).toEqual({
      cached_tokens: 1536,
      cache_write_tokens: 300,
    });
  });

  it("encodes reasoning, text and a tool call as separate items; the blob only when it is OpenAI's", () => {
    const parts: StreamPart[] = [
      start,
      { type: "reasoning-start", id: "r" },
      { type: "reasoning-delta", id: "r", delta: "hmm" },
      { type: "reasoning-end", id: "r", signature: "gAAAAsig" },
      { type: "reasoning-start", id: "r2" },
      { type: "reasoning-end", id: "r2", signature: "anthropic-signature" },
      { type: "text-start", id: "t" },
      { type: "text-delta", id: "t", delta: "Let me check." },
      { type: "text-end", id: "t" },
      { type: "tool-call-start", id: "c", callId: "toolu_1", name: "get_weather" },
      { type: "tool-call-delta", id: "c", delta: '{"city":' },
      { type: "tool-call-delta", id: "c", delta: '"Paris"}' },
      { type: "tool-call-end", id: "c", arguments: '{"city":"Paris"}' },
      { type: "usage", usage },
      { type: "finish", reason: "tool-calls" },
    ];
    const events = encodeParts(parts);
    expect(validateResponsesStream(events)).toEqual([]);
    const output = (data(events, "response.completed").response as { output: Array<Record<string, unknown>> }).output;
    expect(output.map((o) => o.type)).toEqual(["reasoning", "reasoning", "message", "function_call"]);
    expect(output[0]).toMatchObject({ summary: [{ type: "summary_text", text: "hmm" }], encrypted_content: "gAAAAsig" });
    expect(output[1]).not.toHaveProperty("encrypted_content");
    expect(output[3]).toMatchObject({ call_id: "toolu_1", name: "get_weather", arguments: '{"city":"Paris"}', status: "completed" });
    expect(data(events, "response.function_call_arguments.done")).toMatchObject({ arguments: '{"city":"Paris"}', name: "get_weather" });
    expect(new Set(output.map((o) => o.id)).size).toBe(4);
  });

  it("ends a length finish with response.incomplete", () => {
    const events = encodeParts([start, { type: "text-start", id: "t" }, { type: "text-delta", id: "t", delta: "cut" }, { type: "finish", reason: "length" }]);
    expect(validateResponsesStream(events)).toEqual([]);
    expect(types(events).at(-1)).toBe("response.incomplete");
    expect(data(events, "response.incomplete").response).toMatchObject({ status: "incomplete", incomplete_details: { reason: "max_output_tokens" } });
  });

  it("closes open items and ends with response.failed on an error part", () => {
    const events = encodeParts([
      start,
      { type: "tool-call-start", id: "c", callId: "x", name: "f" },
      { type: "tool-call-delta", id: "c", delta: "{" },
      { type: "error", error: { kind: "overloaded", message: "Overloaded", code: "overloaded_error" } },
      { type: "text-start", id: "late" },
    ]);
    expect(validateResponsesStream(events)).toEqual([]);
    expect(types(events).at(-1)).toBe("response.failed");
    expect(data(events, "response.failed").response).toMatchObject({ status: "failed", error: { code: "overloaded_error", message: "Overloaded" } });
  });

  it("waits for usage that comes after the finish (Chat upstreams), or for end()", () => {
    const events = encodeParts([start, { type: "finish", reason: "stop" }, { type: "usage", usage }]);
    expect(validateResponsesStream(events)).toEqual([]);
    expect((data(events, "response.completed").response as { usage: unknown }).usage).not.toBeNull();
    const noUsage = encodeParts([start, { type: "finish", reason: "stop" }]);
    expect(types(noUsage).at(-1)).toBe("response.completed");
  });

  it("ignores blocks that arrive after the finish", () => {
    const events = encodeParts([start, { type: "finish", reason: "stop" }, { type: "text-start", id: "late" }, { type: "text-delta", id: "late", delta: "x" }]);
    expect(validateResponsesStream(events)).toEqual([]);
    expect(types(events)).toEqual(["response.created", "response.in_progress", "response.completed"]);
  });

  it("derives item ids from the upstream id, and random ones without it", () => {
    const a = encodeParts([
      { ...start, meta: { id: "", model: "m", created: 1 } },
      { type: "finish", reason: "stop" },
    ]);
    const b = encodeParts([
      { ...start, meta: { id: "", model: "m", created: 1 } },
      { type: "finish", reason: "stop" },
    ]);
    const id = (ev: typeof a) => (data(ev, "response.created").response as { id: string }).id;
    expect(id(a)).toMatch(/^resp_gw/);
    expect(id(a)).not.toBe(id(b));
    expect(id(encodeParts([{ ...start, meta: { id: "resp_keep", model: "m", created: 1 } }]))).toBe("resp_keep");
  });

  it("synthesises a valid stream when the canonical stream is empty or truncated", () => {
    expect(validateResponsesStream(encodeParts([]))).toEqual([]);
    const truncated = encodeParts([start, { type: "text-start", id: "t" }, { type: "text-delta", id: "t", delta: "x" }]);
    expect(validateResponsesStream(truncated)).toEqual([]);
    expect(types(truncated).at(-1)).toBe("response.failed");
  });

  it("keeps a message open across an interleaved tool call and closes it when its text ends", () => {
    const events = encodeParts([
      start,
      { type: "text-start", id: "t" },
      { type: "tool-call-start", id: "c", callId: "k", name: "f" },
      { type: "text-delta", id: "t", delta: "still talking" },
      { type: "tool-call-end", id: "c", arguments: "{}" },
      { type: "text-end", id: "t" },
      { type: "text-start", id: "t2" },
      { type: "text-end", id: "t2" },
      { type: "finish", reason: "tool-calls" },
    ]);
    expect(validateResponsesStream(events)).toEqual([]);
    const output = (data(events, "response.completed").response as { output: Array<{ type: string }> }).output;
    expect(output.map((o) => o.type)).toEqual(["message", "function_call", "message"]);
  });

  it("round-trips an upstream stream: decode → encode → decode gives the same answer", () => {
    for (const upstream of [upstreamTextStream(), upstreamToolCallStream("f", ['{"q":', "1}"])]) {
      const first = decodeEvents(upstream);
      const encoded = encodeParts(first);
      expect(validateResponsesStream(encoded)).toEqual([]);
      const again = foldStream(decodeEvents(asInbound(encoded)));
      const original = foldStream(first);
      expect(again.content).toEqual(original.content);
      expect(again.usage).toEqual(original.usage);
      expect(again.finishReason).toEqual(original.finishReason);
    }
  });
});
