/**
 * Token usage in the gateway's own convention:
 * `inputTokens` is the WHOLE prompt (OpenAI convention: includes cached and cache-write tokens);
 * `outputTokens` includes reasoning tokens.
 * Anthropic codecs convert: input = input_tokens + cache_creation + cache_read.
 */
export interface Usage {
  inputTokens: number;
  cachedInputTokens: number;
  cacheWriteTokens: number;
  outputTokens: number;
  reasoningTokens: number;
}

export function emptyUsage(): Usage {
  return { inputTokens: 0, cachedInputTokens: 0, cacheWriteTokens: 0, outputTokens: 0, reasoningTokens: 0 };
}
