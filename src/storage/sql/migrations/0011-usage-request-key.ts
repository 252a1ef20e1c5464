import { PostgresAdapter, sql, type Kysely, type Migration } from "kysely";

/**
 * A usage record is keyed by its request id: the `id` column (a time-ordered UUID from 0001) goes,
 * and `request_id`, unique since 0001, becomes the primary key. Nothing ever read `id`: records
 * are listed by account and summed through `usage_hourly`, and a retried write is told apart by
 * its request id. Every record still paid for `id` on the hot path's write: 36 bytes in the row
 * and one more B-tree to insert into, its pages in every commit and every checkpoint. After this a
 * record is a row in three B-trees (the table, its key, the account index) on both engines.
 *
 * SQLite cannot drop a primary-key column, so there the table is rebuilt in one transaction: the
 * new table is created, the rows copied in their old order, the old table dropped and the new one
 * renamed. That reads and writes every usage record once, at the first start of this version
 * (`switchyard migrate` runs it ahead of a start, docs/deployment.md). PostgreSQL drops the column
 * and swaps the unique constraint for the primary key, which builds one index.
 */
export const usageRequestKey: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    if (isPostgres(db)) {
      await sql`alter table usage_records drop column id`.execute(db);
      await sql`alter table usage_records drop constraint usage_records_request_id_key`.execute(db);
      await sql`alter table usage_records add constraint usage_records_pkey primary key (request_id)`.execute(db);
      return;
    }
    await inTransaction(db, (trx) => rebuild(trx, "up"));
  },

  // The id column back, each existing record given a fresh random one (none was ever read).
  async down(db: Kysely<unknown>): Promise<void> {
    if (isPostgres(db)) {
      await sql`alter table usage_records drop constraint usage_records_pkey`.execute(db);
      await sql`alter table usage_records add constraint usage_records_request_id_key unique (request_id)`.execute(db);
      await sql`alter table usage_records add column id text`.execute(db);
      await sql`update usage_records set id = gen_random_uuid()::text`.execute(db);
      await sql`alter table usage_records add constraint usage_records_pkey primary key (id)`.execute(db);
      return;
    }
    await inTransaction(db, (trx) => rebuild(trx, "down"));
  },
};

function isPostgres(db: Kysely<unknown>): boolean {
  return db.getExecutor().adapter instanceof PostgresAdapter;
}

/** PostgreSQL migrations already run inside the migrator's transaction; SQLite's do not. */
async function inTransaction(db: Kysely<unknown>, steps: (trx: Kysely<unknown>) => Promise<void>): Promise<void> {
  if (db.isTransaction) await steps(db);
  else await db.transaction().execute(steps);
}

/** Every column but `id`, in the table's order (0001, then 0006 and 0007). */
const COLUMNS =
  "request_id, account_id, api_key_id, model, upstream_model, upstream_id, upstream_key_id, client_protocol, upstream_protocol, stream, " +
  "input_tokens, cached_input_tokens, cache_write_tokens, output_tokens, reasoning_tokens, cost_micros, status, http_status, error_code, " +
  "attempts, latency_ms, ttfb_ms, created_at, attempt_trail, price_version, payer_account_id, charged_micros, cache_key_hash, tier";

/** SQLite: usage_records made anew, keyed by request id (`up`) or with an `id` key again (`down`). */
async function rebuild(db: Kysely<unknown>, to: "up" | "down"): Promise<void> {
  let table = db.schema.createTable("usage_records_0011");
  table =
    to === "up"
      ? table.addColumn("request_id", "text", (c) => c.primaryKey().notNull())
      : table.addColumn("id", "text", (c) => c.primaryKey()).addColumn("request_id", "text", (c) => c.notNull().unique());
  await table
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
    .addColumn("attempt_trail", "text")
    .addColumn("price_version", "text")
    .addColumn("payer_account_id", "text")
    .addColumn("charged_micros", "bigint", (c) => c.notNull().defaultTo(0))
    .addColumn("cache_key_hash", "text")
    .addColumn("tier", "integer")
    .execute();
  // In rowid order, so the new table holds the records in the order they were written.
  const copy =
    to === "up"
      ? sql`insert into usage_records_0011 (${sql.raw(COLUMNS)}) select ${sql.raw(COLUMNS)} from usage_records order by rowid`
      : sql`insert into usage_records_0011 (id, ${sql.raw(COLUMNS)}) select lower(hex(randomblob(16))), ${sql.raw(COLUMNS)} from usage_records order by rowid`;
  await copy.execute(db);
  await db.schema.dropTable("usage_records").execute();
  await sql`alter table usage_records_0011 rename to usage_records`.execute(db);
  await db.schema.createIndex("usage_records_account_idx").on("usage_records").columns(["account_id", "created_at"]).execute();
}
