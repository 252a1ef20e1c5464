/**
 * Deterministic token accounting. Counts are estimates from byte sizes
 * (ceil(bytes / 4)) so they are stable across runs and cost nothing to compute.
 */

/** Usage in one neutral convention; each protocol module converts it. */
export interface MockUsage {
  /** The whole prompt, cached and cache-written tokens included (OpenAI convention). */
  inputTokens: number;
  /** Prompt tokens served from the cache (OpenAI cached_tokens, Anthropic cache_read_input_tokens). */
  cachedTokens: number;
  /** Prompt tokens written to the cache (Anthropic cache_creation_input_tokens). */
  cacheWriteTokens: number;
  /** Visible plus reasoning output. */
  outputTokens: number;
  reasoningTokens: number;
}

export function tokensForBytes(bytes: number): number {
  return Math.ceil(bytes / 4);
}

export function tokensForText(text: string): number {
  return tokensForBytes(Buffer.byteLength(text, "utf8"));
}

/**
 * What a request offers the prompt cache: a conversation key and the size of
 * its cacheable prefix. A repeat of the key reads min(previous, current) prefix
 * tokens from the cache.
 * - `openai`: keyed by `prompt_cache_key`; never reports cache writes.
 * - `anthropic`: keyed by model + the start of the body, prefix up to the last
 *   `cache_control` marker; the part of the prefix not read is a cache write.
 */
export interface CacheProbe {
  mode: "openai" | "anthropic";
  key: string;
  prefixTokens: number;
}

export interface CacheResult {
  readTokens: number;
  writeTokens: number;
}

/** Per-server prompt-cache simulation, bounded so a benchmark cannot grow it forever. */
export class PromptCache {
  private readonly seen = new Map<string, number>();

  constructor(private readonly maxEntries = 10_000) {}

  probe(p: CacheProbe): CacheResult {
    const prev = this.seen.get(p.key);
    if (prev === undefined && this.seen.size >= this.maxEntries) this.seen.clear();
    this.seen.set(p.key, Math.max(prev ?? 0, p.prefixTokens));
    const readTokens = prev === undefined ? 0 : Math.min(prev, p.prefixTokens);
    return { readTokens, writeTokens: p.mode === "anthropic" ? p.prefixTokens - readTokens : 0 };
  }

  clear(): void {
    this.seen.clear();
  }
}
