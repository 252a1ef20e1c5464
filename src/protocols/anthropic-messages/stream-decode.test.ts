import { describe, expect, it } from "vitest";
import { AnthropicStreamDecoder } from "./stream-decode.js";
import { ctxFor, runDecoder, sse, summarize } from "./test-support.js";

/** Shape of a real api.anthropic.com stream with thinking, text and a tool call. */
const TRANSCRIPT = `
event: message_start
data: {"type":"message_start","message":{"id":"msg_01","type":"message","role":"assistant","model":"claude-opus-4-8","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":12,"cache_creation_input_tokens":100,"cache_read_input_tokens":2048,"output_tokens":1}}}

event: ping
data: {"type":"ping"}

event: content_block_start
data: {"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":"","signature":""}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"Let me "}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"check."}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"EqQBCkgI"}}

event: content_block_stop
data: {"type":"content_block_stop","index":0}

event: content_block_start
data: {"type":"content_block_start","index":1,"content_block":{"type":"text","text":""}}

event: content_block_delta
data: {"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"Running ls."}}

event: content_block_stop
data: {"type":"content_block_stop","index":1}

event: content_block_start
data: {"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"toolu_01","name":"Bash","input":{}}}

event: content_block_delta
data: {"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":""}}

event: content_block_delta
data: {"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"{\\"command\\": \\"l"}}

event: content_block_delta
data: {"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"s\\"}"}}

event: content_block_stop
data: {"type":"content_block_stop","index":2}

event: message_delta
data: {"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":20}}

event: message_delta
data: {"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":42,"output_tokens_details":{"thinking_tokens":9}}}

event: message_stop
data: {"type":"message_stop"}
`;

describe("AnthropicStreamDecoder", () => {
  it("decodes a full stream into canonical parts", () => {
    const parts = runDecoder(new AnthropicStreamDecoder(ctxFor()), sse(TRANSCRIPT));
    expect(parts[0]).toEqual({
      type: "response-start",
      meta: { id: "msg_01", model: "claude-opus-4-8", created: 1_700_000_000 },
      usage: { inputTokens: 2160, cachedInputTokens: 2048, cacheWriteTokens: 100, outputTokens: 1, reasoningTokens: 0 },
    });
    expect(parts).toContainEqual({ type: "reasoning-end", id: "0", signature: "EqQBCkgI" });
    expect(parts).toContainEqual({ type: "tool-call-start", id: "2", callId: "toolu_01", name: "Bash" });
    expect(parts).toContainEqual({ type: "tool-call-end", id: "2", arguments: '{"command": "ls"}' });
    const s = summarize(parts);
    expect(s).toMatchObject({ text: "Running ls.", reasoning: "Let me check.", finish: "tool-calls", errors: [] });
    // message_delta usage is cumulative: the last one wins, input counts from message_start stay.
    expect(s.usage).toEqual({ inputTokens: 2160, cachedInputTokens: 2048, cacheWriteTokens: 100, outputTokens: 42, reasoningTokens: 9 });
  });

  it("maps tool names back through the context", () => {
    const ctx = ctxFor();
    ctx.toolNames.set("mcp__tool", "mcp__very_long_server__tool");
    const dec = new AnthropicStreamDecoder(ctx);
    const parts = runDecoder(
      dec,
      sse(`event: message_start
data: {"type":"message_start","message":{"id":"m","model":"x","usage":{"input_tokens":1,"output_tokens":0}}}

event: content_block_start
data: {"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"t","name":"mcp__tool","input":{}}}

event: content_block_stop
data: {"type":"content_block_stop","index":0}

event: message_delta
data: {"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":3}}

event: message_stop
data: {"type":"message_stop"}`),
    );
    expect(parts).toContainEqual({ type: "tool-call-start", id: "0", callId: "t", name: "mcp__very_long_server__tool" });
    expect(parts).toContainEqual({ type: "tool-call-end", id: "0", arguments: "{}" });
  });

  it("turns an error event into an error part and stops", () => {
    const parts = runDecoder(
      new AnthropicStreamDecoder(ctxFor()),
      sse(`event: message_start
data: {"type":"message_start","message":{"id":"m","model":"x","usage":{"input_tokens":1,"output_tokens":0}}}

event: error
data: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}

event: message_stop
data: {"type":"message_stop"}`),
    );
    expect(parts.at(-1)).toEqual({ type: "error", error: { kind: "overloaded", message: "Overloaded", code: "overloaded_error" } });
    expect(parts.filter((p) => p.type === "error")).toHaveLength(1);
  });

  it("reports a stream that ends without message_stop", () => {
    const events = sse(TRANSCRIPT).slice(0, 6);
    const parts = runDecoder(new AnthropicStreamDecoder(ctxFor()), events);
    expect(parts.at(-1)).toMatchObject({ type: "error", error: { kind: "upstream", code: "stream_truncated" } });
  });

  it("ignores server-tool blocks and unknown events", () => {
    const parts = runDecoder(
      new AnthropicStreamDecoder(ctxFor()),
      sse(`event: message_start
data: {"type":"message_start","message":{"id":"m","model":"x","usage":{"input_tokens":1,"output_tokens":0}}}

event: content_block_start
data: {"type":"content_block_start","index":0,"content_block":{"type":"server_tool_use","id":"srv","name":"web_search","input":{}}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"{}"}}

event: content_block_stop
data: {"type":"content_block_stop","index":0}

event: something_new
data: {"type":"something_new"}

event: message_delta
data: {"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":3}}

event: message_stop
data: {"type":"message_stop"}`),
    );
    expect(parts.map((p) => p.type)).toEqual(["response-start", "usage", "usage", "finish"]);
  });
});
