/**
 * The Codex backend's plan usage, scriptable per answer (docs/protocols.md#codex-rate-limits,
 * docs/protocols.md#codex-rate-limits): every answer carries the account's two windows as `x-codex-*` headers,
 * and a used-up window answers 429
 * `{"error": {"type": "usage_limit_reached", "message", "plan_type", "resets_at", "resets_in_seconds"}}`
 * with the window at 100 % in the headers (the shape openai/codex `codex-rs` parses).
 *
 * Directives (README.md):
 *   usage=PCT             primary (5 h) window's used percent on this answer (default 12.5)
 *   usage_secondary=PCT   secondary (weekly) window's used percent (default 3)
 *   usage_limit[=SECS]    answer 429 usage_limit_reached, resetting in SECS (default 3600)
 *   plan=TYPE             the `plan_type` of a usage_limit_reached body (default plus)
 *
 * The backend keys usage by account, which requests name in `chatgpt-account-id`: a script rule
 * matching {@link codexAccount} sets one account's usage, e.g.
 * `mock.script({ match: codexAccount("acct-2"), scenario: "usage=97" })`.
 */
import { type HttpReply, JSON_HEADERS } from "./adapter.js";
import type { RecordedRequest, Scenario } from "./types.js";

/** The defaults every answer carries when nothing is scripted. */
const PRIMARY_USED = 12.5;
const SECONDARY_USED = 3;
const PRIMARY_WINDOW_MINUTES = 300;
const SECONDARY_WINDOW_MINUTES = 10080;
const DEFAULT_RESETS_IN = 3600;

export type UsageScenario = Pick<Scenario, "usagePrimary" | "usageSecondary" | "usageLimitSeconds" | "planType">;

/** Matches requests on one ChatGPT account (the `chatgpt-account-id` header), for script rules. */
export function codexAccount(accountId: string): (r: RecordedRequest) => boolean {
  return (r) => r.headers["chatgpt-account-id"] === accountId;
}

/** The usage windows as the backend sends them on every answer; `limitReached` puts the primary window at 100 %. */
export function codexUsageHeaders(s: Partial<UsageScenario> | undefined, nowSeconds: number, limitReached = false): Record<string, string> {
  const primary = limitReached ? 100 : (s?.usagePrimary ?? PRIMARY_USED);
  const resetsIn = s?.usageLimitSeconds ?? DEFAULT_RESETS_IN;
  return {
    "x-codex-primary-used-percent": primary.toFixed(1),
    "x-codex-primary-window-minutes": String(PRIMARY_WINDOW_MINUTES),
    "x-codex-primary-reset-at": String(nowSeconds + (limitReached ? resetsIn : DEFAULT_RESETS_IN)),
    "x-codex-secondary-used-percent": (s?.usageSecondary ?? SECONDARY_USED).toFixed(1),
    "x-codex-secondary-window-minutes": String(SECONDARY_WINDOW_MINUTES),
    "x-codex-secondary-reset-at": String(nowSeconds + 86400),
    "x-codex-credits-has-credits": "False",
    "x-codex-credits-unlimited": "False",
  };
}

/** The backend's 429 for a used-up window: both reset fields, the plan, and the window at 100 % in the headers. */
export function usageLimitReply(
  requestId: string,
  s: Partial<UsageScenario> | undefined,
  message: string | undefined,
  nowSeconds: number,
  extra: Record<string, string> = {},
): HttpReply {
  const resetsIn = s?.usageLimitSeconds ?? DEFAULT_RESETS_IN;
  const body = {
    error: {
      type: "usage_limit_reached",
      message: message ?? "The usage limit has been reached",
      plan_type: s?.planType ?? "plus",
      resets_at: nowSeconds + resetsIn,
      resets_in_seconds: resetsIn,
    },
  };
  return {
    status: 429,
    headers: { ...JSON_HEADERS, "x-request-id": requestId, ...codexUsageHeaders(s, nowSeconds, true), ...extra },
    body: JSON.stringify(body),
  };
}
