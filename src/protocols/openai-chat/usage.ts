/**
 * Canonical usage → Chat usage, for answers the gateway writes to Chat
 * clients. Both count the whole prompt as input (cached tokens included) and
 * reasoning inside output; `prompt_tokens_details.cache_write_tokens` is only
 * written when there were writes. Reading upstream usage is meter.ts's job.
 */
import type { Usage } from "../../canonical/usage.js";
import type { ChatUsage } from "./wire.js";

export function canonicalToChatUsage(u: Usage): ChatUsage {
  const prompt: NonNullable<ChatUsage["prompt_tokens_details"]> = { cached_tokens: u.cachedInputTokens };
  if (u.cacheWriteTokens > 0) prompt.cache_write_tokens = u.cacheWriteTokens;
  return {
    prompt_tokens: u.inputTokens,
    completion_tokens: u.outputTokens,
    total_tokens: u.inputTokens + u.outputTokens,
    prompt_tokens_details: prompt,
    completion_tokens_details: { reasoning_tokens: u.reasoningTokens },
  };
}
