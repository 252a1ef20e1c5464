import { mkdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import Sqlite from "better-sqlite3";
import { Kysely, PostgresDialect, SqliteDialect, type SqliteDatabase } from "kysely";
import type { CustomTypesConfig } from "pg";
import { StoreError, type Store } from "./ports.js";
import type { Database } from "./sql/schema.js";
import { SqlStore } from "./sql/sql-store.js";
import { WalCheckpointer } from "./sql/wal-checkpointer.js";

export interface OpenStoreOptions {
  /**
   * Absent or empty: the embedded SQLite file `<dataDir>/switchyard.db`.
   * `sqlite:<path>`, `sqlite:///abs/path`, `file:<path>`, `file:///abs/path`: that SQLite
   * file (relative paths resolve against the working directory; `sqlite::memory:` is an
   * in-memory database). `postgres://…` / `postgresql://…`: a PostgreSQL pool; libpq-style
   * query parameters pass through to pg (e.g. `?options=-c%20search_path%3Dtenant`).
   */
  databaseUrl?: string;
  dataDir: string;
  /** PostgreSQL pool size (default 10). */
  poolMax?: number;
  /** Errors of idle PostgreSQL connections; without a listener pg would crash the process. */
  onPoolError?: (error: Error) => void;
  /**
   * SQLite file only: checkpoint the WAL from a worker thread instead of inside the commits on
   * this connection (sql/wal-checkpointer.ts). The gateway sets it; a store opened for a CLI
   * command or a test has no use for a thread.
   */
  walCheckpointer?: boolean;
  /** Told when that worker ends on its own; the connection then checkpoints for itself again. */
  onCheckpointerLost?: (error: Error | undefined) => void;
}

export type DatabaseLocation = { kind: "sqlite"; file: string } | { kind: "postgres"; url: string };

export const DEFAULT_SQLITE_FILE = "switchyard.db";

/** Opens the store `main.ts` runs on. Migrations are not applied: call `migrate()`. */
export function openStore(opts: OpenStoreOptions): Promise<Store> {
  return openSqlStore(opts);
}

/** Like openStore, typed as the SQL implementation for storage-internal callers and tests. */
export async function openSqlStore(opts: OpenStoreOptions): Promise<SqlStore> {
  const location = resolveDatabaseLocation(opts.databaseUrl, opts.dataDir);
  return location.kind === "sqlite"
    ? openSqlite(location.file, opts.walCheckpointer === true ? { onLost: opts.onCheckpointerLost } : undefined)
    : await openPostgres(location.url, opts);
}

export function resolveDatabaseLocation(databaseUrl: string | undefined, dataDir: string): DatabaseLocation {
  const url = databaseUrl?.trim() ?? "";
  const defaultFile = path.resolve(dataDir, DEFAULT_SQLITE_FILE);
  if (url === "") return { kind: "sqlite", file: defaultFile };
  if (/^postgres(ql)?:\/\//i.test(url)) return { kind: "postgres", url };
  if (/^file:/i.test(url)) {
    if (/^file:\/\//i.test(url)) return { kind: "sqlite", file: fileURLToPath(url) };
    const rest = url.slice("file:".length);
    return { kind: "sqlite", file: rest === "" ? defaultFile : path.resolve(rest) };
  }
  if (/^sqlite:/i.test(url)) {
    const rest = url.slice("sqlite:".length).replace(/^\/\//, "");
    if (rest === "") return { kind: "sqlite", file: defaultFile };
    if (rest === ":memory:") return { kind: "sqlite", file: ":memory:" };
    return { kind: "sqlite", file: path.resolve(rest) };
  }
  // Name only the scheme: the URL may carry a password.
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(url)?.[1] ?? "(none)";
  throw new StoreError("invalid", `unsupported database URL scheme ${JSON.stringify(scheme)}; use sqlite:, file: or postgres://`);
}

function openSqlite(file: string, walCheckpointer: { onLost?: (error: Error | undefined) => void } | undefined): SqlStore {
  if (file !== ":memory:") mkdirSync(path.dirname(file), { recursive: true });
  const database = new Sqlite(file);
  database.pragma("journal_mode = WAL");
  // Waits for another process's write lock instead of failing at once.
  database.pragma("busy_timeout = 5000");
  database.pragma("foreign_keys = ON");
  // Durable across process crashes in WAL mode; only an OS crash can lose the last commits.
  database.pragma("synchronous = NORMAL");
  // Statement journals (a usage flush's savepoints need one) and sort spills stay in memory: on
  // the default, SQLite created, opened and unlinked a file in /var/tmp for every flush, on the event loop.
  database.pragma("temp_store = MEMORY");
  // SQLite's own default page cache, 2 MB: better-sqlite3 builds it with 16 MB, which the
  // gateway's connection filled as the file grew, only to hold pages no write touches again. Its
  // writes land at the right-hand end of each B-tree (time-ordered ids), a few dozen pages; and
  // in a same-build A/B under load (bench/README.md, fifteenth stop) the CPU a request stayed
  // within 2 % either way.
  database.pragma("cache_size = -2000");
  const checkpointer = walCheckpointer && file !== ":memory:" ? new WalCheckpointer(database, file, walCheckpointer) : undefined;
  return new SqlStore(new Kysely<Database>({ dialect: new SqliteDialect({ database: preparedOnce(database) }) }), "sqlite", database, checkpointer);
}

/** Distinct statements kept prepared; past it the cache starts over (the query layer writes a few dozen shapes). */
const MAX_PREPARED = 512;

/**
 * The database as the query layer sees it, with each SQL text prepared once: Kysely asks
 * for a new statement on every query, and SQLite's compile of it ran on the event loop
 * each time (the ledger debit of every usage batch is a handful of queries). Kysely runs
 * one query at a time on its one connection, so a statement is never in use twice at once.
 */
function preparedOnce(database: Sqlite.Database): SqliteDatabase {
  const statements = new Map<string, Sqlite.Statement>();
  return {
    close: () => database.close(),
    prepare(text: string) {
      let statement = statements.get(text);
      if (!statement) {
        if (statements.size >= MAX_PREPARED) statements.clear();
        statement = database.prepare(text);
        statements.set(text, statement);
      }
      return statement;
    },
  };
}

/** pg is loaded only for a PostgreSQL database: a gateway on SQLite never holds its code. */
async function openPostgres(url: string, opts: OpenStoreOptions): Promise<SqlStore> {
  const { default: pg } = await import("pg");
  const types: CustomTypesConfig = {
    getTypeParser: (id, format) => (id === pg.types.builtins.INT8 && format !== "binary" ? parseInt8 : pg.types.getTypeParser(id, format)),
  };
  const pool = new pg.Pool({ connectionString: url, max: opts.poolMax ?? 10, types });
  pool.on("error", opts.onPoolError ?? (() => undefined));
  return new SqlStore(new Kysely<Database>({ dialect: new PostgresDialect({ pool }) }), "postgres");
}

/**
 * PostgreSQL int8 (bigint columns, count(*), sum(integer)) comes back as a JS number,
 * as SQLite's integers do, so repos see one type on both engines. Values outside
 * ±(2^53 − 1) fail the query instead of silently losing precision; money in micro-units
 * stays far below that (2^53 µ ≈ 9 billion currency units). numeric stays a string.
 */
export function parseInt8(text: string): number {
  const value = Number(text);
  if (!Number.isSafeInteger(value)) {
    throw new RangeError(`int8 value ${text} is outside the safe integer range of a JS number`);
  }
  return value;
}
