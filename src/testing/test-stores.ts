/**
 * Fresh, migrated stores for tests above the storage layer, on either engine: a new
 * SQLite file in its own directory, or a new database on the PostgreSQL server at
 * TEST_DATABASE_URL (which must be up; an unreachable server fails the test).
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openStore } from "../storage/open-store.js";
import type { Store } from "../storage/ports.js";
import { createTestDatabase } from "./postgres-db.js";

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
  const db = await createTestDatabase();
  const store = await openStore({ databaseUrl: db.url, dataDir: "/nonexistent", poolMax: 4 });
  await store.migrate();
  return {
    store,
    async dispose() {
      await store.close();
      await db.drop();
    },
  };
}
