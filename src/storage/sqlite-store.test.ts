import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { sql } from "kysely";
import { afterAll, describe, expect, it } from "vitest";
import { openSqlStore } from "./open-store.js";
import { runSqlStoreChecks } from "./sql/sql-store-checks.js";
import { runStoreContract } from "./store-contract.js";
import { writeTransaction } from "./sql/sql-context.js";

const root = mkdtempSync(path.join(tmpdir(), "switchyard-sqlite-"));
let opened = 0;

/** A fresh database file per test, in its own data directory. */
const makeStore = () => openSqlStore({ dataDir: path.join(root, `data-${++opened}`) });

afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

runStoreContract("sqlite", makeStore);
runSqlStoreChecks("sqlite", makeStore);

describe("sqlite store file", () => {
  it("creates <dataDir>/switchyard.db in WAL mode with foreign keys on and a 2 MB page cache", async () => {
    const dataDir = path.join(root, "nested", "data");
    const store = await openSqlStore({ dataDir });
    try {
      expect(store.dialect).toBe("sqlite");
      await store.migrate();
      expect(existsSync(path.join(dataDir, "switchyard.db"))).toBe(true);
      const journal = await sql<{ journal_mode: string }>`pragma journal_mode`.execute(store.db);
      expect(journal.rows[0]?.journal_mode).toBe("wal");
      const fk = await sql<{ foreign_keys: number }>`pragma foreign_keys`.execute(store.db);
      expect(fk.rows[0]?.foreign_keys).toBe(1);
      // SQLite's own 2 MB page cache, not better-sqlite3's 16 MB build default (open-store.ts says why).
      const cache = await sql<{ cache_size: number }>`pragma cache_size`.execute(store.db);
      expect(cache.rows[0]?.cache_size).toBe(-2000);
    } finally {
      await store.close();
    }
  });

  it("keeps data across reopen and does not migrate twice", async () => {
    const dataDir = path.join(root, "reopen");
    const first = await openSqlStore({ dataDir });
    expect((await first.migrate()).length).toBeGreaterThan(0);
    const account = await first.accounts.create({ name: "persisted", settings: { a: [1] } });
    await first.close();

    const second = await openSqlStore({
      databaseUrl: `sqlite:${path.join(dataDir, "switchyard.db")}`,
      dataDir: "/unused",
    });
    try {
      expect(await second.migrate()).toEqual([]);
      expect(await second.accounts.get(account.id)).toEqual(account);
    } finally {
      await second.close();
    }
  });
});

describe("sqlite transactions", () => {
  it("hold the one connection: another reader waits and then sees the commit whole", async () => {
    const store = await makeStore();
    try {
      await store.migrate();
      let outside: Promise<unknown> | undefined;
      await store.transaction(async (tx) => {
        await tx.accounts.create({ name: "one" });
        outside = store.accounts.list().then((all) => all.map((a) => a.name));
        await new Promise((r) => setTimeout(r, 10));
        await tx.accounts.create({ name: "two" });
      });
      expect(await outside).toEqual(["one", "two"]);
    } finally {
      await store.close();
    }
  });

  it("commit the rest when fn caught a failed statement: SQLite undoes only that statement", async () => {
    const store = await makeStore();
    try {
      await store.migrate();
      await store.transaction(async (tx) => {
        await tx.accounts.create({ name: "written first" });
        await tx.apiKeys.create({ accountId: "missing", name: "k", prefix: "sy-x", hash: "h" }).catch(() => undefined);
      });
      expect(await store.accounts.getByName("written first")).toBeDefined();
      expect(await store.apiKeys.getByPrefix("sy-x")).toBeUndefined();
    } finally {
      await store.close();
    }
  });
});

describe("sqlite usage records", () => {
  it("are not swept into another caller's open transaction and rolled back with it", async () => {
    const store = await makeStore();
    try {
      await store.migrate();
      const account = await store.accounts.create({ name: "metered" });
      let release!: () => void;
      const held = new Promise<void>((r) => (release = r));
      // An admin-style write transaction that yields the event loop before it fails.
      const failing = writeTransaction({ db: store.db, dialect: "sqlite" }, async (trx) => {
        await trx
          .insertInto("accounts")
          .values({ id: "tmp", parent_id: null, name: "tmp", status: "active", settings: "{}", created_at: "x", updated_at: "x" })
          .execute();
        await held;
        throw new Error("admin write failed");
      });
      await new Promise((r) => setTimeout(r, 10));
      const record = {
        requestId: "req_during_trx",
        accountId: account.id,
        apiKeyId: "k",
        model: "m",
        upstreamId: null,
        upstreamKeyId: null,
        clientProtocol: "openai-chat",
        upstreamProtocol: null,
        stream: false,
        inputTokens: 1,
        cachedInputTokens: 0,
        cacheWriteTokens: 0,
        outputTokens: 1,
        reasoningTokens: 0,
        costMicros: 0,
        status: "ok" as const,
        httpStatus: 200,
        errorCode: null,
        attempts: 1,
        latencyMs: 1,
        ttfbMs: null,
        createdAt: new Date().toISOString(),
      };
      const inserted = store.usage.insertMany([record]);
      release();
      await expect(failing).rejects.toThrow("admin write failed");
      expect(await inserted).toHaveLength(1);
      expect((await store.usage.listByAccount(account.id)).map((r) => r.requestId)).toEqual(["req_during_trx"]);
    } finally {
      await store.close();
    }
  });
});
