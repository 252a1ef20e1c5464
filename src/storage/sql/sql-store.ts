import {
  sql,
  type Kysely,
  type KyselyPlugin,
  type PluginTransformQueryArgs,
  type PluginTransformResultArgs,
  type QueryResult,
  type RootOperationNode,
} from "kysely";
import type SqliteDatabase from "better-sqlite3";
import type { Repos, Store } from "../ports.js";
import { SqlAccountRepo } from "./accounts-repo.js";
import { SqlApiKeyRepo } from "./api-keys-repo.js";
import { SqlAuditRepo } from "./audit-repo.js";
import { SqlLedgerRepo } from "./ledger-repo.js";
import { migrateToLatest } from "./migrations/index.js";
import type { Database } from "./schema.js";
import { writeTransaction, type SqlContext, type SqlDialect } from "./sql-context.js";
import { SqlUpstreamKeyRepo } from "./upstream-keys-repo.js";
import { SqlUpstreamRepo } from "./upstreams-repo.js";
import { SqlUsageRepo } from "./usage-repo.js";
import type { WalCheckpointer } from "./wal-checkpointer.js";

/**
 * The one Store implementation, over a Kysely instance on SQLite or PostgreSQL.
 * The connection must enforce foreign keys (SQLite: `PRAGMA foreign_keys = ON`);
 * open-store.ts sets that up.
 */
export class SqlStore implements Store {
  readonly accounts: SqlAccountRepo;
  readonly apiKeys: SqlApiKeyRepo;
  readonly upstreams: SqlUpstreamRepo;
  readonly upstreamKeys: SqlUpstreamKeyRepo;
  readonly usage: SqlUsageRepo;
  readonly ledger: SqlLedgerRepo;
  readonly audit: SqlAuditRepo;
  readonly #ctx: SqlContext;
  #closed = false;

  constructor(
    /** Exposed for storage-internal modules and tests; planes use the repos. */
    readonly db: Kysely<Database>,
    readonly dialect: SqlDialect,
    sqlite?: SqliteDatabase.Database,
    /** SQLite: the worker that checkpoints the WAL, stopped before the connection closes. */
    readonly checkpointer?: WalCheckpointer,
  ) {
    const ctx: SqlContext = sqlite ? { db, dialect, sqlite } : { db, dialect };
    this.#ctx = ctx;
    this.accounts = new SqlAccountRepo(ctx);
    this.apiKeys = new SqlApiKeyRepo(ctx);
    this.upstreams = new SqlUpstreamRepo(ctx);
    this.upstreamKeys = new SqlUpstreamKeyRepo(ctx);
    this.usage = new SqlUsageRepo(ctx);
    this.ledger = new SqlLedgerRepo(ctx);
    this.audit = new SqlAuditRepo(ctx);
  }

  transaction<T>(fn: (tx: Repos) => Promise<T>): Promise<T> {
    return runTransaction(this.#ctx, fn);
  }

  async migrate(): Promise<string[]> {
    if (this.dialect === "sqlite") return migrateToLatest(this.db);
    const { rows } = await sql<{ schema: string | null }>`select current_schema() as schema`.execute(this.db);
    const schema = rows[0]?.schema;
    if (!schema) throw new Error("PostgreSQL search_path names no existing schema; create it or fix search_path");
    return migrateToLatest(this.db, { migrationTableSchema: schema });
  }

  async ping(): Promise<void> {
    await sql`select 1`.execute(this.db);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.checkpointer?.stop();
    await this.db.destroy();
  }
}

/**
 * Repos bound to one open transaction. On SQLite the context keeps the raw handle and a
 * way to tell the transaction is still open: the usage repo's bulk path (prepared
 * statements on the raw handle) then runs inside this transaction, as a savepoint, and
 * commits or rolls back with it.
 */
function boundRepos(ctx: SqlContext): Repos {
  return {
    accounts: new SqlAccountRepo(ctx),
    apiKeys: new SqlApiKeyRepo(ctx),
    upstreams: new SqlUpstreamRepo(ctx),
    upstreamKeys: new SqlUpstreamKeyRepo(ctx),
    usage: new SqlUsageRepo(ctx),
    ledger: new SqlLedgerRepo(ctx),
    audit: new SqlAuditRepo(ctx),
    transaction: (fn) => runTransaction(ctx, fn),
  };
}

/** A transaction from `ctx`, or a savepoint when `ctx` is already inside one (see writeTransaction). */
function runTransaction<T>(ctx: SqlContext, fn: (tx: Repos) => Promise<T>): Promise<T> {
  const depth = (ctx.txDepth ?? 0) + 1;
  return writeTransaction(ctx, async (trx) => {
    const guard = new EndedGuard();
    let result: T;
    try {
      const bound: SqlContext = { db: trx.withPlugin(guard), dialect: ctx.dialect, txDepth: depth };
      result = await fn(boundRepos(ctx.sqlite ? { ...bound, sqlite: ctx.sqlite, txOpen: () => !guard.ended } : bound));
    } finally {
      guard.ended = true;
    }
    if (depth === 1 && ctx.dialect === "postgres") await refuseAborted(trx);
    return result;
  });
}

/**
 * PostgreSQL answers COMMIT on a transaction spoiled by a failed statement with a
 * silent rollback. That happens when `fn` caught a store error outside a nested
 * transaction and returned normally; one cheap statement before COMMIT turns it into
 * an error instead of a commit reported but not made. SQLite undoes only the failed
 * statement and carries on, so it needs no check.
 */
async function refuseAborted(trx: Kysely<Database>): Promise<void> {
  try {
    await sql`select 1`.execute(trx);
  } catch (error) {
    if ((error as { code?: unknown }).code !== "25P02") throw error;
    throw new Error(
      "a statement failed inside this transaction and its error was caught; PostgreSQL has aborted the transaction and nothing was committed (wrap a write that may fail in a nested tx.transaction to carry on after it)",
      { cause: error },
    );
  }
}

/**
 * Fails every statement once the transaction body has settled: past that point the
 * connection is committed, rolled back or serving someone else, and on SQLite a late
 * statement would run outside any transaction without the connection lock.
 */
class EndedGuard implements KyselyPlugin {
  ended = false;

  transformQuery(args: PluginTransformQueryArgs): RootOperationNode {
    if (this.ended) throw new Error("this transaction has ended; its repos can no longer be used");
    return args.node;
  }

  transformResult(args: PluginTransformResultArgs): Promise<QueryResult<Record<string, unknown>>> {
    return Promise.resolve(args.result);
  }
}
