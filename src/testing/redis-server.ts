/**
 * A redis-server of a test's own, on a spare port, for tests that stop or break Redis:
 * never the machine's shared one. Nothing is persisted; `stop` kills it (as a crash
 * would), `start` brings it back on the same port.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createServer } from "node:net";

export interface OwnRedis {
  readonly port: number;
  readonly url: string;
  /** Starts (or restarts) the server and resolves once it accepts connections; does nothing while it runs. */
  start(): Promise<void>;
  /** SIGKILL; resolves once the process is gone. */
  stop(): Promise<void>;
}

async function sparePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, "127.0.0.1", resolve));
  const p = (s.address() as { port: number }).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return p;
}

export async function ownRedis(): Promise<OwnRedis> {
  const port = await sparePort();
  let child: ChildProcess | undefined;
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    async start() {
      if (child && child.exitCode === null) return;
      const c = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], {
        stdio: ["ignore", "pipe", "pipe"],
      });
      child = c;
      await new Promise<void>((resolve, reject) => {
        let out = "";
        c.stdout!.on("data", (b: Buffer) => {
          out += b.toString();
          if (out.includes("Ready to accept connections")) resolve();
        });
        c.once("exit", (code) => reject(new Error(`redis-server exited (${code}): ${out}`)));
      });
    },
    async stop() {
      const c = child;
      child = undefined;
      if (!c || c.exitCode !== null) return;
      const exited = new Promise<void>((resolve) => c.once("exit", () => resolve()));
      c.kill("SIGKILL");
      await exited;
    },
  };
}
