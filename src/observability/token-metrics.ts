/**
 * `switchyard_tokens_total`: metered tokens by model and kind, added once for every request
 * that settles.
 *
 * As with the request metrics (request-metrics.ts), prom-client's `inc` validates the labels and
 * builds a string key on every call, and a request made up to five such calls (one per kind of
 * token it used): about 1 % of the gateway's CPU on a 1 KB request in a profile at 50
 * connections. Here a request adds to five plain numbers kept per model; a scrape hands them to
 * prom-client's Counter (scraped-counter.ts), which keeps the exposition exactly as before
 * (`token-metrics.test.ts` compares the two).
 */
import type { Registry } from "prom-client";
import { scrapedCounter, type Tally } from "./scraped-counter.js";

/** The kinds, in the order a request's usage is counted: the order a model's series first appear in. */
export const TOKEN_KINDS = ["input", "cached_input", "cache_write", "output", "reasoning"] as const;
export type TokenKind = (typeof TOKEN_KINDS)[number];

/** A settled request's token counts (the canonical usage's fields; observability imports nothing of the pipeline). */
export interface TokenCounts {
  inputTokens?: number;
  cachedInputTokens?: number;
  cacheWriteTokens?: number;
  outputTokens?: number;
  reasoningTokens?: number;
}

type Labels = { model: string; kind: TokenKind };

export interface TokenMetrics {
  /** Adds one request's tokens under its model; kinds at 0 or absent add nothing (and create no series). */
  add(model: string, usage: TokenCounts): void;
}

export function createTokenMetrics(registry: Registry): TokenMetrics {
  /** Per model, one tally per kind, made when that kind is first counted for the model. */
  const byModel = new Map<string, (Tally<Labels> | undefined)[]>();
  const tally = scrapedCounter<Labels>(registry, {
    name: "switchyard_tokens_total",
    help: "Metered tokens by model and kind (input, cached_input, cache_write, output, reasoning)",
    labelNames: ["model", "kind"],
  });
  const count = (model: string, kinds: (Tally<Labels> | undefined)[], k: number, n: number | undefined): void => {
    // prom-client refuses a negative or non-finite increment with a throw; on the request path it is dropped.
    if (n === undefined || !(n > 0) || n === Number.POSITIVE_INFINITY) return;
    const t = (kinds[k] ??= tally({ model, kind: TOKEN_KINDS[k]! }));
    t.n += n;
  };
  return {
    add(model, u) {
      let kinds = byModel.get(model);
      if (kinds === undefined) byModel.set(model, (kinds = new Array<Tally<Labels> | undefined>(TOKEN_KINDS.length)));
      count(model, kinds, 0, u.inputTokens);
      count(model, kinds, 1, u.cachedInputTokens);
      count(model, kinds, 2, u.cacheWriteTokens);
      count(model, kinds, 3, u.outputTokens);
      count(model, kinds, 4, u.reasoningTokens);
    },
  };
}
