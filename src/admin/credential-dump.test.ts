/**
 * The dump test: upstream credentials added through the admin service never reach the
 * database in the clear. After adding keys with recognisable plaintext, the raw bytes of
 * the SQLite file (and its WAL and shared-memory files), and every row of every
 * PostgreSQL table (as JSON, and pg_dump's output where the tool is installed), are
 * searched for the plaintext in every form a leak could take: UTF-8, UTF-16, base64
 * (standard and URL-safe, at each alignment) and hex. The fingerprint shown instead
 * holds no piece of it either, and neither does anything the audit trail is handed.
 */
import { execFile } from "node:child_process";
import { randomBytes, randomInt } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { sql } from "kysely";
import { describe, expect, it } from "vitest";
import { SecretBox } from "../governance/secrets.js";
import { openSqlStore } from "../storage/open-store.js";
import type { SqlStore } from "../storage/sql/sql-store.js";
import { createTestDatabase } from "../testing/postgres-db.js";
import { AdminService, type AuditEvent } from "./service.js";

const run = promisify(execFile);

/** A credential no other byte sequence in the database could match by chance: letters g–z only (never hex). */
function canary(): string {
  const letters = "ghijklmnopqrstuvwxyzGHIJKLMNOPQRSTUVWXYZ";
  let s = "sk-CANARY-";
  for (let i = 0; i < 40; i++) s += letters[randomInt(letters.length)];
  return s;
}

/** Every encoding of the secret a careless write could leave in the database. */
function leakForms(secret: string): Buffer[] {
  const raw = Buffer.from(secret, "utf8");
  const forms = [raw, Buffer.from(secret, "utf16le"), Buffer.from(raw.toString("hex")), Buffer.from(raw.toString("hex").toUpperCase())];
  // base64 of the secret at each of the three alignments it could start at inside a longer value;
  // the edges depend on the neighbours, so only the stable middle is searched.
  for (let shift = 0; shift < 3; shift++) {
    const padded = Buffer.concat([Buffer.alloc(shift), raw]);
    for (const enc of ["base64", "base64url"] as const) {
      const text = padded.toString(enc);
      forms.push(Buffer.from(text.slice(4, text.length - 4)));
    }
  }
  return forms;
}

function expectNoLeak(haystack: Buffer, secrets: readonly string[], where: string): void {
  for (const s of secrets) {
    for (const form of leakForms(s)) {
      expect(haystack.indexOf(form), `${where} holds a form of ${s}: ${form.toString("latin1").slice(0, 40)}`).toBe(-1);
    }
  }
}

async function addCredentials(store: SqlStore): Promise<{ secrets: string[]; audit: AuditEvent[]; fingerprints: string[] }> {
  const audit: AuditEvent[] = [];
  const service = new AdminService({
    store,
    secrets: new SecretBox(randomBytes(32)),
    onChange: async () => undefined,
    audit: { record: async (_tx, e) => void audit.push(e) },
  });
  const owner = await service.createAccount({ name: "tenant" });
  const shared = await service.createUpstream({ name: "shared", protocol: "openai-chat", base_url: "https://a.test/v1", models: ["gpt-*"] });
  const owned = await service.createUpstream({
    name: "own",
    owner_account_id: owner.id,
    protocol: "anthropic",
    base_url: "https://b.test",
    models: ["claude-*"],
  });
  const secrets = [canary(), canary(), canary(), canary()];
  const fingerprints: string[] = [];
  for (const [i, s] of secrets.entries()) {
    const k = await service.addUpstreamKey(i % 2 === 0 ? shared.id : owned.id, { name: `k${i}`, key: s });
    fingerprints.push(k.fingerprint);
  }
  // One removed again: its row is gone, but its bytes must not linger in clear either.
  const listed = await service.listUpstreamKeys(shared.id);
  await service.removeUpstreamKey(shared.id, listed[0]!.id);
  return { secrets, audit, fingerprints };
}

