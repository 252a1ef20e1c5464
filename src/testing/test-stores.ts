/**
 * Fresh, migrated stores for tests above the storage layer, on either engine: a new
 * SQLite file in its own directory, or a new schema on the PostgreSQL server at
 * TEST_DATABASE_URL (which must be up; an unreachable server fails the test).
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { openStore } from "../storage/open-store.js";
import type { Store } from "../storage/ports.js";

export type Engine = "sqlite" | "postgres";
export const ENGINES: readonly Engine[] = ["sqlite", "postgres"];

export interface TestStore {
  store: Store;
  /** Closes the store and removes its file or schema. */
  dispose(): Promise<void>;
}

export async function openTestStore(engine: Engine): Promise<TestStore> {
  return engine === "sqlite" ? openSqlite() : openPostgres();
}

async function openSqlite(): Promise<TestStore> {
  const dataDir = await mkdtemp(join(tmpdir(), "switchyard-store-"));
  const store = await openStore({ dataDir });
  await store.migrate();
  return {
    store,
    async dispose() {
      await store.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

async function openPostgres(): Promise<TestStore> {
  const baseUrl = process.env.TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";
  const admin = new pg.Client({ connectionString: baseUrl });
  await admin.connect();
  // Random hex only, so the name is safe to splice into DDL.
  const schema = `t_${randomBytes(8).toString("hex")}`;
  try {
    await admin.query(`create schema ${schema}`);
  } finally {
    await admin.end();
  }
  const url = new URL(baseUrl);
  url.searchParams.set("options", `-c search_path=${schema}`);
  const store = await openStore({ databaseUrl: url.toString(), dataDir: "/nonexistent", poolMax: 4 });
  await store.migrate();
  return {
    store,
    async dispose() {
      await store.close();
      const cleanup = new pg.Client({ connectionString: baseUrl });
      await cleanup.connect();
      try {
        await cleanup.query(`drop schema if exists ${schema} cascade`);
      } finally {
        await cleanup.end();
      }
    },
  };
}
