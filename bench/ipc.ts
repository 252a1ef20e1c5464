/**
 * What the runner and its child processes say to each other over the Node IPC
 * channel, and the child side of it. Each child announces `ready` once it
 * serves, then answers calls; every child answers `cpu` with its own CPU time
 * and collection pauses, which is how the runner charges CPU (and the share of it
 * spent collecting) per request to each process.
 */
import { readFile, writeFile } from "node:fs/promises";
import { Session } from "node:inspector/promises";
import { PerformanceObserver } from "node:perf_hooks";
import { GCProfiler, getHeapSpaceStatistics, getHeapStatistics } from "node:v8";
import type { LoadResult, LoadSpec } from "./load.js";

export interface CpuSample {
  /** process.cpuUsage(): user + system microseconds, all threads of the process. */
  userUs: number;
  systemUs: number;
  /**
   * Microseconds of garbage-collection pauses since the child began watching ({@link watchCollections}):
   * the atomic pauses only, not the incremental marking steps V8 interleaves with the program.
   */
  gcPauseUs: number;
  /**
   * Bytes allocated in the V8 heap while it was watched: from each cpu sample to the next cpu or
   * memory sample (so between two cpu samples with no memory sample between, all of it). What
   * the program asked the collector for, which sets how often it collects. ArrayBuffer contents
   * (socket reads, joined bodies) live outside the heap and are not counted.
   */
  heapAllocatedBytes: number;
}

/** Resident memory of a process (bytes); `peakRss` is the kernel's high-water mark since start (NaN where unknown). */
export interface MemorySample {
  rss: number;
  peakRss: number;
  /** What `rss` is made of, where Linux says (`/proc/self/smaps_rollup`); undefined elsewhere. */
  parts?: MemoryParts;
}

/**
 * The resident bytes of a process by what holds them. `files + v8Heap + arrayBuffers +
 * otherNative` is the RSS that smaps_rollup gave (unless `otherNative` was held at zero). The
 * RSS alone cannot tell a bigger heap from memory the C allocator keeps after the ArrayBuffers
 * in it were collected; these can.
 */
export interface MemoryParts {
  /** Pages of mapped files: the node binary and shared libraries, mostly. */
  files: number;
  /**
   * The main thread's V8 heap, all spaces, as the pages V8 has committed (`physical_space_size`).
   * They are resident once used; right after the heap shrank some may not be, and then
   * `otherNative` reads low.
   */
  v8Heap: number;
  /** ArrayBuffer contents V8 knows of, collected or not yet (`process.memoryUsage().arrayBuffers`). */
  arrayBuffers: number;
  /**
   * The rest of the anonymous memory: the C allocator's (including what it keeps after freeing,
   * and SQLite's), worker threads' heaps, thread stacks. Never below zero.
   */
  otherNative: number;
}

/** Splits `rss` by {@link MemoryParts}, from the `Rss:` and `Anonymous:` lines of smaps_rollup (kB). */
export function memoryParts(smapsRollup: string, v8Heap: number, arrayBuffers: number): MemoryParts | undefined {
  const kb = (field: string): number | undefined => {
    const v = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(smapsRollup)?.[1];
    return v === undefined ? undefined : Number(v) * 1024;
  };
  const rss = kb("Rss");
  const anonymous = kb("Anonymous");
  if (rss === undefined || anonymous === undefined) return undefined;
  return { files: rss - anonymous, v8Heap, arrayBuffers, otherNative: Math.max(0, anonymous - v8Heap - arrayBuffers) };
}

export interface RpcMethods {
  cpu: { params: null; result: CpuSample };
  memory: { params: null; result: MemorySample };
  load: { params: LoadSpec; result: LoadResult };
  /** Starts sampling this process's main thread (BENCH_PROFILE), every `intervalUs`. */
  profileStart: { params: { intervalUs: number }; result: null };
  /** Stops sampling and writes the `.cpuprofile` to `path`. */
  profileStop: { params: { path: string }; result: null };
}
export type RpcMethod = keyof RpcMethods;

export interface ReadyMessage {
  type: "ready";
  /** Where the child serves HTTP; empty for the load generator. */
  url: string;
}
export interface CallMessage {
  type: "call";
  id: number;
  method: RpcMethod;
  params: unknown;
}
export type ReplyMessage = { type: "reply"; id: number; ok: true; value: unknown } | { type: "reply"; id: number; ok: false; error: string };
export type ChildMessage = ReadyMessage | ReplyMessage;

export type Handlers = { [M in RpcMethod]?: (params: RpcMethods[M]["params"]) => Promise<RpcMethods[M]["result"]> | RpcMethods[M]["result"] };

function isCall(m: unknown): m is CallMessage {
  return typeof m === "object" && m !== null && (m as { type?: unknown }).type === "call";
}

let gcPauseUs = 0;
let watching: PerformanceObserver | undefined;

/**
 * The heap's allocations, from V8's own statistics around each collection (v8.GCProfiler):
 * what was allocated between two collections is the used size before the second minus the
 * used size after the first. Node keeps no running total itself.
 *
 * The profiler keeps a record of every collection, in memory, until it is stopped. So it runs
 * from a cpu sample to the next cpu or memory sample only, never through a soak or an idle
 * stretch: left running through a 150 s soak its record grew to 16.8 MB of the gateway's RSS
 * (heaptrack), about the soak's whole climb. A window's count (cpu sample to cpu sample) is whole.
 */
