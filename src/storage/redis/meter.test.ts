import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { runCountersContract, runMeterContract } from "../../governance/counters-contract.js";
import { runLimitsContract } from "../../governance/limits-contract.js";
import { CountersUnavailableError } from "../ports.js";
import { RedisMeter } from "./meter.js";

const REDIS = process.env.TEST_REDIS_URL ?? "redis://127.0.0.1:6379";
const redis = new Redis(REDIS);
const prefix = `test:${randomUUID()}:`;

afterAll(async () => {
  await redis.quit();
});

runCountersContract("redis", (now) => new RedisMeter({ redis, prefix, now }));
runMeterContract("redis", (now) => new RedisMeter({ redis, prefix, now }));
runLimitsContract("redis", (now) => new RedisMeter({ redis, prefix, now }));

describe("redis meter", () => {
  it("reads Redis's own clock when given none, so nodes agree on windows", async () => {
    const meter = new RedisMeter({ redis, prefix });
    const key = `{${randomUUID()}}:w`;
    const w = { kind: "sliding", windowMs: 60_000, buckets: 60 } as const;
    const r = await meter.take({ holder: "h", ttlMs: 1000, holds: [], windows: [{ key, n: 1, limit: 5, window: w }] });
    const [seconds] = await redis.time();
    if (!r.granted) throw new Error("refused");
    // One-second buckets: the mark is Redis's second, give or take the one the TIME read just after fell in.
    expect(Number(seconds) - Number(r.marks[0])).toBeGreaterThanOrEqual(0);
    expect(Number(seconds) - Number(r.marks[0])).toBeLessThanOrEqual(1);
    expect(await meter.counted(key, w)).toBe(1);
  });

  it("gives every key it writes an expiry, so memory stays bounded by the keys in use", async () => {
    const meter = new RedisMeter({ redis, prefix });
    const tag = `{${randomUUID()}}`;
    const day = { kind: "fixed", id: "d1", endsAt: Date.now() + 3_600_000 } as const;
    const minute = { kind: "sliding", windowMs: 60_000, buckets: 60 } as const;
    await meter.rebase({ key: `${tag}:credit`, balance: 100, seq: 1 });
    const r = await meter.take({
      holder: "h",
      ttlMs: 30_000,
      holds: [
        { key: `${tag}:conc`, n: 1, limit: 5 },
        { key: `${tag}:credit`, n: 10 },
      ],
      windows: [
        { key: `${tag}:rpm`, n: 1, limit: 10, window: minute },
        { key: `${tag}:rpd`, n: 1, limit: 10, window: day },
      ],
    });
    expect(r.granted).toBe(true);
    await meter.finish({ holder: "h", release: [`${tag}:conc`], corrections: [], carry: [{ key: `${tag}:credit`, holder: "node", n: 3, ttlMs: 120_000 }] });
    await meter.incrementWindow(`${tag}:w`, 1, 60_000);
    const keys = await redis.keys(`${prefix}${tag}*`);
    // The released concurrency holding left no key behind.
    expect(keys.map((k) => k.slice(prefix.length + tag.length)).sort()).toEqual([":credit|b", ":credit|h", ":credit|z", ":rpd|f|d1", ":rpm|s", ":w|w"]);
    const ttls = Object.fromEntries(await Promise.all(keys.map(async (k) => [k.slice(prefix.length + tag.length), await redis.pttl(k)] as const)));
    for (const ttl of Object.values(ttls)) expect(ttl).toBeGreaterThan(0);
    // Holdings live as long as the longest (the carry's 120 s) plus the one-minute margin; the day until its end plus the margin.
    expect(ttls[":credit|h"]).toBeGreaterThan(120_000);
    expect(ttls[":credit|h"]).toBeLessThanOrEqual(180_000);
    expect(ttls[":rpd|f|d1"]).toBeGreaterThan(3_600_000);
    expect(ttls[":rpd|f|d1"]).toBeLessThanOrEqual(3_660_000);
    expect(ttls[":rpm|s"]).toBeLessThanOrEqual(120_000);
    expect(ttls[":credit|b"]).toBeLessThanOrEqual(7 * 86_400_000);
  });

  it("fails at once with CountersUnavailableError on a connection that is not up, instead of queueing", async () => {
    const lost = new Redis(REDIS, { lazyConnect: true, enableOfflineQueue: false });
    const meter = new RedisMeter({ redis: lost, prefix });
    await expect(meter.held(`{${randomUUID()}}:a`)).rejects.toBeInstanceOf(CountersUnavailableError);
    lost.disconnect();
  });
});
