import { afterEach, describe, expect, it, vi } from "vitest";
import type { Usage } from "../../canonical/usage.js";
import type { InboundEvent } from "../codec.js";
import { anthropicMeter } from "./meter.js";
import { decodeAnthropicResponse } from "./response.js";
import { createAnthropicStreamDecoder } from "./stream-decode.js";
import { ctxFor } from "./test-support.js";

const ev = (type: string, fields: Record<string, unknown> = {}): InboundEvent => ({ event: type, data: JSON.stringify({ type, ...fields }) });
const start = (usage: Record<string, unknown>) =>
  ev("message_start", { message: { id: "msg_1", type: "message", role: "assistant", model: "claude", content: [], stop_reason: null, usage } });
const delta = (usage: Record<string, unknown>) => ev("message_delta", { delta: { stop_reason: "end_turn", stop_sequence: null }, usage });
const body = [
  ev("content_block_start", { index: 0, content_block: { type: "text", text: "" } }),
  ev("ping"),
  ev("content_block_delta", { index: 0, delta: { type: "text_delta", text: "hi" } }),
  ev("content_block_stop", { index: 0 }),
];

/** Usage as each lane sees the stream: the passthrough meter, and the decoder's last usage part. */
function bothLanes(events: InboundEvent[]): { passthrough: Usage; translate: Usage | undefined } {
  const meter = anthropicMeter.createStreamMeter();
  const decoder = createAnthropicStreamDecoder(ctxFor());
  let translate: Usage | undefined;
  for (const e of events) {
    meter.observe(e);
    for (const p of decoder.push(e)) if (p.type === "usage") translate = p.usage;
  }
  return { passthrough: meter.usage, translate };
}

afterEach(() => vi.restoreAllMocks());

describe("Anthropic metering", () => {
  it("keeps the cache counts message_start reported when message_delta repeats only input_tokens", () => {
    const lanes = bothLanes([
      start({ input_tokens: 10, cache_read_input_tokens: 5, cache_creation_input_tokens: 2, output_tokens: 1 }),
      ...body,
      delta({ input_tokens: 10, output_tokens: 20, output_tokens_details: { thinking_tokens: 3 } }),
      ev("message_stop"),
    ]);
    const want = { inputTokens: 17, cachedInputTokens: 5, cacheWriteTokens: 2, outputTokens: 20, reasoningTokens: 3 };
    expect(lanes).toEqual({ passthrough: want, translate: want });
  });

  it("treats null and absent counts in message_delta as unchanged, present ones as the new total", () => {
    const lanes = bothLanes([
      start({ input_tokens: 12, cache_read_input_tokens: 2048, cache_creation_input_tokens: 0, output_tokens: 1 }),
      delta({ input_tokens: null, cache_read_input_tokens: null, cache_creation_input_tokens: 300, output_tokens: 7 }),
      delta({ output_tokens: 50 }),
      ev("message_stop"),
    ]);
    const want = { inputTokens: 12 + 2048 + 300, cachedInputTokens: 2048, cacheWriteTokens: 300, outputTokens: 50, reasoningTokens: 0 };
    expect(lanes).toEqual({ passthrough: want, translate: want });
  });

  it("reads a non-streamed message's usage, thinking tokens included", () => {
    const message = {
      id: "msg_1",
      type: "message",
      role: "assistant",
      model: "claude",
      content: [{ type: "text", text: "hi" }],
      stop_reason: "end_turn",
      stop_sequence: null,
      usage: {
        input_tokens: 12,
        cache_creation_input_tokens: 100,
        cache_read_input_tokens: 2048,
        output_tokens: 50,
        output_tokens_details: { thinking_tokens: 30 },
        cache_creation: { ephemeral_5m_input_tokens: 100, ephemeral_1h_input_tokens: 0 },
        service_tier: "standard",
      },
    };
    const want = { inputTokens: 2160, cachedInputTokens: 2048, cacheWriteTokens: 100, outputTokens: 50, reasoningTokens: 30 };
    expect(anthropicMeter.usageFromJson(message)).toEqual(want);
    expect(decodeAnthropicResponse(message, ctxFor()).usage).toEqual(want);
    expect(anthropicMeter.usageFromJson({ type: "error" })).toEqual({
      inputTokens: 0,
      cachedInputTokens: 0,
      cacheWriteTokens: 0,
      outputTokens: 0,
      reasoningTokens: 0,
    });
  });

  it("completes on message_stop, fails on an error event, and ignores what follows either", () => {
    const done = anthropicMeter.createStreamMeter();
    for (const e of [start({ input_tokens: 3, output_tokens: 1 }), delta({ output_tokens: 4 }), ev("message_stop"), delta({ output_tokens: 99 })])
      done.observe(e);
    expect([done.completed, done.errorMessage, done.usage.outputTokens]).toEqual([true, undefined, 4]);

    const failed = anthropicMeter.createStreamMeter();
    for (const e of [
      start({ input_tokens: 3, output_tokens: 1 }),
      ev("error", { error: { type: "overloaded_error", message: "Overloaded" } }),
      ev("message_stop"),
    ]) {
      failed.observe(e);
    }
    expect([failed.completed, failed.errorMessage]).toEqual([false, "Overloaded"]);
  });

  it("parses only the events that can carry usage or end the stream", () => {
    const events = [start({ input_tokens: 3, output_tokens: 1 }), ...body, ...body, delta({ output_tokens: 4 }), ev("message_stop")];
    const parse = vi.spyOn(JSON, "parse");
    const meter = anthropicMeter.createStreamMeter();
    for (const e of events) meter.observe(e);
    expect(parse).toHaveBeenCalledTimes(3);
    expect(meter.completed).toBe(true);
  });
});
