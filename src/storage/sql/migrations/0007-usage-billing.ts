import type { Kysely, Migration } from "kysely";

/**
 * What a usage record says about money and routing beyond migration 0001's columns: the price
 * version the cost was computed with, who paid and how much was debited from credit, the hash
 * of the request's cache-affinity key (never the key or the prompt), and the route tier of the
 * last attempt (counted from 1). Rows written before read as unpriced: version null, charged 0.
 */
export const usageBilling: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema.alterTable("usage_records").addColumn("price_version", "text").execute();
    await db.schema.alterTable("usage_records").addColumn("payer_account_id", "text").execute();
    await db.schema
      .alterTable("usage_records")
      .addColumn("charged_micros", "bigint", (c) => c.notNull().defaultTo(0))
      .execute();
    await db.schema.alterTable("usage_records").addColumn("cache_key_hash", "text").execute();
    await db.schema.alterTable("usage_records").addColumn("tier", "integer").execute();
  },

  async down(db: Kysely<unknown>): Promise<void> {
    for (const column of ["tier", "cache_key_hash", "charged_micros", "payer_account_id", "price_version"]) {
      await db.schema.alterTable("usage_records").dropColumn(column).execute();
    }
  },
};
