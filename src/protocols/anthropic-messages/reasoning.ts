/**
 * Reasoning effort ⇄ thinking budget tables.
 * Both directions follow docs/protocols.md#reasoning-effort-and-thinking-budgets (effort → budget
 * as CPA's chat→claude, budget → effort as its claude→codex), so they agree at the table points.
 */
import type { ReasoningEffort } from "../../canonical/request.js";
import type { AnthropicEffort } from "./wire.js";

/** Anthropic rejects `budget_tokens` below this. */
export const MIN_THINKING_BUDGET = 1024;

const BUDGET_OF_EFFORT: Record<Exclude<ReasoningEffort, "none">, number> = {
  minimal: 1024, // CPA's table says 512, raised to the API minimum
  low: 1024,
  medium: 8192,
  high: 24576,
  xhigh: 32768,
  max: 32768,
};

export function effortToBudget(effort: ReasoningEffort): number | undefined {
  return effort === "none" ? undefined : BUDGET_OF_EFFORT[effort];
}

export function budgetToEffort(budget: number): ReasoningEffort {
  if (budget <= 0) return "none";
  if (budget <= 512) return "minimal";
  if (budget <= 1024) return "low";
  if (budget <= 8192) return "medium";
  if (budget <= 24576) return "high";
  return "xhigh";
}

/** `output_config.effort` has no `none`/`minimal`. */
export function toAnthropicEffort(effort: ReasoningEffort): AnthropicEffort | undefined {
  if (effort === "none") return undefined;
  if (effort === "minimal") return "low";
  return effort;
}

const EFFORTS: ReadonlySet<string> = new Set(["none", "minimal", "low", "medium", "high", "xhigh", "max"]);

export function isReasoningEffort(v: unknown): v is ReasoningEffort {
  return typeof v === "string" && EFFORTS.has(v);
}
