/**
 * Usage conversion between Anthropic's convention and the canonical one
 * (docs/protocols.md#usage-conversion). Anthropic `input_tokens` excludes cache reads and cache
 * writes; canonical `inputTokens` is the whole prompt.
 */
import type { Usage } from "../../canonical/usage.js";
import type { AnthropicUsage } from "./wire.js";
import { isRecord } from "../shared/guards.js";

/** Raw Anthropic counters as last reported; fields absent in an update keep their value. */
export type AnthropicUsageCounters = AnthropicUsage;

export function emptyAnthropicUsage(): AnthropicUsageCounters {
  return { input_tokens: 0, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 0 };
}

function count(v: unknown): number | undefined {
  return typeof v === "number" && Number.isFinite(v) && v >= 0 ? v : undefined;
}

/**
 * Applies a (possibly partial) usage object onto `prev`. Stream `message_delta`
 * usage is cumulative, so present fields replace, absent or null ones keep.
 */
export function mergeAnthropicUsage(prev: AnthropicUsageCounters, raw: unknown): AnthropicUsageCounters {
  if (!isRecord(raw)) return prev;
  const next: AnthropicUsageCounters = {
    input_tokens: count(raw.input_tokens) ?? prev.input_tokens,
    cache_creation_input_tokens: count(raw.cache_creation_input_tokens) ?? prev.cache_creation_input_tokens,
    cache_read_input_tokens: count(raw.cache_read_input_tokens) ?? prev.cache_read_input_tokens,
    output_tokens: count(raw.output_tokens) ?? prev.output_tokens,
  };
  const details = raw.output_tokens_details;
  const thinking = isRecord(details) ? count(details.thinking_tokens) : undefined;
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
