/**
 * The audit chain end to end on both engines: the sink records admin changes with
 * their subtree scope, and verification finds an edited, deleted or reordered record.
 * Tampering goes straight to the tables, as someone with database access would.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sql } from "kysely";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { openSqlStore } from "../storage/open-store.js";
import type { SqlStore } from "../storage/sql/sql-store.js";
import { createTestDatabase } from "../testing/postgres-db.js";
import { ENGINES, type Engine } from "../testing/test-stores.js";
import { AuditChain, auditHash, canonicalJson, verifyAuditChain } from "./audit.js";

async function openEngine(engine: Engine): Promise<{ store: SqlStore; dispose: () => Promise<void> }> {
  if (engine === "sqlite") {
    const dir = await mkdtemp(join(tmpdir(), "switchyard-audit-"));
    const store = await openSqlStore({ dataDir: dir });
    await store.migrate();
    return { store, dispose: async () => (await store.close(), await rm(dir, { recursive: true, force: true })) };
  }
  const db = await createTestDatabase();
  const store = await openSqlStore({ databaseUrl: db.url, dataDir: "/nonexistent", poolMax: 4 });
  await store.migrate();
  return { store, dispose: async () => (await store.close(), await db.drop()) };
}

describe("canonical serialisation", () => {
  it("sorts keys at every depth and keeps arrays in order", () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: null } })).toBe('{"a":{"c":null,"d":[3,{"y":2,"z":1}]},"b":1}');
  });

  it("hashes every field: changing any one changes the hash", () => {
    const base = {
      seq: 4,
      prevHash: "a".repeat(64),
      actor: "root",
      action: "account.update",
      targetType: "account",
      targetId: "x",
      before: "{}",
      after: '{"a":1}',
      ip: "10.0.0.1",
      requestId: "req_1",
      createdAt: "2026-01-01T00:00:00.000Z",
    };
    const h = auditHash(base);
    expect(h).toMatch(/^[0-9a-f]{64}$/);
    for (const [k, v] of Object.entries(base)) {
      const changed = { ...base, [k]: typeof v === "number" ? v + 1 : v === null ? "x" : `${v}!` };
      expect(auditHash(changed), k).not.toBe(h);
    }
    // null and the string "null" differ.
    expect(auditHash({ ...base, before: null })).not.toBe(auditHash({ ...base, before: "null" }));
  });
});

describe.each(ENGINES)("audit chain on %s", (engine) => {
  let store: SqlStore;
  let dispose: () => Promise<void>;
  const chain = new AuditChain();
  const root = { actor: { type: "root" } } as const;

  beforeEach(async () => {
    ({ store, dispose } = await openEngine(engine));
  });
  afterEach(() => dispose?.());

  /** Six records about a small tree, written through the sink as the admin service does. */
  async function sixRecords(): Promise<{ org: string; team: string; other: string }> {
    const ids = { org: "", team: "", other: "" };
    await store.transaction(async (tx) => {
      const org = await tx.accounts.create({ name: "org" });
      ids.org = org.id;
      await chain.record(tx, { action: "account.create", target: { type: "account", id: org.id }, before: null, after: { id: org.id, name: "org" } }, root);
    });
    await store.transaction(async (tx) => {
      const team = await tx.accounts.create({ name: "team", parentId: ids.org });
      ids.team = team.id;
      const after = { id: team.id, parent_id: ids.org, name: "team" };
      await chain.record(
        tx,
        { action: "account.create", target: { type: "account", id: team.id }, before: null, after },
        { ...root, requestId: "req_a", clientIp: "10.1.1.1" },
      );
    });
    await store.transaction(async (tx) => {
      const key = await tx.apiKeys.create({ accountId: ids.team, name: "k", prefix: "sy-aud00001", hash: "a".repeat(64) });
      const after = { id: key.id, account_id: ids.team, name: "k" };
      await chain.record(
        tx,
        { action: "api_key.create", target: { type: "api_key", id: key.id }, before: null, after },
        { actor: { type: "api_key", keyId: "k0" } },
      );
    });
    await store.transaction(async (tx) => {
      const other = await tx.accounts.create({ name: "other" });
      ids.other = other.id;
      await chain.record(
        tx,
        { action: "account.create", target: { type: "account", id: other.id }, before: null, after: { id: other.id } },
        { actor: { type: "cli" } },
      );
    });
    await store.transaction(async (tx) => {
      await tx.accounts.delete(ids.team);
      const before = { id: ids.team, parent_id: ids.org, name: "team" };
      await chain.record(tx, { action: "account.delete", target: { type: "account", id: ids.team }, before, after: null }, { actor: { type: "config" } });
    });
    await store.transaction(async (tx) => {
      const u = await tx.upstreams.create({ name: "u", protocol: "openai-chat", baseUrl: "https://x.test/v1", models: ["m"] });
      await chain.record(tx, { action: "upstream.create", target: { type: "upstream", id: u.id }, before: null, after: { id: u.id } }, root);
    });
    return ids;
  }

  it("records who, what, where from and when, and shows each subtree its own records, deleted accounts' included", async () => {
    const ids = await sixRecords();
    const all = await store.audit.list();
    expect(all.map((r) => [r.seq, r.actor, r.action])).toEqual([
      [6, "root", "upstream.create"],
      [5, "config", "account.delete"],
      [4, "cli", "account.create"],
      [3, "api_key:k0", "api_key.create"],
      [2, "root", "account.create"],
      [1, "root", "account.create"],
    ]);
    expect(all[4]).toMatchObject({ requestId: "req_a", ip: "10.1.1.1", before: null, after: `{"id":"${ids.team}","name":"team","parent_id":"${ids.org}"}` });
    expect((await store.audit.list({ scopeAccountId: ids.org })).map((r) => r.seq)).toEqual([5, 3, 2, 1]);
    expect((await store.audit.list({ scopeAccountId: ids.team })).map((r) => r.seq)).toEqual([5, 3, 2]);
    expect((await store.audit.list({ scopeAccountId: ids.other })).map((r) => r.seq)).toEqual([4]);
    expect(await verifyAuditChain(store)).toEqual({ ok: true, count: 6, headHash: all[0]!.hash });
  });

  it("verifies an empty log and walks a long one in batches", async () => {
    expect(await verifyAuditChain(store)).toMatchObject({ ok: true, count: 0 });
    await sixRecords();
    expect(await verifyAuditChain(store, 4)).toMatchObject({ ok: true, count: 6 });
  });

  it("finds an edited record", async () => {
    await sixRecords();
    await store.db.updateTable("audit_log").set({ after: '{"id":"forged"}' }).where("seq", "=", 4).execute();
    expect(await verifyAuditChain(store)).toEqual({ ok: false, count: 3, seq: 4, reason: expect.stringContaining("edited") });
  });

  it("finds an edit whose hash was recomputed, at the next link", async () => {
    await sixRecords();
    const [row] = await store.audit.scan(2, 1);
    const forged = { ...row!, actor: "root" };
    await store.db
      .updateTable("audit_log")
      .set({ actor: "root", hash: auditHash(forged) })
      .where("seq", "=", 3)
      .execute();
    expect(await verifyAuditChain(store)).toMatchObject({ ok: false, seq: 4, reason: expect.stringContaining("prev_hash") });
  });

  it("finds a deleted record", async () => {
    await sixRecords();
    await store.db.deleteFrom("audit_log").where("seq", "=", 3).execute();
    expect(await verifyAuditChain(store)).toEqual({ ok: false, count: 2, seq: 3, reason: expect.stringContaining("missing") });
  });

  it("finds two records swapped", async () => {
    await sixRecords();
    // Exchange the places of records 2 and 3 (their seq), through a free number.
    await sql`update audit_log set seq = 100 where seq = 2`.execute(store.db);
    await sql`update audit_log set seq = 2 where seq = 3`.execute(store.db);
    await sql`update audit_log set seq = 3 where seq = 100`.execute(store.db);
    expect(await verifyAuditChain(store)).toMatchObject({ ok: false, count: 1, seq: 2, reason: expect.stringContaining("reordered") });
  });

  it("keeps the chain linear under parallel writes through the sink", async () => {
    const org = await store.accounts.create({ name: "org" });
    await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        store.transaction(async (tx) => {
          const a = await tx.accounts.create({ name: `a${i}`, parentId: org.id });
          await chain.record(
            tx,
            { action: "account.create", target: { type: "account", id: a.id }, before: null, after: { id: a.id, parent_id: org.id } },
            root,
          );
        }),
      ),
    );
    expect(await verifyAuditChain(store)).toMatchObject({ ok: true, count: 30 });
    expect(await store.audit.list({ scopeAccountId: org.id, limit: 100 })).toHaveLength(30);
  });
});
