/**
 * What the runner and its child processes say to each other over the Node IPC
 * channel, and the child side of it. Each child announces `ready` once it
 * serves, then answers calls; every child answers `cpu` with its own CPU time,
 * which is how the runner charges CPU per request to each process.
 */
import { readFile } from "node:fs/promises";
import type { LoadResult, LoadSpec } from "./load.js";

export interface CpuSample {
  /** process.cpuUsage(): user + system microseconds, all threads of the process. */
  userUs: number;
  systemUs: number;
}

/** Resident memory of a process (bytes); `peakRss` is the kernel's high-water mark since start (NaN where unknown). */
export interface MemorySample {
  rss: number;
  peakRss: number;
}

export interface RpcMethods {
  cpu: { params: null; result: CpuSample };
  memory: { params: null; result: MemorySample };
  load: { params: LoadSpec; result: LoadResult };
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

export function cpuSample(): CpuSample {
  const u = process.cpuUsage();
  return { userUs: u.user, systemUs: u.system };
}

/** The peak comes from Linux's VmHWM; read only between phases, never while load runs. */
export async function memorySample(): Promise<MemorySample> {
  const rss = process.memoryUsage.rss();
  try {
    const status = await readFile("/proc/self/status", "latin1");
    const kb = /^VmHWM:\s+(\d+) kB/m.exec(status)?.[1];
    return { rss, peakRss: kb === undefined ? Number.NaN : Number(kb) * 1024 };
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
  const all: Handlers = { cpu: cpuSample, memory: memorySample, ...handlers };

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
