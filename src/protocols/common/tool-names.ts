/**
 * OpenAI caps function names at 64 characters (`^[a-zA-Z0-9_-]{1,64}$`); Claude
 * Code MCP tools (`mcp__server__tool`) can be longer. Shortening is deterministic
 * and reversible per request: the encoder records short → original in the
 * TranslationContext and the stream decoder maps names back.
 */
import { createHash } from "node:crypto";

export const OPENAI_NAME_LIMIT = 64;

const VALID_NAME = /^[a-zA-Z0-9_-]+$/;

/**
 * Builds valid wire names for a request's tools (OpenAI and Anthropic both
 * require `^[a-zA-Z0-9_-]+$`, OpenAI within 64 characters). Valid names within
 * the limit are kept; other characters become `_` (a Codex namespaced tool
 * `multi_agent_v1.close_agent` → `multi_agent_v1_close_agent`); `mcp__a__b…`
 * keeps `mcp__` + its last segment; the rest are truncated; clashes get `_1`,
 * `_2` … suffixes. Returns original → wire name.
 */
export function shortenToolNames(names: readonly string[], limit = OPENAI_NAME_LIMIT): Map<string, string> {
  const out = new Map<string, string>();
  const fits = (name: string): boolean => name.length <= limit && VALID_NAME.test(name);
  const used = new Set<string>();
  for (const name of names) if (fits(name)) used.add(name);
  for (const name of names) {
    if (out.has(name)) continue;
    if (fits(name)) {
      out.set(name, name);
      continue;
    }
    let base = name.replace(/[^a-zA-Z0-9_-]/g, "_") || "tool";
    if (base.length > limit && base.startsWith("mcp__")) {
      const last = base.slice(base.lastIndexOf("__") + 2);
      if (last) base = `mcp__${last}`;
    }
    base = base.slice(0, limit);
    let candidate = base;
    for (let i = 1; used.has(candidate); i++) {
      const suffix = `_${i}`;
      candidate = base.slice(0, limit - suffix.length) + suffix;
    }
    used.add(candidate);
    out.set(name, candidate);
  }
  return out;
}

/**
 * Call ids longer than 64 characters become a 47-character prefix, "_", and 16
 * hex characters of their SHA-256: deterministic, so the same id maps the same
 * way on every turn.
 */
export function shortenCallId(id: string, limit = OPENAI_NAME_LIMIT): string {
  if (id.length <= limit) return id;
  const digest = createHash("sha256").update(id).digest("hex").slice(0, 16);
  return `${id.slice(0, 47)}_${digest}`;
}

/** Anthropic tool_use ids must match ^[a-zA-Z0-9_-]+$. */
export function sanitizeToolUseId(id: string): string {
  return id.replace(/[^a-zA-Z0-9_-]/g, "_");
}
