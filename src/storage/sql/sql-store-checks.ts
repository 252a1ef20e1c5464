/**
 * Facts about the SQL schema itself that the port-level contract cannot see: the
 * tables exist, the closure table holds exactly the transitive closure of parent_id,
 * and the append-only tables accept and return their column types on both engines.
 * Run by sqlite-store.test.ts and postgres-store.test.ts beside the store contract.
 */
import { randomUUID } from "node:crypto";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { constraintViolation } from "./db-errors.js";
import { Migrator, sql } from "kysely";
import { migrationNames, migrations } from "./migrations/index.js";
import type { SqlStore } from "./sql-store.js";

export function runSqlStoreChecks(name: string, makeStore: () => Promise<SqlStore>): void {
  describe(`${name} SQL schema`, () => {
    let store: SqlStore;

    beforeEach(async () => {
      store = await makeStore();
      expect(await store.migrate()).toEqual(migrationNames);
    });

    afterEach(async () => {
      // Unset when makeStore failed; that failure is the one worth reading.
      await store?.close();
    });

    it("creates every table", async () => {
      const tables = (await store.db.introspection.getTables()).map((t) => t.name);
      for (const table of [
        "accounts",
        "account_closure",
        "api_keys",
        "upstreams",
        "upstream_keys",
        "ledger_entries",
        "usage_records",
        "audit_log",
        "account_balances",
        "credit_grants",
        "audit_scope",
      ]) {
        expect(tables).toContain(table);
      }
    });

    it("keeps the closure table equal to the transitive closure of parent_id", async () => {
      const { accounts } = store;
      const a = await accounts.create({ name: "a" });
      const b = await accounts.create({ name: "b", parentId: a.id });
      const c = await accounts.create({ name: "c", parentId: b.id });
      const d = await accounts.create({ name: "d", parentId: c.id });
      const x = await accounts.create({ name: "x" });
      await expectClosureMatchesParents(store);
      expect(await closureRowCount(store)).toBe(4 + 3 + 2 + 1 + 1);

      await accounts.move(b.id, x.id);
      await expectClosureMatchesParents(store);
      await accounts.move(c.id, null);
      await expectClosureMatchesParents(store);
      await accounts.move(c.id, a.id);
      await expectClosureMatchesParents(store);
      await expect(accounts.move(a.id, d.id)).rejects.toMatchObject({ code: "cycle" });
      await expectClosureMatchesParents(store);

      await accounts.delete(d.id);
      await expectClosureMatchesParents(store);
      // a; c under a; x; b under x.
      expect(await closureRowCount(store)).toBe(1 + 2 + 1 + 2);
    });

    it("returns bigint money columns as exact JS numbers", async () => {
      const base = ledgerEntry();
      await store.db
        .insertInto("ledger_entries")
        .values([
          { ...base, id: randomUUID(), idempotency_key: "grant:1", amount_micros: Number.MAX_SAFE_INTEGER },
          { ...base, id: randomUUID(), idempotency_key: "debit:1", amount_micros: -1_234_567, entry_type: "debit" },
        ])
        .execute();
      const rows = await store.db
        .selectFrom("ledger_entries")
        .select(["idempotency_key", "amount_micros", "balance_after_micros"])
        .orderBy("idempotency_key")
        .execute();
      expect(rows).toEqual([
        { idempotency_key: "debit:1", amount_micros: -1_234_567, balance_after_micros: 5_000_000 },
        { idempotency_key: "grant:1", amount_micros: Number.MAX_SAFE_INTEGER, balance_after_micros: 5_000_000 },
      ]);
      const total = await store.db
        .selectFrom("ledger_entries")
        .select((eb) => eb.fn.countAll<number>().as("n"))
        .executeTakeFirstOrThrow();
      expect(total.n).toBe(2);
    });

    it("enforces the ledger idempotency key", async () => {
      await store.db.insertInto("ledger_entries").values(ledgerEntry()).execute();
      const error = await store.db
        .insertInto("ledger_entries")
        .values({ ...ledgerEntry(), id: randomUUID() })
        .execute()
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect(constraintViolation(error)).toBe("unique");
    });

    it("stores usage records with every token count", async () => {
      const record = {
        id: randomUUID(),
        request_id: "req_1",
        account_id: randomUUID(),
        api_key_id: null,
        model: "gpt-5",
        upstream_model: "gpt-5-2025-08-07",
        upstream_id: randomUUID(),
        upstream_key_id: null,
        client_protocol: "openai-chat",
        upstream_protocol: "openai-responses",
        stream: 1 as const,
        input_tokens: 40_000,
        cached_input_tokens: 38_000,
        cache_write_tokens: 0,
        output_tokens: 512,
        reasoning_tokens: 256,
        cost_micros: 12_345,
        status: "ok" as const,
        http_status: 200,
        error_code: null,
        attempts: 1,
        latency_ms: 1_234,
        ttfb_ms: 321,
        attempt_trail: JSON.stringify([
          { upstream: "u", upstreamId: "up-1", keyId: "k-1", tier: null, outcome: "ok", httpStatus: 200, code: null, durationMs: 9 },
        ]),
        created_at: new Date().toISOString(),
        price_version: "builtin-2026-12/gpt-5*",
        payer_account_id: randomUUID(),
        charged_micros: 2 ** 40,
        cache_key_hash: "0123456789abcdef0123456789abcdef",
        tier: 2,
      };
      await store.db.insertInto("usage_records").values(record).execute();
      const row = await store.db.selectFrom("usage_records").selectAll().executeTakeFirstOrThrow();
      expect({ ...row, stream: Number(row.stream) }).toEqual(record);
      const again = await store.db
        .insertInto("usage_records")
        .values({ ...record, id: randomUUID() })
        .execute()
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect(constraintViolation(again)).toBe("unique");
    });

    it("keeps the audit chain linear: one row per seq", async () => {
      const link = (seq: number, hash: string) => ({
        seq,
        actor: "admin",
        action: "account.create",
        target_type: "account",
        target_id: randomUUID(),
        before: null,
        after: JSON.stringify({ name: "a" }),
        ip: "127.0.0.1",
        created_at: new Date().toISOString(),
        prev_hash: "0".repeat(64),
        hash,
      });
      await store.db
        .insertInto("audit_log")
        .values(link(1, "a".repeat(64)))
        .execute();
      const error = await store.db
        .insertInto("audit_log")
        .values(link(1, "b".repeat(64)))
        .execute()
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect(constraintViolation(error)).toBe("unique");
      const rows = await store.db.selectFrom("audit_log").select(["seq", "hash"]).execute();
      expect(rows).toEqual([{ seq: 1, hash: "a".repeat(64) }]);
    });
  });

  describe(`${name} migration 0010 (usage records by time alone)`, () => {
    /** usage_records' own indexes by name (SQLite's automatic ones for its keys left out: they are the keys). */
    async function usageIndexes(store: SqlStore): Promise<string[]> {
      const rows =
        store.dialect === "postgres"
          ? (
              await sql<{ name: string }>`select indexname as name from pg_indexes where tablename = 'usage_records' and schemaname = current_schema()`.execute(
                store.db,
              )
            ).rows
          : (
              await sql<{ name: string }>`select name from sqlite_master where type = 'index' and tbl_name = 'usage_records' and sql is not null`.execute(
                store.db,
              )
            ).rows;
      return rows.map((r) => r.name).filter((n) => !n.endsWith("_pkey") && !n.endsWith("_key"));
    }

    it("leaves usage_records the index a query reads, and its down migration brings the other back", async () => {
      const store = await makeStore();
      try {
        await store.migrate();
        expect(await usageIndexes(store)).toEqual(["usage_records_account_idx"]);
        const schema =
          store.dialect === "postgres" ? (await sql<{ schema: string }>`select current_schema() as schema`.execute(store.db)).rows[0]!.schema : undefined;
        const migrator = new Migrator({
          db: store.db,
          provider: { getMigrations: () => Promise.resolve({ ...migrations }) },
          ...(schema === undefined ? {} : { migrationTableSchema: schema }),
        });
        const down = await migrator.migrateDown();
        expect(down.error).toBeUndefined();
        expect(down.results?.map((r) => r.migrationName)).toEqual(["0010_usage_created_index"]);
        expect((await usageIndexes(store)).sort()).toEqual(["usage_records_account_idx", "usage_records_created_idx"]);
      } finally {
        await store.close();
      }
    });
  });

  describe(`${name} migration 0004 (upstream owners)`, () => {
    it("keeps every upstream and key, byte for byte, when upgrading a database that has them", async () => {
      const store = await makeStore();
      try {
        // On PostgreSQL Kysely's bookkeeping must be looked up in this store's own schema (see migrations/index.ts).
        const schema =
          store.dialect === "postgres" ? (await sql<{ schema: string }>`select current_schema() as schema`.execute(store.db)).rows[0]!.schema : undefined;
        const first = new Migrator({
          db: store.db,
          provider: { getMigrations: () => Promise.resolve({ "0001_control_plane": migrations["0001_control_plane"]! }) },
          ...(schema === undefined ? {} : { migrationTableSchema: schema }),
        });
        expect((await first.migrateToLatest()).error).toBeUndefined();
        const now = new Date().toISOString();
        const upstream = { id: randomUUID(), name: "openai", protocol: "openai-chat" as const, base_url: "https://x", models: '["gpt-*"]', settings: "{}" };
        await store.db
          .insertInto("upstreams")
          .values({ ...upstream, enabled: 1, created_at: now, updated_at: now } as never)
          .execute();
        const key = {
          id: randomUUID(),
          upstream_id: upstream.id,
          name: "k",
          ciphertext: "v1.a.b.c.d.e.f",
          fingerprint: "sha256:1",
          status: "active" as const,
          created_at: now,
        };
        await store.db.insertInto("upstream_keys").values(key).execute();
        expect(await store.migrate()).toEqual(migrationNames.filter((m) => m !== "0001_control_plane"));
        const after = await store.upstreams.get(upstream.id);
        expect(after).toMatchObject({ name: "openai", ownerAccountId: null, baseUrl: "https://x", models: ["gpt-*"], enabled: true });
        expect(await store.upstreamKeys.listAll()).toEqual([
          {
            id: key.id,
            upstreamId: upstream.id,
            name: "k",
            ciphertext: key.ciphertext,
            fingerprint: "sha256:1",
            status: "active",
            createdAt: now,
            // 0009: a plain key has no shown credential metadata and is not dead.
            credentialMeta: null,
            deadReason: null,
            deadAt: null,
          },
        ]);
        const tables = (await store.db.introspection.getTables()).map((t) => t.name);
        expect(tables.filter((t) => t.includes("stash"))).toEqual([]);
        // The foreign key still cascades after the rebuild.
        expect(await store.upstreams.delete(upstream.id)).toBe(true);
        expect(await store.upstreamKeys.listAll()).toEqual([]);
      } finally {
        await store.close();
      }
    });
  });
}

