import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sql } from "kysely";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { openSqlStore } from "../open-store.js";
import { record } from "../store-contract.js";
import type { SqlStore } from "./sql-store.js";

let dir: string;
let store: SqlStore;
let n = 0;

async function write(count: number): Promise<void> {
  for (let i = 0; i < count; i += 100) await store.usage.insertMany(Array.from({ length: Math.min(100, count - i) }, () => record(n++, { accountId: "a" })));
}

const autocheckpoint = async (): Promise<number> =>
  (await sql<{ wal_autocheckpoint: number }>`pragma wal_autocheckpoint`.execute(store.db)).rows[0]!.wal_autocheckpoint;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), "switchyard-wal-"));
  store = await openSqlStore({ dataDir: dir, walCheckpointer: true });
  await store.migrate();
});
afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("WAL checkpoints from a worker thread", () => {
  it("take checkpoints off the gateway's connection, and copy the whole WAL so writes start it over", async () => {
    expect(await autocheckpoint()).toBe(0);
    await write(3_000);
    const first = await store.checkpointer!.checkpoint();
    expect(first.log).toBeGreaterThan(50);
    expect(first.checkpointed).toBe(first.log);
    // A checkpoint copied everything and no one reads the old WAL: the next write begins it again.
    await write(10);
    const second = await store.checkpointer!.checkpoint();
    expect(second.log).toBeLessThan(first.log / 5);
    expect(second.checkpointed).toBe(second.log);
    expect(await store.usage.listByAccount("a", { limit: 5_000 })).toHaveLength(3_010);
  });

  it("hand checkpoints back to the connection when the worker dies, and say so", async () => {
    await store.close();
    const lost: Array<Error | undefined> = [];
    store = await openSqlStore({ dataDir: dir, walCheckpointer: true, onCheckpointerLost: (err) => lost.push(err) });
    await store.checkpointer!.terminate();
    expect(lost).toHaveLength(1);
    // Asked after the worker is gone: answered at once, not left waiting forever.
    await expect(store.checkpointer!.checkpoint()).rejects.toThrow(/stopped/);
    expect(await autocheckpoint()).toBe(1000);
    await write(200);
    expect(await store.usage.listByAccount("a", { limit: 500 })).toHaveLength(200);
  });

  it("stop when the store closes, as asked, not lost", async () => {
    await store.close();
    const lost: Array<Error | undefined> = [];
    store = await openSqlStore({ dataDir: dir, walCheckpointer: true, onCheckpointerLost: (err) => lost.push(err) });
    const checkpointer = store.checkpointer!;
    await store.close();
    await expect(checkpointer.checkpoint()).rejects.toThrow(/stopped/);
    expect(lost).toEqual([]);
  });

  it("are not started unless asked for", async () => {
    const other = await openSqlStore({ dataDir: join(dir, "plain") });
    try {
      expect(other.checkpointer).toBeUndefined();
      expect((await sql<{ wal_autocheckpoint: number }>`pragma wal_autocheckpoint`.execute(other.db)).rows[0]!.wal_autocheckpoint).toBe(1000);
    } finally {
      await other.close();
    }
  });
});
