/**
 * Canonical usage → Responses usage, for answers the gateway writes to
 * Responses clients. Both count the whole prompt as input (cached and
 * cache-write tokens included) and reasoning inside output, so the mapping is
 * field for field. Reading upstream usage is meter.ts's job.
 */
import type { Usage } from "../../canonical/usage.js";
import type { ResponsesUsage } from "./wire.js";

export function encodeUsage(u: Usage): ResponsesUsage {
  const inputDetails: ResponsesUsage["input_tokens_details"] = { cached_tokens: u.cachedInputTokens };
  // The explicit-caching field; absent elsewhere, so only written when there is something to say.
  if (u.cacheWriteTokens > 0) inputDetails.cache_write_tokens = u.cacheWriteTokens;
  return {
    input_tokens: u.inputTokens,
    input_tokens_details: inputDetails,
    output_tokens: u.outputTokens,
    output_tokens_details: { reasoning_tokens: u.reasoningTokens },
    total_tokens: u.inputTokens + u.outputTokens,
  };
}
