import { sql, type Kysely } from "kysely";
import type SqliteDatabase from "better-sqlite3";
import type { Database } from "./schema.js";

export type SqlDialect = "sqlite" | "postgres";

/** What every repo needs: the query layer and which engine sits under it. */
export interface SqlContext {
  readonly db: Kysely<Database>;
  readonly dialect: SqlDialect;
  /**
   * The SQLite connection under `db`, for bulk writes that need one prepared statement
   * run many times in a transaction (see usage-repo.ts); absent on PostgreSQL.
   */
  readonly sqlite?: SqliteDatabase.Database;
  /**
   * Set when `db` is bound to an open transaction (Store.transaction): how many
   * transactions enclose it, 1 being the outermost. Absent outside one.
   */
  readonly txDepth?: number;
  /**
   * Inside a transaction on SQLite: whether it is still open. SQLite has one connection,
   * held by the transaction while it runs, so while this says true an open transaction on
   * `sqlite` is this one, and the usage repo's bulk path may run its statements in it.
   */
  readonly txOpen?: () => boolean;
}

/**
 * The SQLite handle under `ctx` when statements run on it directly are safe now, else
 * undefined (PostgreSQL, or the query layer's path must be taken). Such statements bypass
 * the query layer's connection lock, so they join whatever transaction is open on the
 * handle: outside a transaction there must be none (it would be another caller's); inside
 * one (Store.transaction), the open one is ours while it lasts.
 */
export function rawSqlite(ctx: SqlContext): SqliteDatabase.Database | undefined {
  const raw = ctx.sqlite;
  if (!raw) return undefined;
  return (ctx.txOpen === undefined ? !raw.inTransaction : raw.inTransaction && ctx.txOpen()) ? raw : undefined;
}

/**
 * Runs `work` in one write transaction and returns its result. Inside an open
 * transaction it runs under a savepoint instead, so a repo's multi-statement write
 * still succeeds or fails as a whole, and a failure leaves the enclosing
 * transaction usable (PostgreSQL refuses every statement after a failed one
 * until the transaction, or an enclosing savepoint, is rolled back).
 */
export async function writeTransaction<T>(ctx: SqlContext, work: (trx: Kysely<Database>) => Promise<T>): Promise<T> {
  if (ctx.txDepth !== undefined) return underSavepoint(ctx.db, `sy_savepoint_${ctx.txDepth + 1}`, work);
  if (ctx.dialect === "postgres") return ctx.db.transaction().execute(work);
  // BEGIN IMMEDIATE takes SQLite's write lock up front. A deferred transaction that
  // reads and then writes fails at once with SQLITE_BUSY (busy_timeout does not apply)
  // when another process committed in between.
  return ctx.db.connection().execute(async (conn) => {
    await sql`begin immediate`.execute(conn);
    try {
      const result = await work(conn);
      await sql`commit`.execute(conn);
      return result;
    } catch (error) {
      // SQLite may already have rolled back (e.g. SQLITE_FULL); the original error matters.
      await sql`rollback`.execute(conn).catch(() => undefined);
      throw error;
    }
  });
}

async function underSavepoint<T>(db: Kysely<Database>, name: string, work: (trx: Kysely<Database>) => Promise<T>): Promise<T> {
  // One name per nesting level: both engines resolve a name to its innermost savepoint.
  const savepoint = sql.raw(name);
  await sql`savepoint ${savepoint}`.execute(db);
  let result: T;
  try {
    result = await work(db);
  } catch (error) {
    // Rolling back to a savepoint keeps it open on both engines, hence the release. If
    // either fails the enclosing transaction is already lost; the original error matters.
    await sql`rollback to savepoint ${savepoint}`.execute(db).catch(() => undefined);
    await sql`release savepoint ${savepoint}`.execute(db).catch(() => undefined);
    throw error;
  }
  await sql`release savepoint ${savepoint}`.execute(db);
  return result;
}

/**
 * Serialises account-tree changes. PostgreSQL's READ COMMITTED lets two concurrent
 * moves each pass their cycle check (A under a descendant of B, B under a descendant of
 * A) and commit a cycle; one advisory lock per schema makes tree writes take turns.
 * Tree writes are rare admin actions, so the contention is irrelevant. On SQLite the
 * write transaction already holds the database's single write lock.
 */
export async function lockAccountTree(trx: Kysely<Database>, dialect: SqlDialect): Promise<void> {
  if (dialect !== "postgres") return;
  await sql`select pg_advisory_xact_lock(hashtext('switchyard.account_tree:' || current_schema()))`.execute(trx);
}
