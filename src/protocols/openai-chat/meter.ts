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
 * Only chunks that may hold a usage object or an error are parsed as they come; the bare
 * `"usage":null` of ordinary chunks does not match. A false match (the text inside a content
 * string) costs one parse, nothing more.
 */
const USAGE_OR_ERROR = /"usage"\s*:\s*\{|"error"\s*:/;
/** A finish_reason that is a string: the chunk may complete the answer. */
const FINISH = /"finish_reason"\s*:\s*"/;

/**
 * Follows the stream decoder's rules: the last usage object wins, nothing
 * after `[DONE]` or an error chunk counts, and a finish_reason on choice 0 or
 * `[DONE]` each mark the answer complete (some compatible servers omit `[DONE]`).
 *
 * A chunk that matched only {@link FINISH} can do nothing but mark the answer complete, and
 * `[DONE]` usually follows it in the same read. So it is kept unparsed and parsed only when
 * `completed` is read before a `[DONE]` or an error settled the question: the same answer, one
 * JSON.parse fewer on most streams (docs/architecture.md#the-two-lanes).
 */
class ChatStreamMeter implements StreamMeter {
  usage = emptyUsage();
  errorMessage: string | undefined;
  #completed = false;
  #done = false;
  /** Chunks seen before any `[DONE]` or error whose only trigger was a finish_reason, unparsed. */
  #finishes: string[] | undefined;

  get completed(): boolean {
    const finishes = this.#finishes;
    if (finishes !== undefined) {
      this.#finishes = undefined;
      for (const raw of finishes) if (finishesChoiceZero(raw)) this.#completed = true;
    }
    return this.#completed;
  }

  observe(ev: InboundEvent): void {
    if (this.#done) return;
    const raw = ev.data.trim();
    if (raw === "[DONE]") {
      this.#completed = true;
      this.#done = true;
      this.#finishes = undefined;
      return;
    }
    if (!USAGE_OR_ERROR.test(raw)) {
      if (!this.#completed && FINISH.test(raw)) (this.#finishes ??= []).push(raw);
      return;
    }
    const chunk = tryParseJson(raw);
    if (!isRecord(chunk)) return;
    if (chunk.error !== undefined && chunk.error !== null) {
      const err = isRecord(chunk.error) ? chunk.error : {};
      this.errorMessage = typeof err.message === "string" ? err.message : typeof chunk.error === "string" ? chunk.error : "upstream stream error";
      // An error after the finish_reason still breaks the answer (no usage chunk, no [DONE]).
      this.#completed = false;
      this.#done = true;
      this.#finishes = undefined;
      return;
    }
    if (choiceZeroFinished(chunk)) this.#completed = true;
    const usage = readChatUsage(chunk.usage);
    if (usage) this.usage = usage;
  }
}

/** Whether the chunk's choice 0 carries a finish_reason. */
function choiceZeroFinished(chunk: Record<string, unknown>): boolean {
  const choice = Array.isArray(chunk.choices) ? chunk.choices.find((c) => isRecord(c) && (c.index ?? 0) === 0) : undefined;
  return isRecord(choice) && typeof choice.finish_reason === "string";
}

function finishesChoiceZero(raw: string): boolean {
  const chunk = tryParseJson(raw);
  return isRecord(chunk) && choiceZeroFinished(chunk);
}

export const chatMeter: ProtocolMeter = {
  // Both spellings of the usage key: compact JSON (OpenAI) and JSON with spaces (some compatible servers).
  triggers: byteTriggers('"usage":{', '"usage": {', "[DONE]", '"error"', '"finish_reason":"', '"finish_reason": "'),
  // Every chunk of a Chat stream is searched. Each alternative begins after the triggers' leading
  // quote, the stream's most frequent byte, where an alternation of the triggers stopped at every
  // quote (docs/architecture.md#the-two-lanes).
  triggerSearch: /usage": ?\{|error"|_reason": ?"|\[DONE\]/g,
  createStreamMeter: () => new ChatStreamMeter(),
  usageFromJson: chatUsageFromJson,
};
