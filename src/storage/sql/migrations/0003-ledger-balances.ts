import type { Kysely, Migration } from "kysely";

/**
 * Credit balances and grants beside the ledger of 0001, and what the audit chain
 * needs: the request id of each record and the subtree index. Same portable DDL
 * rules as 0001.
 */
export const ledgerBalances: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    // The row every movement on an account locks first, so writers to one balance take turns.
    await db.schema
      .createTable("account_balances")
      .addColumn("account_id", "text", (c) => c.primaryKey().references("accounts.id").onDelete("cascade"))
      .addColumn("balance_micros", "bigint", (c) => c.notNull())
      .addColumn("last_seq", "bigint", (c) => c.notNull())
      .addColumn("updated_at", "text", (c) => c.notNull())
      .execute();

    await db.schema
      .createTable("credit_grants")
      .addColumn("id", "text", (c) => c.primaryKey())
      .addColumn("account_id", "text", (c) => c.notNull().references("accounts.id").onDelete("cascade"))
      .addColumn("kind", "text", (c) => c.notNull())
      .addColumn("amount_micros", "bigint", (c) => c.notNull())
      .addColumn("remaining_micros", "bigint", (c) => c.notNull())
      .addColumn("expires_at", "text")
      .addColumn("source_account_id", "text")
      .addColumn("entry_id", "text", (c) => c.notNull())
      .addColumn("created_at", "text", (c) => c.notNull())
      .execute();
    await db.schema.createIndex("credit_grants_account_idx").on("credit_grants").columns(["account_id", "expires_at"]).execute();

    await db.schema.alterTable("ledger_entries").addColumn("account_seq", "bigint").execute();
    // Per-account order and the ledger's pagination; also refuses two rows claiming one place.
    await db.schema.createIndex("ledger_entries_account_seq_uq").on("ledger_entries").columns(["account_id", "account_seq"]).unique().execute();

    await db.schema.alterTable("audit_log").addColumn("request_id", "text").execute();
    await db.schema
      .createTable("audit_scope")
      .addColumn("account_id", "text", (c) => c.notNull())
      .addColumn("seq", "bigint", (c) => c.notNull())
      .addPrimaryKeyConstraint("audit_scope_pk", ["account_id", "seq"])
      .execute();
    await db.schema.createIndex("audit_log_action_idx").on("audit_log").columns(["action", "seq"]).execute();
    await db.schema.createIndex("audit_log_actor_idx").on("audit_log").columns(["actor", "seq"]).execute();
  },

  async down(db: Kysely<unknown>): Promise<void> {
    await db.schema.dropIndex("audit_log_actor_idx").execute();
    await db.schema.dropIndex("audit_log_action_idx").execute();
    await db.schema.dropTable("audit_scope").execute();
    await db.schema.alterTable("audit_log").dropColumn("request_id").execute();
    await db.schema.dropIndex("ledger_entries_account_seq_uq").execute();
    await db.schema.alterTable("ledger_entries").dropColumn("account_seq").execute();
    await db.schema.dropTable("credit_grants").execute();
    await db.schema.dropTable("account_balances").execute();
  },
};
