/**
 * Pricing: what a request's usage costs, in integer micro-units of the billing currency.
 * The pipeline prices every settled request once (`cost`), billing holds credit and
 * counts spend caps on an estimate before it runs (`estimate`).
 */
import type { Usage } from "../canonical/usage.js";
import type { TokenEstimate } from "./admission.js";
import type { EffectivePolicy } from "./policy.js";

/** A price as applied: the amount, and the version of the price entry used (stored on the usage record). */
export interface PriceQuote {
  micros: number;
  /** Names the price table entry and its revision, so a bill can be re-derived after prices change. */
  version: string;
}

export interface Pricer {
  /** What `usage` on the served `model` costs an account under `policy` (its prices and multiplier). */
  cost(policy: EffectivePolicy | undefined, model: string, usage: Usage): PriceQuote;
  /** What a request is expected to cost before it runs, for credit holds and spend caps. */
  estimate(policy: EffectivePolicy | undefined, model: string, estimate: TokenEstimate): number;
}

/** Prices nothing: the default until a price table is configured. */
export const freePricer: Pricer = {
  cost: () => ({ micros: 0, version: "free" }),
  estimate: () => 0,
};
