/**
 * Governance benchmark (`npm run bench:governance`). In this process it times one
 * request's admission and settlement (`admit` → `settle`, as the pipeline does them, with
 * the pricing of its usage) on a 4-level account chain, org → dept → team → user, where
 * every level states rpm, tpm, rpd and concurrency limits, a daily spend cap and a prepaid
 * wallet, and the team a quota; the user's wallet pays, its balance view loaded (rebased)
 * once and rebased again after every "usage batch" as the recorder does.
 *
 * Cases, each on the memory engine and on Redis (127.0.0.1:6379 or REDIS_URL, behind the
 * fallback meter as the gateway runs it, under a unique prefix deleted afterwards):
 *  - base checks only: what routing alone runs (no governance configured);
 *  - + limits: 16 limit lines in one take;
 *  - + limits + billing, credit track: the quota names another model, so the request
 *    holds its estimated cost on the payer's view and counts it on four spend caps;
 *  - + limits + billing, quota track: the team's quota covers the request, no money moves.
 * Figures per request: CPU (process.cpuUsage, all threads, so the Redis client's work is
 * in) and wall time, the median of rounds in which the cases take turns; for Redis also
 * the commands sent per request, each a round trip (nothing is pipelined).
 *
 * Then, unless BENCH_GOVERNANCE_LOAD=0, it runs the load bench (bench/run.ts) with the
 * targets baseline, switchyard-routing and switchyard-governance, so governance ÷ routing
 * and governance ÷ bare proxy come from the same run.
 */
import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";
import type { Usage } from "../src/canonical/usage.js";
import { admit, baseChecks, type AdmissionCheck, type AdmissionSubject } from "../src/governance/admission.js";
import { Billing } from "../src/governance/billing.js";
import { MemoryCounters } from "../src/governance/counters-memory.js";
import type { Meter } from "../src/governance/counters.js";
import { FallbackMeter } from "../src/governance/fallback-meter.js";
import { limitsCheck } from "../src/governance/limits.js";
import { foldPolicies, policyOf } from "../src/governance/policy.js";
import { TablePricer } from "../src/governance/price-table.js";
import type { Pricer } from "../src/governance/pricing.js";
import { FAIL_FAST, RedisMeter } from "../src/storage/redis/meter.js";
import { CHAT_WORKLOADS } from "./settings.js";

const ROUNDS = Number(process.env.BENCH_GOVERNANCE_ROUNDS ?? 7);
const MEMORY_OPS = Number(process.env.BENCH_GOVERNANCE_OPS ?? 20_000);
const REDIS_OPS = Math.max(1, Math.floor(MEMORY_OPS / 20));
const REDIS_URL = process.env.REDIS_URL || "redis://127.0.0.1:6379";
/** Requests between two "usage batches" (the recorder's debit and rebase): about one 50 ms flush at a few thousand requests a second. */
const BATCH = 128;
const MODEL = "bench-served";

/** A ~40 KB Codex turn: 10,000 input tokens estimated, the default 4,096 output; it used 10,000 in and 300 out. */
const ESTIMATE = { inputTokens: 10_000, outputTokens: 4096 };
const USAGE: Usage = { inputTokens: 10_000, cachedInputTokens: 4000, cacheWriteTokens: 0, outputTokens: 300, reasoningTokens: 0 };

const LIMITS = { rpm: 100_000_000, tpm: 100_000_000_000_000, rpd: 10_000_000_000, concurrency: 100_000 };

/** The chain, nearest first (user … org), its policies as an admin would store them. */
function chainSubject(quotaModel: string | undefined): AdmissionSubject {
  const names = ["bench-user", "bench-team", "bench-dept", "bench-org"];
  const accounts = names.map((name) => ({ id: `${name}-${randomUUID()}`, name, status: "active" }));
  const policies = accounts.map((a) => {
    const settings: Record<string, unknown> = {
      limits: LIMITS,
      spend_caps: { daily_micros: 1_000_000_000_000_000 },
      credit: { payer: "self", overdraft_micros: 0 },
    };
    if (a.name === "bench-team") settings.quotas = [{ per: "day", requests: 1_000_000_000, ...(quotaModel ? { model: quotaModel } : {}) }];
    const { policy, problem } = policyOf(settings);
    if (problem) throw new Error(`bench policy of ${a.name}: ${problem}`);
    return { accountId: a.id, policy };
  });
  return { accountId: accounts[0]!.id, apiKeyId: `key-${randomUUID()}`, chain: accounts, modelAllowed: () => true, policy: foldPolicies(policies) };
}

