import type { Kysely, Migration } from "kysely";

/**
 * Hourly rollups of usage records per account × requested model × API key × upstream key, for
 * the usage API (docs/admin-api.md#usage). Written in the same transaction as the usage rows
 * they sum, from the rows actually inserted, so the rollups always equal the sum of the rows.
 * A missing key is '' (not NULL) so the primary key can take ON CONFLICT upserts on both engines.
 */
export const usageHourly: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    let t = db.schema
      .createTable("usage_hourly")
      .addColumn("hour", "text", (c) => c.notNull())
      .addColumn("account_id", "text", (c) => c.notNull())
      .addColumn("model", "text", (c) => c.notNull())
      .addColumn("api_key_id", "text", (c) => c.notNull())
      .addColumn("upstream_key_id", "text", (c) => c.notNull());
    for (const column of [
      "requests",
      "errors",
      "input_tokens",
      "cached_input_tokens",
      "cache_write_tokens",
      "output_tokens",
      "reasoning_tokens",
      "cost_micros",
      "charged_micros",
    ]) {
      t = t.addColumn(column, "bigint", (c) => c.notNull());
    }
    await t.addPrimaryKeyConstraint("usage_hourly_pk", ["hour", "account_id", "model", "api_key_id", "upstream_key_id"]).execute();
    await db.schema.createIndex("usage_hourly_account_idx").on("usage_hourly").columns(["account_id", "hour"]).execute();
    await db.schema.createIndex("usage_hourly_upstream_key_idx").on("usage_hourly").columns(["upstream_key_id", "hour"]).execute();
  },

  async down(db: Kysely<unknown>): Promise<void> {
    await db.schema.dropTable("usage_hourly").execute();
  },
};
