/**
 * Facts about the SQL schema itself that the port-level contract cannot see: the
 * tables exist, the closure table holds exactly the transitive closure of parent_id,
 * and the append-only tables accept and return their column types on both engines.
 * Run by sqlite-store.test.ts and postgres-store.test.ts beside the store contract.
 */
import { randomUUID } from "node:crypto";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { constraintViolation } from "./db-errors.js";
import { Migrator, sql, type Migration } from "kysely";
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
      const record = usageRow("req_1");
      await store.db.insertInto("usage_records").values(record).execute();
      const row = await store.db.selectFrom("usage_records").selectAll().executeTakeFirstOrThrow();
      expect({ ...row, stream: Number(row.stream) }).toEqual(record);
      const again = await store.db
        .insertInto("usage_records")
        .values({ ...record, account_id: randomUUID() })
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
        const down = await (await migratorFor(store)).migrateTo("0009_credential_lifecycle");
        expect(down.error).toBeUndefined();
        expect(down.results?.map((r) => r.migrationName)).toEqual(["0011_usage_request_key", "0010_usage_created_index"]);
        expect((await usageIndexes(store)).sort()).toEqual(["usage_records_account_idx", "usage_records_created_idx"]);
      } finally {
        await store.close();
      }
    });
  });

  describe(`${name} migration 0011 (usage records keyed by request id)`, () => {
    /** usage_records' columns in order, and the ones its primary key is made of. */
    async function usageColumns(store: SqlStore): Promise<{ columns: string[]; key: string[] }> {
      if (store.dialect === "postgres") {
        const columns = await sql<{ name: string }>`select column_name as name from information_schema.columns
          where table_schema = current_schema() and table_name = 'usage_records' order by ordinal_position`.execute(store.db);
        const key = await sql<{ name: string }>`select a.attname as name from pg_index i
          join pg_attribute a on a.attrelid = i.indrelid and a.attnum = any(i.indkey)
          where i.indrelid = to_regclass(quote_ident(current_schema()) || '.usage_records') and i.indisprimary`.execute(store.db);
        return { columns: columns.rows.map((r) => r.name), key: key.rows.map((r) => r.name) };
      }
      const info = (await sql<{ name: string; pk: number }>`select name, pk from pragma_table_info('usage_records')`.execute(store.db)).rows;
      return { columns: info.map((r) => r.name), key: info.filter((r) => r.pk > 0).map((r) => r.name) };
    }

    /** Every record, by request id, as plain values (SQLite's booleans are 0 and 1, PostgreSQL's bigints strings). */
    async function usageRows(store: SqlStore, extra: string[] = []): Promise<Record<string, unknown>[]> {
      const rows = (await sql<Record<string, unknown>>`select * from usage_records order by request_id`.execute(store.db)).rows;
      return rows.map((r) => {
        const out: Record<string, unknown> = {};
        for (const [k, v] of Object.entries(r)) {
          if (k === "id" && !extra.includes("id")) continue;
          out[k] = typeof v === "boolean" ? Number(v) : typeof v === "string" && /^(cost|charged)_micros|_tokens$/.test(k) ? Number(v) : v;
        }
        return out;
      });
    }

    const insertRow = (store: SqlStore, row: Record<string, unknown>) =>
      store.db
        .insertInto("usage_records")
        .values(row as never)
        .execute()
        .then(
          () => undefined,
          (e: unknown) => e,
        );

    it("keeps every record and keys it by its request id, and its down migration gives each an id again", async () => {
      const store = await makeStore();
      try {
        const migrator = await migratorFor(store);
        expect((await migrator.migrateTo("0010_usage_created_index")).error).toBeUndefined();
        // Written out of request-id order, so a copy that reordered them would show on SQLite (rowid order).
        const written = ["req_c", "req_a", "req_b"].map((id, i) => ({ id: `0001-id-${i}`, ...usageRow(id, "acct-1") }));
        for (const row of written) expect(await insertRow(store, row)).toBeUndefined();
        expect((await usageColumns(store)).key).toEqual(["id"]);

        expect(await store.migrate()).toEqual(["0011_usage_request_key"]);
        const after = await usageColumns(store);
        expect(after.key).toEqual(["request_id"]);
        expect([...after.columns].sort()).toEqual(Object.keys(usageRow("x")).sort());
        const kept = written.map(({ id: _id, ...row }) => row).sort((a, b) => a.request_id.localeCompare(b.request_id));
        expect(await usageRows(store)).toEqual(kept);
        if (store.dialect === "sqlite") {
          const order = await sql<{ request_id: string }>`select request_id from usage_records order by rowid`.execute(store.db);
          expect(order.rows.map((r) => r.request_id)).toEqual(["req_c", "req_a", "req_b"]);
        }
        // The key refuses a second record of a request, as the unique index did (a retried write is skipped by it).
        expect(constraintViolation(await insertRow(store, usageRow("req_a")))).toBe("unique");
        expect(await insertRow(store, usageRow("req_d", "acct-1"))).toBeUndefined();
        expect((await store.db.introspection.getTables()).map((t) => t.name)).not.toContain("usage_records_0011");

        expect((await migrator.migrateTo("0010_usage_created_index")).error).toBeUndefined();
        const back = await usageColumns(store);
        expect(back.key).toEqual(["id"]);
        const rows = await usageRows(store, ["id"]);
        expect(rows.map(({ id: _id, ...row }) => row)).toEqual([...kept, usageRow("req_d", "acct-1")]);
        const ids = rows.map((r) => r.id);
        expect(ids.every((id) => typeof id === "string" && id.length >= 32)).toBe(true);
        expect(new Set(ids).size).toBe(ids.length);
        expect(constraintViolation(await insertRow(store, { id: "another-id", ...usageRow("req_a") }))).toBe("unique");
      } finally {
        await store.close();
      }
    });
  });

  describe(`${name} migration 0004 (upstream owners)`, () => {
    it("keeps every upstream and key, byte for byte, when upgrading a database that has them", async () => {
      const store = await makeStore();
      try {
        const first = await migratorFor(store, { "0001_control_plane": migrations["0001_control_plane"]! });
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

/**
 * A Migrator over `list` for this store. On PostgreSQL Kysely's bookkeeping must be looked up in
 * the store's own schema (see migrations/index.ts).
 */
async function migratorFor(store: SqlStore, list: Readonly<Record<string, Migration>> = migrations): Promise<Migrator> {
  const schema =
    store.dialect === "postgres" ? (await sql<{ schema: string }>`select current_schema() as schema`.execute(store.db)).rows[0]!.schema : undefined;
  return new Migrator({
    db: store.db,
    provider: { getMigrations: () => Promise.resolve({ ...list }) },
    ...(schema === undefined ? {} : { migrationTableSchema: schema }),
  });
}

/** A usage record's row, every column set; two rows made with one `accountId` differ only in their request id. */
function usageRow(requestId: string, accountId: string = randomUUID()) {
  return {
    request_id: requestId,
    account_id: accountId,
    api_key_id: null,
    model: "gpt-5",
    upstream_model: "gpt-5-2025-08-07",
    upstream_id: "9b2f4c1e-0d7a-4e63-8f55-3c1a2b4d6e70",
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
    attempt_trail: JSON.stringify([{ upstream: "u", upstreamId: "up-1", keyId: "k-1", tier: null, outcome: "ok", httpStatus: 200, code: null, durationMs: 9 }]),
    created_at: "2026-12-06T20:00:00.000Z",
    price_version: "builtin-2026-12/gpt-5*",
    payer_account_id: accountId,
    charged_micros: 2 ** 40,
    cache_key_hash: "0123456789abcdef0123456789abcdef",
    tier: 2,
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
