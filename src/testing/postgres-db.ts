/**
 * A PostgreSQL database of a test's own on the server at TEST_DATABASE_URL.
 *
 * Schemas alone do not isolate parallel test files: catalog scans (Kysely's
 * migrator introspects every schema of the database) fail with "schema … does
 * not exist" when another file drops its schema mid-scan. A database has its
 * own catalog, so what other files create and drop is never seen.
 */
import { randomBytes } from "node:crypto";
import pg from "pg";

export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";

export interface TestDatabase {
  /** Connection URL of the new database (same server and credentials). */
  url: string;
  name: string;
  /** Drops it, closing any connection still open to it. */
  drop(): Promise<void>;
}

async function onServer<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

export async function createTestDatabase(): Promise<TestDatabase> {
  // Random hex only, so the name is safe to splice into DDL.
  const name = `t_${randomBytes(8).toString("hex")}`;
  await onServer((c) => c.query(`create database ${name}`));
  const url = new URL(TEST_DATABASE_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    name,
    drop: () => onServer((c) => c.query(`drop database if exists ${name} with (force)`)).then(() => undefined),
  };
}
