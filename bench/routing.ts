/**
 * Routing benchmark (`npm run bench:routing`). In this process it times:
 *
 *  1. model resolution with 10,000 mapping rules: cached (the same requested name
 *     again, an LRU hit) and uncached (a new name every call, so each is a miss that
 *     maps, filters the upstreams and evicts);
 *  2. key selection in a pool of 1,000 keys through the public planner
 *     (`planAttempts`, which asks key health for `order`), with and without a
 *     session key, and `KeyPool.order` alone;
 *  3. what holding a healthy stream's opening events costs (docs/routing.md#failover):
 *     reading a Responses stream through `openStream` against reading it directly.
 *
 * Then, unless BENCH_ROUTING_LOAD=0, it runs the load bench (bench/run.ts) with a third
 * target, `switchyard-routing` (several upstreams and keys, 1,000 mapping rules, a
 * mapped model, a deadline), so its ratio against the bare proxy comes from the same run.
 * Figures are medians of rounds; a busy machine shows as a wide min–max spread.
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { compileRuleTexts } from "../src/canonical/model-map.js";
import { compileModelPatterns } from "../src/canonical/model-pattern.js";
import type { CatalogSnapshot, UpstreamTarget } from "../src/routing/catalog.js";
import { createLocalKeyHealth } from "../src/routing/key-health.js";
import { KeyPool, type PoolKey } from "../src/routing/key-pool.js";
import { planAttempts } from "../src/routing/plan.js";
import { NO_ACCOUNT_MAPPING, resolveModel } from "../src/routing/resolve-model.js";
import { openStream } from "../src/pipeline/open-stream.js";
import type { Upstream, UpstreamProtocol } from "../src/storage/ports.js";
import { compileHeaderPolicy } from "../src/upstream/headers.js";
import { CHAT_WORKLOADS } from "./settings.js";

const ROUNDS = 7;

interface Figure {
  name: string;
  nsPerOp: number;
  min: number;
  max: number;
}

/** Median ns/op over rounds of `ops` calls each, after one warm-up round. */
function time(name: string, ops: number, op: (i: number) => void): Figure {
  const rounds: number[] = [];
  for (let r = 0; r <= ROUNDS; r++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < ops; i++) op(r * ops + i);
    const ns = Number(process.hrtime.bigint() - start) / ops;
    if (r > 0) rounds.push(ns);
  }
  rounds.sort((a, b) => a - b);
  return { name, nsPerOp: rounds[Math.floor(rounds.length / 2)]!, min: rounds[0]!, max: rounds.at(-1)! };
}

async function timeAsync(name: string, ops: number, op: () => Promise<void>): Promise<Figure> {
  const rounds: number[] = [];
  for (let r = 0; r <= ROUNDS; r++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < ops; i++) await op();
    const ns = Number(process.hrtime.bigint() - start) / ops;
    if (r > 0) rounds.push(ns);
  }
  rounds.sort((a, b) => a - b);
  return { name, nsPerOp: rounds[Math.floor(rounds.length / 2)]!, min: rounds[0]!, max: rounds.at(-1)! };
}

function poolKey(i: number): PoolKey {
  return {
    id: `key-${i}`,
    name: `key-${i}`,
    secret: `secret-${i}`,
    fingerprint: `fp-${i}`,
    inFlight: i % 7,
    coolingUntil: 0,
    failures: 0,
    removed: false,
    latencyEwmaMs: 0,
    errorRate: 0,
  };
}

function target(name: string, protocol: UpstreamProtocol, models: string[], keys: PoolKey[]): UpstreamTarget {
  const upstream = { id: name, name, ownerAccountId: null, protocol, baseUrl: "https://u.test", models, enabled: true, settings: {} } as unknown as Upstream;
  return { upstream, protocol, models: compileModelPatterns(models), pool: new KeyPool(keys), sendsCacheKey: true, headers: compileHeaderPolicy({}) };
}

/** 10,000 rules: exact names and wildcards of every specificity, one of them mapping the benchmark's model. */
function rules(n: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < n; i++)
    out.push(i % 3 === 0 ? `vendor-${i}-*=served-${i % 50}` : i % 3 === 1 ? `model-${i}=served-${i % 50}` : `fam-${i}-*-x=served-${i % 50}`);
  out.push("claude-*=served-7");
  return out;
}

function snapshotWith(ruleTexts: string[], keysPerPool: number): CatalogSnapshot {
  const keys = (base: number): PoolKey[] => Array.from({ length: keysPerPool }, (_, i) => poolKey(base + i));
  return {
    upstreams: [
      target("a", "openai-responses", ["served-*"], keys(0)),
      target("b", "anthropic", ["served-7", "claude-*"], keys(100_000)),
      target("c", "openai-chat", ["other-*"], keys(200_000)),
    ],
    owners: new Set(),
    unopened: [],
    version: 1,
    modelMap: compileRuleTexts(ruleTexts),
  };
}

