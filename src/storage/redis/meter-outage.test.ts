/**
 * What happens while Redis is away, against a redis-server this file starts on a spare
 * port and stops itself (never the machine's shared one): the fallback counts locally or
 * refuses, holders end on the engine they took on, and Redis is used again once it answers.
 */
import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { GatewayError } from "../../canonical/errors.js";
import { MemoryCounters } from "../../governance/counters-memory.js";
import type { TakeRequest } from "../../governance/counters.js";
import { FallbackMeter, type CountersUnavailableMode } from "../../governance/fallback-meter.js";
import { connectRedisMeter, type RedisMeter } from "./meter.js";
import { ownRedis, type OwnRedis } from "../../testing/redis-server.js";

let redisServer: OwnRedis;
let port: number;
const startRedis = (): Promise<void> => redisServer.start();
const stopRedis = (): Promise<void> => redisServer.stop();

beforeAll(async () => {
  redisServer = await ownRedis();
  port = redisServer.port;
  await startRedis();
});

afterAll(async () => {
  await stopRedis();
});

interface Rig {
  meter: FallbackMeter;
  shared: RedisMeter;
  local: MemoryCounters;
  logs: { level: string; message: string }[];
  /** The fallback's back-off clock, moved by hand. */
  clock: { now: number };
}

const rigs: Rig[] = [];
afterEach(async () => {
  for (const r of rigs.splice(0)) await r.shared.close();
});

async function rig(mode: CountersUnavailableMode, timeoutMs = 250): Promise<Rig> {
  const shared = connectRedisMeter(`redis://127.0.0.1:${port}`, { prefix: `outage:${randomUUID()}:` });
  await shared.ready(5000);
  const local = new MemoryCounters();
  const logs: Rig["logs"] = [];
  const clock = { now: 1_000_000 };
  const logger = {
    warn: (_f: object, message: string) => logs.push({ level: "warn", message }),
    info: (_f: object, message: string) => logs.push({ level: "info", message }),
  };
  const meter = new FallbackMeter({ shared, local, mode, timeoutMs, backoffMs: 1000, logger, now: () => clock.now });
  const r = { meter, shared, local, logs, clock };
  rigs.push(r);
  return r;
}

const tag = () => `{${randomUUID()}}`;
const MINUTE = { kind: "sliding", windowMs: 60_000, buckets: 60 } as const;
const takeOne = (holder: string, k: string, limit: number): TakeRequest => ({
  holder,
  ttlMs: 60_000,
  holds: [{ key: `${k}:conc`, n: 1, limit }],
  windows: [{ key: `${k}:rpm`, n: 1, limit: 1000, window: MINUTE }],
});

/** Restarts the server on the same port and waits until `shared` has reconnected to it. */
async function restart(shared: RedisMeter): Promise<void> {
  await startRedis();
  await shared.ready(10_000);
}

