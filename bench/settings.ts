/** Benchmark knobs, read from the environment (documented in bench/README.md). */
import { fileURLToPath } from "node:url";
import type { BodySize } from "./bodies.js";

/**
 * `switchyard-routing`: the gateway with routing at work (several upstreams and keys, mapping rules, a deadline); `npm run bench:routing` adds it.
 * `switchyard-governance`: the routing profile plus a 4-level account chain with limits, spend caps and prepaid credit at every level; `npm run bench:governance` adds it.
 */
export type TargetName = "baseline" | "switchyard" | "switchyard-routing" | "switchyard-governance";
export const TARGETS: readonly TargetName[] = ["baseline", "switchyard", "switchyard-routing", "switchyard-governance"];
/** What `npm run bench` measures when BENCH_TARGETS is unset. */
export const DEFAULT_TARGETS: readonly TargetName[] = ["baseline", "switchyard"];

export interface Workload {
  name: string;
  size: BodySize;
  stream: boolean;
}

export const WORKLOADS: readonly Workload[] = [
  { name: "chat-40k", size: "40k", stream: false },
  { name: "stream-40k", size: "40k", stream: true },
  { name: "chat-1k", size: "1k", stream: false },
  { name: "stream-1k", size: "1k", stream: true },
];

export interface Settings {
  measureMs: number;
  warmupMs: number;
  connections: number[];
  maxRequests: number;
  targets: TargetName[];
  workloads: Workload[];
  outFile: string;
  logLevel: string;
}

function positive(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const text = env[name];
  if (text === undefined || text === "") return fallback;
  const n = Number(text);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number, got ${JSON.stringify(text)}`);
  return n;
}

function list(env: NodeJS.ProcessEnv, name: string): string[] | undefined {
  const text = env[name];
  if (text === undefined || text.trim() === "") return undefined;
  return text
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
}

function chooseFrom<T extends { name: string } | string>(name: string, wanted: string[] | undefined, all: readonly T[]): T[] {
  if (!wanted) return [...all];
  const key = (t: T): string => (typeof t === "string" ? t : t.name);
  return wanted.map((w) => {
    const found = all.find((t) => key(t) === w);
    if (!found) throw new Error(`${name}: unknown entry ${JSON.stringify(w)} (choose from ${all.map(key).join(", ")})`);
    return found;
  });
}

export function readSettings(env: NodeJS.ProcessEnv = process.env): Settings {
  const connections = (list(env, "BENCH_CONNECTIONS") ?? ["32"]).map((c) => {
    const n = Number(c);
    if (!Number.isInteger(n) || n < 1 || n > 1024) throw new Error(`BENCH_CONNECTIONS: ${JSON.stringify(c)} is not an integer in 1..1024`);
    return n;
  });
  return {
    measureMs: positive(env, "BENCH_SECONDS", 8) * 1000,
    warmupMs: positive(env, "BENCH_WARMUP_SECONDS", 2) * 1000,
    connections,
    maxRequests: Math.floor(positive(env, "BENCH_MAX_REQUESTS", 200_000)),
    targets: chooseFrom("BENCH_TARGETS", list(env, "BENCH_TARGETS") ?? [...DEFAULT_TARGETS], TARGETS),
    workloads: chooseFrom("BENCH_WORKLOADS", list(env, "BENCH_WORKLOADS"), WORKLOADS),
    // dist/ is git-ignored, so results never end up in a commit by accident.
    outFile: env.BENCH_OUT || fileURLToPath(new URL("../bench-results/latest.json", import.meta.url)),
    logLevel: env.BENCH_LOG_LEVEL || "silent",
  };
}
