import { PostgresAdapter, sql, type Kysely, type Migration } from "kysely";

/**
 * PostgreSQL only: finer planner statistics for `account_closure.ancestor_id`. A deep tree
 * makes the few accounts near its top the ancestors of most rows; with the default
 * statistics the planner averages them into every estimate, expects hundreds of
 * descendants under a leaf-side account and answers a ten-row `descendants` query by
 * scanning the whole accounts table (12 ms at 100,000 accounts and depth 1,000, against
 * 0.1 ms by index; see bench/control-plane.ts). With the top ancestors among the most
 * common values, estimates for the rest are right again. SQLite needs nothing.
 */
export const closureStatistics: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    if (!(db.getExecutor().adapter instanceof PostgresAdapter)) return;
    await sql`alter table account_closure alter column ancestor_id set statistics 2000`.execute(db);
  },
  async down(db: Kysely<unknown>): Promise<void> {
    if (!(db.getExecutor().adapter instanceof PostgresAdapter)) return;
    await sql`alter table account_closure alter column ancestor_id set statistics -1`.execute(db);
  },
};