let heapAllocated = 0;
let heapUsedAfterLast = 0;
let gcProfiler: GCProfiler | undefined;

function startHeapProfile(): void {
  gcProfiler = new GCProfiler();
  gcProfiler.start();
  heapUsedAfterLast = getHeapStatistics().used_heap_size;
}

/** Adds what the heap allocated since the profile started to the total, and stops the profile. */
function endHeapProfile(): void {
  if (!gcProfiler) return;
  const stats = gcProfiler.stop()?.statistics ?? [];
  gcProfiler = undefined;
  let used = heapUsedAfterLast;
  for (const gc of stats) {
    heapAllocated += Math.max(0, gc.beforeGC.heapStatistics.usedHeapSize - used);
    used = gc.afterGC.heapStatistics.usedHeapSize;
  }
  heapAllocated += Math.max(0, getHeapStatistics().used_heap_size - used);
}

/** Adds up the heap's allocations up to now and starts the next stretch. */
function takeHeapAllocations(): number {
  endHeapProfile();
  startHeapProfile();
  return heapAllocated;
}

/**
 * Starts adding up this process's collection pauses (Node's `gc` performance entries) and its
 * heap allocations. The entries arrive in batches after the pauses, so a sample can miss the
 * last few milliseconds' worth; over a measured window of seconds that is noise.
 */
export function watchCollections(): void {
  if (watching) return;
  watching = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) gcPauseUs += entry.duration * 1000;
  });
  watching.observe({ entryTypes: ["gc"] });
  startHeapProfile();
}

export function cpuSample(): CpuSample {
  const u = process.cpuUsage();
  return { userUs: u.user, systemUs: u.system, gcPauseUs, heapAllocatedBytes: takeHeapAllocations() };
}

let profiler: Session | undefined;

/** An inspector session on this thread runs V8's sampling profiler (what `--cpu-prof` runs, here for one window only). */
export async function profileStart(p: { intervalUs: number }): Promise<null> {
  if (profiler) throw new Error("a profile is already being taken");
  const session = new Session();
  session.connect();
  await session.post("Profiler.enable");
  await session.post("Profiler.setSamplingInterval", { interval: p.intervalUs });
  await session.post("Profiler.start");
  profiler = session;
  return null;
}

export async function profileStop(p: { path: string }): Promise<null> {
  const session = profiler;
  if (!session) throw new Error("no profile is being taken");
  profiler = undefined;
  const { profile } = await session.post("Profiler.stop");
  session.disconnect();
  await writeFile(p.path, JSON.stringify(profile));
  return null;
}

/** The peak comes from Linux's VmHWM; read only between phases, never while load runs. */
export async function memorySample(): Promise<MemorySample> {
  // Before the reading, so the profiler's record is not in it; the next cpu sample starts a new one.
  endHeapProfile();
  const { rss, arrayBuffers } = process.memoryUsage();
  try {
    const [status, rollup] = await Promise.all([readFile("/proc/self/status", "latin1"), readFile("/proc/self/smaps_rollup", "latin1")]);
    const kb = /^VmHWM:\s+(\d+) kB/m.exec(status)?.[1];
    const v8Heap = getHeapSpaceStatistics().reduce((sum, space) => sum + space.physical_space_size, 0);
    return { rss, peakRss: kb === undefined ? Number.NaN : Number(kb) * 1024, parts: memoryParts(rollup, v8Heap, arrayBuffers) };
  } catch {
    return { rss, peakRss: Number.NaN };
  }
}

/**
 * Child side: answers calls with `handlers` (plus `cpu`), announces `url`, and
 * runs `stop` on SIGTERM/SIGINT or when the runner goes away.
 */
export function serveChild(url: string, handlers: Handlers, stop: () => Promise<void>): void {
  const send = process.send?.bind(process);
  if (!send) throw new Error("this module runs as a child of bench/run.js (no IPC channel)");
  const all: Handlers = { cpu: cpuSample, memory: memorySample, profileStart, profileStop, ...handlers };
  watchCollections();

  process.on("message", (m: unknown) => {
    if (!isCall(m)) return;
    // The parent pairs method and params by construction; the handler table is indexed by the same key.
    const handler = all[m.method] as ((p: unknown) => unknown) | undefined;
    const reply = (r: ReplyMessage): void => void send(r);
    if (!handler) return reply({ type: "reply", id: m.id, ok: false, error: `unknown method ${m.method}` });
    Promise.resolve()
      .then(() => handler(m.params))
      .then(
        (value) => reply({ type: "reply", id: m.id, ok: true, value }),
        (err: unknown) => reply({ type: "reply", id: m.id, ok: false, error: err instanceof Error ? (err.stack ?? err.message) : String(err) }),
      );
  });

  let stopping = false;
  const shutdown = (): void => {
    if (stopping) return;
    stopping = true;
    const force = setTimeout(() => process.exit(0), 3000);
    force.unref();
    stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on("SIGTERM", shutdown);
  process.on("SIGINT", shutdown);
  process.on("disconnect", shutdown);

  send({ type: "ready", url } satisfies ReadyMessage);
}
