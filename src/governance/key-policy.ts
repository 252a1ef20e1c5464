/**
 * What a single API key may do beyond its account: its scopes, its expiry, and the
 * narrowing it adds as the last link of the account chain (its own model patterns, its
 * own limits). A key never widens its account: its models must lie within the account's
 * effective allow-list and its limits at or below the account's effective limits, and
 * the fold (`narrow`) keeps the data plane within the account's bounds whatever is stored.
 */
import { z } from "zod";
import type { ApiKeyScope, KeyLimits } from "../storage/ports.js";
import { checkWithinParent, modelPatterns, type EffectivePolicy } from "./policy.js";

export const API_KEY_SCOPES = ["inference", "manage"] as const satisfies readonly ApiKeyScope[];

/** The limit names, shared with account policies: requests and tokens per minute, hour and day, and concurrent requests. */
export const LIMIT_NAMES = ["rpm", "rph", "rpd", "tpm", "tph", "tpd", "concurrency"] as const satisfies ReadonlyArray<keyof KeyLimits>;

const limit = z.number().int().positive();

export const keyLimitsSchema = z.strictObject({
  rpm: limit.optional().describe("Requests per minute"),
  rph: limit.optional().describe("Requests per hour"),
  rpd: limit.optional().describe("Requests per day"),
  tpm: limit.optional().describe("Tokens per minute"),
  tph: limit.optional().describe("Tokens per hour"),
  tpd: limit.optional().describe("Tokens per day"),
  concurrency: limit.optional().describe("Requests in flight at once"),
});

export const keyModelsSchema = modelPatterns;

/** The account's effective limits (each the smallest along its chain, policy.ts), as plain numbers. */
export function effectiveLimitsOf(policy: EffectivePolicy): KeyLimits {
  const out: KeyLimits = {};
  for (const name of LIMIT_NAMES) {
    const bound = policy.limits[name];
    if (bound !== undefined) out[name] = bound.value;
  }
  return out;
}

/** One place where a key would reach beyond its account. */
export interface KeyViolation {
  /** `models.<i>` or `limits.<name>`. */
  readonly param: string;
  readonly message: string;
}

/** Where a key's own models and limits reach beyond its account's effective policy; empty when the key only narrows. */
export function checkKeyWithinAccount(account: EffectivePolicy, key: { models?: readonly string[] | null; limits?: KeyLimits | null }): KeyViolation[] {
  const violations: KeyViolation[] = [];
  if (key.models) {
    for (const v of checkWithinParent(account, { models: [...key.models] })) {
      violations.push({ param: v.path.join("."), message: `model '${String(v.value)}' is not within what the account allows` });
    }
  }
  if (key.limits) {
    const bounds = effectiveLimitsOf(account);
    for (const name of LIMIT_NAMES) {
      const own = key.limits[name];
      const bound = bounds[name];
      if (own !== undefined && bound !== undefined && own > bound) {
        violations.push({ param: `limits.${name}`, message: `${name} ${own} is above the account's effective ${name} of ${bound}` });
      }
    }
  }
  return violations;
}

/** Milliseconds since the epoch after which a key stops authenticating; Infinity = never. A cheap number compare per request. */
export function expiryMs(expiresAt: string | null): number {
  if (expiresAt === null) return Infinity;
  const ms = Date.parse(expiresAt);
  // An unreadable stored expiry fails closed: the key is treated as expired.
  return Number.isNaN(ms) ? -Infinity : ms;
}
