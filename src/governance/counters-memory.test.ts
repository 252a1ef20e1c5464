import { describe, expect, it } from "vitest";
import { MemoryCounters } from "./counters-memory.js";
import { runCountersContract, runMeterContract } from "./counters-contract.js";

runCountersContract("memory", (now) => new MemoryCounters({ now }));
runMeterContract("memory", (now) => new MemoryCounters({ now }));

describe("memory counters", () => {
  it("forgets lapsed holdings and ended windows of keys nobody touches again", async () => {
    let now = 0;
    const counters = new MemoryCounters({ now: () => now });
    for (let i = 0; i < 100; i++) {
      await counters.reserve({ holder: "h", n: 1, ttlMs: 10, limits: [{ key: `c${i}`, limit: 1 }] });
      await counters.incrementWindow(`w${i}`, 1, 10);
    }
    await counters.reserve({ holder: "h", n: 1, ttlMs: 1000, limits: [{ key: "live", limit: 1 }] });
    expect(counters.trackedKeys).toBe(201);
    now = 10;
    // Enough operations on one key to pass at least one sweep.
    for (let i = 0; i < 2048; i++) await counters.incrementWindow("busy", 1, 1000);
    expect(counters.trackedKeys).toBe(2);
    expect(await counters.held("live")).toBe(1);
  });
});
