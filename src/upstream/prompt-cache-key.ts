import type { Upstream } from "../storage/ports.js";

/**
 * Whether requests to an upstream carry the session's `prompt_cache_key`: the upstream's
 * `prompt_cache_key` setting, or its protocol's default. Responses upstreams (and the
 * Codex backend) take the field; of Chat upstreams only OpenAI's own API is known to,
 * while Groq, Cerebras, NVIDIA NIM and Azure AI Foundry reject unknown fields with a 400
 * (e.g. zed-industries/zed#36215). Anthropic has no such field.
 */
export function sendsPromptCacheKey(u: Pick<Upstream, "protocol" | "baseUrl" | "settings">): boolean {
  const set = u.settings.prompt_cache_key;
  if (u.protocol === "anthropic") return false;
  if (typeof set === "boolean") return set;
  if (u.protocol === "openai-chat") return new URL(u.baseUrl).hostname === "api.openai.com";
  return true;
}
