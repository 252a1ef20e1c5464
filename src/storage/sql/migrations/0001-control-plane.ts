import type { Kysely, Migration } from "kysely";

/**
 * The control-plane tables. Written only with Kysely's schema builder and types both
 * engines understand (text, integer, bigint, boolean), so the same code yields correct
 * DDL on SQLite and PostgreSQL. See ../schema.ts for the storage conventions.
 */
export const controlPlane: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .createTable("accounts")
      .addColumn("id", "text", (c) => c.primaryKey())
      .addColumn("parent_id", "text", (c) => c.references("accounts.id"))
      .addColumn("name", "text", (c) => c.notNull().unique())
      .addColumn("status", "text", (c) => c.notNull())
      .addColumn("settings", "text", (c) => c.notNull())
      .addColumn("created_at", "text", (c) => c.notNull())
      .addColumn("updated_at", "text", (c) => c.notNull())
      .execute();
    await db.schema.createIndex("accounts_parent_idx").on("accounts").column("parent_id").execute();

    await db.schema
      .createTable("account_closure")
      .addColumn("ancestor_id", "text", (c) => c.notNull().references("accounts.id").onDelete("cascade"))
      .addColumn("descendant_id", "text", (c) => c.notNull().references("accounts.id").onDelete("cascade"))
      .addColumn("depth", "integer", (c) => c.notNull())
      .addPrimaryKeyConstraint("account_closure_pk", ["ancestor_id", "descendant_id"])
      .execute();
    // Ancestor lookups (nearest first) read this index in order.
    await db.schema.createIndex("account_closure_descendant_idx").on("account_closure").columns(["descendant_id", "depth"]).execute();

    await db.schema
      .createTable("api_keys")
      .addColumn("id", "text", (c) => c.primaryKey())
      .addColumn("account_id", "text", (c) => c.notNull().references("accounts.id").onDelete("cascade"))
      .addColumn("name", "text", (c) => c.notNull())
      .addColumn("prefix", "text", (c) => c.notNull().unique())
      .addColumn("hash", "text", (c) => c.notNull())
      .addColumn("status", "text", (c) => c.notNull())
      .addColumn("created_at", "text", (c) => c.notNull())
      .addColumn("last_used_at", "text")
      .execute();
    await db.schema.createIndex("api_keys_account_idx").on("api_keys").column("account_id").execute();

    await db.schema
      .createTable("upstreams")
      .addColumn("id", "text", (c) => c.primaryKey())
      .addColumn("name", "text", (c) => c.notNull().unique())
      .addColumn("protocol", "text", (c) => c.notNull())
      .addColumn("base_url", "text", (c) => c.notNull())
      .addColumn("models", "text", (c) => c.notNull())
      .addColumn("enabled", "boolean", (c) => c.notNull())
      .addColumn("settings", "text", (c) => c.notNull())
      .addColumn("created_at", "text", (c) => c.notNull())
      .addColumn("updated_at", "text", (c) => c.notNull())
      .execute();

    await db.schema
      .createTable("upstream_keys")
      .addColumn("id", "text", (c) => c.primaryKey())
      .addColumn("upstream_id", "text", (c) => c.notNull().references("upstreams.id").onDelete("cascade"))
      .addColumn("name", "text", (c) => c.notNull())
      .addColumn("ciphertext", "text", (c) => c.notNull())
      .addColumn("fingerprint", "text", (c) => c.notNull())
      .addColumn("status", "text", (c) => c.notNull())
      .addColumn("created_at", "text", (c) => c.notNull())
      // Also serves lookups by upstream_id (leading column).
      .addUniqueConstraint("upstream_keys_fingerprint_uq", ["upstream_id", "fingerprint"])
      .execute();

    // Append-only tables below carry no foreign keys: their rows outlive what they name.
    await db.schema
      .createTable("ledger_entries")
      .addColumn("id", "text", (c) => c.primaryKey())
      .addColumn("account_id", "text", (c) => c.notNull())
      .addColumn("entry_type", "text", (c) => c.notNull())
      .addColumn("credit_kind", "text")
      .addColumn("amount_micros", "bigint", (c) => c.notNull())
      .addColumn("balance_after_micros", "bigint", (c) => c.notNull())
      .addColumn("idempotency_key", "text", (c) => c.notNull().unique())
      .addColumn("reference", "text")
      .addColumn("expires_at", "text")
      .addColumn("actor", "text")
      .addColumn("metadata", "text", (c) => c.notNull())
      .addColumn("created_at", "text", (c) => c.notNull())
      .execute();
    await db.schema.createIndex("ledger_entries_account_idx").on("ledger_entries").columns(["account_id", "created_at"]).execute();

    await db.schema
      .createTable("usage_records")
      .addColumn("id", "text", (c) => c.primaryKey())
      // Unique so a batcher flush retried after a partial failure cannot double-count.
      .addColumn("request_id", "text", (c) => c.notNull().unique())
      .addColumn("account_id", "text", (c) => c.notNull())
      .addColumn("api_key_id", "text")
      .addColumn("model", "text", (c) => c.notNull())
      .addColumn("upstream_model", "text")
      .addColumn("upstream_id", "text")
      .addColumn("upstream_key_id", "text")
      .addColumn("client_protocol", "text", (c) => c.notNull())
      .addColumn("upstream_protocol", "text")
      .addColumn("stream", "boolean", (c) => c.notNull())
      .addColumn("input_tokens", "integer", (c) => c.notNull())
      .addColumn("cached_input_tokens", "integer", (c) => c.notNull())
      .addColumn("cache_write_tokens", "integer", (c) => c.notNull())
      .addColumn("output_tokens", "integer", (c) => c.notNull())
      .addColumn("reasoning_tokens", "integer", (c) => c.notNull())
      .addColumn("cost_micros", "bigint", (c) => c.notNull())
      .addColumn("status", "text", (c) => c.notNull())
      .addColumn("http_status", "integer")
      .addColumn("error_code", "text")
      .addColumn("attempts", "integer", (c) => c.notNull())
      .addColumn("latency_ms", "integer", (c) => c.notNull())
      .addColumn("ttfb_ms", "integer")
      .addColumn("created_at", "text", (c) => c.notNull())
      .execute();
    await db.schema.createIndex("usage_records_account_idx").on("usage_records").columns(["account_id", "created_at"]).execute();
    await db.schema.createIndex("usage_records_created_idx").on("usage_records").column("created_at").execute();

    await db.schema
      .createTable("audit_log")
      .addColumn("seq", "bigint", (c) => c.primaryKey())
      .addColumn("actor", "text", (c) => c.notNull())
      .addColumn("action", "text", (c) => c.notNull())
      .addColumn("target_type", "text", (c) => c.notNull())
      .addColumn("target_id", "text")
      .addColumn("before", "text")
      .addColumn("after", "text")
      .addColumn("ip", "text")
      .addColumn("created_at", "text", (c) => c.notNull())
      .addColumn("prev_hash", "text", (c) => c.notNull())
      .addColumn("hash", "text", (c) => c.notNull().unique())
      .execute();
    await db.schema.createIndex("audit_log_target_idx").on("audit_log").columns(["target_type", "target_id"]).execute();
    await db.schema.createIndex("audit_log_created_idx").on("audit_log").column("created_at").execute();
  },

  async down(db: Kysely<unknown>): Promise<void> {
    for (const table of ["audit_log", "usage_records", "ledger_entries", "upstream_keys", "upstreams", "api_keys", "account_closure", "accounts"]) {
      await db.schema.dropTable(table).execute();
    }
  },
};
