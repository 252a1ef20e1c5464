import type { Kysely, Migration } from "kysely";

/**
 * Who paid for a usage record and what it cost them (docs/billing.md): the paying
 * account (the nearest on the chain with a wallet of its own) and the micro-units debited
 * from its credit (0 on the quota track). The ledger's `debit` rows sum these per batch,
 * so usage and ledger reconcile. Null / 0 for rows written before.
 */
export const usageCharges: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema.alterTable("usage_records").addColumn("payer_account_id", "text").execute();
    await db.schema
      .alterTable("usage_records")
      .addColumn("charged_micros", "bigint", (c) => c.notNull().defaultTo(0))
      .execute();
  },

  async down(db: Kysely<unknown>): Promise<void> {
    await db.schema.alterTable("usage_records").dropColumn("charged_micros").execute();
    await db.schema.alterTable("usage_records").dropColumn("payer_account_id").execute();
  },
};
