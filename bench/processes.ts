/**
 * Runner side of the child processes: spawning them pinned to a core, waiting
 * for them to serve, calling them over IPC, and stopping them.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { availableParallelism } from "node:os";
import type { ChildMessage, CpuSample, MemorySample, RpcMethod, RpcMethods } from "./ipc.js";

/** Which core each side runs on; undefined = not pinned. */
export interface CorePlan {
  /** The proxies under test (baseline and Switchyard). */
  proxy: string | undefined;
  /** The load generator and the mock upstream. */
  driver: string | undefined;
  note: string;
}

export function planCores(): CorePlan {
  const cores = availableParallelism();
  if (cores < 2) return { proxy: undefined, driver: undefined, note: `not pinned: only ${cores} core` };
  const probe = spawnSync("taskset", ["-c", "0", "true"], { stdio: "ignore" });
  if (probe.error || probe.status !== 0) return { proxy: undefined, driver: undefined, note: "not pinned: taskset unavailable" };
  return { proxy: "0", driver: "1", note: `proxies on core 0, load generator + mock on core 1 (of ${cores})` };
}

interface Pending {
  resolve(value: unknown): void;
  reject(err: Error): void;
}

export interface StartOptions {
  name: string;
  /** Path of the compiled child entry module. */
  script: string;
  args?: string[];
  /** Options for node itself, before the script (e.g. `--cpu-prof`). */
  nodeArgs?: string[];
  core: string | undefined;
  env?: NodeJS.ProcessEnv;
  readyTimeoutMs?: number;
}

export class BenchChild {
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private exited = false;
  private stopping = false;
  private readonly exit: Promise<void>;

  private constructor(
    readonly name: string,
    private readonly proc: ChildProcess,
    readonly url: string,
  ) {
    this.exit = new Promise((resolve) => proc.once("exit", () => resolve()));
    proc.on("message", (m: ChildMessage) => {
      if (m.type !== "reply") return;
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.ok) p.resolve(m.value);
      else p.reject(new Error(`${name}: ${m.error}`));
    });
    proc.once("exit", (code, signal) => {
      this.exited = true;
      const err = new Error(`${name} exited${this.stopping ? "" : " unexpectedly"} (code ${code}, signal ${signal})`);
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    });
  }

  get pid(): number | undefined {
    return this.proc.pid;
  }

  static start(o: StartOptions): Promise<BenchChild> {
    const nodeArgs = [...(o.nodeArgs ?? []), o.script, ...(o.args ?? [])];
    const [command, args] = o.core === undefined ? [process.execPath, nodeArgs] : ["taskset", ["-c", o.core, process.execPath, ...nodeArgs]];
    // taskset execs node in place, so the IPC descriptor and the pid carry over.
    const proc = spawn(command, args, { stdio: ["ignore", "inherit", "inherit", "ipc"], env: o.env ?? process.env });
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        proc.kill("SIGKILL");
        reject(new Error(`${o.name} did not become ready within ${o.readyTimeoutMs ?? 30_000} ms`));
      }, o.readyTimeoutMs ?? 30_000);
      const onExit = (code: number | null, signal: string | null): void => {
        clearTimeout(timer);
        reject(new Error(`${o.name} exited before it was ready (code ${code}, signal ${signal})`));
      };
      proc.once("error", (err) => {
        clearTimeout(timer);
        reject(new Error(`${o.name} could not be started: ${err.message}`));
      });
      proc.once("exit", onExit);
      proc.on("message", function onReady(m: ChildMessage) {
        if (m.type !== "ready") return;
        clearTimeout(timer);
        proc.off("exit", onExit);
        proc.off("message", onReady);
        resolve(new BenchChild(o.name, proc, m.url));
      });
    });
  }

  call<M extends RpcMethod>(method: M, params: RpcMethods[M]["params"], timeoutMs = 30_000): Promise<RpcMethods[M]["result"]> {
    if (this.exited) return Promise.reject(new Error(`${this.name} is not running`));
    const id = this.nextId++;
    return new Promise<RpcMethods[M]["result"]>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${this.name}: ${method} got no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, {
        // The child answers `method` with its handler's result type (ipc.ts Handlers).
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v as RpcMethods[M]["result"]);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.proc.send({ type: "call", id, method, params });
    });
  }

  cpu(): Promise<CpuSample> {
    return this.call("cpu", null);
  }

  memory(): Promise<MemorySample> {
    return this.call("memory", null);
  }

  /** SIGTERM, then SIGKILL if it has not exited within `graceMs`. */
  async stop(graceMs = 5000): Promise<void> {
    if (this.exited) return;
    this.stopping = true;
    this.proc.kill("SIGTERM");
    const timer = setTimeout(() => this.proc.kill("SIGKILL"), graceMs);
    await this.exit;
    clearTimeout(timer);
  }
}

export function cpuDeltaUs(before: CpuSample, after: CpuSample): number {
  return after.userUs - before.userUs + (after.systemUs - before.systemUs);
}

export function gcDeltaUs(before: CpuSample, after: CpuSample): number {
  return after.gcPauseUs - before.gcPauseUs;
}

export function heapDeltaBytes(before: CpuSample, after: CpuSample): number {
  return after.heapAllocatedBytes - before.heapAllocatedBytes;
}
