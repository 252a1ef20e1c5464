import type { Kysely, Migration } from "kysely";

/**
 * A usage record lists every upstream attempt of its request (docs/routing.md#the-attempt-trail):
 * which upstream, key and tier, how each ended and how long it took, as a JSON array. Null for
 * rows written before, and for requests that never reached an upstream.
 */
export const usageAttempts: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema.alterTable("usage_records").addColumn("attempt_trail", "text").execute();
  },

  async down(db: Kysely<unknown>): Promise<void> {
    await db.schema.alterTable("usage_records").dropColumn("attempt_trail").execute();
  },
};
