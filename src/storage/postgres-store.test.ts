import { randomBytes } from "node:crypto";
import { sql } from "kysely";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { openSqlStore, parseInt8 } from "./open-store.js";
import { runSqlStoreChecks } from "./sql/sql-store-checks.js";
import type { SqlStore } from "./sql/sql-store.js";
import { runStoreContract } from "./store-contract.js";
import { createTestDatabase, TEST_DATABASE_URL, type TestDatabase } from "../testing/postgres-db.js";

/**
 * Runs against a real PostgreSQL. CI guarantees one is up, so an unreachable server
 * fails this suite rather than skipping it. The file works in a database of its own;
 * every store gets its own schema in it (`t_<hex>`, selected through the connection's
 * search_path); the database is dropped at the end.
 */
const baseUrl = TEST_DATABASE_URL;
const schemas: string[] = [];

/**
 * This file's own database, made on first use (see testing/postgres-db.ts for why not
 * only schemas), and a pool on it for DDL. Checked inside each test rather than in
 * beforeAll: a failing beforeAll reports the tests as skipped, and an unreachable
 * server must show as failures.
 */
let database: Promise<{ db: TestDatabase; admin: pg.Pool }> | undefined;
function requireServer(): Promise<{ db: TestDatabase; admin: pg.Pool }> {
  database ??= createTestDatabase().then(
    (db) => {
      const admin = new pg.Pool({ connectionString: db.url, max: 2 });
      admin.on("error", () => undefined);
      return { db, admin };
    },
    (error: unknown) => {
      throw new Error(`PostgreSQL at ${redact(baseUrl)} is unreachable (set TEST_DATABASE_URL): ${String(error)}`);
    },
  );
  return database;
}

afterAll(async () => {
  if (!database) return;
  const { db, admin } = await database;
  await admin.end();
  await db.drop();
});

async function makeStore(): Promise<SqlStore> {
  const { db, admin } = await requireServer();
  // Random hex only, so the name is safe to splice into DDL.
  const schema = `t_${randomBytes(8).toString("hex")}`;
  await admin.query(`create schema ${schema}`);
  schemas.push(schema);
  const url = new URL(db.url);
  url.searchParams.set("options", `-c search_path=${schema}`);
  return openSqlStore({ databaseUrl: url.toString(), dataDir: "/nonexistent", poolMax: 4 });
}

runStoreContract("postgres", makeStore);
runSqlStoreChecks("postgres", makeStore);

describe("postgres store specifics", () => {
  it("works inside the schema named by search_path only", async () => {
    const store = await makeStore();
    try {
      expect(store.dialect).toBe("postgres");
      await store.migrate();
      const { rows } = await sql<{ schema: string }>`select current_schema() as schema`.execute(store.db);
      const schema = rows[0]!.schema;
      expect(schemas).toContain(schema);
      const { admin } = await requireServer();
      const tables = await admin.query<{ table_name: string }>("select table_name from information_schema.tables where table_schema = $1 order by table_name", [
        schema,
      ]);
      expect(tables.rows.map((r) => r.table_name)).toEqual([
        "account_balances",
        "account_closure",
        "accounts",
        "api_keys",
        "audit_log",
        "audit_scope",
        "credit_grants",
        "kysely_migration",
        "kysely_migration_lock",
        "ledger_entries",
        "upstream_keys",
        "upstreams",
        "usage_hourly",
        "usage_records",
      ]);
      const enabled = await admin.query<{ data_type: string }>(
        "select data_type from information_schema.columns where table_schema = $1 and table_name = 'upstreams' and column_name = 'enabled'",
        [schema],
      );
      expect(enabled.rows[0]?.data_type).toBe("boolean");
    } finally {
      await store.close();
    }
  });

  it("returns int8 as a number and fails rather than lose precision", async () => {
    const store = await makeStore();
    try {
      const ok = await sql<{ n: number }>`select 9007199254740991::int8 as n`.execute(store.db);
      expect(ok.rows[0]?.n).toBe(Number.MAX_SAFE_INTEGER);
      const count = await sql<{ n: number }>`select count(*) as n from generate_series(1, 3)`.execute(store.db);
      expect(count.rows[0]?.n).toBe(3);
      await expect(sql`select 9007199254740993::int8 as n`.execute(store.db)).rejects.toThrow(RangeError);
      // The pool stays usable after a rejected row.
      await expect(store.ping()).resolves.toBeUndefined();
    } finally {
      await store.close();
    }
    expect(parseInt8("-42")).toBe(-42);
    expect(() => parseInt8("-9007199254740992")).toThrow(RangeError);
  });

  it("isolates a transaction: another reader sees the committed state until it commits", async () => {
    const store = await makeStore();
    try {
      await store.migrate();
      await store.transaction(async (tx) => {
        await tx.accounts.create({ name: "pending" });
        expect(await store.accounts.getByName("pending")).toBeUndefined();
      });
      expect(await store.accounts.getByName("pending")).toBeDefined();
    } finally {
      await store.close();
    }
  });

  it("rejects rather than commit when fn caught a failed statement outside a nested transaction", async () => {
    const store = await makeStore();
    try {
      await store.migrate();
      await store.accounts.create({ name: "taken" });
      const outcome = store.transaction(async (tx) => {
        await tx.accounts.create({ name: "written first" });
        // The foreign-key violation aborts the PostgreSQL transaction; swallowing it must not look like success.
        await tx.apiKeys.create({ accountId: MISSING, name: "k", prefix: "sy-x", hash: "h" }).catch(() => undefined);
        return "done";
      });
      await expect(outcome).rejects.toThrow(/nothing was committed/);
      expect(await store.accounts.getByName("written first")).toBeUndefined();
      // The connection went back to the pool clean.
      await expect(store.transaction((tx) => tx.accounts.create({ name: "next" }))).resolves.toMatchObject({ name: "next" });
    } finally {
      await store.close();
    }
  });

  it("serialises concurrent tree writes without creating a cycle", async () => {
    const store = await makeStore();
    try {
      await store.migrate();
      const a = await store.accounts.create({ name: "a" });
      const d = await store.accounts.create({ name: "d", parentId: a.id });
      const b = await store.accounts.create({ name: "b" });
      const c = await store.accounts.create({ name: "c", parentId: b.id });
      // a under c (inside b) and b under d (inside a) each pass alone; together they'd loop.
      const results = await Promise.allSettled([store.accounts.move(a.id, c.id), store.accounts.move(b.id, d.id)]);
      expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
      const rejected = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
      expect(rejected?.reason).toMatchObject({ code: "cycle" });
      for (const id of [a.id, b.id, c.id, d.id]) {
        const chain = (await store.accounts.ancestors(id)).map((x) => x.id);
        expect(chain).not.toContain(id);
        expect(chain.length).toBeLessThanOrEqual(3);
      }
    } finally {
      await store.close();
    }
  });
});

const MISSING = "00000000-0000-4000-8000-000000000000";

function redact(url: string): string {
  const parsed = new URL(url);
  if (parsed.password) parsed.password = "***";
  return parsed.toString();
}