/** A key on an account without any policy: what the routing profile's requests are. */
function plainSubject(): AdmissionSubject {
  const a = { id: `bench-${randomUUID()}`, name: "bench", status: "active" };
  return { accountId: a.id, apiKeyId: `key-${randomUUID()}`, chain: [a], modelAllowed: () => true, policy: foldPolicies([{ accountId: a.id, policy: {} }]) };
}

interface Case {
  name: string;
  ops: number;
  /** One request: admit, settle (with its price), and every BATCH requests the recorder's debit. */
  op(): Promise<void>;
}

/** A request as the pipeline runs it: admitted, priced, settled. */
function requestOf(checks: readonly AdmissionCheck[], subject: AdmissionSubject, pricer: Pricer, billing: Billing | undefined): () => Promise<void> {
  let n = 0;
  let carried = 0;
  let seq = 1;
  const request = { model: MODEL, stream: true, estimate: ESTIMATE };
  return async () => {
    const admission = await admit(checks, subject, request);
    const quote = pricer.cost(subject.policy, MODEL, USAGE);
    await admission.settle({ status: 200, usage: USAGE, aborted: false, costMicros: quote.micros });
    if (!billing) return;
    if (admission.charge?.track === "credit") carried += quote.micros;
    if (++n % BATCH === 0) {
      // What the usage recorder does after a batch's debits commit: the view becomes the new balance, the carried costs dropped.
      await billing.debited([{ accountId: subject.accountId, spendableMicros: 1e15 - n * 1000, seq: ++seq, validUntil: null, carriedMicros: carried }]);
      carried = 0;
    }
  };
}

function casesFor(engine: string, meter: Meter, ops: number): Case[] {
  const pricer = new TablePricer({ models: { "bench-*": { input: 2_500_000, cached_input: 1_250_000, output: 10_000_000 } }, version: "bench" });
  const unpriced = new TablePricer({});
  const ledger = { wallet: () => Promise.resolve({ spendableMicros: 1e15, seq: 1, validUntil: null }) };
  const billing = new Billing({ meter, pricer, ledger, nodeId: `bench-${randomUUID()}` });
  const limits = limitsCheck(meter);
  const credit = chainSubject("other-*");
  const quota = chainSubject(undefined);
  return [
    { name: `${engine}: base checks only (routing alone)`, ops, op: requestOf(baseChecks, plainSubject(), unpriced, undefined) },
    { name: `${engine}: + limits (4 levels × 4 limits)`, ops, op: requestOf([...baseChecks, limits], credit, pricer, undefined) },
    { name: `${engine}: + limits + billing, credit track`, ops, op: requestOf([...baseChecks, limits, billing.check], credit, pricer, billing) },
    { name: `${engine}: + limits + billing, quota track`, ops, op: requestOf([...baseChecks, limits, billing.check], quota, pricer, billing) },
  ];
}

