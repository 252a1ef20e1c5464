import fc from "fast-check";
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { createRequestMetrics, type RequestMetrics } from "./request-metrics.js";

const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

/** The same metrics as prom-client's own Counter, Histogram and Gauge, updated call by call. */
function reference(registry: Registry): RequestMetrics {
  const requests = new Counter({
    name: "switchyard_requests_total",
    help: "Data-plane requests by route and final HTTP status",
    labelNames: ["route", "status"],
    registers: [registry],
  });
  const inFlight = new Gauge({ name: "switchyard_requests_in_flight", help: "Data-plane requests in progress", registers: [registry] });
  const duration = new Histogram({
    name: "switchyard_request_duration_seconds",
    help: "Whole request duration, to the last byte",
    labelNames: ["route"],
    buckets: BUCKETS,
    registers: [registry],
  });
  const ttfb = new Histogram({
    name: "switchyard_time_to_first_byte_seconds",
    help: "Time until the first response byte was written to the client",
    labelNames: ["route"],
    buckets: BUCKETS,
    registers: [registry],
  });
  return {
    started: () => inFlight.inc(),
    stopped: () => inFlight.dec(),
    finished: (route, status, seconds) => {
      requests.inc({ route, status: String(status) });
      duration.observe({ route }, seconds);
    },
    firstByte: (route, seconds) => ttfb.observe({ route }, seconds),
  };
}

const route = fc.constantFrom("/v1/chat/completions", "/v1/messages", "ws:/v1/responses", "admin", "other");
// Bucket bounds themselves (a value on a bound counts in that bucket), values between and past the last.
const seconds = fc.oneof(fc.constantFrom(0, ...BUCKETS, 121, 1e6), fc.double({ min: 0, max: 200, noNaN: true }));
const op = fc.oneof(
  fc.record({ kind: fc.constant("finished" as const), route, status: fc.constantFrom(200, 400, 429, 499, 502), seconds }),
  fc.record({ kind: fc.constant("firstByte" as const), route, seconds }),
  fc.record({ kind: fc.constant("started" as const) }),
  fc.record({ kind: fc.constant("stopped" as const) }),
  fc.record({ kind: fc.constant("scrape" as const) }),
);

describe("request metrics", () => {
  it("expose what prom-client's own metrics expose for the same calls, scraped at any point", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { maxLength: 60 }), async (ops) => {
        const ours = new Registry();
        const theirs = new Registry();
        const fast = createRequestMetrics(ours, BUCKETS);
        const slow = reference(theirs);
        for (const o of ops) {
          if (o.kind === "scrape") expect(await ours.metrics()).toBe(await theirs.metrics());
          else if (o.kind === "finished") for (const m of [fast, slow]) m.finished(o.route, o.status, o.seconds);
          else if (o.kind === "firstByte") for (const m of [fast, slow]) m.firstByte(o.route, o.seconds);
          else for (const m of [fast, slow]) m[o.kind]();
        }
        expect(await ours.metrics()).toBe(await theirs.metrics());
        expect(await ours.getMetricsAsJSON()).toEqual(await theirs.getMetricsAsJSON());
      }),
      { numRuns: 200 },
    );
  });

  it("drop a value prom-client would refuse, rather than throw on the request path", async () => {
    const registry = new Registry();
    const m = createRequestMetrics(registry, BUCKETS);
    m.finished("/v1/messages", 200, Number.NaN);
    const text = await registry.metrics();
    expect(text).toContain('switchyard_requests_total{route="/v1/messages",status="200"} 1');
    expect(text).not.toContain("switchyard_request_duration_seconds_count");
  });
});
