import { afterEach, describe, expect, it, vi } from "vitest";
import type { Usage } from "../../canonical/usage.js";
import type { InboundEvent } from "../codec.js";
import { ctxFor } from "../anthropic-messages/test-support.js";
import { chatMeter, readChatUsage } from "./meter.js";
import { decodeChatResponse } from "./response.js";
import { createChatStreamDecoder } from "./stream-decode.js";

const head = { id: "c1", object: "chat.completion.chunk", created: 1, model: "m" };
const chunk = (choices: unknown[], usage: unknown = null, json = JSON.stringify): InboundEvent => ({
  event: undefined,
  data: json({ ...head, choices, usage }),
});
const text = (content: string) => chunk([{ index: 0, delta: { content }, finish_reason: null }]);
const finish = chunk([{ index: 0, delta: {}, finish_reason: "stop" }]);
const DONE: InboundEvent = { event: undefined, data: "[DONE]" };

function bothLanes(events: InboundEvent[]): { passthrough: Usage; translate: Usage | undefined } {
  const meter = chatMeter.createStreamMeter();
  const decoder = createChatStreamDecoder(ctxFor());
  let translate: Usage | undefined;
  for (const e of events) {
    meter.observe(e);
    for (const p of decoder.push(e)) if (p.type === "usage") translate = p.usage;
  }
  return { passthrough: meter.usage, translate };
}

afterEach(() => vi.restoreAllMocks());

describe("Chat metering", () => {
  it("meters cache writes the same on both lanes", () => {
    const usage = {
      prompt_tokens: 100,
      completion_tokens: 9,
      total_tokens: 109,
      prompt_tokens_details: { cached_tokens: 40, cache_write_tokens: 30 },
      completion_tokens_details: { reasoning_tokens: 4 },
    };
    const want = { inputTokens: 100, cachedInputTokens: 40, cacheWriteTokens: 30, outputTokens: 9, reasoningTokens: 4 };
    expect(bothLanes([text("hi"), finish, chunk([], usage), DONE])).toEqual({ passthrough: want, translate: want });
  });

  it("reads the cache fields of compatible providers", () => {
    // DeepSeek: hits and misses at the top level, both inside prompt_tokens.
    expect(readChatUsage({ prompt_tokens: 1000, completion_tokens: 5, prompt_cache_hit_tokens: 800, prompt_cache_miss_tokens: 200 })).toMatchObject({
      inputTokens: 1000,
      cachedInputTokens: 800,
      cacheWriteTokens: 0,
    });
    // Alibaba Model Studio's explicit cache.
    const qwen = {
      prompt_tokens: 3019,
      completion_tokens: 104,
      prompt_tokens_details: { cached_tokens: 0, cache_creation_input_tokens: 1013, cache_type: "ephemeral" },
    };
    expect(readChatUsage(qwen)).toMatchObject({ inputTokens: 3019, cachedInputTokens: 0, cacheWriteTokens: 1013 });
    // OpenRouter.
    const openrouter = { prompt_tokens: 194, completion_tokens: 2, prompt_tokens_details: { cached_tokens: 0, cache_write_tokens: 100, audio_tokens: 0 } };
    expect(readChatUsage(openrouter)).toMatchObject({ cachedInputTokens: 0, cacheWriteTokens: 100 });
    // Garbage counts read as 0, never negative.
    expect(readChatUsage({ prompt_tokens: -1, completion_tokens: "7" })).toEqual({
      inputTokens: 0,
      cachedInputTokens: 0,
      cacheWriteTokens: 0,
      outputTokens: 0,
      reasoningTokens: 0,
    });
  });

  it("meters a usage chunk written with spaces after the colons", () => {
    const spaced = (v: unknown) => JSON.stringify(v, null, 1).replace(/\n */g, " ");
    const events = [text("hi"), finish, chunk([], { prompt_tokens: 11, completion_tokens: 3, total_tokens: 14 }, spaced), DONE];
    const lanes = bothLanes(events);
    expect(lanes.passthrough).toEqual({ inputTokens: 11, cachedInputTokens: 0, cacheWriteTokens: 0, outputTokens: 3, reasoningTokens: 0 });
    expect(lanes.translate).toEqual(lanes.passthrough);
    expect(chatMeter.triggers.some((t) => Buffer.from(events[2]!.data).includes(Buffer.from(t)))).toBe(true);
  });

  it("counts a finish_reason as complete without [DONE], but not when an error follows it", () => {
    const noDone = chatMeter.createStreamMeter();
    for (const e of [text("hi"), finish]) noDone.observe(e);
    expect([noDone.completed, noDone.errorMessage]).toEqual([true, undefined]);

    const broken = chatMeter.createStreamMeter();
    for (const e of [text("hi"), finish, { event: undefined, data: JSON.stringify({ error: { message: "boom", type: "server_error" } }) }, DONE])
      broken.observe(e);
    expect([broken.completed, broken.errorMessage]).toEqual([false, "boom"]);
  });

  it("reads a non-streamed completion's usage as the response decoder does", () => {
    const completion = {
      id: "c1",
      object: "chat.completion",
      created: 1,
      model: "m",
      choices: [{ index: 0, message: { role: "assistant", content: "hi" }, finish_reason: "stop" }],
      usage: { prompt_tokens: 50, completion_tokens: 5, total_tokens: 55, prompt_tokens_details: { cached_tokens: 10, cache_write_tokens: 20 } },
    };
    const want = { inputTokens: 50, cachedInputTokens: 10, cacheWriteTokens: 20, outputTokens: 5, reasoningTokens: 0 };
    expect(chatMeter.usageFromJson(completion)).toEqual(want);
    expect(decodeChatResponse(completion, ctxFor()).usage).toEqual(want);
  });

  it("does not parse ordinary chunks that carry `usage: null`, nor a finish chunk that [DONE] follows", () => {
    const events = [text("a"), text("b"), text('"usage": null'), finish, chunk([], { prompt_tokens: 1, completion_tokens: 1 }), DONE];
    const parse = vi.spyOn(JSON, "parse");
    const meter = chatMeter.createStreamMeter();
    for (const e of events) meter.observe(e);
    expect(meter.completed).toBe(true);
    // The usage chunk only.
    expect(parse).toHaveBeenCalledTimes(1);
    expect(meter.usage.inputTokens).toBe(1);
  });

  it("parses a finish chunk when completion is asked before any [DONE], and only choice 0's finish completes", () => {
    const parse = vi.spyOn(JSON, "parse");
    const meter = chatMeter.createStreamMeter();
    for (const e of [text("hi"), finish]) meter.observe(e);
    expect(parse).not.toHaveBeenCalled();
    expect(meter.completed).toBe(true);
    expect(parse).toHaveBeenCalledTimes(1);
    // Read again: settled, nothing parsed twice.
    expect(meter.completed).toBe(true);
    expect(parse).toHaveBeenCalledTimes(1);

    const otherChoice = chatMeter.createStreamMeter();
    otherChoice.observe(chunk([{ index: 1, delta: {}, finish_reason: "stop" }]));
    expect(otherChoice.completed).toBe(false);
    otherChoice.observe(chunk([{ index: 0, delta: {}, finish_reason: "length" }]));
    expect(otherChoice.completed).toBe(true);
  });
});
