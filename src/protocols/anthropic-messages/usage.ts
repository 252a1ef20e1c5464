/**
 * Canonical usage → Anthropic's convention, for answers the gateway writes to
 * Anthropic clients. Anthropic `input_tokens` excludes cache reads and cache
 * writes; canonical `inputTokens` is the whole prompt. Reading upstream usage
 * is meter.ts's job.
 */
import type { Usage } from "../../canonical/usage.js";
import type { AnthropicUsage } from "./wire.js";

export function canonicalToAnthropicUsage(u: Usage): AnthropicUsage {
  const out: AnthropicUsage = {
    // Never negative, even if an upstream reported cached > input.
    input_tokens: Math.max(0, u.inputTokens - u.cachedInputTokens - u.cacheWriteTokens),
    cache_creation_input_tokens: u.cacheWriteTokens,
    cache_read_input_tokens: u.cachedInputTokens,
    output_tokens: u.outputTokens,
  };
  if (u.reasoningTokens > 0) out.output_tokens_details = { thinking_tokens: u.reasoningTokens };
  return out;
}