interface Figure {
  name: string;
  cpuNs: number;
  wallNs: number;
  wallMin: number;
  wallMax: number;
  roundTrips: number | undefined;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** Rounds in which every case runs its batch in turn, after one warm-up round; medians per case. */
async function run(cases: readonly Case[], commands?: () => number): Promise<Figure[]> {
  const cpu = cases.map(() => [] as number[]);
  const wall = cases.map(() => [] as number[]);
  const trips = cases.map(() => [] as number[]);
  for (let r = 0; r <= ROUNDS; r++) {
    for (const [i, c] of cases.entries()) {
      const sent = commands?.() ?? 0;
      const cpu0 = process.cpuUsage();
      const t0 = process.hrtime.bigint();
      for (let k = 0; k < c.ops; k++) await c.op();
      const wallNs = Number(process.hrtime.bigint() - t0) / c.ops;
      const used = process.cpuUsage(cpu0);
      if (r === 0) continue;
      cpu[i]!.push(((used.user + used.system) * 1000) / c.ops);
      wall[i]!.push(wallNs);
      trips[i]!.push(((commands?.() ?? 0) - sent) / c.ops);
    }
  }
  return cases.map((c, i) => ({
    name: c.name,
    cpuNs: median(cpu[i]!),
    wallNs: median(wall[i]!),
    wallMin: Math.min(...wall[i]!),
    wallMax: Math.max(...wall[i]!),
    roundTrips: commands ? median(trips[i]!) : undefined,
  }));
}

const us = (ns: number): string => `${(ns / 1000).toFixed(2)} µs`;

function table(figures: readonly Figure[]): string {
  const base = figures[0]!;
  const lines = figures.map((f) => {
    const added = f === base ? "" : `   +${us(f.cpuNs - base.cpuNs)} CPU (${(f.cpuNs / base.cpuNs).toFixed(2)}x)`;
    const trips = f.roundTrips === undefined ? "" : `   ${f.roundTrips.toFixed(2)} round trips`;
    return `  ${f.name.padEnd(48)} CPU ${us(f.cpuNs).padStart(10)}   wall ${us(f.wallNs).padStart(10)} (${us(f.wallMin)}–${us(f.wallMax)})${trips}${added}`;
  });
  return lines.join("\n");
}

async function memory(): Promise<Figure[]> {
  process.stderr.write("timing admission + settlement on the memory engine…\n");
  return run(casesFor("memory", new MemoryCounters(), MEMORY_OPS));
}

async function redis(): Promise<Figure[] | string> {
  const prefix = `switchyard-bench:${randomUUID()}:meter:`;
  const connection = new Redis(REDIS_URL, { ...FAIL_FAST, commandTimeout: 1000 });
  connection.on("error", () => undefined);
  let sent = 0;
  // Every command the meter sends is one round trip (ioredis sends each as it comes; nothing here pipelines).
  const send = connection.sendCommand.bind(connection);
  connection.sendCommand = ((...args: Parameters<typeof send>) => {
    sent++;
    return send(...args);
  }) as typeof connection.sendCommand;
  const shared = new RedisMeter({ redis: connection, prefix });
  try {
    await shared.ready(2000);
  } catch {
    connection.disconnect();
    return `Redis at ${REDIS_URL} did not answer: skipped`;
  }
  const silent = { warn: () => undefined, info: () => undefined };
  const meter = new FallbackMeter({ shared, mode: "refuse", timeoutMs: 250, logger: silent });
  process.stderr.write(`timing admission + settlement on Redis (${REDIS_URL}, prefix ${prefix})…\n`);
  try {
    return await run(casesFor("redis", meter, REDIS_OPS), () => sent);
  } finally {
    // Everything the bench wrote lies under its own prefix.
    const cleaner = new Redis(REDIS_URL);
    let cursor = "0";
    do {
      const [next, keys] = await cleaner.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1000);
      if (keys.length > 0) await cleaner.del(...keys);
      cursor = next;
    } while (cursor !== "0");
    await cleaner.quit();
    await shared.close();
  }
}

async function micro(): Promise<void> {
  const mem = await memory();
  const red = await redis();
  process.stdout.write(
    `Governance micro-benchmark: admit → settle per request (median of ${ROUNDS} rounds of ${MEMORY_OPS} (memory) / ${REDIS_OPS} (Redis) requests, one at a time)\n` +
      `chain org → dept → team → user: rpm, tpm, rpd, concurrency and a daily spend cap on each level, prepaid wallets, a day quota on the team\n\n` +
      `${table(mem)}\n\n${typeof red === "string" ? `  ${red}` : table(red)}\n`,
  );
}

function load(): Promise<number> {
  const env = { ...process.env };
  env.BENCH_TARGETS ??= "baseline,switchyard-routing,switchyard-governance";
  // The Chat workloads at 32 connections, as this bench has always measured, so its figures stay comparable across runs.
  env.BENCH_WORKLOADS ??= CHAT_WORKLOADS;
  env.BENCH_CONNECTIONS ??= "32";
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [fileURLToPath(new URL("./run.js", import.meta.url))], { env, stdio: "inherit" });
    child.on("exit", (code) => resolve(code ?? 1));
  });
}

if (process.env.BENCH_GOVERNANCE_MICRO !== "0") await micro();
if (process.env.BENCH_GOVERNANCE_LOAD === "0") process.exit(0);
process.stdout.write("\nLoad bench with governance on (bench/run.ts)\n\n");
process.exit(await load());
