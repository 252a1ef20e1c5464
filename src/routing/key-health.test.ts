import { describe, expect, it } from "vitest";
import { poolKey } from "../testing/pool-key.js";
import { createLocalKeyHealth, type KeyHealthEvent, type KeyLease } from "./key-health.js";
import { KeyPool, type PoolKey } from "./key-pool.js";

const key = (id: string): PoolKey => poolKey(id, { fingerprint: `fp-${id}` });

/** A health engine on a clock the test moves, with its transitions recorded. */
function engine(settings = {}) {
  const clock = { now: 1_000_000 };
  const events: KeyHealthEvent[] = [];
  const keys: PoolKey[] = [];
  const health = createLocalKeyHealth({ now: () => clock.now, settings, onTransition: (e) => events.push(e), keys: () => keys });
  const attempt = (k: PoolKey, outcome: Parameters<typeof health.report>[1], wait?: number): void => health.report(health.acquire(k)!, outcome, wait);
  return { clock, events, keys, health, attempt };
}

describe("key health: leases", () => {
  it("counts a lease in flight until its one report; later reports are ignored", () => {
    const { health } = engine({ breakerThreshold: 1 });
    const k = key("a");
    const lease = health.acquire(k)!;
    expect(k.inFlight).toBe(1);
    health.report(lease, "server_error");
    health.report(lease, "server_error");
    expect(k).toMatchObject({ inFlight: 0, failures: 1 });
    expect(k.health).toMatchObject({ state: "open", opens: 1 });
  });

  it("leaves a key alone on a neutral end", () => {
    const { health, attempt } = engine();
    const a = key("a");
    attempt(a, "neutral");
    expect(a).toMatchObject({ failures: 0, removed: false, inFlight: 0, coolingUntil: 0 });
    expect(health.view(a, 0)).toMatchObject({ state: "healthy", errorRate: 0 });
  });
});

describe("key health: 401/403 disable the key", () => {
  it("disables at once, takes the key out of the order, refuses a lease planned before, and reports the transition", () => {
    const { health, attempt, events, clock } = engine();
    const a = key("a");
    const b = key("b");
    const planned = health.order(new KeyPool([a, b]), undefined, clock.now);
    expect(planned).toContain(a);
    attempt(a, "auth");
    expect(a.removed).toBe(true);
    expect(health.view(a, clock.now)).toMatchObject({ state: "disabled", reason: "rejected by the upstream (401/403)", until: null });
    expect(health.order(new KeyPool([a, b]), undefined, clock.now)).toEqual([b]);
    expect(health.acquire(a)).toBeUndefined();
    expect(events.map((e) => [e.from, e.to, e.cls])).toEqual([["healthy", "disabled", "auth"]]);
  });

  it("stays disabled when an answer that began before the revocation ends well", () => {
    const { health, clock } = engine();
    const a = key("a");
    const early = health.acquire(a)!;
    clock.now += 10;
    health.report(health.acquire(a)!, "auth");
    clock.now += 10;
    health.report(early, "ok");
    expect(health.view(a, clock.now).state).toBe("disabled");
    expect(a.inFlight).toBe(0);
  });
});

