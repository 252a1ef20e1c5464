/**
 * A prom-client Counter fed from plain tallies when it is scraped. prom-client's `inc` validates
 * the labels and builds a string key from them on every call; a counter added to on every request
 * instead keeps one {@link Tally} per label set, found by its caller's own lookup (a map by route
 * and status, an array by kind), and adds to its `n`. The scrape hands each tally's count to the
 * Counter in the order the tallies were first made, which is the order prom-client lists series
 * in, so the exposition is what per-call `inc`s would have given (request-metrics.test.ts,
 * token-metrics.test.ts).
 */
import { Counter, type Registry } from "prom-client";

/** One label set's count since the last scrape. */
export interface Tally<L extends Record<string, string>> {
  readonly labels: L;
  n: number;
}

/**
 * Registers the counter and returns the function that makes a tally for a label set. Call it once
 * per label set and keep the tally: a second tally for the same labels would be added up too.
 */
export function scrapedCounter<L extends Record<string, string>>(
  registry: Registry,
  o: { name: string; help: string; labelNames: ReadonlyArray<keyof L & string> },
): (labels: L) => Tally<L> {
  const order: Tally<L>[] = [];
  new Counter({
    name: o.name,
    help: o.help,
    labelNames: o.labelNames,
    registers: [registry],
    collect() {
      for (const t of order) {
        if (t.n === 0) continue;
        this.inc(t.labels, t.n);
        t.n = 0;
      }
    },
  });
  return (labels) => {
    const t: Tally<L> = { labels, n: 0 };
    order.push(t);
    return t;
  };
}
