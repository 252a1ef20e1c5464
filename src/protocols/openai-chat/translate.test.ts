/**
 * Chat ⇄ Anthropic through the canonical model: requests both ways (incl. the
 * real Claude Code capture sent to a Chat upstream) and streams decoded from
 * one protocol and encoded for the other, each checked by the strict validator.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { anthropicClientCodec, anthropicUpstreamCodec, validateAnthropicStream } from "../anthropic-messages/index.js";
import { ctxFor, FIXTURES, runDecoder, runEncoder, sse, summarize } from "../anthropic-messages/test-support.js";
import type { InboundEvent } from "../codec.js";
import { openaiChatClientCodec, openaiChatUpstreamCodec, validateChatStream } from "./index.js";

const claudeTurn = (JSON.parse(readFileSync(new URL("claude-toolcall/003-POST-v1_messages.json", FIXTURES), "utf8")) as { body: unknown }).body;

describe("requests", () => {
  it("sends a Claude Code turn to a Chat upstream", () => {
    const req = anthropicClientCodec.decodeRequest(claudeTurn);
    const ctx = ctxFor(req.model);
    const body = openaiChatUpstreamCodec.encodeRequest(req, ctx) as { messages: Array<Record<string, unknown>>; tools: unknown[] } & Record<string, unknown>;
    expect(body.messages.map((m) => m.role)).toEqual(["system", "user", "system", "assistant", "tool"]);
    expect(String(body.messages[0]?.content)).not.toContain("x-anthropic-billing-header");
    expect(body.messages[3]).toEqual({
      role: "assistant",
      content: null,
      tool_calls: [
        {
          id: "toolu_mock0001",
          type: "function",
          function: { name: "Bash", arguments: '{"command":"echo hello-from-mock","description":"Print a greeting"}' },
        },
      ],
    });
    expect(body.messages[4]).toEqual({ role: "tool", tool_call_id: "toolu_mock0001", content: "hello-from-mock" });
    expect(body.tools).toHaveLength(24);
    expect(body).toMatchObject({ stream: true, stream_options: { include_usage: true }, max_completion_tokens: 64000, reasoning_effort: "high" });
    expect(body.context_management).toBeUndefined();
  });

  it("sends a Chat client's tool round trip to an Anthropic upstream", () => {
    const req = openaiChatClientCodec.decodeRequest({
      model: "claude-x",
      messages: [
        { role: "system", content: "sys" },
        { role: "user", content: "weather in Paris and Rome?" },
        {
          role: "assistant",
          content: null,
          tool_calls: [
            { id: "call_p", type: "function", function: { name: "weather", arguments: '{"city":"Paris"}' } },
            { id: "call_r", type: "function", function: { name: "weather", arguments: "not json" } },
          ],
        },
        { role: "tool", tool_call_id: "call_p", content: "sunny" },
        { role: "tool", tool_call_id: "call_r", content: "rain" },
      ],
      tools: [{ type: "function", function: { name: "weather", parameters: { type: "object", properties: { city: { type: "string" } } } } }],
      tool_choice: "required",
      max_tokens: 100,
      stop: ["\n\n"],
    });
    const ctx = ctxFor();
    const body = anthropicUpstreamCodec.encodeRequest(req, ctx);
    expect(body).toMatchObject({
      system: [{ type: "text", text: "sys" }],
      max_tokens: 100,
      stop_sequences: ["\n\n"],
      tool_choice: { type: "any" },
      tools: [{ name: "weather", input_schema: { type: "object", properties: { city: { type: "string" } } } }],
      messages: [
        { role: "user", content: [{ type: "text", text: "weather in Paris and Rome?" }] },
        {
          role: "assistant",
          content: [
            { type: "tool_use", id: "call_p", name: "weather", input: { city: "Paris" } },
            { type: "tool_use", id: "call_r", name: "weather", input: {} },
          ],
        },
        {
          role: "user",
          content: [
            { type: "tool_result", tool_use_id: "call_p", content: "sunny" },
            { type: "tool_result", tool_use_id: "call_r", content: "rain" },
          ],
        },
      ],
    });
    expect(ctx.warnings.map((w) => w.code)).toEqual(["tool_arguments_invalid"]);
  });
});

const anthropicUpstream = sse(`
event: message_start
data: {"type":"message_start","message":{"id":"msg_x","type":"message","role":"assistant","model":"claude","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":10,"cache_creation_input_tokens":0,"cache_read_input_tokens":990,"output_tokens":1}}}

event: content_block_start
data: {"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":"","signature":""}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"plan"}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"sig"}}

event: content_block_stop
data: {"type":"content_block_stop","index":0}

event: content_block_start
data: {"type":"content_block_start","index":1,"content_block":{"type":"text","text":""}}

event: content_block_delta
data: {"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"On it."}}

event: content_block_stop
data: {"type":"content_block_stop","index":1}

event: content_block_start
data: {"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"toolu_a","name":"Read","input":{}}}

event: content_block_delta
data: {"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"{\\"path\\":\\"x\\"}"}}

event: content_block_stop
data: {"type":"content_block_stop","index":2}

event: message_delta
data: {"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":33}}

event: message_stop
data: {"type":"message_stop"}
`);

const chatChunk = (delta: Record<string, unknown>, finish: string | null = null, extra: Record<string, unknown> = {}): InboundEvent => ({
  event: undefined,
  data: JSON.stringify({
    id: "chatcmpl-y",
    object: "chat.completion.chunk",
    created: 5,
    model: "gpt",
    choices: [{ index: 0, delta, finish_reason: finish }],
    ...extra,
  }),
});
const chatUpstream: InboundEvent[] = [
  chatChunk({ role: "assistant", content: "" }),
  chatChunk({ reasoning_content: "plan" }),
  chatChunk({ content: "On it." }),
  chatChunk({ tool_calls: [{ index: 0, id: "call_a", type: "function", function: { name: "Read", arguments: '{"path":' } }] }),
  chatChunk({ content: " (also this)" }),
  chatChunk({ tool_calls: [{ index: 0, function: { arguments: '"x"}' } }] }),
  chatChunk({}, "tool_calls"),
  {
    event: undefined,
    data: JSON.stringify({
      id: "chatcmpl-y",
      object: "chat.completion.chunk",
      created: 5,
      model: "gpt",
      choices: [],
      usage: { prompt_tokens: 1000, completion_tokens: 33, total_tokens: 1033, prompt_tokens_details: { cached_tokens: 990 } },
    }),
  },
  { event: undefined, data: "[DONE]" },
];

describe("streams", () => {
  it("Anthropic upstream → Chat client", () => {
    const ctx = ctxFor("gpt-client");
    ctx.clientRequest = openaiChatClientCodec.decodeRequest({
      model: "gpt-client",
      messages: [{ role: "user", content: "x" }],
      stream_options: { include_usage: true },
    });
    const parts = runDecoder(anthropicUpstreamCodec.createStreamDecoder(ctx), anthropicUpstream);
    const events = runEncoder(openaiChatClientCodec.createStreamEncoder(ctx), parts);
    expect(validateChatStream(events)).toEqual([]);
    const usageChunk = events.at(-2)?.data as { usage: Record<string, unknown> };
    expect(usageChunk.usage).toMatchObject({ prompt_tokens: 1000, completion_tokens: 33, prompt_tokens_details: { cached_tokens: 990 } });
  });

  it("Chat upstream → Anthropic client", () => {
    const ctx = ctxFor("claude-client");
    const parts = runDecoder(openaiChatUpstreamCodec.createStreamDecoder(ctx), chatUpstream);
    const events = runEncoder(anthropicClientCodec.createStreamEncoder(ctx), parts);
    expect(validateAnthropicStream(events)).toEqual([]);
    const last = events.at(-2)?.data as { delta: { stop_reason: string }; usage: Record<string, number> };
    expect(last.delta.stop_reason).toBe("tool_use");
    expect(last.usage).toEqual({ input_tokens: 10, cache_creation_input_tokens: 0, cache_read_input_tokens: 990, output_tokens: 33 });
    expect(summarize(parts)).toMatchObject({
      text: "On it. (also this)",
      reasoning: "plan",
      tools: [{ callId: "call_a", name: "Read", arguments: '{"path":"x"}' }],
    });
  });

  it("same-protocol stream round trips stay valid", () => {
    const a = ctxFor();
    expect(
      validateAnthropicStream(
        runEncoder(anthropicClientCodec.createStreamEncoder(a), runDecoder(anthropicUpstreamCodec.createStreamDecoder(a), anthropicUpstream)),
      ),
    ).toEqual([]);
    const c = ctxFor();
    expect(
      validateChatStream(runEncoder(openaiChatClientCodec.createStreamEncoder(c), runDecoder(openaiChatUpstreamCodec.createStreamDecoder(c), chatUpstream))),
    ).toEqual([]);
  });

  it("a truncated upstream becomes a protocol-correct error on the client side", () => {
    const a = ctxFor();
    const events = runEncoder(
      anthropicClientCodec.createStreamEncoder(a),
      runDecoder(anthropicUpstreamCodec.createStreamDecoder(a), anthropicUpstream.slice(0, 7)),
    );
    expect(validateAnthropicStream(events)).toEqual([]);
    expect(events.at(-1)?.event).toBe("error");
    const c = ctxFor();
    const chunks = runEncoder(
      openaiChatClientCodec.createStreamEncoder(c),
      runDecoder(openaiChatUpstreamCodec.createStreamDecoder(c), chatUpstream.slice(0, 4)),
    );
    expect(validateChatStream(chunks)).toEqual([]);
    expect(chunks.at(-1)?.data).toMatchObject({ error: { type: "server_error" } });
  });
});
