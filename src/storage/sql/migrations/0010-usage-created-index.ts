import type { Kysely, Migration } from "kysely";

/**
 * Drops `usage_records_created_idx` (usage_records by created_at alone, from 0001). No query reads
 * it: the usage API sums `usage_hourly` (0008) and a list of records reads by account through
 * `usage_records_account_idx`. Every usage record still paid for it on the hot path's write: one
 * more B-tree to insert into and its pages in every commit, 1.3 µs of an 11 µs insert in a SQLite
 * micro-benchmark of the same table (bench/README.md, eighth stop). A reader by time alone (a
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
