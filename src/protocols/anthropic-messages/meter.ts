/**
 * Metering of Anthropic answers, for both lanes: the stream decoder, the
 * response decoder and the passthrough stream meter all read usage through
 * AnthropicUsageFold, so the same answer is billed the same on either lane.
 *
 * The mapping to canonical Usage:
 * - `input_tokens` counts only the prompt tokens after the last cache
 *   breakpoint; cache reads and cache writes are reported beside it, so the
 *   whole prompt is input + cache_creation + cache_read
 *   (https://docs.anthropic.com/en/docs/build-with-claude/prompt-caching#tracking-cache-performance).
 * - `output_tokens` includes thinking; `output_tokens_details.thinking_tokens`,
 *   when reported, is that share
 *   (https://rubydoc.info/github/anthropics/anthropic-sdk-ruby/Anthropic/Models/OutputTokensDetails).
 * - In a stream, `message_start` carries the first usage and `message_delta`
 *   the cumulative totals so far. Newer API versions repeat the input and
 *   cache counts there, older ones and some compatible servers send only
 *   `output_tokens`, and every field but `output_tokens` may be null
 *   (https://docs.anthropic.com/en/docs/build-with-claude/streaming,
 *   https://rubydoc.info/github/anthropics/anthropic-sdk-ruby/Anthropic/Models/MessageDeltaUsage).
 *   So a present count replaces the earlier one and an absent or null one
 *   keeps it: a delta that omits the cache counts must not zero them.
 */
import type { Usage } from "../../canonical/usage.js";
import { emptyUsage } from "../../canonical/usage.js";
import type { InboundEvent, ProtocolMeter, StreamMeter } from "../codec.js";
import { isRecord, tryParseJson } from "../common/guards.js";
import { eventNameTriggers, tokenCount } from "../common/metering.js";
import type { AnthropicUsage } from "./wire.js";

/** Raw Anthropic counters as last reported; fields absent in an update keep their value. */
export type AnthropicUsageCounters = AnthropicUsage;

export function emptyAnthropicUsage(): AnthropicUsageCounters {
  return { input_tokens: 0, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 0 };
}

/** Applies a (possibly partial) usage object onto `prev`: present counts replace, absent or null ones keep. */
export function mergeAnthropicUsage(prev: AnthropicUsageCounters, raw: unknown): AnthropicUsageCounters {
  if (!isRecord(raw)) return prev;
  const next: AnthropicUsageCounters = {
    input_tokens: tokenCount(raw.input_tokens) ?? prev.input_tokens,
    cache_creation_input_tokens: tokenCount(raw.cache_creation_input_tokens) ?? prev.cache_creation_input_tokens,
    cache_read_input_tokens: tokenCount(raw.cache_read_input_tokens) ?? prev.cache_read_input_tokens,
    output_tokens: tokenCount(raw.output_tokens) ?? prev.output_tokens,
  };
  const details = raw.output_tokens_details;
  const thinking = isRecord(details) ? tokenCount(details.thinking_tokens) : undefined;
  if (thinking !== undefined) next.output_tokens_details = { thinking_tokens: thinking };
  else if (prev.output_tokens_details) next.output_tokens_details = prev.output_tokens_details;
  return next;
}

export function anthropicToCanonicalUsage(u: AnthropicUsageCounters): Usage {
  return {
    inputTokens: u.input_tokens + u.cache_creation_input_tokens + u.cache_read_input_tokens,
    cachedInputTokens: u.cache_read_input_tokens,
    cacheWriteTokens: u.cache_creation_input_tokens,
    outputTokens: u.output_tokens,
    reasoningTokens: u.output_tokens_details?.thinking_tokens ?? 0,
  };
}

/** The usage of one answer, folded from the usage objects it reports in order. */
export class AnthropicUsageFold {
  private counters = emptyAnthropicUsage();
  private current = emptyUsage();

  /** Folds one usage object in and returns the canonical usage so far. */
  update(raw: unknown): Usage {
    this.counters = mergeAnthropicUsage(this.counters, raw);
    this.current = anthropicToCanonicalUsage(this.counters);
    return this.current;
  }

  get usage(): Usage {
    return this.current;
  }
}

/** Usage of a non-streamed message body. */
export function anthropicUsageFromJson(body: unknown): Usage {
  return new AnthropicUsageFold().update(isRecord(body) ? body.usage : undefined);
}

/**
 * Follows the stream decoder's rules on which events count: a repeated
 * `message_start` is ignored, and nothing after `message_stop` or `error` is.
 */
class AnthropicStreamMeter implements StreamMeter {
  private readonly fold = new AnthropicUsageFold();
  private started = false;
  private done = false;
  completed = false;
  errorMessage: string | undefined;

  get usage(): Usage {
    return this.fold.usage;
  }

  observe(ev: InboundEvent): void {
    if (this.done) return;
    // Anthropic names every event; other names carry nothing to meter and are not parsed.
    if (ev.event !== undefined && ev.event !== "message_start" && ev.event !== "message_delta" && ev.event !== "message_stop" && ev.event !== "error") return;
    const data = tryParseJson(ev.data);
    if (!isRecord(data)) return;
    switch (typeof data.type === "string" ? data.type : ev.event) {
      case "message_start":
        if (this.started) return;
        this.started = true;
        this.fold.update(isRecord(data.message) ? data.message.usage : undefined);
        return;
      case "message_delta":
        this.fold.update(data.usage);
        return;
      case "message_stop":
        this.completed = true;
        this.done = true;
        return;
      case "error": {
        const err = isRecord(data.error) ? data.error : {};
        this.errorMessage = typeof err.message === "string" ? err.message : "upstream stream error";
        this.done = true;
        return;
      }
    }
  }
}

export const anthropicMeter: ProtocolMeter = {
  createStreamMeter: () => new AnthropicStreamMeter(),
  usageFromJson: anthropicUsageFromJson,
  ...eventNameTriggers("message_", "error"),
};
