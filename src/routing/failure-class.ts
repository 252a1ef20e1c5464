/**
 * What an upstream's failed answer says about the key that sent it (docs/routing.md#health):
 * revoked (401/403), out of money (402 or a quota body), a subscription's usage window
 * used up (the Codex backend's `usage_limit_reached`), throttled (429, with the
 * provider's own idea of when to come back), or broken (5xx, 408). The pipeline reports
 * the class to key health; this module only reads the answer.
 */
import type { UpstreamHeaders } from "../upstream/response.js";
import { parseUsageLimitError, usageLimitWaitMs } from "../upstream/codex-usage.js";

/** Why an attempt on a key failed, as far as the key's health is concerned. */
export type FailureClass = "rate_limited" | "usage_limit" | "quota" | "server_error" | "network" | "auth";

export interface ClassifiedFailure {
  cls: FailureClass;
  /** How long the upstream asked us to stay away, when it said so (Retry-After, reset headers, a reset in the body). */
  waitMs?: number;
}

/**
 * Bodies that mean "this account has no money or plan left", whatever the status:
 * OpenAI and most OpenAI-compatible providers send 429 `insufficient_quota`; Moonshot
 * `exceeded_current_quota_error`; Anthropic 402 `billing_error`, and older accounts a 400
 * "Your credit balance is too low"; DeepSeek 402 "Insufficient Balance". (The Codex
 * backend's 429 `usage_limit_reached` is its own class, `usage_limit`: the plan window
 * resets at a stated time, often days away.)
 */
const QUOTA_BODY = /insufficient_quota|exceeded_current_quota|billing_error|credit balance is too low|insufficient[ _]balance/i;

/** Statuses whose body is read for a quota marker (others are classified by status alone). */
const QUOTA_STATUSES = new Set([400, 403, 429]);

export function classifyFailure(status: number, headers: UpstreamHeaders, bodyText: string, now: number): ClassifiedFailure | undefined {
  if (status === 429) {
    // A ChatGPT plan's window used up (docs/protocols.md#codex-rate-limits): away until the reset the body names, else the used-up window's reset header.
    const limit = parseUsageLimitError(bodyText);
    if (limit) return { cls: "usage_limit", waitMs: usageLimitWaitMs(limit, now) ?? codexResetMs(headers, now) };
  }
  if (status === 402) return { cls: "quota", waitMs: bodyResetMs(bodyText) };
  if (QUOTA_STATUSES.has(status) && QUOTA_BODY.test(bodyText)) return { cls: "quota", waitMs: bodyResetMs(bodyText) };
  if (status === 401 || status === 403) return { cls: "auth" };
  if (status === 429) return { cls: "rate_limited", waitMs: retryAfterMs(headers, now) ?? resetHeadersMs(headers, now) };
  if (status >= 500 || status === 408) return { cls: "server_error" };
  return undefined;
}

function header(headers: UpstreamHeaders, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** `Retry-After`: delay-seconds or an HTTP date (RFC 9110 §10.2.3). */
export function retryAfterMs(headers: UpstreamHeaders, now: number): number | undefined {
  const s = header(headers, "retry-after")?.trim();
  if (!s) return undefined;
  if (/^\d+(\.\d+)?$/.test(s)) return Number(s) * 1000;
  const at = Date.parse(s);
  return Number.isFinite(at) ? Math.max(0, at - now) : undefined;
}

/**
 * The provider's rate-limit reset headers, for the limit that ran out (remaining 0), or
 * the latest reset when none says which:
 * - OpenAI and compatible: `x-ratelimit-reset-requests` / `-tokens`, durations like `1s`, `6m0s`, `20ms`;
 * - Anthropic: `anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-reset`, RFC 3339 times.
 */
export function resetHeadersMs(headers: UpstreamHeaders, now: number): number | undefined {
  const found: Array<{ ms: number; exhausted: boolean }> = [];
  for (const limit of ["requests", "tokens"]) {
    const ms = parseDuration(header(headers, `x-ratelimit-reset-${limit}`));
    if (ms !== undefined) found.push({ ms, exhausted: header(headers, `x-ratelimit-remaining-${limit}`)?.trim() === "0" });
  }
  for (const limit of ["requests", "tokens", "input-tokens", "output-tokens"]) {
    const at = Date.parse(header(headers, `anthropic-ratelimit-${limit}-reset`) ?? "");
    if (Number.isFinite(at)) found.push({ ms: Math.max(0, at - now), exhausted: header(headers, `anthropic-ratelimit-${limit}-remaining`)?.trim() === "0" });
  }
  if (found.length === 0) return undefined;
  const exhausted = found.filter((f) => f.exhausted);
  return Math.max(...(exhausted.length > 0 ? exhausted : found).map((f) => f.ms));
}

/** A Go-style duration as OpenAI sends it (`1h2m3.5s`, `20ms`); undefined when it is not one. */
export function parseDuration(text: string | undefined): number | undefined {
  const s = text?.trim();
  if (!s || !/^(\d+(\.\d+)?(h|ms|m|s))+$/.test(s)) return undefined;
  const unit = { h: 3_600_000, m: 60_000, s: 1000, ms: 1 } as const;
  let total = 0;
  for (const [, n, , u] of s.matchAll(/(\d+(\.\d+)?)(h|ms|m|s)/g)) total += Number(n) * unit[u as keyof typeof unit];
  return Math.round(total);
}

/** A `resets_in_seconds` inside an error body (402 answers of Codex-style backends). */
function bodyResetMs(bodyText: string): number | undefined {
  const secs = /"resets_in_seconds"\s*:\s*(\d+)/.exec(bodyText);
  if (secs) return Number(secs[1]) * 1000;
  return undefined;
}

/** The Codex backend's window headers: the reset of a window used up (100 %). */
function codexResetMs(headers: UpstreamHeaders, now: number): number | undefined {
  let ms: number | undefined;
  for (const w of ["primary", "secondary"]) {
    if (Number(header(headers, `x-codex-${w}-used-percent`)) < 100) continue;
    const at = Number(header(headers, `x-codex-${w}-reset-at`));
    if (Number.isFinite(at) && at * 1000 > now) ms = Math.max(ms ?? 0, at * 1000 - now);
  }
  return ms;
}
