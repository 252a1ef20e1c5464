import { sql, type Kysely } from "kysely";
import type SqliteDatabase from "better-sqlite3";
import type { Store } from "../ports.js";
import { SqlAccountRepo } from "./accounts-repo.js";
import { SqlApiKeyRepo } from "./api-keys-repo.js";
import { migrateToLatest } from "./migrations/index.js";
import type { Database } from "./schema.js";
import type { SqlContext, SqlDialect } from "./sql-context.js";
import { SqlUpstreamKeyRepo } from "./upstream-keys-repo.js";
import { SqlUpstreamRepo } from "./upstreams-repo.js";
import { SqlUsageRepo } from "./usage-repo.js";

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
  #closed = false;

  constructor(
    /** Exposed for storage-internal modules and tests; planes use the repos. */
    readonly db: Kysely<Database>,
    readonly dialect: SqlDialect,
    sqlite?: SqliteDatabase.Database,
  ) {
    const ctx: SqlContext = sqlite ? { db, dialect, sqlite } : { db, dialect };
    this.accounts = new SqlAccountRepo(ctx);
    this.apiKeys = new SqlApiKeyRepo(ctx);
    this.upstreams = new SqlUpstreamRepo(ctx);
    this.upstreamKeys = new SqlUpstreamKeyRepo(ctx);
    this.usage = new SqlUsageRepo(ctx);
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
    await this.db.destroy();
  }
}
