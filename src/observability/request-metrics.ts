/**
 * The metrics every data-plane request updates: requests by route and status, their duration and
 * time to first byte by route, and how many are in flight.
 *
 * prom-client handles labels on every call: it validates them, builds a string key from them and
 * looks that up among the series. Five such calls a request cost about 5 % of the gateway's CPU on
 * a 1 KB request (`npm run bench`, the same build with and without them, taking turns, eight rounds
 * at 50 connections). Here a request only adds to plain numbers kept per label value; a scrape turns
 * them into the exposition prom-client's own metrics give for the same observations
 * (`request-metrics.test.ts` compares the two). The counter (scraped-counter.ts) and the gauge are
 * prom-client's, brought up to date by their `collect` hook; the histograms are this module's own, since
 * prom-client has no way to add counts to a histogram other than one observation at a time.
 */
import { Gauge, type Metric, type Registry } from "prom-client";
import { scrapedCounter, type Tally } from "./scraped-counter.js";

interface Series {
  readonly labels: { route: string };
  /** Observations per bucket, not cumulative: index i counts values above bound i-1 and at most bound i. */
  readonly counts: Float64Array;
  sum: number;
  count: number;
}

/** One line of the exposition, as prom-client's registry reads it: `labels` its own, `sharedLabels` the series'. */
interface ExportedValue {
  labels: Record<string, string | number>;
  sharedLabels?: { route: string };
  value: number;
  metricName: string;
  exemplar?: null;
}

interface Exported {
  name: string;
  help: string;
  type: "histogram";
  values: ExportedValue[];
  aggregator: "sum";
}

/**
 * A histogram by route that prom-client's registry serves like its own: a value falls in the first
 * bucket whose bound is at least the value, and `+Inf` and `_count` count them all.
 */
class RouteHistogram {
  readonly type = "histogram" as const;
  readonly aggregator = "sum" as const;
  readonly #bounds: readonly number[];
  readonly #series = new Map<string, Series>();

  constructor(
    readonly name: string,
    readonly help: string,
    buckets: readonly number[],
  ) {
    this.#bounds = [...buckets].sort((a, b) => a - b);
  }

  observe(route: string, value: number): void {
    // prom-client refuses such a value with a throw; on the request path it is dropped instead.
    if (!Number.isFinite(value)) return;
    let s = this.#series.get(route);
    if (s === undefined) {
      s = { labels: { route }, counts: new Float64Array(this.#bounds.length), sum: 0, count: 0 };
      this.#series.set(route, s);
    }
    const bounds = this.#bounds;
    for (let i = 0; i < bounds.length; i++) {
      if (value <= bounds[i]!) {
        s.counts[i]!++;
        break;
      }
    }
    s.sum += value;
    s.count++;
  }

  /** What the registry writes in the text format: bucket bounds as labels of their own, the route as shared labels. */
  getForPromString(): Promise<Exported> {
    const values: ExportedValue[] = [];
    for (const s of this.#series.values()) {
      let acc = 0;
      for (let i = 0; i < this.#bounds.length; i++) {
        acc += s.counts[i]!;
        values.push({ labels: { le: this.#bounds[i]! }, sharedLabels: s.labels, value: acc, metricName: `${this.name}_bucket`, exemplar: null });
      }
      values.push({ labels: { le: "+Inf" }, sharedLabels: s.labels, value: s.count, metricName: `${this.name}_bucket`, exemplar: null });
      values.push({ labels: {}, sharedLabels: s.labels, value: s.sum, metricName: `${this.name}_sum` });
      values.push({ labels: {}, sharedLabels: s.labels, value: s.count, metricName: `${this.name}_count` });
    }
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator });
  }

  /** The JSON form (`registry.getMetricsAsJSON()`): each value's labels with the route in them. */
  async get(): Promise<Exported> {
    const data = await this.getForPromString();
    data.values = data.values.map(({ sharedLabels, ...v }) => ({ ...v, labels: { ...v.labels, ...sharedLabels } }));
    return data;
  }

  reset(): void {
    this.#series.clear();
  }
}

/** What the edge tells the metrics about each request (and each WebSocket turn). */
export interface RequestMetrics {
  /** An HTTP request began (in flight). */
  started(): void;
  /** An HTTP request ended (no longer in flight). */
  stopped(): void;
  /** A request or WebSocket turn finished with `status` after `seconds`. */
  finished(route: string, status: number, seconds: number): void;
  /** Its first response byte went out `seconds` after it began. */
  firstByte(route: string, seconds: number): void;
}

export function createRequestMetrics(registry: Registry, buckets: readonly number[]): RequestMetrics {
  const tallies = new Map<string, Map<number, Tally<{ route: string; status: string }>>>();
  const tally = scrapedCounter<{ route: string; status: string }>(registry, {
    name: "switchyard_requests_total",
    help: "Data-plane requests by route and final HTTP status",
    labelNames: ["route", "status"],
  });
  let inFlight = 0;
  new Gauge({
    name: "switchyard_requests_in_flight",
    help: "Data-plane requests in progress",
    registers: [registry],
    collect() {
      this.set(inFlight);
    },
  });
  const duration = new RouteHistogram("switchyard_request_duration_seconds", "Whole request duration, to the last byte", buckets);
  const ttfb = new RouteHistogram("switchyard_time_to_first_byte_seconds", "Time until the first response byte was written to the client", buckets);
  for (const h of [duration, ttfb]) registry.registerMetric(h as unknown as Metric);
  return {
    started: () => void inFlight++,
    stopped: () => void inFlight--,
    finished(route, status, seconds) {
      let byStatus = tallies.get(route);
      if (byStatus === undefined) tallies.set(route, (byStatus = new Map()));
      let t = byStatus.get(status);
      if (t === undefined) byStatus.set(status, (t = tally({ route, status: String(status) })));
      t.n++;
      duration.observe(route, seconds);
    },
    firstByte: (route, seconds) => ttfb.observe(route, seconds),
  };
}
