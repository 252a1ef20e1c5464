/**
 * The CLI as an operator meets it: every mistake is one clear line and exit
 * code 2 (how it was called) or 1 (what it was given), and nothing is written
 * before the inputs are checked.
 */
import { describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const VITE_NODE = join(dirname(createRequire(import.meta.url).resolve("vite-node/package.json")), "vite-node.mjs");

async function run(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stderr: string; dataDir: string; files: string[] }> {
  const dataDir = await mkdtemp(join(tmpdir(), "switchyard-cli-"));
  const child = spawn(process.execPath, [VITE_NODE, join(ROOT, "src/cli.ts"), ...args], {
    cwd: dataDir,
    env: { ...process.env, SWITCHYARD_DATA_DIR: join(dataDir, "data"), PORT: "0", LOG_LEVEL: "silent", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((done) => child.once("exit", (c) => done(c)));
  const files = await readdir(join(dataDir, "data")).catch(() => [] as string[]);
  await rm(dataDir, { recursive: true, force: true });
  return { code, stderr, dataDir, files };
}

const firstLine = (s: string) => s.split("\n")[0]!;

// Each case is its own process; they run side by side.
// A case spawns vite-node, which compiles the sources first: seconds each, and many at once on a busy machine, so each may take up to a minute.
describe.concurrent("switchyard CLI errors", { timeout: 60_000 }, () => {
  it("an unknown flag: one line naming it, the usage, exit 2", async () => {
    const r = await run(["serve", "--bogus"]);
    expect(r.code).toBe(2);
    expect(firstLine(r.stderr)).toMatch(/^switchyard: .*--bogus/);
    expect(r.stderr).not.toMatch(/TypeError|\n\s+at /);
    expect(r.stderr).toContain("Usage: switchyard");
  });

  it("an unknown command: exit 2", async () => {
    const r = await run(["serv"]);
    expect(r.code).toBe(2);
    expect(firstLine(r.stderr)).toBe("switchyard: unknown command 'serv'");
  });

  it("--config swallowed by npm is refused, not ignored", async () => {
    const r = await run(["serve"], { npm_config_config: "x.yaml", npm_lifecycle_event: "start" });
    expect(r.code).toBe(2);
    expect(firstLine(r.stderr)).toContain("npm start -- --config x.yaml");
  });

  it("a bad SWITCHYARD_MASTER_KEY: one line, exit 1, before any database is created", async () => {
    const r = await run(["serve"], { SWITCHYARD_MASTER_KEY: "not-a-key" });
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toContain("SWITCHYARD_MASTER_KEY must be 64 hex characters");
    expect(r.files).toEqual([]);
  });

  it("a weak SWITCHYARD_ADMIN_TOKEN is refused with a clear message", async () => {
    const r = await run(["serve"], { SWITCHYARD_ADMIN_TOKEN: "x" });
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toContain("SWITCHYARD_ADMIN_TOKEN must be at least 32 characters");
    expect(r.files).toEqual([]);
  });
});
