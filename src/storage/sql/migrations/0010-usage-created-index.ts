import type { Kysely, Migration } from "kysely";

/**
 * Drops `usage_records_created_idx` (usage_records by created_at alone, from 0001). No query reads
 * it: the usage API sums `usage_hourly` (0008) and a list of records reads by account through
 * `usage_records_account_idx`. Every usage record still paid for it on the hot path's write: one
 * more B-tree to insert into and its pages in every commit: 7.7 µs a record before, 7.0 after, at
 * 128 records a transaction (`npm run bench:usage-writes`, bench/README.md). A reader by time alone (a
 * retention sweep) would bring it back.
 */
export const usageCreatedIndex: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema.dropIndex("usage_records_created_idx").ifExists().execute();
  },

  async down(db: Kysely<unknown>): Promise<void> {
    await db.schema.createIndex("usage_records_created_idx").ifNotExists().on("usage_records").column("created_at").execute();
  },
};