describe("redis counters unreachable", () => {
  it("local: counts in this process up to the limit, ends each holder on its own engine, and goes back to Redis when it answers", async () => {
    const { meter, shared, local, logs, clock } = await rig("local");
    const k = tag();
    expect(await meter.take(takeOne("before", k, 3))).toMatchObject({ granted: true });
    expect(await shared.held(`${k}:conc`)).toBe(1);

    await stopRedis();
    // Counted from zero locally: this node alone enforces the limit meanwhile.
    const during = await Promise.all(Array.from({ length: 8 }, (_, i) => meter.take(takeOne(`during${i}`, k, 3))));
    expect(during.filter((r) => r.granted)).toHaveLength(3);
    expect(meter.sharedAvailable).toBe(false);
    expect(await local.held(`${k}:conc`)).toBe(3);
    expect(await local.counted(`${k}:rpm`, MINUTE)).toBe(3);
    // One warning for the outage, however many calls failed.
    expect(logs.filter((l) => l.level === "warn" && l.message.includes("unreachable"))).toHaveLength(1);
    // A holder that took on Redis cannot end there now: no throw, a warning, and the holding lapses in Redis by itself.
    await expect(meter.finish({ holder: "before", release: [`${k}:conc`], corrections: [], carry: [] })).resolves.toBeUndefined();

    await restart(shared);
    // Inside the back-off the local engine still counts, without trying Redis.
    const granted = during.findIndex((r) => r.granted);
    await meter.finish({ holder: `during${granted}`, release: [`${k}:conc`], corrections: [], carry: [] });
    expect(await local.held(`${k}:conc`)).toBe(2);
    const backoff = await meter.take(takeOne("backoff", k, 3));
    if (!backoff.granted) throw new Error("refused");
    expect(await local.held(`${k}:conc`)).toBe(3);
    expect(meter.sharedAvailable).toBe(false);

    clock.now += 1000;
    // Past the back-off the next call probes Redis (an empty server now) and counts there again.
    expect(await meter.take(takeOne("after", k, 3))).toMatchObject({ granted: true });
    expect(meter.sharedAvailable).toBe(true);
    expect(await shared.held(`${k}:conc`)).toBe(1);
    expect(await local.held(`${k}:conc`)).toBe(3);
    expect(logs.filter((l) => l.level === "info" && l.message.includes("answers again"))).toHaveLength(1);
    // Holders that took locally still end locally; those that took on Redis end there.
    const rpm = await local.counted(`${k}:rpm`, MINUTE);
    await meter.finish({
      holder: "backoff",
      release: [`${k}:conc`],
      corrections: [{ key: `${k}:rpm`, window: MINUTE, mark: backoff.marks[0]!, delta: -1 }],
      carry: [],
    });
    expect(await local.held(`${k}:conc`)).toBe(2);
    expect(await local.counted(`${k}:rpm`, MINUTE)).toBe(rpm - 1);
    await meter.finish({ holder: "after", release: [`${k}:conc`], corrections: [], carry: [] });
    expect(await shared.held(`${k}:conc`)).toBe(0);
  });

  it("refuse: answers 503 limits_unavailable while Redis is away, and admits again once it answers", async () => {
    const { meter, shared, clock } = await rig("refuse");
    const k = tag();
    expect(await meter.take(takeOne("before", k, 2))).toMatchObject({ granted: true });

    await stopRedis();
    const refused = await meter.take(takeOne("during", k, 2)).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(refused).toBeInstanceOf(GatewayError);
    expect(refused).toMatchObject({ code: "limits_unavailable", kind: "overloaded", status: 503, headers: { "retry-after": "1" } });
    // Within the back-off too, without trying Redis; ending a request never throws.
    await expect(meter.take(takeOne("during2", k, 2))).rejects.toMatchObject({ code: "limits_unavailable" });
    await expect(meter.finish({ holder: "before", release: [`${k}:conc`], corrections: [], carry: [] })).resolves.toBeUndefined();
    await expect(meter.rebase({ key: `${k}:credit`, balance: 10, seq: 1 })).resolves.toBeUndefined();

    await restart(shared);
    await expect(meter.take(takeOne("still", k, 2))).rejects.toMatchObject({ code: "limits_unavailable" });
    clock.now += 1000;
    const after = await Promise.all(Array.from({ length: 5 }, (_, i) => meter.take(takeOne(`after${i}`, k, 2))));
    expect(after.filter((r) => r.granted)).toHaveLength(2);
    expect(await shared.held(`${k}:conc`)).toBe(2);
  });

  it("treats a Redis that does not answer in time as away, and gives back the holdings of a take that succeeded too late", async () => {
    const { meter, shared, local } = await rig("local", 100);
    const k = tag();
    const admin = new Redis(`redis://127.0.0.1:${port}`);
    try {
      await admin.call("CLIENT", "PAUSE", "600", "ALL");
      expect(await meter.take(takeOne("slow", k, 5))).toMatchObject({ granted: true });
      expect(meter.sharedAvailable).toBe(false);
      expect(await local.held(`${k}:conc`)).toBe(1);
      // Redis ran the take once the pause ended; its holding was released when the late answer came.
      const deadline = Date.now() + 5000;
      while ((await shared.counted(`${k}:rpm`, MINUTE)) !== 1 || (await shared.held(`${k}:conc`)) !== 0) {
        if (Date.now() > deadline) throw new Error("the late take was not undone");
        await new Promise((r) => setTimeout(r, 20));
      }
    } finally {
      admin.disconnect();
    }
  });
});
