import { describe, expect, it } from "vitest";
import { sendsPromptCacheKey } from "./prompt-cache-key.js";
import type { UpstreamProtocol } from "../storage/ports.js";

const upstream = (protocol: UpstreamProtocol, baseUrl: string, settings: Record<string, unknown> = {}) => ({ protocol, baseUrl, settings });

describe("sendsPromptCacheKey", () => {
  it("defaults to on for Responses and the Codex backend, and for Chat only at api.openai.com", () => {
    expect(sendsPromptCacheKey(upstream("openai-responses", "https://ark.cn-beijing.volces.com/api/v3"))).toBe(true);
    expect(sendsPromptCacheKey(upstream("codex", "https://chatgpt.com/backend-api/codex"))).toBe(true);
    expect(sendsPromptCacheKey(upstream("openai-chat", "https://api.openai.com/v1"))).toBe(true);
    expect(sendsPromptCacheKey(upstream("openai-chat", "https://api.groq.com/openai/v1"))).toBe(false);
    expect(sendsPromptCacheKey(upstream("openai-chat", "https://dashscope.aliyuncs.com/compatible-mode/v1"))).toBe(false);
  });

  it("follows an explicit setting either way, except for Anthropic, which has no such field", () => {
    expect(sendsPromptCacheKey(upstream("openai-chat", "https://api.moonshot.cn/v1", { prompt_cache_key: true }))).toBe(true);
    expect(sendsPromptCacheKey(upstream("openai-chat", "https://api.openai.com/v1", { prompt_cache_key: false }))).toBe(false);
    expect(sendsPromptCacheKey(upstream("openai-responses", "https://api.openai.com/v1", { prompt_cache_key: false }))).toBe(false);
    expect(sendsPromptCacheKey(upstream("anthropic", "https://api.anthropic.com", { prompt_cache_key: true }))).toBe(false);
  });
});
