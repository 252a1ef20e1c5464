/** Benchmark knobs, read from the environment (documented in bench/README.md). */
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * `switchyard-routing`: the gateway with routing at work (several upstreams and keys, mapping rules, a deadline); `npm run bench:routing` adds it.
 * `switchyard-governance`: the routing profile plus a 4-level account chain with limits, spend caps and prepaid credit at every level; `npm run bench:governance` adds it.
 * `other-build`: the governance profile served by another build of the gateway (BENCH_OTHER_BUILD), for an A/B of two builds in one run.
 */
export type TargetName = "baseline" | "switchyard" | "switchyard-routing" | "switchyard-governance" | "other-build";
export const TARGETS: readonly TargetName[] = ["baseline", "switchyard", "switchyard-routing", "switchyard-governance", "other-build"];
/** What `npm run bench` measures when BENCH_TARGETS is unset. */
export const DEFAULT_TARGETS: readonly TargetName[] = ["baseline", "switchyard", "switchyard-governance"];

/**
 * Which request body a workload sends (bodies.ts, agent-bodies.ts). `sdk-chat-1k` is `chat-1k` as
 * the OpenAI SDKs send a stream by default, without `stream_options`: the gateway then asks the
 * upstream for usage itself and takes it out of the answer (docs/protocols.md). A kind ending in
 * `1k` is a 1 KB body (the budget's small bodies).
 */
export type BodyKind = "chat-40k" | "chat-1k" | "sdk-chat-1k" | "codex-40k" | "claude-76k";

export interface Workload {
  name: string;
  body: BodyKind;
  stream: boolean;
  /** The client protocol's endpoint. */
  path: string;
  model: string;
  /**
   * `translate`: the model is served only by an upstream of another protocol, so the gateway
   * translates; the baseline cannot, and skips it. `twin` names the passthrough workload that
   * sends the same body to an upstream of its own protocol, the translate lane's reference.
   */
  lane: "passthrough" | "translate";
  twin?: string;
}

const CHAT = "/v1/chat/completions";
const RESPONSES = "/v1/responses";
const MESSAGES = "/v1/messages";
/** Served by the OpenAI Chat upstream. */
export const CHAT_MODEL = "gpt-4o";
/** Served only by the OpenAI Responses upstream. */
export const CODEX_MODEL = "gpt-5-codex";
/** Served by the Anthropic upstream. */
export const CLAUDE_MODEL = "claude-opus-4-8";

export const WORKLOADS: readonly Workload[] = [
  { name: "chat-40k", body: "chat-40k", stream: false, path: CHAT, model: CHAT_MODEL, lane: "passthrough" },
  { name: "stream-40k", body: "chat-40k", stream: true, path: CHAT, model: CHAT_MODEL, lane: "passthrough" },
  { name: "chat-1k", body: "chat-1k", stream: false, path: CHAT, model: CHAT_MODEL, lane: "passthrough" },
  { name: "stream-1k", body: "chat-1k", stream: true, path: CHAT, model: CHAT_MODEL, lane: "passthrough" },
  { name: "sdk-stream-1k", body: "sdk-chat-1k", stream: true, path: CHAT, model: CHAT_MODEL, lane: "passthrough" },
  { name: "codex-40k", body: "codex-40k", stream: false, path: RESPONSES, model: CODEX_MODEL, lane: "passthrough" },
  { name: "codex-stream-40k", body: "codex-40k", stream: true, path: RESPONSES, model: CODEX_MODEL, lane: "passthrough" },
  { name: "claude-76k", body: "claude-76k", stream: false, path: MESSAGES, model: CLAUDE_MODEL, lane: "passthrough" },
  { name: "claude-stream-76k", body: "claude-76k", stream: true, path: MESSAGES, model: CLAUDE_MODEL, lane: "passthrough" },
  { name: "translate-76k", body: "claude-76k", stream: false, path: MESSAGES, model: CODEX_MODEL, lane: "translate", twin: "claude-76k" },
  { name: "translate-stream-76k", body: "claude-76k", stream: true, path: MESSAGES, model: CODEX_MODEL, lane: "translate", twin: "claude-stream-76k" },
];

/** The Chat workloads alone: what the routing and governance benches measure unless told otherwise. */
export const CHAT_WORKLOADS = "chat-40k,stream-40k,chat-1k,stream-1k";