function row(f: Figure): string {
  const ns = (v: number): string => (v >= 10_000 ? `${(v / 1000).toFixed(1)} µs` : `${v.toFixed(0)} ns`);
  return `  ${f.name.padEnd(58)} ${ns(f.nsPerOp).padStart(10)}/op   (min ${ns(f.min)}, max ${ns(f.max)})`;
}

async function micro(): Promise<void> {
  const snap = snapshotWith(rules(10_000), 4);
  process.stderr.write("timing model resolution…\n");
  const resolution: Figure[] = [
    time("resolve, 10,000 rules, cached (same name)", 100_000, () => void resolveModel(snap, "anthropic-messages", "claude-sonnet-4-5", NO_ACCOUNT_MAPPING)),
    // Names never seen before: each call misses, maps through the rules and evicts an entry.
    time(
      "resolve, 10,000 rules, uncached (new name each call)",
      20_000,
      (i) => void resolveModel(snap, "anthropic-messages", `claude-x-${i}`, NO_ACCOUNT_MAPPING),
    ),
  ];

  const big = snapshotWith([], 1000);
  const health = createLocalKeyHealth();
  const pool = big.upstreams[0]!.pool;
  const now = Date.now();
  const base = { model: "served-1", client: "openai-responses" as const, clientStreams: true, maxAttempts: 3, now };
  const selection: Figure[] = [
    time("plan attempts, 1,000 keys, session key (rendezvous)", 300, (i) => void planAttempts(big, health, { ...base, affinity: `session-${i % 64}` })),
    time("plan attempts, 1,000 keys, no session (least loaded)", 300, () => void planAttempts(big, health, { ...base, affinity: undefined })),
    time("KeyPool.order, 1,000 keys, session key", 300, (i) => void pool.order(`session-${i % 64}`, now)),
    time("KeyPool.order, 1,000 keys, no session", 300, () => void pool.order(undefined, now)),
  ];

  // A healthy Responses stream's head: the opening events, then content.
  const frames = [
    'event: response.created\ndata: {"type":"response.created","sequence_number":0,"response":{"id":"resp_1","object":"response","status":"in_progress","output":[]}}\n\n',
    'event: response.in_progress\ndata: {"type":"response.in_progress","sequence_number":1,"response":{"id":"resp_1","object":"response","status":"in_progress","output":[]}}\n\n',
    'event: response.output_item.added\ndata: {"type":"response.output_item.added","sequence_number":2,"output_index":0,"item":{"id":"msg_1","type":"message","status":"in_progress","content":[],"role":"assistant"}}\n\n',
    'event: response.content_part.added\ndata: {"type":"response.content_part.added","sequence_number":3,"item_id":"msg_1","output_index":0,"content_index":0,"part":{"type":"output_text","annotations":[],"text":""}}\n\n',
    ...Array.from(
      { length: 20 },
      (_, i) =>
        `event: response.output_text.delta\ndata: {"type":"response.output_text.delta","sequence_number":${4 + i},"item_id":"msg_1","output_index":0,"content_index":0,"delta":"chunk ${i} "}\n\n`,
    ),
  ].map((f) => Buffer.from(f));
  async function* body(): AsyncGenerator<Buffer> {
    for (const f of frames) yield f;
  }
  const drain = async (it: AsyncIterable<Buffer>): Promise<void> => {
    for await (const _ of it) void _;
  };
  const direct = await timeAsync("stream of 24 events read directly", 2_000, () => drain(body()));
  const held = await timeAsync("same stream through the opening hold", 2_000, async () => {
    const opened = await openStream("openai-responses", body());
    if (opened.kind !== "go") throw new Error("healthy stream failed");
    await drain(opened.body);
  });

  process.stdout.write(`Routing micro-benchmarks (median of ${ROUNDS} rounds)\n\nModel resolution\n${resolution.map(row).join("\n")}\n`);
  process.stdout.write(`\nKey selection\n${selection.map(row).join("\n")}\n`);
  process.stdout.write(
    `\nFailover's opening hold on a healthy stream\n${[direct, held].map(row).join("\n")}\n` +
      `  added per stream: ${((held.nsPerOp - direct.nsPerOp) / 1000).toFixed(1)} µs of CPU (no waiting: the first content event is in the first read)\n`,
  );
}

function load(): Promise<number> {
  const env = { ...process.env };
  env.BENCH_TARGETS ??= "baseline,switchyard,switchyard-routing";
  // The Chat workloads at 32 connections, as this bench has always measured, so its figures stay comparable across runs.
  env.BENCH_WORKLOADS ??= CHAT_WORKLOADS;
  env.BENCH_CONNECTIONS ??= "32";
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [fileURLToPath(new URL("./run.js", import.meta.url))], { env, stdio: "inherit" });
    child.on("exit", (code) => resolve(code ?? 1));
  });
}

await micro();
if (process.env.BENCH_ROUTING_LOAD === "0") process.exit(0);
process.stdout.write("\nLoad bench with routing on (bench/run.ts)\n\n");
process.exit(await load());
