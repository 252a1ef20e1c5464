/**
 * Responses usage ⇄ canonical Usage (docs/protocols.md#responses-output-and-usage,
 * docs/protocols.md#usage-conversion). Both sides use
 * the OpenAI convention: input includes cached (and cache-write) tokens, output
 * includes reasoning tokens, so the mapping is field for field.
 */
import type { Usage } from "../../canonical/usage.js";
import { isObject, num } from "./guards.js";
import type { ResponsesUsage } from "./wire.js";

export function decodeUsage(raw: unknown): Usage | undefined {
  if (!isObject(raw)) return undefined;
  const inDetails = isObject(raw.input_tokens_details) ? raw.input_tokens_details : {};
  const outDetails = isObject(raw.output_tokens_details) ? raw.output_tokens_details : {};
  return {
    inputTokens: num(raw.input_tokens),
    cachedInputTokens: num(inDetails.cached_tokens),
    cacheWriteTokens: num(inDetails.cache_write_tokens),
    outputTokens: num(raw.output_tokens),
    reasoningTokens: num(outDetails.reasoning_tokens),
  };
}

export function encodeUsage(u: Usage): ResponsesUsage {
  const inputDetails: ResponsesUsage["input_tokens_details"] = { cached_tokens: u.cachedInputTokens };
  // gpt-5.6 explicit caching field; absent elsewhere, so only written when there is something to say.
  if (u.cacheWriteTokens > 0) inputDetails.cache_write_tokens = u.cacheWriteTokens;
  return {
    input_tokens: u.inputTokens,
    input_tokens_details: inputDetails,
    output_tokens: u.outputTokens,
    output_tokens_details: { reasoning_tokens: u.reasoningTokens },
    total_tokens: u.inputTokens + u.outputTokens,
  };
}
