import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { parseConfig } from "./config/load.js";
import { MemoryCounters } from "./governance/counters-memory.js";
import { FallbackMeter } from "./governance/fallback-meter.js";
import { openMeter } from "./main.js";
import { createMetrics } from "./observability/metrics.js";

const REDIS = process.env.TEST_REDIS_URL ?? "redis://127.0.0.1:6379";
const logger = { warn: () => undefined, info: () => undefined };
const config = (yaml: string) => parseConfig(`log_level: silent\n${yaml}`, "t.yaml", {});
const redis = new Redis(REDIS);

afterAll(async () => {
  await redis.quit();
});

describe("openMeter (governance.counters)", () => {
  it("counts in this process without redis_url, or when told to", async () => {
    expect((await openMeter(config(""), {}, logger)).meter).toBeInstanceOf(MemoryCounters);
    expect((await openMeter(config(`redis_url: ${REDIS}\ngovernance:\n  counters: memory\n`), {}, logger)).meter).toBeInstanceOf(MemoryCounters);
  });

  it("refuses the redis engine without redis_url", async () => {
    await expect(openMeter(config("governance:\n  counters: redis\n"), {}, logger)).rejects.toThrow(/redis_url/);
  });

  it("counts in Redis under SWITCHYARD_REDIS_PREFIX when redis_url is set, behind the fallback", async () => {
    const prefix = `test:${randomUUID()}:`;
    const metrics = createMetrics();
    const opened = await openMeter(config(`redis_url: ${REDIS}\n`), { SWITCHYARD_REDIS_PREFIX: prefix }, logger, metrics);
    try {
      expect(opened.meter).toBeInstanceOf(FallbackMeter);
      const key = `{${randomUUID()}}:conc`;
      expect(await opened.meter.take({ holder: "h", ttlMs: 10_000, holds: [{ key, n: 1, limit: 1 }], windows: [] })).toMatchObject({ granted: true });
      expect(await redis.hget(`${prefix}meter:${key}|h`, "h")).toBe("1");
      expect((await metrics.countersShared.get()).values[0]?.value).toBe(1);
    } finally {
      await opened.close();
    }
  });
});
