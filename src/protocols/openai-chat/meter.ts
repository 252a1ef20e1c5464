/**
 * Metering of Chat Completions answers, for both lanes: the stream decoder,
 * the response decoder and the passthrough stream meter all read usage through
 * readChatUsage, so the same answer is billed the same on either lane.
 *
 * The mapping to canonical Usage (both sides count the whole prompt as input
 * and reasoning inside output):
 * - inputTokens ← `prompt_tokens`, cached and cache-written tokens included;
 *   outputTokens ← `completion_tokens`
 *   (https://platform.openai.com/docs/api-reference/chat/object#chat/object-usage).
 * - cachedInputTokens ← `prompt_tokens_details.cached_tokens`
 *   (https://platform.openai.com/docs/guides/prompt-caching), or DeepSeek's
 *   top-level `prompt_cache_hit_tokens` when that is all there is
 *   (https://api-docs.deepseek.com/guides/kv_cache).
 * - cacheWriteTokens ← `prompt_tokens_details.cache_write_tokens` (OpenAI
 *   explicit caching; OpenRouter, https://openrouter.ai/docs/use-cases/usage-accounting),
 *   or `prompt_tokens_details.cache_creation_input_tokens` (Alibaba Model
 *   Studio's explicit cache, https://www.alibabacloud.com/help/en/model-studio/context-cache).
 *   OpenAI's implicit cache never reports writes; these are 0 then.
 * - reasoningTokens ← `completion_tokens_details.reasoning_tokens`
 *   (https://platform.openai.com/docs/guides/reasoning).
 *
 * A stream reports usage only when asked (`stream_options.include_usage`), in
 * one chunk with `choices: []` before `[DONE]`; the other chunks carry
 * `usage: null` (https://platform.openai.com/docs/api-reference/chat-streaming).
 */
import type { Usage } from "../../canonical/usage.js";
import { emptyUsage } from "../../canonical/usage.js";
import type { InboundEvent, ProtocolMeter, StreamMeter } from "../codec.js";
import { isRecord, tryParseJson } from "../common/guards.js";
import { byteTriggers, tokenCount } from "../common/metering.js";

/** Undefined when `raw` is not a usage object (Chat sends `usage: null` on ordinary chunks). */
export function readChatUsage(raw: unknown): Usage | undefined {
  if (!isRecord(raw)) return undefined;
  const prompt = isRecord(raw.prompt_tokens_details) ? raw.prompt_tokens_details : {};
  const completion = isRecord(raw.completion_tokens_details) ? raw.completion_tokens_details : {};
  return {
    inputTokens: tokenCount(raw.prompt_tokens) ?? 0,
    cachedInputTokens: tokenCount(prompt.cached_tokens) ?? tokenCount(raw.prompt_cache_hit_tokens) ?? 0,
    cacheWriteTokens: tokenCount(prompt.cache_write_tokens) ?? tokenCount(prompt.cache_creation_input_tokens) ?? 0,
    outputTokens: tokenCount(raw.completion_tokens) ?? 0,
    reasoningTokens: tokenCount(completion.reasoning_tokens) ?? 0,
  };
}

/** Usage of a non-streamed completion body. */
export function chatUsageFromJson(body: unknown): Usage {
  return (isRecord(body) ? readChatUsage(body.usage) : undefined) ?? emptyUsage();
}

/**
 * Only chunks that may hold a usage object, an error or a finish_reason are
 * parsed; the bare `"usage":null` of ordinary chunks does not match.
 * A false match (the text inside a content string) costs one parse, nothing more.
 */
const WORTH_PARSING = /"usage"\s*:\s*\{|"error"\s*:|"finish_reason"\s*:\s*"/;

/**
 * Follows the stream decoder's rules: the last usage object wins, nothing
 * after `[DONE]` or an error chunk counts, and a finish_reason on choice 0 or
 * `[DONE]` each mark the answer complete (some compatible servers omit `[DONE]`).
 */
class ChatStreamMeter implements StreamMeter {
  usage = emptyUsage();
  completed = false;
  errorMessage: string | undefined;
  private done = false;

  observe(ev: InboundEvent): void {
    if (this.done) return;
    const raw = ev.data.trim();
    if (raw === "[DONE]") {
      this.completed = true;
      this.done = true;
      return;
    }
    if (!WORTH_PARSING.test(raw)) return;
    const chunk = tryParseJson(raw);
    if (!isRecord(chunk)) return;
    if (chunk.error !== undefined && chunk.error !== null) {
      const err = isRecord(chunk.error) ? chunk.error : {};
      this.errorMessage = typeof err.message === "string" ? err.message : typeof chunk.error === "string" ? chunk.error : "upstream stream error";
      // An error after the finish_reason still breaks the answer (no usage chunk, no [DONE]).
      this.completed = false;
      this.done = true;
      return;
    }
    const choice = Array.isArray(chunk.choices) ? chunk.choices.find((c) => isRecord(c) && (c.index ?? 0) === 0) : undefined;
    if (isRecord(choice) && typeof choice.finish_reason === "string") this.completed = true;
    const usage = readChatUsage(chunk.usage);
    if (usage) this.usage = usage;
  }
}

export const chatMeter: ProtocolMeter = {
  // Both spellings of the usage key: compact JSON (OpenAI) and JSON with spaces (some compatible servers).
  triggers: byteTriggers('"usage":{', '"usage": {', "[DONE]", '"error"', '"finish_reason":"', '"finish_reason": "'),
  createStreamMeter: () => new ChatStreamMeter(),
  usageFromJson: chatUsageFromJson,
};