function expectFingerprintsHoldNothing(fingerprints: readonly string[], secrets: readonly string[]): void {
  for (const fp of fingerprints) {
    expect(fp).toMatch(/^sha256:[0-9a-f]{16}$/);
    for (const s of secrets) for (let i = 0; i + 6 <= s.length; i++) expect(fp).not.toContain(s.slice(i, i + 6));
  }
}

describe("no plaintext credential in the database", () => {
  it("SQLite: not in the database file, its WAL or its shared memory, open or closed", async () => {
    const dataDir = await mkdtemp(join(tmpdir(), "switchyard-dump-"));
    try {
      const store = await openSqlStore({ dataDir });
      await store.migrate();
      const { secrets, audit, fingerprints } = await addCredentials(store);
      const files = ["switchyard.db", "switchyard.db-wal", "switchyard.db-shm"].map((f) => join(dataDir, f));
      expect(existsSync(files[0]!)).toBe(true);
      let searched = 0;
      for (const f of files.filter((x) => existsSync(x))) {
        const bytes = await readFile(f);
        searched += bytes.length;
        expectNoLeak(bytes, secrets, f);
      }
      // The envelopes are there (the search did look at the data), the plaintext is not.
      const stored = await store.upstreamKeys.listAll();
      expect(stored).toHaveLength(3);
      const all = Buffer.concat(await Promise.all(files.filter((x) => existsSync(x)).map((f) => readFile(f))));
      for (const k of stored) expect(all.includes(Buffer.from(k.ciphertext))).toBe(true);
      await store.close();
      expectNoLeak(await readFile(files[0]!), secrets, "switchyard.db after close");
      expect(searched).toBeGreaterThan(0);
      expectFingerprintsHoldNothing(fingerprints, secrets);
      expectNoLeak(Buffer.from(JSON.stringify(audit)), secrets, "audit events");
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it("PostgreSQL: not in any row of any table, nor in pg_dump's output", async () => {
    const db = await createTestDatabase();
    const store = await openSqlStore({ databaseUrl: db.url, dataDir: "/unused" });
    try {
      await store.migrate();
      const { secrets, audit, fingerprints } = await addCredentials(store);
      const tables = await sql<{ table_name: string }>`select table_name from information_schema.tables where table_schema = current_schema()`.execute(
        store.db,
      );
      expect(tables.rows.map((t) => t.table_name)).toEqual(expect.arrayContaining(["upstream_keys", "upstreams", "audit_log", "accounts"]));
      const rows: string[] = [];
      for (const { table_name } of tables.rows) {
        const r = await sql<{ row: string }>`select row_to_json(t)::text as row from ${sql.table(table_name)} t`.execute(store.db);
        rows.push(...r.rows.map((x) => x.row));
      }
      const text = Buffer.from(rows.join("\n"));
      // The envelopes are among the rows searched.
      for (const k of await store.upstreamKeys.listAll()) expect(rows.some((r) => r.includes(k.ciphertext))).toBe(true);
      expectNoLeak(text, secrets, "PostgreSQL rows");
      const pgDump = await run("sh", ["-c", "command -v pg_dump"]).then(
        (r) => r.stdout.trim(),
        () => "",
      );
      if (pgDump) {
        const dump = await run(pgDump, ["--no-owner", db.url], { maxBuffer: 64 * 1024 * 1024 });
        expect(dump.stdout).toContain("upstream_keys");
        expectNoLeak(Buffer.from(dump.stdout), secrets, "pg_dump");
      }
      expectFingerprintsHoldNothing(fingerprints, secrets);
      expectNoLeak(Buffer.from(JSON.stringify(audit)), secrets, "audit events");
    } finally {
      await store.close();
      await db.drop();
    }
  });

  it("the search finds a plaintext when there is one (the test can fail)", () => {
    const s = canary();
    for (const form of leakForms(s)) expect(() => expectNoLeak(Buffer.concat([Buffer.from("xx"), form, Buffer.from("yy")]), [s], "planted")).toThrow();
    expect(() => expectNoLeak(Buffer.from(`{"k":"${Buffer.from(`ab${s}`).toString("base64")}"}`), [s], "planted")).toThrow();
  });
});