describe("key health: quota and rate limits cool the key", () => {
  it("402 or a quota answer: the long cooldown, or the upstream's stated reset", () => {
    const { health, attempt, clock } = engine({ quotaCooldownMs: 3_600_000 });
    const a = key("a");
    attempt(a, "quota");
    expect(health.view(a, clock.now)).toMatchObject({ state: "cooling", reason: "quota exhausted", until: clock.now + 3_600_000 });
    expect(a.coolingUntil).toBe(clock.now + 3_600_000);
    const b = key("b");
    attempt(b, "quota", 120_000);
    expect(b.coolingUntil).toBe(clock.now + 120_000);
    // Cooling ends by the clock alone: the key is healthy in the order again, and its next success clears the state.
    clock.now += 3_600_000;
    expect(health.order(new KeyPool([a]), undefined, clock.now)).toEqual([a]);
    attempt(a, "ok");
    expect(health.view(a, clock.now)).toMatchObject({ state: "healthy", reason: null, until: null });
  });

  it("a used-up usage window: cooling until the stated reset (days if need be, capped), a default without one, ended early by a success", () => {
    const day = 86_400_000;
    const { health, attempt, clock } = engine({ usageLimitCooldownMs: 600_000, usageLimitMaxWaitMs: 7 * day, maxWaitMs: 6 * 3_600_000 });
    const a = key("a");
    // Beyond max_wait_ms (which caps ordinary waits): a weekly window's reset is honoured.
    attempt(a, "usage_limit", 3 * day);
    expect(health.view(a, clock.now)).toMatchObject({ state: "cooling", reason: "usage limit reached", until: clock.now + 3 * day });
    const b = key("b");
    attempt(b, "usage_limit", 30 * day);
    expect(b.coolingUntil).toBe(clock.now + 7 * day);
    const c = key("c");
    attempt(c, "usage_limit");
    expect(c.coolingUntil).toBe(clock.now + 600_000);
    // The admin restored the subscription: the next attempt on the key (a last resort while cooling) succeeds and ends the cooldown.
    clock.now += 1000;
    expect(health.order(new KeyPool([a]), undefined, clock.now)).toEqual([a]);
    attempt(a, "ok");
    expect(health.view(a, clock.now)).toMatchObject({ state: "healthy", reason: null, until: null });
    expect(a.coolingUntil).toBe(0);
  });

  it("429: Retry-After (or a reset header) wins; without one, exponential backoff up to the cap, reset by a success", () => {
    const { attempt, clock } = engine({ rateLimitBackoffMs: 1000, rateLimitMaxBackoffMs: 5000 });
    const a = key("a");
    attempt(a, "rate_limited", 7000);
    expect(a.coolingUntil).toBe(clock.now + 7000);
    const backoffs: number[] = [];
    for (let i = 0; i < 5; i++) {
      attempt(a, "rate_limited");
      backoffs.push(a.coolingUntil - clock.now);
    }
    expect(backoffs).toEqual([1000, 2000, 4000, 5000, 5000]);
    attempt(a, "ok");
    attempt(a, "rate_limited");
    expect(a.coolingUntil - clock.now).toBe(1000);
  });

  it("caps a stated wait at max_wait_ms", () => {
    const { attempt, clock } = engine({ maxWaitMs: 60_000 });
    const a = key("a");
    attempt(a, "rate_limited", 10 * 3_600_000);
    expect(a.coolingUntil).toBe(clock.now + 60_000);
  });
});

describe("key health: the circuit breaker", () => {
  it("one stray 5xx or connection failure neither opens nor cools a key; N consecutive do", () => {
    const { health, attempt, clock } = engine({ breakerThreshold: 3, breakerCooldownMs: 10_000 });
    const a = key("a");
    attempt(a, "server_error");
    attempt(a, "ok");
    attempt(a, "network");
    attempt(a, "server_error");
    expect(health.view(a, clock.now).state).toBe("healthy");
    expect(a.coolingUntil).toBe(0);
    attempt(a, "server_error");
    expect(health.view(a, clock.now)).toMatchObject({ state: "open", reason: "3 consecutive failures (server_error)", until: clock.now + 10_000 });
    // Open: no lease at all until the cooldown ends, even when a plan lists the key as a last resort.
    expect(health.order(new KeyPool([a]), undefined, clock.now)).toEqual([a]);
    expect(health.acquire(a)).toBeUndefined();
    clock.now += 9_999;
    expect(health.acquire(a)).toBeUndefined();
    clock.now += 1;
    expect(health.acquire(a)).toBeDefined();
  });

  it("half-open after the cooldown lets exactly one probe through however many ask; success closes", () => {
    const { health, attempt, clock, events } = engine({ breakerThreshold: 2, breakerCooldownMs: 10_000 });
    const a = key("a");
    const b = key("b");
    attempt(a, "server_error");
    attempt(a, "server_error");
    clock.now += 10_000;
    expect(health.view(a, clock.now).state).toBe("half_open");
    // Fifty concurrent requests planned the key: one lease, the others move on.
    const plans = Array.from({ length: 50 }, () => health.order(new KeyPool([a, b]), undefined, clock.now));
    expect(plans.every((p) => p.includes(a))).toBe(true);
    const leases = plans.map(() => health.acquire(a)).filter((l): l is KeyLease => l !== undefined);
    expect(leases).toHaveLength(1);
    // While the probe runs, new plans put the key last.
    expect(health.order(new KeyPool([a, b]), undefined, clock.now)[0]).toBe(b);
    health.report(leases[0]!, "ok");
    expect(health.view(a, clock.now)).toMatchObject({ state: "healthy", until: null, reason: null });
    expect(events.map((e) => e.to)).toEqual(["open", "half_open", "healthy"]);
  });

  it("a failed probe opens the breaker again for twice as long, up to the maximum", () => {
    const { health, attempt, clock } = engine({ breakerThreshold: 1, breakerCooldownMs: 10_000, breakerMaxCooldownMs: 30_000 });
    const a = key("a");
    attempt(a, "network");
    const cooldowns = [a.coolingUntil - clock.now];
    for (let i = 0; i < 3; i++) {
      clock.now = a.health!.until;
      attempt(a, "server_error");
      cooldowns.push(a.coolingUntil - clock.now);
    }
    expect(cooldowns).toEqual([10_000, 20_000, 30_000, 30_000]);
    expect(health.view(a, clock.now).state).toBe("open");
  });

  it("a probe that ends neutral (the client left) frees the slot for the next attempt", () => {
    const { health, attempt, clock } = engine({ breakerThreshold: 1 });
    const a = key("a");
    attempt(a, "server_error");
    clock.now = a.health!.until;
    const probe = health.acquire(a)!;
    expect(health.acquire(a)).toBeUndefined();
    health.report(probe, "neutral");
    expect(health.acquire(a)).toBeDefined();
  });
});

