import { describe, expect, it } from "vitest";
import type { StreamPart } from "../../canonical/stream.js";
import { foldStream } from "../common/fold-stream.js";
import { decodeEvents, sse, testCtx, upstreamTextStream, upstreamToolCallStream } from "./test-support.js";

const created = sse("response.created", { response: { id: "resp_1", model: "gpt-5", created_at: 5, output: [] } });

describe("ResponsesStreamDecoder", () => {
  it("decodes reasoning (parts joined by a blank line, blob on the end), text, usage and finish", () => {
    const parts = decodeEvents(upstreamTextStream());
    expect(parts).toEqual<StreamPart[]>([
      { type: "response-start", meta: { id: "resp_abc123", model: "gpt-5", created: 1_700_000_100 } },
      { type: "reasoning-start", id: "reasoning-0" },
      { type: "reasoning-delta", id: "reasoning-0", delta: "Think" },
      { type: "reasoning-delta", id: "reasoning-0", delta: "ing." },
      { type: "reasoning-delta", id: "reasoning-0", delta: "\n\n" },
      { type: "reasoning-delta", id: "reasoning-0", delta: "More." },
      { type: "reasoning-end", id: "reasoning-0", signature: "gAAAAblob" },
      { type: "text-start", id: "text-1-0" },
      { type: "text-delta", id: "text-1-0", delta: "Hel" },
      { type: "text-delta", id: "text-1-0", delta: "lo" },
      { type: "text-end", id: "text-1-0" },
      { type: "usage", usage: { inputTokens: 1200, cachedInputTokens: 1024, cacheWriteTokens: 0, outputTokens: 300, reasoningTokens: 200 } },
      { type: "finish", reason: "stop" },
    ]);
  });

  it("emits the unsent remainder of the arguments and finishes with tool-calls", () => {
    const events = upstreamToolCallStream("f", ['{"a":']);
    // The done event carries more than the deltas did.
    events[3] = sse("response.function_call_arguments.done", { item_id: "fc_1", output_index: 0, arguments: '{"a":1}' });
    const parts = decodeEvents(events);
    expect(parts.filter((p) => p.type.startsWith("tool-call"))).toEqual([
      { type: "tool-call-start", id: "function_call-0", callId: "call_1", name: "f" },
      { type: "tool-call-delta", id: "function_call-0", delta: '{"a":' },
      { type: "tool-call-delta", id: "function_call-0", delta: "1}" },
      { type: "tool-call-end", id: "function_call-0", arguments: '{"a":1}' },
    ]);
    expect(parts.at(-1)).toEqual({ type: "finish", reason: "tool-calls" });
  });

  it("restores the namespace of a namespaced tool call", () => {
    const parts = decodeEvents([
      created,
      sse("response.output_item.added", {
        output_index: 0,
        item: { type: "function_call", call_id: "c", name: "close_agent", namespace: "multi_agent_v1", arguments: "" },
      }),
      sse("response.output_item.done", {
        output_index: 0,
        item: { type: "function_call", call_id: "c", name: "close_agent", namespace: "multi_agent_v1", arguments: "{}" },
      }),
      sse("response.completed", { response: { status: "completed" } }),
    ]);
    expect(foldStream(parts).content).toEqual([{ type: "tool-call", callId: "c", name: "multi_agent_v1.close_agent", arguments: "{}" }]);
  });

  it("takes a message's whole text from output_item.done when no deltas came", () => {
    const parts = decodeEvents([
      created,
      sse("response.output_item.added", { output_index: 0, item: { id: "m", type: "message", role: "assistant", content: [] } }),
      sse("response.output_item.done", {
        output_index: 0,
        item: { id: "m", type: "message", role: "assistant", content: [{ type: "output_text", text: "whole" }] },
      }),
      sse("response.completed", { response: { status: "completed", output: [] } }),
    ]);
    expect(parts.slice(1, 4)).toEqual([
      { type: "text-start", id: "text-0-0" },
      { type: "text-delta", id: "text-0-0", delta: "whole" },
      { type: "text-end", id: "text-0-0" },
    ]);
  });

  it("gives an encrypted-only reasoning item a block that carries the signature", () => {
    const parts = decodeEvents([
      created,
      sse("response.output_item.added", { output_index: 0, item: { id: "r", type: "reasoning", summary: [] } }),
      sse("response.output_item.done", { output_index: 0, item: { id: "r", type: "reasoning", summary: [], encrypted_content: "gAAAAz" } }),
      sse("response.completed", { response: { status: "completed" } }),
    ]);
    expect(foldStream(parts).content).toEqual([{ type: "reasoning", text: "", signature: "gAAAAz" }]);
  });

  it("maps incomplete to length / content-filter", () => {
    const incomplete = (reason: string) =>
      decodeEvents([created, sse("response.incomplete", { response: { status: "incomplete", incomplete_details: { reason } } })]).at(-1);
    expect(incomplete("max_output_tokens")).toEqual({ type: "finish", reason: "length" });
    expect(incomplete("content_filter")).toEqual({ type: "finish", reason: "content-filter" });
  });

  it("turns response.failed and error events into error parts", () => {
    const failed = decodeEvents([
      created,
      sse("response.failed", { response: { status: "failed", error: { code: "rate_limit_exceeded", message: "Try again in 2s" } } }),
    ]);
    expect(failed.at(-1)).toEqual({ type: "error", error: { kind: "rate_limit", code: "rate_limit_exceeded", message: "Try again in 2s" } });
    expect(failed.filter((p) => p.type === "error")).toHaveLength(1);
    const err = decodeEvents([created, sse("error", { code: "context_length_exceeded", message: "too long", param: null })]);
    expect(err.at(-1)).toEqual({ type: "error", error: { kind: "invalid_request", code: "context_length_exceeded", message: "too long" } });
    const ws = decodeEvents([
      { event: undefined, data: JSON.stringify({ type: "error", status: 429, error: { type: "usage_limit_reached", message: "limit" } }) },
    ]);
    expect(ws).toEqual([{ type: "error", error: { kind: "rate_limit", code: "usage_limit_reached", message: "limit" } }]);
  });

  it("tolerates [DONE], ignores unknown events and reports a stream that ends without a terminal event", () => {
    const parts = decodeEvents([created, sse("response.web_search_call.searching", { output_index: 0 }), { event: undefined, data: "[DONE]" }]);
    expect(parts).toEqual([
      { type: "response-start", meta: { id: "resp_1", model: "gpt-5", created: 5 } },
      { type: "error", error: { kind: "upstream", code: "stream_truncated", message: "Upstream stream ended before response.completed." } },
    ]);
  });

  it("does not read the data of an event that only says again that the response started", () => {
    const reads: string[] = [];
    const watched = (event: string, payload: Record<string, unknown>) => {
      const { data } = sse(event, payload);
      return {
        event,
        get data() {
          reads.push(event);
          return data;
        },
      };
    };
    const [, ...rest] = upstreamTextStream();
    const stream = [watched("response.created", { response: { id: "resp_1", model: "gpt-5", created_at: 5 } })];
    stream.push(watched("response.in_progress", { response: { id: "resp_1", model: "gpt-5", created_at: 5 } }));
    const parts = decodeEvents([...stream, ...rest]);
    expect(reads).toEqual(["response.created"]);
    expect(parts[0]).toEqual({ type: "response-start", meta: { id: "resp_1", model: "gpt-5", created: 5 } });
    expect(parts.slice(1)).toEqual(decodeEvents(upstreamTextStream()).slice(1));
    // Before the response has started, the same event starts it.
    const late = decodeEvents([watched("response.in_progress", { response: { id: "resp_2", model: "gpt-5", created_at: 6 } })]);
    expect(late[0]).toEqual({ type: "response-start", meta: { id: "resp_2", model: "gpt-5", created: 6 } });
  });

  it("keys off data.type when the event line is missing (WebSocket frames)", () => {
    const frames = upstreamTextStream().map((e) => ({ event: undefined, data: e.data }));
    expect(decodeEvents(frames)).toEqual(decodeEvents(upstreamTextStream()));
  });

  it("closes blocks left open when the response completes, and folds to the full answer", () => {
    const parts = decodeEvents([
      created,
      sse("response.output_item.added", { output_index: 0, item: { id: "m", type: "message", content: [] } }),
      sse("response.output_text.delta", { item_id: "m", output_index: 0, content_index: 0, delta: "partial" }),
      sse("response.output_item.added", { output_index: 1, item: { id: "f", type: "function_call", call_id: "c", name: "g", arguments: "" } }),
      sse("response.function_call_arguments.delta", { item_id: "f", delta: "{}" }),
      sse("response.completed", { response: { status: "completed", usage: { input_tokens: 3, output_tokens: 4 } } }),
    ]);
    const res = foldStream(parts);
    expect(res.content).toEqual([
      { type: "text", text: "partial" },
      { type: "tool-call", callId: "c", name: "g", arguments: "{}" },
    ]);
    expect(res.finishReason).toBe("tool-calls");
    expect(res.usage).toEqual({ inputTokens: 3, cachedInputTokens: 0, cacheWriteTokens: 0, outputTokens: 4, reasoningTokens: 0 });
  });

  it("takes a summary part's text from its done event when it had no deltas", () => {
    const parts = decodeEvents([
      created,
      sse("response.output_item.added", { output_index: 0, item: { id: "r", type: "reasoning", summary: [] } }),
      sse("response.reasoning_summary_part.added", { item_id: "r", output_index: 0, summary_index: 0 }),
      sse("response.reasoning_summary_text.delta", { item_id: "r", output_index: 0, summary_index: 0, delta: "one" }),
      sse("response.reasoning_summary_part.added", { item_id: "r", output_index: 0, summary_index: 1 }),
      sse("response.reasoning_summary_text.done", { item_id: "r", output_index: 0, summary_index: 1, text: "two" }),
      sse("response.output_item.done", { output_index: 0, item: { id: "r", type: "reasoning", summary: [] } }),
      sse("response.completed", { response: { status: "completed" } }),
    ]);
    expect(foldStream(parts).content).toEqual([{ type: "reasoning", text: "one\n\ntwo" }]);
  });

  it("maps shortened names back through the context", () => {
    const ctx = testCtx();
    ctx.toolNames.set("mcp__short", "mcp__server__a_really_long_original");
    const parts = decodeEvents(upstreamToolCallStream("mcp__short", ["{}"]), ctx);
    expect(parts[1]).toMatchObject({ type: "tool-call-start", name: "mcp__server__a_really_long_original" });
  });
});
