import { randomUUID } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import { createLogger } from "../../observability/logger.js";
import { createMetrics } from "../../observability/metrics.js";
import { createLocalKeyHealth } from "../../routing/key-health.js";
import { keyEventHandler } from "../../routing/key-health-events.js";
import type { PoolKey } from "../../routing/key-pool.js";
import { MemoryKeyStateBus } from "../../routing/key-state-bus.js";
import type { KeyStateBus, KeyTransition } from "../ports.js";
import { createRedisKeyStateBus } from "./key-state-bus.js";

const REDIS = process.env.TEST_REDIS_URL ?? "redis://127.0.0.1:6379";
const logger = createLogger("silent");

async function eventually(check: () => boolean, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("condition not reached in time");
    await new Promise((r) => setTimeout(r, 5));
  }
}

const transition = (over: Partial<KeyTransition> = {}): KeyTransition => ({
  keyId: "k1",
  fingerprint: "sha256:k1",
  state: "disabled",
  reason: "rejected by the upstream (401/403)",
  until: 0,
  at: Date.now(),
  origin: "n1",
  ...over,
});

describe("key-state bus over Redis", () => {
  const open: KeyStateBus[] = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map((b) => b.close()));
  });
  const bus = (node: string, prefix: string): KeyStateBus => {
    const b = createRedisKeyStateBus({ url: REDIS, node, prefix, logger });
    open.push(b);
    return b;
  };

  it("carries a transition to the other nodes, never back to its own, and keeps what is still in force", async () => {
    const prefix = `test:${randomUUID()}:`;
    const n1 = bus("n1", prefix);
    const n2 = bus("n2", prefix);
    const heard1: KeyTransition[] = [];
    const heard2: KeyTransition[] = [];
    n1.subscribe((t) => heard1.push(t));
    n2.subscribe((t) => heard2.push(t));
    await Promise.all([n1.current(), n2.current()]);

    const t = transition();
    n1.publish(t);
    await eventually(() => heard2.length === 1);
    expect(heard2[0]).toEqual(t);
    n1.publish(transition({ keyId: "k2", fingerprint: "sha256:k2", state: "cooling", reason: "rate limited", until: Date.now() + 60_000 }));
    n1.publish(transition({ keyId: "k3", fingerprint: "sha256:k3", state: "cooling", reason: "rate limited", until: Date.now() - 1 }));
    await eventually(() => heard2.length === 3);
    expect(heard1).toEqual([]);

    // A node that starts now reads the disabled key and the one still cooling (not the one whose cooldown ended).
    const n3 = bus("n3", prefix);
    n3.subscribe(() => undefined);
    expect((await n3.current()).map((x) => x.keyId).sort()).toEqual(["k1", "k2"]);
    // Recovery removes the key's entry.
    n2.publish(transition({ state: "healthy", reason: null, origin: "n2" }));
    await eventually(() => heard1.length === 1);
    expect((await n3.current()).map((x) => x.keyId)).toEqual(["k2"]);
  });

  it("other prefixes hear nothing", async () => {
    const prefixA = `test:${randomUUID()}:`;
    const prefixB = `test:${randomUUID()}:`;
    const a = bus("a1", prefixA);
    const a2 = bus("a2", prefixA);
    const b = bus("b1", prefixB);
    const b2 = bus("b2", prefixB);
    const heardA: KeyTransition[] = [];
    const heardB: KeyTransition[] = [];
    a2.subscribe((t) => heardA.push(t));
    b.subscribe((t) => heardB.push(t));
    await Promise.all([a2.current(), b.current()]);
    a.publish(transition({ origin: "a1" }));
    await eventually(() => heardA.length === 1);
    b2.publish(transition({ keyId: "kb", origin: "b2" }));
    await eventually(() => heardB.length === 1);
    expect(heardB.map((t) => t.keyId)).toEqual(["kb"]);
    expect((await b.current()).map((t) => t.keyId)).toEqual(["kb"]);
  });
});

describe("two nodes' key health joined by a bus", () => {
  const key = (): PoolKey => ({
    id: "k1",
    name: "k1",
    secret: "s",
    fingerprint: "sha256:k1",
    inFlight: 0,
    coolingUntil: 0,
    failures: 0,
    removed: false,
    latencyEwmaMs: 0,
    errorRate: 0,
    upstream: "u",
  });

  it("a key disabled on one node is out of the other's order as soon as the transition arrives", () => {
    const memory = new MemoryKeyStateBus();
    const nodes = ["n1", "n2"].map((node) => {
      const bus = memory.node(node);
      const k = key();
      const health = createLocalKeyHealth({ onTransition: keyEventHandler({ logger, metrics: createMetrics(), bus, node }), keys: () => [k] });
      bus.subscribe((t) => health.apply(t));
      return { health, k };
    });
    const [a, b] = nodes as [(typeof nodes)[number], (typeof nodes)[number]];
    a.health.report(a.health.acquire(a.k)!, "auth");
    expect(b.k.removed).toBe(true);
    expect(b.health.view(b.k, Date.now())).toMatchObject({ state: "disabled", reason: "rejected by the upstream (401/403)" });
    expect(b.health.acquire(b.k)).toBeUndefined();
  });
});
