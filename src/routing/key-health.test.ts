import { describe, expect, it } from "vitest";
import { createLocalKeyHealth } from "./key-health.js";
import { KeyPool, type PoolKey } from "./key-pool.js";

const key = (id: string): PoolKey => ({
  id,
  name: id,
  secret: "s",
  fingerprint: id,
  inFlight: 0,
  coolingUntil: 0,
  failures: 0,
  removed: false,
  latencyEwmaMs: 0,
  errorRate: 0,
});

describe("local key health", () => {
  it("counts a lease in flight until its one report; later reports are ignored", () => {
    const health = createLocalKeyHealth(() => 1000);
    const k = key("a");
    const lease = health.acquire(k);
    expect(k.inFlight).toBe(1);
    health.report(lease, "server_error");
    health.report(lease, "server_error");
    expect(k).toMatchObject({ inFlight: 0, failures: 1, coolingUntil: 6000 });
  });

  it("backs off exponentially, honours retry-after, and clears on success", () => {
    let now = 0;
    const health = createLocalKeyHealth(() => now);
    const k = key("a");
    health.report(health.acquire(k), "rate_limited");
    expect(k.coolingUntil).toBe(15_000);
    health.report(health.acquire(k), "rate_limited");
    expect(k.coolingUntil).toBe(30_000);
    now = 100;
    health.report(health.acquire(k), "rate_limited", 1000);
    expect(k.coolingUntil).toBe(1100);
    health.report(health.acquire(k), "ok");
    expect(k).toMatchObject({ failures: 0, coolingUntil: 0, inFlight: 0 });
  });

  it("removes a key on an auth failure and leaves it alone on a neutral end", () => {
    const health = createLocalKeyHealth(() => 0);
    const a = key("a");
    const b = key("b");
    health.report(health.acquire(a), "neutral");
    expect(a).toMatchObject({ failures: 0, removed: false, inFlight: 0 });
    health.report(health.acquire(b), "auth");
    expect(b.removed).toBe(true);
    expect(health.order(new KeyPool([a, b]), undefined, 0)).toEqual([a]);
  });

  it("orders cooling keys after healthy ones", () => {
    const health = createLocalKeyHealth(() => 0);
    const a = key("a");
    const b = key("b");
    health.report(health.acquire(a), "network");
    expect(health.order(new KeyPool([a, b]), undefined, 1).map((k) => k.id)).toEqual(["b", "a"]);
  });
});
