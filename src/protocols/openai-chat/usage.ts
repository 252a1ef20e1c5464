/**
 * Chat usage ⇄ canonical usage. Chat `prompt_tokens` already includes cached
 * tokens, as the canonical convention does (docs/protocols.md#usage-conversion);
 * `prompt_tokens_details.cache_write_tokens` is the newer explicit-cache count.
 */
import type { Usage } from "../../canonical/usage.js";
import { isRecord } from "../shared/guards.js";
import type { ChatUsage } from "./wire.js";

function count(v: unknown): number {
  return typeof v === "number" && Number.isFinite(v) && v >= 0 ? v : 0;
}

/** Undefined when `raw` is not a usage object (Chat sends `usage: null` on ordinary chunks). */
export function chatToCanonicalUsage(raw: unknown): Usage | undefined {
  if (!isRecord(raw)) return undefined;
  const prompt = isRecord(raw.prompt_tokens_details) ? raw.prompt_tokens_details : {};
  const completion = isRecord(raw.completion_tokens_details) ? raw.completion_tokens_details : {};
  return {
    inputTokens: count(raw.prompt_tokens),
    cachedInputTokens: count(prompt.cached_tokens),
    cacheWriteTokens: count(prompt.cache_write_tokens),
    outputTokens: count(raw.completion_tokens),
    reasoningTokens: count(completion.reasoning_tokens),
  };
}

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
