import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { UsageRecord } from "../ports.js";
import { COLUMNS, sqliteValues, toRow } from "./usage-repo.js";

const text = fc.string({ maxLength: 12 });
const maybe = <T>(a: fc.Arbitrary<T>): fc.Arbitrary<T | null | undefined> => fc.oneof(a, fc.constant(null), fc.constant(undefined));

/** Any usage record, optional fields absent, null or set. */
const record: fc.Arbitrary<UsageRecord> = fc.record(
  {
    requestId: text,
    accountId: text,
    apiKeyId: fc.option(text, { nil: null }),
    model: text,
    upstreamModel: maybe(text),
    upstreamId: fc.option(text, { nil: null }),
    upstreamKeyId: fc.option(text, { nil: null }),
    clientProtocol: text,
    upstreamProtocol: fc.option(text, { nil: null }),
    stream: fc.boolean(),
    inputTokens: fc.nat(),
    cachedInputTokens: fc.nat(),
    cacheWriteTokens: fc.nat(),
    outputTokens: fc.nat(),
    reasoningTokens: fc.nat(),
    costMicros: fc.nat(),
    status: fc.constantFrom("ok" as const, "error" as const, "cancelled" as const),
    httpStatus: fc.option(fc.integer({ min: 100, max: 599 }), { nil: null }),
    errorCode: fc.option(text, { nil: null }),
    attempts: fc.nat(),
    latencyMs: fc.double({ min: 0, max: 1e6, noNaN: true }),
    ttfbMs: fc.option(fc.double({ min: 0, max: 1e6, noNaN: true }), { nil: null }),
    attemptTrail: maybe(fc.array(fc.record({ upstream: text, upstreamId: text, keyId: text, tier: fc.option(fc.nat(), { nil: null }), outcome: text }))),
    createdAt: text,
    priceVersion: maybe(text),
    payerAccountId: maybe(text),
    chargedMicros: fc.option(fc.nat(), { nil: undefined }),
    cacheKeyHash: maybe(text),
    tier: maybe(fc.nat()),
  },
  {
    // The fields the type does not make optional are always there; the optional ones may be absent.
    requiredKeys: [
      "requestId",
      "accountId",
      "apiKeyId",
      "model",
      "upstreamId",
      "upstreamKeyId",
      "clientProtocol",
      "upstreamProtocol",
      "stream",
      "inputTokens",
      "cachedInputTokens",
      "cacheWriteTokens",
      "outputTokens",
      "reasoningTokens",
      "costMicros",
      "status",
      "httpStatus",
      "errorCode",
      "attempts",
      "latencyMs",
      "ttfbMs",
      "createdAt",
    ],
  },
) as fc.Arbitrary<UsageRecord>;

describe("SQLite usage row values", () => {
  it("are toRow's columns in COLUMNS order, for any record", () => {
    fc.assert(
      fc.property(record, (r) => {
        const row = toRow(r);
        expect(sqliteValues(r)).toEqual(COLUMNS.map((c) => row[c] ?? null));
      }),
      { numRuns: 500 },
    );
  });
});
