/**
 * Well-known model ids per upstream protocol, for `GET /v1/models` only. An upstream
 * that declares a pattern (`gpt-5*`) serves an open set of names, and a listing can
 * name only those known to exist; routing never reads this list (any name a pattern
 * matches is routed). Keep it short, and add models as vendors publish them; an
 * operator lists anything else by declaring its exact name on the upstream or in an
 * account's `models`.
 */
import type { UpstreamProtocol } from "../canonical/protocols.js";

/** OpenAI's models, served by the Responses API, by Chat Completions and, for the Codex ones, by the Codex backend. */
const OPENAI: readonly string[] = [
  "gpt-5.5",
  "gpt-5.4",
  "gpt-5.4-mini",
  "gpt-5.4-nano",
  "gpt-5.4-pro",
  "gpt-5.3-codex",
  "gpt-5.2",
  "gpt-5.2-codex",
  "gpt-5.2-pro",
  "gpt-5.1",
  "gpt-5.1-codex",
  "gpt-5.1-codex-max",
  "gpt-5.1-codex-mini",
  "gpt-5",
  "gpt-5-mini",
  "gpt-5-nano",
  "gpt-5-pro",
  "gpt-5-codex",
  "gpt-5-codex-mini",
  "gpt-4.1",
  "gpt-4.1-mini",
  "gpt-4.1-nano",
  "gpt-4o",
  "gpt-4o-mini",
  "o3",
  "o3-pro",
  "o4-mini",
];

/** Anthropic's models: the aliases and the dated ids the API takes. */
const ANTHROPIC: readonly string[] = [
  "claude-opus-4-7",
  "claude-opus-4-6",
  "claude-sonnet-4-6",
  "claude-opus-4-5",
  "claude-opus-4-5-20251101",
  "claude-sonnet-4-5",
  "claude-sonnet-4-5-20250929",
  "claude-haiku-4-5",
  "claude-haiku-4-5-20251001",
  "claude-opus-4-1",
  "claude-opus-4-1-20250805",
  "claude-opus-4-0",
  "claude-opus-4-20250514",
  "claude-sonnet-4-0",
  "claude-sonnet-4-20250514",
];

/** OpenAI-compatible providers commonly put behind a Chat upstream. */
const CHAT_COMPATIBLE: readonly string[] = ["deepseek-chat", "deepseek-reasoner", "qwen-max", "qwen-plus", "qwen-turbo"];

export const KNOWN_MODELS: Readonly<Record<UpstreamProtocol, readonly string[]>> = {
  "openai-responses": OPENAI,
  "openai-chat": [...OPENAI, ...CHAT_COMPATIBLE],
  codex: OPENAI.filter((m) => m.startsWith("gpt-5")),
  anthropic: ANTHROPIC,
};
