/**
 * Key selection micro-benchmark (`npm run bench:keys`): choosing keys among a pool of
 * 1,000 (routing/key-pool.ts), with a session (rendezvous pinning) and without one
 * (least loaded), as the planner asks for them (the best `limit` = 3), and a whole plan
 * over a two-tier route whose tiers hold 1,000 keys each. Beside each, in the same run,
 * a naive reference: score every key with SHA-1 and sort the whole pool, which is what
 * selection cost before it became one pass. Ratios are the figures to compare
 * (docs/architecture.md#measured-facts); absolute times move between runs.
 *
 * Each case is warmed up, then timed in interleaved rounds of batches; a case's figure is
 * its median batch, per operation. BENCH_KEYS_MS (default 300) is the time per case.
 */
import { createHash } from "node:crypto";
import { compileRuleTexts } from "../src/canonical/model-map.js";
import { compileModelPatterns } from "../src/canonical/model-pattern.js";
import type { CatalogSnapshot, UpstreamTarget } from "../src/routing/catalog.js";
import { createLocalKeyHealth } from "../src/routing/key-health.js";
import { KeyPool, type PoolKey } from "../src/routing/key-pool.js";
import { planAttempts } from "../src/routing/plan.js";
import { resolveModel } from "../src/routing/resolve-model.js";
import { TierRouter } from "../src/routing/tier-router.js";
import type { Upstream } from "../src/storage/ports.js";
import { compileHeaderPolicy } from "../src/upstream/headers.js";

const POOL = 1000;
const MS = Number(process.env.BENCH_KEYS_MS ?? 300);

function makeKeys(prefix: string, n: number): PoolKey[] {
  return Array.from({ length: n }, (_, i) => ({
    id: `${prefix}_${i.toString(36).padStart(6, "0")}`,
    name: `k${i}`,
    secret: "s",
    fingerprint: "f",
    // A realistic spread: some load, some latency, a few errors, a few cooling.
    inFlight: i % 7,
    coolingUntil: i % 50 === 0 ? Number.MAX_SAFE_INTEGER : 0,
    failures: 0,
    removed: false,
    latencyEwmaMs: 200 + ((i * 37) % 800),
    errorRate: i % 13 === 0 ? 0.1 : 0,
  }));
}

/** The selection as it was: a SHA-1 per key for the session's score, and the whole pool sorted. */
function naiveOrder(keys: PoolKey[], affinity: string | undefined, now: number): PoolKey[] {
  const healthy = keys.filter((k) => !k.removed && k.coolingUntil <= now);
  const cooling = keys.filter((k) => !k.removed && k.coolingUntil > now).sort((a, b) => a.coolingUntil - b.coolingUntil);
  if (affinity !== undefined) {
    const score = (k: PoolKey) => createHash("sha1").update(affinity).update("\0").update(k.id).digest().readUInt32BE(0);
    let best = healthy[0]!;
    let bestScore = -1;
    for (const k of healthy) {
      const s = score(k);
      if (s > bestScore) {
        bestScore = s;
        best = k;
      }
    }
    return [best, ...healthy.filter((k) => k !== best).sort((a, b) => a.inFlight - b.inFlight), ...cooling];
  }
  return [...healthy.sort((a, b) => a.inFlight - b.inFlight), ...cooling];
}

function target(name: string, keys: PoolKey[]): UpstreamTarget {
  const upstream = { id: name, name, ownerAccountId: null, protocol: "openai-chat", baseUrl: "https://u.test", models: ["m-*"], enabled: true, settings: {} };
  return {
    upstream: upstream as unknown as Upstream,
    protocol: "openai-chat",
    models: compileModelPatterns(["m-*"]),
    pool: new KeyPool(keys),
    sendsCacheKey: false,
    headers: compileHeaderPolicy({}),
  };
}

interface Case {
  name: string;
  op: (i: number) => unknown;
}

function time(c: Case, rounds: number, batch: number): number[] {
  const out: number[] = [];
  let sink = 0;
  for (let r = 0; r < rounds; r++) {
    const t0 = performance.now();
    for (let i = 0; i < batch; i++) if (c.op(r * batch + i)) sink++;
    out.push(((performance.now() - t0) * 1000) / batch);
  }
  if (sink < 0) console.log(sink);
  return out;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const keys = makeKeys("uk", POOL);
const pool = new KeyPool(keys);
const sessions = Array.from({ length: 4096 }, (_, i) => `0f3c${i.toString(16).padStart(4, "0")}-6a1e-4c3b-9f6d-2b7a8e9c1d0${i % 10}`);
const health = createLocalKeyHealth();
const snapshot: CatalogSnapshot = {
  upstreams: [target("primary", makeKeys("pk", POOL)), target("backup", makeKeys("bk", POOL))],
  owners: new Set(),
  unopened: [],
  version: 1,
  modelMap: compileRuleTexts([{ match: "m-*", tiers: [[{ upstream: "primary", model: "m-1" }], [{ upstream: "backup", model: "m-1" }]] }]),
};
const resolution = resolveModel(snapshot, "openai-chat", "m-x");
const router = new TierRouter({ holdDownMs: 30_000 });

const cases: Array<[Case, Case]> = [
  [
    { name: "session, 1,000 keys (rendezvous, best 3)", op: (i) => pool.order(sessions[i & 4095], 1, 3)[0] },
    { name: "  naive: SHA-1 per key + full sort", op: (i) => naiveOrder(keys, sessions[i & 4095], 1)[0] },
  ],
  [
    { name: "no session, 1,000 keys (least loaded, best 3)", op: () => pool.order(undefined, 1, 3)[0] },
    { name: "  naive: full sort by in-flight", op: () => naiveOrder(keys, undefined, 1)[0] },
  ],
  [
    {
      name: "plan, 2 tiers x 1,000 keys, session, router",
      op: (i) =>
        planAttempts(snapshot, health, {
          model: "m-x",
          client: "openai-chat",
          clientStreams: true,
          affinity: sessions[i & 4095],
          maxAttempts: 3,
          now: 1,
          resolution,
          router,
        }).attempts[0],
    },
    { name: "  reference: the session case above", op: (i) => pool.order(sessions[i & 4095], 1, 3)[0] },
  ],
];

console.log(`key selection among ${POOL} keys (µs per operation, median of batches; ratio = case / naive, same run)`);
for (const [fast, slow] of cases) {
  // Calibrate a batch to ~2 ms of the slower case, warm both, then interleave rounds.
  const probe = time(slow, 3, 20);
  const batch = Math.max(10, Math.round(2000 / Math.max(median(probe), 0.01)));
  time(fast, 5, batch);
  time(slow, 5, batch);
  const rounds = Math.max(5, Math.round(MS / 2));
  const a: number[] = [];
  const b: number[] = [];
  for (let r = 0; r < rounds; r++) {
    a.push(...time(fast, 1, batch));
    b.push(...time(slow, 1, batch));
  }
  const fa = median(a);
  const fb = median(b);
  console.log(`${fast.name.padEnd(48)} ${fa.toFixed(2).padStart(9)} µs`);
  console.log(`${slow.name.padEnd(48)} ${fb.toFixed(2).padStart(9)} µs   ratio ${(fa / fb).toFixed(3)}`);
}
