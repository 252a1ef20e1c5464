import { describe, expect, it } from "vitest";
import { parseCodexUsage, parseUsageLimitError, tightestUsedPercent, usageLimitWaitMs } from "./codex-usage.js";

const NOW = 1_767_000_000_000;

/** Headers as the backend sends them (node lower-cases names; the credits flags are Python-style booleans). */
const REAL = {
  "x-codex-primary-used-percent": "42.0",
  "x-codex-primary-window-minutes": "300",
  "x-codex-primary-reset-at": "1767003600",
  "x-codex-secondary-used-percent": "7.5",
  "x-codex-secondary-window-minutes": "10080",
  "x-codex-secondary-reset-at": "1767500000",
  "x-codex-credits-has-credits": "False",
  "x-codex-credits-unlimited": "False",
  "x-codex-credits-balance": "0",
};

describe("parseCodexUsage", () => {
  it("reads both windows and the credits off a real answer's headers", () => {
    expect(parseCodexUsage(REAL, NOW)).toEqual({
      primary: { usedPercent: 42, windowMinutes: 300, resetsAt: 1_767_003_600_000 },
      secondary: { usedPercent: 7.5, windowMinutes: 10080, resetsAt: 1_767_500_000_000 },
      credits: { hasCredits: false, unlimited: false, balance: "0" },
      observedAt: NOW,
    });
  });

  it("takes the older relative reset when no absolute one is sent", () => {
    const u = parseCodexUsage({ "x-codex-primary-used-percent": "99", "x-codex-primary-reset-after-seconds": "120" }, NOW);
    expect(u?.primary).toEqual({ usedPercent: 99, windowMinutes: null, resetsAt: NOW + 120_000 });
    expect(u?.secondary).toBeNull();
    expect(u?.credits).toBeNull();
  });

  it("drops a window whose used percent is missing or garbage, and ignores garbage beside a good one", () => {
    expect(parseCodexUsage({ "x-codex-primary-used-percent": "n/a", "x-codex-primary-window-minutes": "300" }, NOW)).toBeUndefined();
    expect(parseCodexUsage({ "x-codex-primary-used-percent": "-3" }, NOW)).toBeUndefined();
    const u = parseCodexUsage({ "x-codex-primary-used-percent": " 12.5 ", "x-codex-primary-window-minutes": "abc", "x-codex-primary-reset-at": "" }, NOW);
    expect(u?.primary).toEqual({ usedPercent: 12.5, windowMinutes: null, resetsAt: null });
  });

  it("caps a used percent above 100 and reads repeated headers' first value", () => {
    expect(parseCodexUsage({ "x-codex-primary-used-percent": ["140", "3"] }, NOW)?.primary?.usedPercent).toBe(100);
  });

  it("is undefined on an answer without any Codex usage header", () => {
    expect(parseCodexUsage({ "content-type": "text/event-stream" }, NOW)).toBeUndefined();
  });

  it("names the tighter window's used percent", () => {
    expect(tightestUsedPercent(parseCodexUsage(REAL, NOW)!)).toBe(42);
    expect(tightestUsedPercent({ primary: null, secondary: { usedPercent: 91, windowMinutes: 10080, resetsAt: null } })).toBe(91);
    expect(tightestUsedPercent({ primary: null, secondary: null })).toBe(0);
  });
});

describe("parseUsageLimitError", () => {
  const body = (e: Record<string, unknown>) => JSON.stringify({ error: { type: "usage_limit_reached", message: "The usage limit has been reached", ...e } });

  it("reads the backend's body", () => {
    const e = parseUsageLimitError(body({ plan_type: "plus", resets_at: 1_767_003_600, resets_in_seconds: 3600 }));
    expect(e).toEqual({ planType: "plus", resetsAt: 1_767_003_600_000, resetsInMs: 3_600_000 });
    expect(usageLimitWaitMs(e!, NOW)).toBe(3_600_000);
  });

  it("falls back to resets_at, and to nothing when neither names a future reset", () => {
    expect(usageLimitWaitMs(parseUsageLimitError(body({ resets_at: 1_767_000_600 }))!, NOW)).toBe(600_000);
    expect(usageLimitWaitMs(parseUsageLimitError(body({ resets_at: 1_766_000_000 }))!, NOW)).toBeUndefined();
    expect(usageLimitWaitMs(parseUsageLimitError(body({ resets_in_seconds: "soon", resets_at: null }))!, NOW)).toBeUndefined();
    expect(parseUsageLimitError(body({ resets_in_seconds: -5 }))).toEqual({ planType: null, resetsAt: null, resetsInMs: null });
  });

  it("is undefined for other bodies", () => {
    expect(parseUsageLimitError(JSON.stringify({ error: { type: "rate_limit_exceeded", message: "usage_limit_reached soon" } }))).toBeUndefined();
    expect(parseUsageLimitError('{"detail":"usage_limit_reached"')).toBeUndefined();
    expect(parseUsageLimitError(JSON.stringify({ detail: "Too Many Requests" }))).toBeUndefined();
  });
});
