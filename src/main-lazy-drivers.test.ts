/**
 * The PostgreSQL and Redis clients are loaded only when the configuration names them
 * (main.ts, storage/open-store.ts): a gateway on SQLite with in-process counters never holds
 * their code, which every full collection of its heap would otherwise mark.
 */
import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const VITE_NODE = join(dirname(createRequire(import.meta.url).resolve("vite-node/package.json")), "vite-node.mjs");
const REDIS = process.env.TEST_REDIS_URL ?? "redis://127.0.0.1:6379";
const dirs: string[] = [];

afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

/** The npm packages a gateway started from `yaml` has loaded, read in a process of its own. */
async function loadedPackages(yaml: string): Promise<string[]> {
  const dir = await mkdtemp(join(tmpdir(), "switchyard-lazy-"));
  dirs.push(dir);
  const configPath = join(dir, "switchyard.yaml");
  await writeFile(configPath, `server: { host: 127.0.0.1, port: 0 }\nlog_level: silent\ndata_dir: ${dir}\n${yaml}`);
  const child = spawn(process.execPath, [VITE_NODE, join(ROOT, "src/testing/loaded-packages-probe.ts"), configPath], {
    cwd: ROOT,
    env: {
      ...process.env,
      SWITCHYARD_DATA_DIR: dir,
      SWITCHYARD_ADMIN_TOKEN: `lazy-drivers-admin-token-${"x".repeat(24)}`,
      // Its own Redis keys and channels: other test files' gateways share the server.
      SWITCHYARD_REDIS_PREFIX: `lazy-drivers-${randomUUID()}:`,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr.on("data", (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((done) => child.once("exit", done));
  const line = out.split("\n").find((l) => l.startsWith("["));
  if (code !== 0 || !line) throw new Error(`the probe failed (exit ${code}):\n${out}`);
  return JSON.parse(line) as string[];
}

describe("database and Redis clients are loaded only when configured", () => {
  it("a gateway on SQLite with in-process counters loads neither pg nor ioredis", async () => {
    const loaded = await loadedPackages("");
    // The probe sees CommonJS packages: better-sqlite3 is one, so an empty list cannot pass.
    expect(loaded).toContain("better-sqlite3");
    expect(loaded.filter((p) => p === "pg" || p.startsWith("pg-") || p === "ioredis")).toEqual([]);
  });

  it("with redis_url, the Redis client is loaded (and still not pg)", async () => {
    const loaded = await loadedPackages(
      `redis_url: ${REDIS}\ngovernance: { counters: memory }\ncluster: { channel: lazy_drivers_${randomUUID().replaceAll("-", "")} }\n`,
    );
    expect(loaded).toContain("ioredis");
    expect(loaded).not.toContain("pg");
  });
});