export interface Settings {
  measureMs: number;
  warmupMs: number;
  connections: number[];
  maxRequests: number;
  /**
   * Each phase is measured this many times, the targets taking turns, and the ratios are the
   * median of the rounds' own ratios: a drift of the machine moves both sides of one round.
   */
  rounds: number;
  targets: TargetName[];
  workloads: Workload[];
  outFile: string;
  logLevel: string;
  /**
   * BENCH_SOAK_SECONDS: when set, the run is a memory soak instead of the measured phases:
   * each target in turn takes load this long, in back-to-back slices of `soakSampleMs`,
   * its memory sampled after each slice.
   */
  soakMs?: number;
  /** BENCH_SOAK_SAMPLE_SECONDS: the length of one soak slice, after which memory is sampled. */
  soakSampleMs: number;
  /**
   * BENCH_OTHER_BUILD: the build directory (what `tsc -p tsconfig.build.json` writes, holding
   * bench/switchyard-gateway.js) of another version of the gateway, which the `other-build`
   * target runs. Set together with that target, and only with it.
   */
  otherBuild?: string;
  /**
   * BENCH_TOGETHER: the targets of a phase take their load at the same time, sharing the proxies'
   * core, instead of one after the other. What the machine does during the window (its speed moved
   * by 2x within an hour here, bench/README.md) then moves every target alike, so the CPU ratio of
   * two near-equal builds resolves smaller differences. Latency and throughput figures of such a
   * phase are each target's share of a shared core, not comparable with a run without it.
   */
  together: boolean;
  /**
   * BENCH_BASELINE_V8: the V8 settings the bare proxy runs with. `serve` (the default): the flags
   * `switchyard serve` sets for the gateway (src/cli/v8-tuning.ts), so the two are compared on the
   * work each does, not on how V8 is tuned. `node`: node's own defaults, under which the bare proxy's
   * collection cost a request 29–52 µs on a fresh process and 6 once earlier phases had grown its
   * heap: the bar then moves with the phases run before it (bench/README.md, the fourteenth stop).
   */
  baselineV8: "serve" | "node";
  /**
   * BENCH_PROFILE: a directory. Each measured window of every target is then sampled by V8's
   * CPU profiler in the process under test (its main thread, every 200 µs), the `.cpuprofile`
   * files are written there, and the report adds where each target's CPU went (bench/profile.ts).
   * The sampler costs CPU itself, so a profiled run's CPU figures read higher.
   */
  profileDir?: string;
  /**
   * BENCH_PERF: a directory. Each measured window of every target is then recorded by Linux
   * `perf` on the process's main thread, natives and kernel included, the recordings are written
   * there, and the report adds where each target's main thread spent its time
   * (bench/perf-record.ts). Every proxy then runs with `--perf-basic-prof`, which costs a little.
   */
  perfDir?: string;
}

/** The profiler's sampling interval under BENCH_PROFILE (µs): fine enough for a 100 µs request, cheap enough to leave the ratios readable. */
export const PROFILE_INTERVAL_US = 200;

function positive(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const text = env[name];
  if (text === undefined || text === "") return fallback;
  const n = Number(text);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number, got ${JSON.stringify(text)}`);
  return n;
}

/** `1` or `true` on, `0`, `false` or unset off. */
function flag(env: NodeJS.ProcessEnv, name: string): boolean {
  const text = env[name]?.trim() ?? "";
  if (text === "" || text === "0" || text === "false") return false;
  if (text === "1" || text === "true") return true;
  throw new Error(`${name} must be 1 or 0, got ${JSON.stringify(text)}`);
}

/** Like `positive`, but unset stays unset. */
function optionalPositive(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const text = env[name];
  return text === undefined || text === "" ? undefined : positive(env, name, Number.NaN);
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
  const connections = (list(env, "BENCH_CONNECTIONS") ?? ["1", "50"]).map((c) => {
    const n = Number(c);
    if (!Number.isInteger(n) || n < 1 || n > 1024) throw new Error(`BENCH_CONNECTIONS: ${JSON.stringify(c)} is not an integer in 1..1024`);
    return n;
  });
  const soakSeconds = optionalPositive(env, "BENCH_SOAK_SECONDS");
  const targets = chooseFrom("BENCH_TARGETS", list(env, "BENCH_TARGETS") ?? [...DEFAULT_TARGETS], TARGETS);
  return {
    measureMs: positive(env, "BENCH_SECONDS", 5) * 1000,
    warmupMs: positive(env, "BENCH_WARMUP_SECONDS", 2) * 1000,
    connections,
    maxRequests: Math.floor(positive(env, "BENCH_MAX_REQUESTS", 200_000)),
    rounds: Math.floor(positive(env, "BENCH_ROUNDS", 1)),
    targets,
    workloads: chooseFrom("BENCH_WORKLOADS", list(env, "BENCH_WORKLOADS"), WORKLOADS),
    // dist/ is git-ignored, so results never end up in a commit by accident.
    outFile: env.BENCH_OUT || fileURLToPath(new URL("../bench-results/latest.json", import.meta.url)),
    logLevel: env.BENCH_LOG_LEVEL || "silent",
    soakMs: soakSeconds === undefined ? undefined : soakSeconds * 1000,
    soakSampleMs: positive(env, "BENCH_SOAK_SAMPLE_SECONDS", 30) * 1000,
    together: flag(env, "BENCH_TOGETHER"),
    baselineV8: baselineV8(env),
    ...otherBuild(env, targets),
    ...(env.BENCH_PROFILE?.trim() ? { profileDir: resolve(env.BENCH_PROFILE.trim()) } : {}),
    ...(env.BENCH_PERF?.trim() ? { perfDir: resolve(env.BENCH_PERF.trim()) } : {}),
  };
}

function baselineV8(env: NodeJS.ProcessEnv): Settings["baselineV8"] {
  const text = env.BENCH_BASELINE_V8?.trim() || "serve";
  if (text !== "serve" && text !== "node") throw new Error(`BENCH_BASELINE_V8 must be serve or node, got ${JSON.stringify(text)}`);
  return text;
}

/** The other build's directory, checked: one of BENCH_OTHER_BUILD and the `other-build` target without the other is a mistake. */
function otherBuild(env: NodeJS.ProcessEnv, targets: readonly TargetName[]): { otherBuild?: string } {
  const dir = env.BENCH_OTHER_BUILD?.trim() || undefined;
  const listed = targets.includes("other-build");
  if (listed && dir === undefined) throw new Error("BENCH_TARGETS names other-build: set BENCH_OTHER_BUILD to that build's directory");
  if (!listed && dir !== undefined) throw new Error("BENCH_OTHER_BUILD is set: add other-build to BENCH_TARGETS to measure it");
  if (dir === undefined) return {};
  const gateway = join(resolve(dir), "bench", "switchyard-gateway.js");
  if (!existsSync(gateway)) throw new Error(`BENCH_OTHER_BUILD: ${gateway} does not exist (build that version with tsc -p tsconfig.build.json)`);
  return { otherBuild: resolve(dir) };
}
