/**
 * `npm run bench`: Switchyard against a bare Node pass-through proxy, in the
 * same run, on loopback, with real-size bodies. See bench/README.md.
 *
 * Every party is its own process: the mock upstream, the baseline proxy,
 * Switchyard, and the load generator. The two proxies share one core, the load
 * generator and the mock the other, so each proxy's CPU time per request can be
 * read cleanly from its own process.
 */
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { cpus, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { buildWorkloadBody, clientHeaders } from "./agent-bodies.js";
import type { LoadResult, LoadSpec } from "./load.js";
import { machineBusyUs } from "./machine.js";
import { SERVING_V8_FLAGS } from "../src/cli/v8-tuning.js";
import { checkTargets, targetsTable } from "./targets.js";
import { PERF_FREQUENCY_HZ, PerfRecording, perfReport, perfUsable, summarizePerf } from "./perf-record.js";
import { type CpuProfile, profileReport, summarizeProfile } from "./profile.js";
import { BenchChild, type CorePlan, cpuDeltaUs, gcDeltaUs, heapDeltaBytes, planCores } from "./processes.js";
import {
  type Measurement,
  type MemoryReport,
  type SoakReport,
  type SoakSample,
  compare,
  compareLanes,
  comparisonTable,
  errorReport,
  laneTable,
  measurementTable,
  memoryTable,
  representative,
  soakErrorReport,
  soakSummary,
  soakSummaryTable,
  soakTable,
} from "./report.js";
import {
  type BodyKind,
  CHAT_MODEL,
  CLAUDE_MODEL,
  CODEX_MODEL,
  PROFILE_INTERVAL_US,
  type Settings,
  type TargetName,
  type Workload,
  WORKLOADS,
  readSettings,
} from "./settings.js";

const MODEL = CHAT_MODEL;
const ACCOUNT_KEY = "sk-bench-account-0000000000000001";

/**
 * The agent workloads' upstreams, in every profile: Codex-shaped turns go to an OpenAI
 * Responses upstream (the only one serving CODEX_MODEL, so a Messages body asking for it
 * takes the translate lane), Claude-Code-shaped turns to an Anthropic upstream.
 */
function agentUpstreams(mockUrl: string, keys: (pool: string) => string): string {
  return `  - name: agents-responses
    protocol: openai-responses
    base_url: ${mockUrl}/v1
    keys: ${keys("responses")}
    models: [${CODEX_MODEL}]
  - name: agents-anthropic
    protocol: anthropic
    base_url: ${mockUrl}
    keys: ${keys("anthropic")}
    models: ["claude-*"]
`;
}

const here = (file: string): string => fileURLToPath(new URL(file, import.meta.url));

function gatewayYaml(mockUrl: string, dataDir: string, logLevel: string): string {
  return `server:
  host: 127.0.0.1
  port: 0
  shutdown_grace_ms: 1000
data_dir: ${JSON.stringify(dataDir)}
log_level: ${logLevel}
upstreams:
  - name: mock
    protocol: openai-chat
    base_url: ${mockUrl}/v1
    keys: [bench-upstream-key-0001]
    models: [${MODEL}]
${agentUpstreams(mockUrl, (pool) => `[bench-${pool}-key-0001]`)}accounts:
  - name: bench
    keys: [${ACCOUNT_KEY}]
`;
}

/**
 * The routing profile: the model the load asks for is mapped by a rule among 1,000, and
 * served by two upstreams of eight keys each (a third serves other models); attempts are
 * planned over them with a deadline. The mock answers any model name.
 */
function routingYaml(mockUrl: string, dataDir: string, logLevel: string, extra = "", accounts = `  - name: bench\n    keys: [${ACCOUNT_KEY}]\n`): string {
  const keys = (pool: string): string => `[${Array.from({ length: 8 }, (_, i) => `bench-${pool}-key-${String(i).padStart(4, "0")}`).join(", ")}]`;
  const filler = Array.from({ length: 1000 }, (_, i) => (i % 2 === 0 ? `"vendor-${i}-*=other-${i % 10}"` : `"model-${i}=other-${i % 10}"`));
  return `server:
  host: 127.0.0.1
  port: 0
  shutdown_grace_ms: 1000
  max_attempts: 3
routing:
  deadline_ms: 30000
data_dir: ${JSON.stringify(dataDir)}
log_level: ${logLevel}
model_map: [${[...filler, `"${MODEL}=bench-served"`].join(", ")}]
upstreams:
  - name: pool-a
    protocol: openai-chat
    base_url: ${mockUrl}/v1
    keys: ${keys("a")}
    models: [bench-served]
  - name: pool-b
    protocol: openai-chat
    base_url: ${mockUrl}/v1
    keys: ${keys("b")}
    models: [bench-served]
  - name: pool-c
    protocol: openai-chat
    base_url: ${mockUrl}/v1
    keys: ${keys("c")}
    models: ["other-*"]
${agentUpstreams(mockUrl, keys)}${extra}accounts:
${accounts}`;
}

/** The accounts of the governance profile, root first; the load's key is on the last. */
export const GOVERNANCE_CHAIN = ["bench-org", "bench-dept", "bench-team", "bench-user"] as const;
/** What the admin tops each wallet up with after start (micro-units): far more than the load can spend. */
const TOP_UP_MICROS = 1_000_000_000_000;

/**
 * The governance profile: the routing profile with the load's key on the leaf of a 4-level
 * chain (org → dept → team → user). Every level states rpm, tpm, rpd and concurrency
 * limits, a daily spend cap and a prepaid wallet of its own (`payer: self`, topped up by
 * the admin after start, so the user's wallet pays); the team states a quota. All of it is
 * far above what the load can use, so nothing is refused: a refusal is cheap and would
 * flatter the figure. The quota names the third pool's models, so it is matched on every
 * request and never applies: requests stay on the credit track, the dearer one (a hold on
 * the payer's balance view, four spend-cap windows, a carried cost, a ledger debit per
 * usage batch). The served model is priced (`pricing.models`, gpt-4o's list price).
 */
function governanceYaml(mockUrl: string, dataDir: string, logLevel: string): string {
  const level = (name: string, i: number): string =>
    [
      `  - name: ${name}`,
      i > 0 ? `    parent: ${GOVERNANCE_CHAIN[i - 1]}` : undefined,
      "    limits: { rpm: 100000000, tpm: 100000000000000, rpd: 10000000000, concurrency: 100000 }",
      "    spend_caps: { daily_micros: 1000000000000000 }",
      "    credit: { payer: self, overdraft_micros: 0 }",
      name === "bench-team" ? '    quotas: [{ per: day, requests: 1000000000, model: "other-*" }]' : undefined,
      i === GOVERNANCE_CHAIN.length - 1 ? `    keys: [${ACCOUNT_KEY}]` : undefined,
    ]
      .filter((l) => l !== undefined)
      .join("\n");
  const extra = `governance:
  counters: memory
pricing:
  version: bench
  models:
    "bench-*": { input: 2500000, cached_input: 1250000, output: 10000000 }
    "${CODEX_MODEL}": { input: 1250000, cached_input: 125000, output: 10000000 }
    "${CLAUDE_MODEL}": { input: 5000000, cached_input: 500000, cache_write: 6250000, output: 25000000 }
`;
  return routingYaml(mockUrl, dataDir, logLevel, extra, `${GOVERNANCE_CHAIN.map(level).join("\n")}\n`);
}

/** A fresh root admin token for a gateway the bench starts (the governance profile tops wallets up through the admin API). */
const ADMIN_TOKEN = `bench-admin-${randomBytes(24).toString("base64url")}`;

/** Tops up every wallet of the governance chain through the admin API, as an operator would after start. */
async function fundGovernanceChain(url: string): Promise<void> {
  const headers = { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" };
  const res = await fetch(`${url}/admin/v1/accounts`, { headers });
  if (!res.ok) throw new Error(`switchyard-governance: GET /admin/v1/accounts answered ${res.status}: ${await res.text()}`);
  const accounts = ((await res.json()) as { data: Array<{ id: string; name: string }> }).data;
  for (const name of GOVERNANCE_CHAIN) {
    const account = accounts.find((a) => a.name === name);
    if (!account) throw new Error(`switchyard-governance: account ${name} is missing`);
    const topUp = await fetch(`${url}/admin/v1/accounts/${account.id}/credits/topup`, {
      method: "POST",
      headers,
      body: JSON.stringify({ amount_micros: TOP_UP_MICROS, kind: "payg", note: "bench" }),
    });
    if (topUp.status !== 201) throw new Error(`switchyard-governance: top-up of ${name} answered ${topUp.status}: ${await topUp.text()}`);
  }
}

interface Stack {
  mock: BenchChild;
  load: BenchChild;
  targets: Map<TargetName, BenchChild>;
}

async function startStack(settings: Settings, cores: CorePlan, workDir: string, started: BenchChild[]): Promise<Stack> {
  const keep = (c: BenchChild): BenchChild => (started.push(c), c);
  const mock = keep(await BenchChild.start({ name: "mock upstream", script: here("./mock-upstream.js"), core: cores.driver }));
  const load = keep(await BenchChild.start({ name: "load generator", script: here("./load-generator.js"), core: cores.driver }));
  const targets = new Map<TargetName, BenchChild>();
  // BENCH_GATEWAY_NODE_OPTIONS (e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`) goes to the gateways, BENCH_BASELINE_NODE_OPTIONS
  // to the bare proxy: profiles of both, taken in one run, show where the difference goes.
  const nodeOptions = (name: string): string[] => (process.env[name] ?? "").split(/\s+/).filter(Boolean);
  // Under BENCH_PERF every proxy writes V8's map of its compiled code, so perf can name JavaScript frames.
  // `--perf-basic-prof` also turns on V8's code log, an isolate-*-v8.log in the working directory: sent nowhere.
  const perfArgs = settings.perfDir ? ["--perf-basic-prof", "--logfile=/dev/null"] : [];
  for (const target of settings.targets) {
    if (target === "baseline") {
      // As command-line flags, set before the heap is: what `serve` sets at run time before the gateway starts.
      const v8 = settings.baselineV8 === "serve" ? SERVING_V8_FLAGS : [];
      const nodeArgs = [...perfArgs, ...v8, ...nodeOptions("BENCH_BASELINE_NODE_OPTIONS")];
      targets.set(
        target,
        keep(await BenchChild.start({ name: "baseline proxy", script: here("./baseline-proxy.js"), args: [mock.url], nodeArgs, core: cores.proxy })),
      );
    } else {
      const dataDir = join(workDir, `data-${target}`);
      const configPath = join(workDir, `${target}.yaml`);
      const governed = target === "switchyard-governance" || target === "other-build";
      const yaml = target === "switchyard-routing" ? routingYaml : governed ? governanceYaml : gatewayYaml;
      await writeFile(configPath, yaml(mock.url, dataDir, settings.logLevel));
      // Keep the machine's own config and overrides out of the benchmark's gateway.
      const env: NodeJS.ProcessEnv = { ...process.env, SWITCHYARD_DATA_DIR: dataDir };
      for (const name of ["PORT", "HOST", "DATABASE_URL", "REDIS_URL", "LOG_LEVEL", "SWITCHYARD_CONFIG"]) delete env[name];
      env.SWITCHYARD_ADMIN_TOKEN = ADMIN_TOKEN;
      // Started as docs/deployment.md starts the gateway (and `npm start` does): no node flags, and the V8 flags
      // `serve` sets at run time set by switchyard-gateway.js; plus any profiling options.
      // BENCH_OTHER_NODE_OPTIONS goes to the other build only: with BENCH_OTHER_BUILD=dist it A/Bs node flags on one build.
      const nodeArgs = [
        ...perfArgs,
        ...nodeOptions("BENCH_GATEWAY_NODE_OPTIONS"),
        ...(target === "other-build" ? nodeOptions("BENCH_OTHER_NODE_OPTIONS") : []),
      ];
      const child = keep(
        await BenchChild.start({
          name: target,
          // The other build's own entry point, so its modules (and its node_modules links) are its own.
          script: target === "other-build" ? join(settings.otherBuild!, "bench", "switchyard-gateway.js") : here("./switchyard-gateway.js"),
          args: [configPath],
          nodeArgs,
          core: cores.proxy,
          env,
          readyTimeoutMs: 60_000,
        }),
      );
      if (governed) await fundGovernanceChain(child.url);
      targets.set(target, child);
    }
  }
  return { mock, load, targets };
}

/** Whether `target` runs workload `w`: the baseline forwards bytes and cannot translate. */
function serves(target: TargetName, w: Workload): boolean {
  return target !== "baseline" || w.lane === "passthrough";
}

function spec(origin: string, w: Workload, connections: number, durationMs: number, maxRequests: number): LoadSpec {
  // Each client sends its key the way it really does: Claude Code in x-api-key, the OpenAI clients as a bearer token.
  const auth: Record<string, string> = w.path === "/v1/messages" ? { "x-api-key": ACCOUNT_KEY } : { authorization: `Bearer ${ACCOUNT_KEY}` };
  return {
    origin,
    path: w.path,
    headers: { ...clientHeaders(w.path), ...auth },
    body: { kind: w.body, stream: w.stream, model: w.model },
    connections,
    durationMs,
    maxRequests,
  };
}

/** One request per target and workload before anything is timed: a target that cannot answer at all is a failed run. */
async function smokeTest(stack: Stack, settings: Settings): Promise<void> {
  for (const [target, child] of stack.targets) {
    for (const w of settings.workloads) {
      if (!serves(target, w)) continue;
      const r = await stack.load.call("load", spec(child.url, w, 1, 10_000, 1), 30_000);
      if (r.ok !== 1) throw new Error(`${target} cannot serve ${w.name}: ${r.errorSamples.join("; ") || "no answer"}`);
    }
  }
}

/**
 * Measures one phase of `targets`: one target alone, or under BENCH_TOGETHER all of them at once
 * (their loads run side by side, so whatever the machine does in the window it does to each).
 */
async function measure(
  stack: Stack,
  settings: Settings,
  targets: readonly TargetName[],
  w: Workload,
  connections: number,
  round: number,
): Promise<Measurement[]> {
  const children = targets.map((target) => {
    const child = stack.targets.get(target);
    if (!child) throw new Error(`no ${target} process`);
    return { target, child };
  });
  const callTimeout = settings.measureMs + settings.warmupMs + 60_000;
  const loadAll = (durationMs: number): Promise<LoadResult[]> =>
    Promise.all(children.map(({ child }) => stack.load.call("load", spec(child.url, w, connections, durationMs, settings.maxRequests), callTimeout)));
  await loadAll(settings.warmupMs);

  const name = (target: TargetName, ext: string): string => `${w.name}-c${connections}-${target}-r${round}.${ext}`;
  const profilePaths = children.map(({ target }) => settings.profileDir && join(settings.profileDir, name(target, "cpuprofile")));
  await Promise.all(children.map(({ child }, i) => profilePaths[i] && child.call("profileStart", { intervalUs: PROFILE_INTERVAL_US })));
  const perfPaths = children.map(({ target }) => settings.perfDir && join(settings.perfDir, name(target, "perf.data")));
  // Started before the window and stopped after it: perf samples the thread only while it runs, and between windows it waits.
  const recordings = children.map(({ child }, i) => (perfPaths[i] ? PerfRecording.start(child.pid!, perfPaths[i]) : undefined));
  const machineBefore = machineBusyUs();
  const before = await Promise.all([stack.mock.cpu(), stack.load.cpu(), ...children.map(({ child }) => child.cpu())]);
  const loads = await loadAll(settings.measureMs);
  const after = await Promise.all([stack.mock.cpu(), stack.load.cpu(), ...children.map(({ child }) => child.cpu())]);
  const machineAfter = machineBusyUs();
  await Promise.all(children.map(({ child }, i) => profilePaths[i] && child.call("profileStop", { path: profilePaths[i] })));
  await Promise.all(recordings.map((r) => r?.stop()));
  const memories = await Promise.all(children.map(({ child }) => child.memory()));

  const [mockUs, loadUs] = [0, 1].map((i) => cpuDeltaUs(before[i]!, after[i]!)) as [number, number];
  const proxiesUs = children.map((_, i) => cpuDeltaUs(before[i + 2]!, after[i + 2]!));
  const answeredAll = loads.reduce((n, l) => n + l.ok + l.errors, 0);
  return Promise.all(
    children.map(async ({ target }, i): Promise<Measurement> => {
      const load = loads[i]!;
      const memory = memories[i]!;
      const proxyUs = proxiesUs[i]!;
      const answered = load.ok + load.errors;
      const profilePath = profilePaths[i];
      const perfPath = perfPaths[i];
      const profile = profilePath ? summarizeProfile(JSON.parse(await readFile(profilePath, "utf8")) as CpuProfile, answered) : undefined;
      const perf = perfPath ? summarizePerf(await perfReport(perfPath), answered) : undefined;
      const elapsedUs = load.elapsedMs * 1000;
      const [proxyBefore, proxyAfter] = [before[i + 2]!, after[i + 2]!];
      return {
        phase: `${w.name} c${connections}`,
        workload: w.name,
        stream: w.stream,
        target,
        connections,
        load,
        reqPerSec: load.ok / (load.elapsedMs / 1000),
        proxyCpuUsPerReq: proxyUs / answered,
        proxyGcUsPerReq: gcDeltaUs(proxyBefore, proxyAfter) / answered,
        proxyHeapBytesPerReq: heapDeltaBytes(proxyBefore, proxyAfter) / answered,
        proxyCoreBusy: proxyUs / elapsedUs,
        driverCoreBusy: (mockUs + loadUs) / elapsedUs,
        // The mock and the load generator served every target of the window.
        mockCpuUsPerReq: mockUs / answeredAll,
        othersBusy:
          machineBefore === undefined || machineAfter === undefined
            ? Number.NaN
            : Math.max(0, machineAfter - machineBefore - proxiesUs.reduce((a, b) => a + b, 0) - mockUs - loadUs) / elapsedUs,
        rssAfter: memory.rss,
        ...(memory.parts ? { partsAfter: memory.parts } : {}),
        round,
        ...(profile ? { profile } : {}),
        ...(perf ? { perf } : {}),
      };
    }),
  );
}

/**
 * The memory soak (BENCH_SOAK_SECONDS): one target at a time (the proxies share a core), load
 * in back-to-back slices of BENCH_SOAK_SAMPLE_SECONDS, cycling through the workloads the
 * target serves at the first BENCH_CONNECTIONS, until the soak time is used; the target's
 * memory is sampled after each slice.
 */
async function soak(stack: Stack, settings: Settings, soakMs: number, idle: ReadonlyMap<TargetName, number>): Promise<SoakReport[]> {
  const connections = settings.connections[0]!;
  const reports: SoakReport[] = [];
  for (const [target, child] of stack.targets) {
    const workloads = settings.workloads.filter((w) => serves(target, w));
    if (workloads.length === 0) {
      process.stdout.write(`  soak: ${target} serves none of the workloads, skipped\n`);
      continue;
    }
    const samples: SoakSample[] = [];
    const start = performance.now();
    for (let i = 0; performance.now() - start < soakMs; i++) {
      const w = workloads[i % workloads.length]!;
      const durationMs = Math.min(settings.soakSampleMs, soakMs - (performance.now() - start));
      const load = await stack.load.call("load", spec(child.url, w, connections, durationMs, settings.maxRequests), durationMs + 60_000);
      const memory = await child.memory();
      const sample: SoakSample = {
        elapsedMs: performance.now() - start,
        workload: w.name,
        connections,
        load,
        reqPerSec: load.ok / (load.elapsedMs / 1000),
        rss: memory.rss,
        peakRss: memory.peakRss,
      };
      samples.push(sample);
      process.stdout.write(
        `  soak ${target} ${(sample.elapsedMs / 1000).toFixed(0)} s, ${w.name} c${connections}: ${sample.reqPerSec.toFixed(0)} req/s, ` +
          `${load.errors} errors, RSS ${(memory.rss / (1024 * 1024)).toFixed(1)} MB\n`,
      );
    }
    reports.push({ target, idle: idle.get(target) ?? Number.NaN, samples, summary: soakSummary(samples) });
  }
  return reports;
}

/** Prints and writes the soak's results; non-zero when a slice got no successful answer. */
async function reportSoak(reports: readonly SoakReport[], common: Record<string, unknown>, outFile: string): Promise<number> {
  for (const r of reports) process.stdout.write(`\nSoak: ${r.target} (memory after each slice; peak: the kernel's high-water mark)\n${soakTable(r.samples)}\n`);
  process.stdout.write(
    `\nSoak summary (drift: per workload, the least-squares slope of RSS over the second half of the samples, the highest; growth: likewise, last minus first)\n` +
      `${soakSummaryTable(reports)}\n`,
  );
  const errors = soakErrorReport(reports);
  if (errors) process.stdout.write(`\nerrors:\n${errors}\n`);

  await mkdir(dirname(outFile), { recursive: true });
  await writeFile(outFile, `${JSON.stringify({ ...common, soak: reports }, null, 2)}\n`);
  process.stdout.write(`\nresults written to ${outFile}\n`);

  const silent = reports.flatMap((r) =>
    r.samples.filter((s) => s.load.ok === 0).map((s) => `${r.target} at ${(s.elapsedMs / 1000).toFixed(0)} s (${s.workload})`),
  );
  if (silent.length > 0) {
    process.stderr.write(`no successful request in soak slices: ${silent.join(", ")}\n`);
    return 1;
  }
  return 0;
}

/** What every results file starts with: when, where, with which settings and bodies. */
function commonJson(
  settings: Settings,
  cores: string,
  bodies: ReadonlyArray<{ kind: BodyKind; bytes: Buffer; nonAsciiBytes: number }>,
): Record<string, unknown> {
  return {
    at: new Date().toISOString(),
    node: process.version,
    cpu: cpus()[0]?.model ?? "unknown",
    cores,
    settings: { ...settings, outFile: undefined },
    bodies: bodies.map((b) => ({ kind: b.kind, bytes: b.bytes.length, nonAsciiBytes: b.nonAsciiBytes })),
  };
}

async function main(): Promise<number> {
  const settings = readSettings();
  const cores = planCores();
  const workDir = await mkdtemp(join(tmpdir(), "switchyard-bench-"));
  const started: BenchChild[] = [];
  const stopAll = (): Promise<void> => Promise.all(started.map((c) => c.stop())).then(() => undefined);
  const onSignal = (): void => void stopAll().finally(() => process.exit(130));
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);

  const kinds = [...new Set(settings.workloads.map((w) => w.body))];
  const bodies = kinds.map((kind: BodyKind) => ({ kind, ...buildWorkloadBody(kind, false, kind.startsWith("claude") ? CLAUDE_MODEL : MODEL) }));
  const phases = settings.workloads.length * settings.connections.length * settings.rounds;
  const perPhaseS = ((settings.warmupMs + settings.measureMs) / 1000) * (settings.together ? 1 : settings.targets.length);
  const rounds = settings.rounds > 1 ? ` (${settings.rounds} rounds)` : "";
  const plan =
    settings.soakMs === undefined
      ? `Switchyard benchmark: ${settings.targets.join(" vs ")}, ${phases} phases${rounds} × ${settings.targets.length} targets` +
        `${settings.together ? " loaded together (BENCH_TOGETHER: latency and req/s are shares of one core)" : ""}, ` +
        `${settings.warmupMs / 1000} s warm-up + ${settings.measureMs / 1000} s measured each (~${Math.ceil(phases * perPhaseS)} s)`
      : `Switchyard memory soak: ${settings.targets.join(", ")} one after the other, ${settings.soakMs / 1000} s each ` +
        `in ${settings.soakSampleMs / 1000} s slices cycling through ${settings.workloads.map((w) => w.name).join(", ")} ` +
        `at ${settings.connections[0]} connections (~${Math.ceil((settings.soakMs / 1000) * settings.targets.length)} s)`;
  const baselineNote = !settings.targets.includes("baseline")
    ? ""
    : settings.baselineV8 === "serve"
      ? `bare proxy: with serve's V8 flags (${SERVING_V8_FLAGS.join(" ")}; BENCH_BASELINE_V8=node for node's defaults)\n`
      : "bare proxy: with node's default V8 settings (BENCH_BASELINE_V8=node)\n";
  process.stdout.write(
    `${plan}\n` +
      baselineNote +
      `cores: ${cores.note}; cpu: ${cpus()[0]?.model ?? "unknown"}; node ${process.version}\n` +
      `bodies: ${bodies.map((b) => `${b.kind} = ${b.bytes.length} B (${b.nonAsciiBytes} non-ASCII bytes)`).join(", ")}\n\n`,
  );

  try {
    if (settings.profileDir) await mkdir(settings.profileDir, { recursive: true });
    if (settings.perfDir) {
      if (!perfUsable())
        throw new Error(
          "BENCH_PERF: `perf record` does not work here (on Debian: apt-get install linux-perf; it needs root or kernel.perf_event_paranoid <= 1)",
        );
      await mkdir(settings.perfDir, { recursive: true });
    }
    const stack = await startStack(settings, cores, workDir, started);
    const idle = new Map<TargetName, number>();
    for (const [target, child] of stack.targets) idle.set(target, (await child.memory()).rss);
    await smokeTest(stack, settings);

    if (settings.soakMs !== undefined) {
      const reports = await soak(stack, settings, settings.soakMs, idle);
      return await reportSoak(reports, commonJson(settings, cores.note, bodies), settings.outFile);
    }

    const measurements: Measurement[] = [];
    /** Each target's last phase: its memory after load is read right after it, so no target has sat idle longer than another. */
    const lastPhase = new Map<TargetName, Measurement>();
    let flip = false;
    for (let round = 1; round <= settings.rounds; round++) {
      for (const connections of settings.connections) {
        for (const w of settings.workloads) {
          // Alternate who goes first so slow drift over the run does not always favour the same side.
          const order = flip ? [...settings.targets].reverse() : settings.targets;
          flip = !flip;
          const serving = order.filter((target) => serves(target, w));
          // One window for all of them (BENCH_TOGETHER), or one each, in turn.
          for (const group of settings.together ? [serving] : serving.map((t) => [t])) {
            for (const m of await measure(stack, settings, group, w, connections, round)) {
              const of = settings.rounds > 1 ? ` (round ${round}/${settings.rounds})` : "";
              process.stdout.write(
                `  measured ${m.phase} ${m.target}${of}: ${m.reqPerSec.toFixed(0)} req/s, ${m.proxyCpuUsPerReq.toFixed(0)} µs/req, ${m.load.errors} errors\n`,
              );
              measurements.push(m);
              lastPhase.set(m.target, m);
            }
          }
        }
      }
    }
    // Report in a stable order regardless of the interleaving.
    measurements.sort((a, b) => (a.phase === b.phase ? settings.targets.indexOf(a.target) - settings.targets.indexOf(b.target) : 0));

    const comparisons = compare(measurements);
    const routingComparisons = compare(measurements, "switchyard-routing");
    const governanceComparisons = compare(measurements, "switchyard-governance");
    const governanceOverRouting = compare(measurements, "switchyard-governance", "switchyard-routing");
    const overOtherBuild = compare(measurements, "switchyard-governance", "other-build");
    process.stdout.write(`\n${measurementTable(representative(measurements))}\n`);
    if (comparisons.length > 0) {
      process.stdout.write(
        `\nSwitchyard / baseline (req/s: higher is better; latency and CPU/req: lower is better; 1.00x = as cheap as a bare proxy)\n` +
          `${comparisonTable(comparisons)}\n`,
      );
    }
    if (routingComparisons.length > 0) {
      process.stdout.write(`\nSwitchyard with routing at work / baseline (same run)\n${comparisonTable(routingComparisons)}\n`);
    }
    if (governanceComparisons.length > 0) {
      process.stdout.write(
        `\nSwitchyard with governance (4-level chain, limits, caps, credit) / baseline (same run)\n${comparisonTable(governanceComparisons)}\n`,
      );
    }
    if (governanceOverRouting.length > 0) {
      process.stdout.write(
        `\nSwitchyard with governance / with routing alone (same run; the target: CPU/req at most 1.15x)\n${comparisonTable(governanceOverRouting)}\n`,
      );
    }
    if (overOtherBuild.length > 0) {
      process.stdout.write(
        `\nThis build / the other build (${settings.otherBuild}), both with governance, same run (below 1.00x: this build is cheaper)\n` +
          `${comparisonTable(overOtherBuild)}\n`,
      );
    }
    const memory: MemoryReport[] = [];
    for (const [target, child] of stack.targets) {
      // The peak is the kernel's high-water mark, the same whenever it is read after the last phase.
      const m = await child.memory();
      const last = lastPhase.get(target);
      const afterLoad = last ? { afterLoad: last.rssAfter, afterLoadParts: last.partsAfter } : { afterLoad: m.rss, afterLoadParts: m.parts };
      memory.push({ target, idle: idle.get(target) ?? Number.NaN, peak: m.peakRss, ...afterLoad });
    }
    process.stdout.write(
      `\nResident memory (idle: after start; after load: right after the target's last phase; peak: the kernel's high-water mark; "of it": the after-load figure by what holds it, bench/README.md)\n${memoryTable(memory)}\n`,
    );
    const twins = new Map(WORKLOADS.filter((w) => w.twin !== undefined).map((w) => [w.name, w.twin as string]));
    const lanes = compareLanes(measurements, twins);
    if (lanes.length > 0) {
      process.stdout.write(`\nTranslate lane / passthrough lane, same body, same target (the target: CPU/req at most 1.5x)\n${laneTable(lanes)}\n`);
    }
    // The budget is the gateway's with governance on; without that target, the plain gateway's.
    const gatewayTarget = governanceComparisons.length > 0 ? "switchyard-governance" : "switchyard";
    const targets = checkTargets(
      gatewayTarget === "switchyard-governance" ? governanceComparisons : comparisons,
      lanes.filter((l) => l.target === gatewayTarget),
      memory.find((m) => m.target === gatewayTarget),
      new Set(WORKLOADS.filter((w) => w.body.endsWith("1k")).map((w) => w.name)),
    );
    if (targets.length > 0) {
      process.stdout.write(`\nThe budget against this run (${gatewayTarget} ÷ the bare proxy; bench/README.md#the-budget)\n${targetsTable(targets)}\n`);
    }
    if (settings.profileDir) {
      process.stdout.write(
        `\nWhere the CPU went: self time by group, sampled every ${PROFILE_INTERVAL_US} µs over the measured windows (main thread; ` +
          `the sampler's own cost makes this run's CPU figures higher; profiles in ${settings.profileDir})\n` +
          `${profileReport(measurements, settings.targets)}\n`,
      );
    }
    if (settings.perfDir) {
      const recorded = measurements.map((m) => ({ phase: m.phase, target: m.target, ...(m.perf ? { profile: m.perf } : {}) }));
      process.stdout.write(
        `\nWhere the main thread's time went, all of it: perf samples by group, ${PERF_FREQUENCY_HZ} a second over the measured windows ` +
          `(JavaScript, V8, Node's natives, libc and the kernel; recordings in ${settings.perfDir})\n` +
          `${profileReport(recorded, settings.targets)}\n`,
      );
    }
    const errors = errorReport(measurements);
    if (errors) process.stdout.write(`\nerrors:\n${errors}\n`);

    await mkdir(dirname(settings.outFile), { recursive: true });
    const json = {
      ...commonJson(settings, cores.note, bodies),
      measurements,
      memory,
      lanes,
      comparisons,
      routingComparisons,
      governanceComparisons,
      governanceOverRouting,
      overOtherBuild,
      targets,
    };
    await writeFile(settings.outFile, `${JSON.stringify(json, null, 2)}\n`);
    process.stdout.write(`\nresults written to ${settings.outFile}\n`);

    const silent = measurements.filter((m) => m.load.ok === 0);
    if (silent.length > 0) {
      process.stderr.write(`no successful request in: ${silent.map((m) => `${m.phase} ${m.target}`).join(", ")}\n`);
      return 1;
    }
    return 0;
  } finally {
    await stopAll();
    await rm(workDir, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
