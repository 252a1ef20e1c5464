/**
 * `switchyard audit verify` as an operator runs it, on both engines: ok with the count
 * and head hash and exit 0 on an intact log; the first broken record and exit 1 once a
 * record is edited; a wrong subcommand is a usage error (exit 2).
 */
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { AuditChain } from "../governance/audit.js";
import { openSqlStore } from "../storage/open-store.js";
import { createTestDatabase } from "../testing/postgres-db.js";
import { ENGINES } from "../testing/test-stores.js";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const VITE_NODE = join(dirname(createRequire(import.meta.url).resolve("vite-node/package.json")), "vite-node.mjs");

function cli(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [VITE_NODE, join(ROOT, "src/cli.ts"), ...args], {
    env: { ...process.env, LOG_LEVEL: "silent", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  return new Promise((done) => child.once("exit", (code) => done({ code, stdout, stderr })));
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

describe.each(ENGINES)("switchyard audit verify on %s", { timeout: 60_000 }, (engine) => {
  it("says ok with the count, then names the first edited record and exits 1", async () => {
    const dir = await mkdtemp(join(tmpdir(), "switchyard-cli-audit-"));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    let env: NodeJS.ProcessEnv = { SWITCHYARD_DATA_DIR: dir };
    if (engine === "postgres") {
      const db = await createTestDatabase();
      cleanups.push(() => db.drop());
      env = { ...env, DATABASE_URL: db.url };
    }
    const store = await openSqlStore({ dataDir: dir, ...(env.DATABASE_URL ? { databaseUrl: env.DATABASE_URL } : {}) });
    await store.migrate();
    const chain = new AuditChain();
    for (const name of ["a", "b", "c"]) {
      await store.transaction(async (tx) => {
        const a = await tx.accounts.create({ name });
        await chain.record(
          tx,
          { action: "account.create", target: { type: "account", id: a.id }, before: null, after: { id: a.id, name } },
          { actor: { type: "cli" } },
        );
      });
    }
    const head = (await store.audit.list({ limit: 1 }))[0]!.hash;

    const ok = await cli(["audit", "verify"], env);
    expect([ok.code, ok.stdout.trim(), ok.stderr]).toEqual([0, `audit log ok: 3 records, head hash ${head}`, ""]);

    await store.db.updateTable("audit_log").set({ actor: "root" }).where("seq", "=", 2).execute();
    await store.close();
    const broken = await cli(["audit", "verify"], env);
    expect(broken.code).toBe(1);
    expect(broken.stderr.trim()).toBe(
      "switchyard: audit log broken at record 2: its hash does not match its contents: the record was edited (1 records before it verify)",
    );
  });
});

describe("switchyard audit usage", { timeout: 60_000 }, () => {
  it("needs the verify subcommand: exit 2 with the usage", async () => {
    const bare = await cli(["audit"], {});
    expect(bare.code).toBe(2);
    expect(bare.stderr).toContain("verify");
    expect(bare.stderr).toContain("switchyard: 'audit' needs a subcommand");
    const wrong = await cli(["audit", "fix"], {});
    expect([wrong.code, wrong.stderr.split("\n")[0]]).toEqual([2, "switchyard: unknown command 'fix'"]);
    expect(wrong.stderr).toContain("Usage: switchyard audit");
  });
});
