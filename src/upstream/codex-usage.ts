/**
 * The ChatGPT Codex backend's account usage, read off its answers (docs/protocols.md#codex-rate-limits,
 * docs/codex.md#subscription-headroom-and-cooldowns). Every answer, success or error, carries the
 * account's two plan windows as headers:
 *
 *   x-codex-primary-used-percent: 42.0        (float, 0..100)
 *   x-codex-primary-window-minutes: 300       (the short window: 5 h)
 *   x-codex-primary-reset-at: 1767312000      (Unix seconds; some versions send
 *   x-codex-primary-reset-after-seconds: 3600  instead, relative)
 *   … the same for `secondary` (the weekly window, 10080 minutes) …
 *   x-codex-credits-has-credits: False, x-codex-credits-unlimited: False, x-codex-credits-balance: 0
 *
 * and a used-up window answers 429 with
 * `{"error": {"type": "usage_limit_reached", "message", "plan_type", "resets_at", "resets_in_seconds"}}`
 * (openai/codex codex-rs `codex-api/src/rate_limits.rs` and its error mapping). Pure functions,
 * tolerant of anything missing or garbled: a window whose used percent is unreadable is absent.
 */
import type { UpstreamHeaders } from "./response.js";

export interface UsageWindow {
  /** Share of the window used, 0..100. */
  usedPercent: number;
  /** The window's length; null when not sent. */
  windowMinutes: number | null;
  /** Epoch ms when the window resets; null when not sent. */
  resetsAt: number | null;
}

export interface CodexCredits {
  hasCredits: boolean | null;
  unlimited: boolean | null;
  /** As sent (a decimal string); null when not sent. */
  balance: string | null;
}

/** One answer's snapshot of the account's usage. */
export interface CodexUsage {
  primary: UsageWindow | null;
  secondary: UsageWindow | null;
  credits: CodexCredits | null;
  /** Epoch ms of the answer it was read from. */
  observedAt: number;
}

function header(headers: UpstreamHeaders, name: string): string | undefined {
  const v = headers[name];
  const s = Array.isArray(v) ? v[0] : v;
  return s === undefined ? undefined : s.trim();
}

/** A finite, non-negative number, or undefined (empty, NaN, "abc", negative). */
function number(text: string | undefined): number | undefined {
  if (text === undefined || text === "") return undefined;
  const n = Number(text);
  return Number.isFinite(n) && n >= 0 ? n : undefined;
}

function bool(text: string | undefined): boolean | null {
  const s = text?.toLowerCase();
  return s === "true" ? true : s === "false" ? false : null;
}

function window(headers: UpstreamHeaders, name: "primary" | "secondary", now: number): UsageWindow | null {
  const used = number(header(headers, `x-codex-${name}-used-percent`));
  if (used === undefined) return null;
  const minutes = number(header(headers, `x-codex-${name}-window-minutes`));
  const at = number(header(headers, `x-codex-${name}-reset-at`));
  const after = number(header(headers, `x-codex-${name}-reset-after-seconds`));
  return {
    usedPercent: Math.min(used, 100),
    windowMinutes: minutes === undefined ? null : Math.round(minutes),
    resetsAt: at !== undefined && at > 0 ? Math.round(at * 1000) : after !== undefined ? now + Math.round(after * 1000) : null,
  };
}

/** The usage an answer's headers state, or undefined when they state none (not a Codex answer, or nothing readable). */
export function parseCodexUsage(headers: UpstreamHeaders, now: number): CodexUsage | undefined {
  const primary = window(headers, "primary", now);
  const secondary = window(headers, "secondary", now);
  const hasCredits = bool(header(headers, "x-codex-credits-has-credits"));
  const unlimited = bool(header(headers, "x-codex-credits-unlimited"));
  const balance = header(headers, "x-codex-credits-balance") || null;
  const credits = hasCredits === null && unlimited === null && balance === null ? null : { hasCredits, unlimited, balance };
  if (!primary && !secondary && !credits) return undefined;
  return { primary, secondary, credits, observedAt: now };
}

/** The used percent of the tighter window (the one closer to running out); 0 when neither is known. */
export function tightestUsedPercent(u: Pick<CodexUsage, "primary" | "secondary">): number {
  return Math.max(u.primary?.usedPercent ?? 0, u.secondary?.usedPercent ?? 0);
}

/** What a `usage_limit_reached` error body says. */
export interface UsageLimitError {
  planType: string | null;
  /** Epoch ms the backend names as the reset (`resets_at`, Unix seconds); null when absent or unreadable. */
  resetsAt: number | null;
  /** `resets_in_seconds`, in ms; null when absent or unreadable. */
  resetsInMs: number | null;
}

/**
 * Reads a Codex backend `usage_limit_reached` body (`{"error": {"type": "usage_limit_reached", …}}`);
 * undefined for any other body. Tolerates garbage reset fields (they read as null).
 */
export function parseUsageLimitError(bodyText: string): UsageLimitError | undefined {
  if (!bodyText.includes("usage_limit_reached")) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(bodyText);
  } catch {
    return undefined;
  }
  const e = json && typeof json === "object" ? (json as Record<string, unknown>).error : undefined;
  if (!e || typeof e !== "object") return undefined;
  const o = e as Record<string, unknown>;
  if (o.type !== "usage_limit_reached" && o.code !== "usage_limit_reached") return undefined;
  const num = (v: unknown): number | undefined =>
    typeof v === "number" && Number.isFinite(v) && v > 0 ? v : typeof v === "string" ? number(v) || undefined : undefined;
  const at = num(o.resets_at);
  const inSecs = num(o.resets_in_seconds);
  return {
    planType: typeof o.plan_type === "string" ? o.plan_type : null,
    resetsAt: at === undefined ? null : Math.round(at * 1000),
    resetsInMs: inSecs === undefined ? null : Math.round(inSecs * 1000),
  };
}

/**
 * How long a `usage_limit_reached` asks the account to stay away: `resets_in_seconds` first (relative,
 * so a skewed clock does not matter), else `resets_at`; undefined when neither names a future reset.
 */
export function usageLimitWaitMs(e: UsageLimitError, now: number): number | undefined {
  if (e.resetsInMs !== null && e.resetsInMs > 0) return e.resetsInMs;
  if (e.resetsAt !== null && e.resetsAt > now) return e.resetsAt - now;
  return undefined;
}