function ledgerEntry() {
  return {
    id: randomUUID(),
    account_id: randomUUID(),
    entry_type: "grant" as const,
    credit_kind: "payg" as const,
    amount_micros: 5_000_000,
    balance_after_micros: 5_000_000,
    idempotency_key: "grant:fixed",
    reference: null,
    expires_at: null,
    actor: "admin",
    metadata: "{}",
    created_at: new Date().toISOString(),
  };
}

async function closureRowCount(store: SqlStore): Promise<number> {
  const row = await store.db
    .selectFrom("account_closure")
    .select((eb) => eb.fn.countAll<number>().as("n"))
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/** Recomputes the closure from parent_id and compares it with the stored rows. */
async function expectClosureMatchesParents(store: SqlStore): Promise<void> {
  const accounts = await store.db.selectFrom("accounts").select(["id", "parent_id"]).execute();
  const parent = new Map(accounts.map((a) => [a.id, a.parent_id]));
  const expected: string[] = [];
  for (const { id } of accounts) {
    let depth = 0;
    for (let at: string | null = id; at !== null; at = parent.get(at) ?? null) {
      expected.push(`${at}>${id}@${depth++}`);
    }
  }
  const rows = await store.db.selectFrom("account_closure").selectAll().execute();
  const actual = rows.map((r) => `${r.ancestor_id}>${r.descendant_id}@${r.depth}`);
  expect(actual.sort()).toEqual(expected.sort());
}