describe("key health: what the prober may probe", () => {
  it("open keys past their cooldown; disabled ones only when asked; never cooling ones, nor one being probed", () => {
    const { health, attempt, clock } = engine({ breakerThreshold: 1, breakerCooldownMs: 1000 });
    const open = key("open");
    const disabled = key("disabled");
    const cooling = key("cooling");
    attempt(open, "server_error");
    attempt(disabled, "auth");
    attempt(cooling, "quota");
    expect(health.wantsProbe(open, clock.now, false)).toBe(false);
    clock.now += 1000;
    expect(health.wantsProbe(open, clock.now, false)).toBe(true);
    expect(health.wantsProbe(cooling, clock.now, true)).toBe(false);
    expect(health.wantsProbe(disabled, clock.now, false)).toBe(false);
    expect(health.wantsProbe(disabled, clock.now, true)).toBe(true);
    const lease = health.acquireProbe(disabled)!;
    expect(health.wantsProbe(disabled, clock.now, true)).toBe(false);
    health.report(lease, "ok");
    expect(health.view(disabled, clock.now).state).toBe("healthy");
    expect(disabled.removed).toBe(false);
  });
});

describe("key health: recent latency and error rate", () => {
  it("keeps exponentially weighted averages", () => {
    const { health, clock } = engine();
    const a = key("a");
    for (const ms of [100, 200]) {
      const l = health.acquire(a)!;
      clock.now += ms;
      health.report(l, "ok");
    }
    health.report(health.acquire(a)!, "server_error");
    expect(health.view(a, clock.now)).toMatchObject({ latencyMsEwma: 120, errorRate: 0.1, inFlight: 0 });
  });
});

describe("key health: transitions from other nodes", () => {
  it("applies a newer transition to the key with the same fingerprint only", () => {
    const { health, keys, clock, events } = engine();
    const a = key("a");
    const changed = { ...key("a"), fingerprint: "fp-other" };
    keys.push(a, changed);
    health.apply({ keyId: "a", fingerprint: "fp-a", state: "disabled", reason: "rejected by the upstream (401/403)", until: 0, at: clock.now, origin: "n2" });
    expect(a.removed).toBe(true);
    expect(changed.removed).toBe(false);
    expect(events[0]).toMatchObject({ to: "disabled", remote: true });
    // An older transition never overrides a newer one.
    health.apply({ keyId: "a", fingerprint: "fp-a", state: "healthy", reason: null, until: 0, at: clock.now - 1, origin: "n2" });
    expect(health.view(a, clock.now).state).toBe("disabled");
    health.apply({ keyId: "a", fingerprint: "fp-a", state: "cooling", reason: "rate limited", until: clock.now + 5000, at: clock.now + 1, origin: "n2" });
    expect(health.view(a, clock.now)).toMatchObject({ state: "cooling", until: clock.now + 5000 });
    expect(a.coolingUntil).toBe(clock.now + 5000);
  });
});
