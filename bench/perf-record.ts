/**
 * Where a proxy's main thread spends all of its time, from Linux `perf` (BENCH_PERF): the
 * kernel's sampler records the thread over each measured window, and each sampled symbol is
 * put in a group and divided by the requests the window answered, in the shape of
 * bench/profile.ts's summaries so that the same tables print it.
 *
 * V8's own sampler (BENCH_PROFILE) sees JavaScript, collection and the natives JavaScript
 * calls, but not the native work Node does between callbacks (socket reads, HTTP parsing,
 * copies of body pieces): on a 76 KB body it saw about a quarter of the bare proxy's main
 * thread. `perf` sees every instruction the thread runs, the kernel's included; JavaScript
 * frames get their names from the map V8 writes with `--perf-basic-prof`, which the bench then
 * gives every proxy.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { type ProfileSummary, groupOfScript, summaryOf } from "./profile.js";

/** Samples a second: not a divisor of the kernel's tick, so samples do not lock step with timers. */
export const PERF_FREQUENCY_HZ = 997;

/** Whether `perf record` works here (installed, and allowed to sample a process of ours). */
export function perfUsable(): boolean {
  const probe = spawnSync("perf", ["record", "-q", "-o", "/dev/null", "--", "true"], { stdio: "ignore", timeout: 30_000 });
  return probe.status === 0;
}

/** A `perf record` of one thread, running until {@link PerfRecording.stop}. */
export class PerfRecording {
  readonly #proc: ChildProcess;
  readonly #exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  private constructor(proc: ChildProcess) {
    this.#proc = proc;
    this.#exited = new Promise((resolve, reject) => {
      proc.once("error", reject);
      proc.once("exit", (code, signal) => resolve({ code, signal }));
    });
  }

  /** Starts recording thread `tid` (a process's main thread has its pid) into `path`. */
  static start(tid: number, path: string): PerfRecording {
    return new PerfRecording(spawn("perf", ["record", "-q", "-F", String(PERF_FREQUENCY_HZ), "-t", String(tid), "-o", path], { stdio: "ignore" }));
  }

  /**
   * Stops it as Ctrl-C would and waits for the file: perf writes out what it holds, then raises
   * the signal again on itself, so an exit by SIGINT is its normal end.
   */
  async stop(): Promise<void> {
    this.#proc.kill("SIGINT");
    const { code, signal } = await this.#exited;
    if (code !== 0 && signal !== "SIGINT") throw new Error(`perf record ended with ${signal ?? `exit code ${code}`}`);
  }
}

/** `perf report`'s flat list of a recording: samples a symbol, with its object (`--sort dso,sym`). */
export async function perfReport(path: string): Promise<string> {
  const proc = spawn("perf", ["report", "-i", path, "--no-children", "--sort", "dso,sym", "-q", "-n", "--stdio"], { stdio: ["ignore", "pipe", "ignore"] });
  const chunks: Buffer[] = [];
  proc.stdout.on("data", (c: Buffer) => chunks.push(c));
  const code = await new Promise<number | null>((resolve, reject) => {
    proc.once("error", reject);
    proc.once("exit", resolve);
  });
  if (code !== 0) throw new Error(`perf report exited with ${code}`);
  return Buffer.concat(chunks).toString("utf8");
}

/** One line of `perf report -q -n --sort dso,sym`: `  3.52%  260  libc.so.6  [.] __memmove_avx512_unaligned_erms`. */
const LINE = /^\s*[\d.]+%\s+(\d+)\s+(.+?)\s+\[([.k])\]\s+(.+?)\s*$/;

/** V8's collector: its classes and the spaces it manages (what runs on the main thread during a pause or an incremental step). */
const COLLECTOR =
  /::(Heap|Scavenger\w*|\w*MarkCompactCollector|IncrementalMarking|\w*MarkingVisitor\w*|ConcurrentMarking|Sweeper|ArrayBufferSweeper|\w*Evacuat\w*|GCTracer|MemoryAllocator|PagedSpace\w*|SemiSpace\w*|NewSpace|LargeObjectSpace|MemoryReducer|GlobalHandles|RememberedSet\w*|SlotSet|LocalHeap)::/;

/**
 * The group of a sampled symbol. JavaScript (named by `--perf-basic-prof` as `JS:` and a tier
 * mark, then the function and its script) goes where bench/profile.ts puts the same script;
 * the rest by what it is.
 */
export function perfGroupOf(dso: string, kind: "." | "k", symbol: string): string {
  if (kind === "k" || dso.startsWith("[kernel")) return "kernel";
  const js = /^JS:[*~^+]?(.*)$/.exec(symbol);
  if (js) {
    const body = js[1]!;
    if (body.startsWith("wasm-")) return "undici";
    const script = / (\S+?)(?::\d+){0,2}$/.exec(body)?.[1] ?? "";
    return groupOfScript(script.replace(/^file:\/\//, ""));
  }
  // Irregexp's compiled expressions live in V8's code space beside JavaScript.
  if (symbol.startsWith("RegExp:")) return "V8 regular expressions";
  if (/^libc[.-]/.test(dso)) return "libc (copies, malloc)";
  if (dso.endsWith(".node")) return dso.replace(/\.node$/, "").replaceAll("_", "-");
  if (symbol.startsWith("Builtins_")) return "V8 builtins";
  if (symbol.startsWith("v8::internal::JsonParser")) return "JSON.parse";
  if (symbol.startsWith("v8::internal::JsonStringifier")) return "JSON.stringify";
  if (symbol.startsWith("v8::") || symbol.startsWith("cppgc::")) return COLLECTOR.test(symbol) ? "GC" : "V8 runtime";
  if (symbol.startsWith("uv_") || symbol.startsWith("uv__")) return "libuv";
  if (symbol.startsWith("llhttp")) return "node http";
  if (dso === "node" || dso.endsWith("/node")) return "node native";
  return "other native";
}

/** Readable name of a symbol for the busiest list: a JavaScript frame without its tier mark and `file://`. */
function symbolName(dso: string, symbol: string): string {
  const js = /^JS:[*~^+]?(.*)$/.exec(symbol);
  if (js) return js[1]!.replace(/ (?:file:\/\/)?\S*?\/(?:node_modules\/|[^/ ]+\/(?=src\/))/, " ");
  return dso.startsWith("[") || dso === "node" ? symbol : `${symbol} (${dso})`;
}

/** µs a request per group and per symbol, from `perf report` text of a window that answered `requests`. */
export function summarizePerf(report: string, requests: number, frequencyHz = PERF_FREQUENCY_HZ, topN = 200): ProfileSummary {
  const usPerSample = 1_000_000 / frequencyHz;
  const groups = new Map<string, number>();
  const symbols = new Map<string, number>();
  let busy = 0;
  for (const line of report.split("\n")) {
    const m = LINE.exec(line);
    if (!m) continue;
    const [, samples, rawDso, kind, symbol] = m as unknown as [string, string, string, "." | "k", string];
    // V8's code map names its object after the thread (`[JIT] tid 1234`): one object, whatever the tid.
    const dso = rawDso.startsWith("[JIT]") ? "[JIT]" : rawDso;
    const us = Number(samples) * usPerSample;
    busy += us;
    const group = perfGroupOf(dso, kind, symbol);
    groups.set(group, (groups.get(group) ?? 0) + us);
    const name = symbolName(dso, symbol);
    symbols.set(name, (symbols.get(name) ?? 0) + us);
  }
  return summaryOf(requests, busy, groups, symbols, topN);
}
