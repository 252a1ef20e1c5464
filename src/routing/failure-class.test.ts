import { describe, expect, it } from "vitest";
import { classifyFailure, parseDuration, resetHeadersMs, retryAfterMs } from "./failure-class.js";

const NOW = Date.parse("2026-01-01T00:00:00Z");

describe("failure classification", () => {
  it("401 and 403 disable the key", () => {
    expect(classifyFailure(401, {}, `{"error":{"message":"Incorrect API key provided","type":"invalid_request_error","code":"invalid_api_key"}}`, NOW)).toEqual(
      {
        cls: "auth",
      },
    );
    expect(classifyFailure(403, {}, `{"type":"error","error":{"type":"permission_error","message":"no"}}`, NOW)).toEqual({ cls: "auth" });
  });

  it("402 and the providers' quota-exhausted answers are quota, whatever their status", () => {
    const quota = [
      // OpenAI (and compatible providers copying it): 429 insufficient_quota.
      [
        429,
        `{"error":{"message":"You exceeded your current quota, please check your plan and billing details.","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}`,
      ],
      // Anthropic: 402 billing_error, and the older 400 for a low credit balance.
      [402, `{"type":"error","error":{"type":"billing_error","message":"billing"}}`],
      [400, `{"type":"error","error":{"type":"invalid_request_error","message":"Your credit balance is too low to access the Anthropic API."}}`],
      // DeepSeek: 402 Insufficient Balance.
      [402, `{"error":{"message":"Insufficient Balance","type":"unknown_error","param":null,"code":"invalid_request_error"}}`],
      // Moonshot / Kimi: 429 exceeded_current_quota_error.
      [429, `{"error":{"message":"You exceeded your current quota","type":"exceeded_current_quota_error"}}`],
    ] as const;
    for (const [status, body] of quota) expect(classifyFailure(status, { "retry-after": "5" }, body, NOW), body).toEqual({ cls: "quota", waitMs: undefined });
  });

  it("the Codex backend's usage limit is its own class, away until the reset it names", () => {
    const body = `{"error":{"type":"usage_limit_reached","message":"limit","plan_type":"plus","resets_at":${NOW / 1000 + 7200},"resets_in_seconds":3600}}`;
    // resets_in_seconds first (relative: a skewed clock does not matter), then resets_at.
    expect(classifyFailure(429, {}, body, NOW)).toEqual({ cls: "usage_limit", waitMs: 3_600_000 });
    const atOnly = `{"error":{"type":"usage_limit_reached","message":"limit","resets_at":${NOW / 1000 + 4 * 86_400}}}`;
    expect(classifyFailure(429, {}, atOnly, NOW)).toEqual({ cls: "usage_limit", waitMs: 4 * 86_400_000 });
    // Neither in the body: the used-up window's reset header.
    const headers = { "x-codex-primary-used-percent": "100.0", "x-codex-primary-reset-at": String(NOW / 1000 + 600) };
    expect(classifyFailure(429, headers, `{"error":{"type":"usage_limit_reached","message":"limit"}}`, NOW)).toEqual({ cls: "usage_limit", waitMs: 600_000 });
    // Nothing stated anywhere: key health's default.
    expect(classifyFailure(429, {}, `{"error":{"type":"usage_limit_reached","message":"limit"}}`, NOW)).toEqual({ cls: "usage_limit", waitMs: undefined });
    // An ordinary 429 of the same backend stays a rate limit.
    expect(classifyFailure(429, { "retry-after": "3" }, `{"detail":"Too Many Requests"}`, NOW)).toEqual({ cls: "rate_limited", waitMs: 3000 });
  });

  it("429 is rate limited with Retry-After, else the provider's reset headers, else no stated wait", () => {
    expect(classifyFailure(429, { "retry-after": "7" }, "{}", NOW)).toEqual({ cls: "rate_limited", waitMs: 7000 });
    expect(classifyFailure(429, { "x-ratelimit-reset-requests": "2s", "x-ratelimit-reset-tokens": "1m30s" }, "{}", NOW)).toEqual({
      cls: "rate_limited",
      waitMs: 90_000,
    });
    expect(classifyFailure(429, {}, `{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}`, NOW)).toEqual({
      cls: "rate_limited",
      waitMs: undefined,
    });
  });

  it("5xx and 408 are server errors; other 4xx say nothing about the key", () => {
    for (const s of [500, 502, 503, 529, 408]) expect(classifyFailure(s, {}, "", NOW)?.cls).toBe("server_error");
    for (const s of [400, 404, 409, 413, 422])
      expect(classifyFailure(s, {}, `{"error":{"message":"bad","type":"invalid_request_error"}}`, NOW)).toBeUndefined();
  });
});

describe("upstream waits", () => {
  it("Retry-After in seconds or as an HTTP date", () => {
    expect(retryAfterMs({ "retry-after": "0" }, NOW)).toBe(0);
    expect(retryAfterMs({ "retry-after": "1.5" }, NOW)).toBe(1500);
    expect(retryAfterMs({ "retry-after": new Date(NOW + 30_000).toUTCString() }, NOW)).toBe(30_000);
    expect(retryAfterMs({ "retry-after": new Date(NOW - 30_000).toUTCString() }, NOW)).toBe(0);
    expect(retryAfterMs({ "retry-after": "soon" }, NOW)).toBeUndefined();
  });

  it("OpenAI's durations and the limit that ran out", () => {
    expect(parseDuration("6m0s")).toBe(360_000);
    expect(parseDuration("20ms")).toBe(20);
    expect(parseDuration("1h2m3.5s")).toBe(3_723_500);
    expect(parseDuration("soon")).toBeUndefined();
    const headers = {
      "x-ratelimit-reset-requests": "1s",
      "x-ratelimit-remaining-requests": "0",
      "x-ratelimit-reset-tokens": "6m0s",
      "x-ratelimit-remaining-tokens": "5000",
    };
    expect(resetHeadersMs(headers, NOW)).toBe(1000);
  });

  it("Anthropic's RFC 3339 reset times", () => {
    const headers = {
      "anthropic-ratelimit-requests-reset": new Date(NOW + 20_000).toISOString(),
      "anthropic-ratelimit-requests-remaining": "10",
      "anthropic-ratelimit-input-tokens-reset": new Date(NOW + 45_000).toISOString(),
      "anthropic-ratelimit-input-tokens-remaining": "0",
    };
    expect(resetHeadersMs(headers, NOW)).toBe(45_000);
    expect(classifyFailure(429, headers, "{}", NOW)).toEqual({ cls: "rate_limited", waitMs: 45_000 });
  });
});
