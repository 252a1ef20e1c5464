/**
 * A gateway in its own OS process, started from the CLI exactly as an operator
 * would (`switchyard serve --config FILE`), for tests that must see the process
 * itself: that it survives a hostile peer, how it drains, what a crash loses.
 * The sources run through vite-node, so no build step is needed.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const VITE_NODE = join(dirname(createRequire(import.meta.url).resolve("vite-node/package.json")), "vite-node.mjs");

export interface GatewayProcess {
  url: string;
  child: ChildProcess;
  dataDir: string;
  /** Everything the process wrote to stderr and stdout so far. */
  output(): string;
  /** The exit code (or signal name) once the process has ended; undefined while it runs. */
  exited(): number | string | undefined;
  /** Resolves with the exit code (or signal name) when the process ends. */
  exit: Promise<number | string>;
  /** SIGKILL, as a crash or an OOM kill would end it; resolves once it is gone. The data dir stays. */
  kill(): Promise<void>;
  /** SIGTERM, wait for the exit (SIGKILL after `killAfterMs`), remove the data dir unless it was passed in. */
  stop(killAfterMs?: number): Promise<void>;
}

/**
 * Starts `switchyard serve` on a free port with `yaml` as its config. The YAML
 * must not set `server.port`; the helper asks for port 0 and reads the address
 * from the start-up line.
 */
export async function startGatewayProcess(yaml: string, env: NodeJS.ProcessEnv = {}, opts: { dataDir?: string } = {}): Promise<GatewayProcess> {
  // A data dir passed in (a restart on the same data) belongs to the caller and survives stop().
  const dataDir = opts.dataDir ?? (await mkdtemp(join(tmpdir(), "switchyard-proc-")));
  const configPath = join(dataDir, "switchyard.yaml");
  await writeFile(configPath, yaml);
  const child = spawn(process.execPath, [VITE_NODE, join(ROOT, "src/cli.ts"), "serve", "--config", configPath], {
    cwd: ROOT,
    env: { ...process.env, SWITCHYARD_DATA_DIR: dataDir, PORT: "0", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let exit: number | string | undefined;
  const ended = new Promise<number | string>((done) =>
    child.once("exit", (code, signal) => {
      exit = code ?? signal ?? "unknown";
      done(exit);
    }),
  );
  child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (out += d.toString()));
  const url = await new Promise<string>((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`gateway did not start within 30 s:\n${out}`)), 30_000);
    const onData = (): void => {
      const m = /switchyard listening on (http:\/\/\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        child.stdout!.off("data", onData);
        ok(m[1]!);
      }
    };
    child.stdout!.on("data", onData);
    void ended.then(() => {
      clearTimeout(timer);
      fail(new Error(`gateway exited with ${String(exit)} before listening:\n${out}`));
    });
  });
  return {
    url,
    child,
    dataDir,
    output: () => out,
    exited: () => exit,
    exit: ended,
    async kill() {
      if (exit === undefined) child.kill("SIGKILL");
      await ended;
    },
    async stop(killAfterMs = 10_000) {
      if (exit === undefined) {
        child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), killAfterMs);
        await ended;
        clearTimeout(timer);
      }
      if (!opts.dataDir) await rm(dataDir, { recursive: true, force: true });
    },
  };
}
