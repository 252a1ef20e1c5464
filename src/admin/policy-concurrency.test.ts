/**
 * Two admins at once on one chain, on two gateway nodes sharing one database: one lowers
 * an ancestor's limit while the other raises a descendant's. Each write checks the chain
 * and writes under the chain's lock (AccountRepo.lockChains), so the two take turns and a
 * raise is judged against the ancestor's bound as it stands when the raise commits.
 *
 * What may happen: the lowering always succeeds (a parent may tighten below its children;
 * the fold applies it); the raise succeeds if it went first and is refused with
 * `exceeds_parent` if it went second. What must never happen: a raise accepted against a
 * bound that had already been lowered. The audit sink runs inside each write's
 * transaction, while its locks are held, so the order in which it sees the writes is the
 * order they took effect; replaying that order, every accepted raise must fit the bound
 * of its moment, and the final rows must be what the replay says.
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { GatewayError } from "../canonical/errors.js";
import { SecretBox } from "../governance/secrets.js";
import { openStore } from "../storage/open-store.js";
import type { Store } from "../storage/ports.js";
import { createTestDatabase } from "../testing/postgres-db.js";
import { ENGINES, type Engine } from "../testing/test-stores.js";
import { AdminService, type AuditEvent } from "./service.js";

/**
 * Two stores on one database: two nodes, each with its own connections. SQLite serves one
 * node (better-sqlite3 waits for a lock synchronously, so two connections in one process
 * would stall each other): there both admins share the node's store, whose single
 * connection serialises them the way two processes' BEGIN IMMEDIATE would.
 */
async function twoNodes(engine: Engine): Promise<{ stores: [Store, Store]; dispose(): Promise<void> }> {
  if (engine === "sqlite") {
    const dataDir = await mkdtemp(join(tmpdir(), "switchyard-race-"));
    const store = await openStore({ dataDir });
    await store.migrate();
    return {
      stores: [store, store],
      async dispose() {
        await store.close();
        await rm(dataDir, { recursive: true, force: true });
      },
    };
  }
  const db = await createTestDatabase();
  const a = await openStore({ databaseUrl: db.url, dataDir: "/nonexistent", poolMax: 8 });
  await a.migrate();
  const b = await openStore({ databaseUrl: db.url, dataDir: "/nonexistent", poolMax: 8 });
  return {
    stores: [a, b],
    async dispose() {
      await Promise.all([a.close(), b.close()]);
      await db.drop();
    },
  };
}

describe.each(ENGINES)("concurrent policy writes on %s", (engine) => {
  let dispose: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await dispose?.();
    dispose = undefined;
  });

  it("never stores a raise judged against a bound lowered meanwhile; every refused raise gets exceeds_parent", async () => {
    const nodes = await twoNodes(engine);
    dispose = nodes.dispose;
    const secrets = new SecretBox(randomBytes(32));
    /** Every committed write, in the order the writes took effect. */
    const applied: AuditEvent[] = [];
    const service = (store: Store) => new AdminService({ store, secrets, onChange: async () => {}, audit: { record: async (_tx, e) => void applied.push(e) } });
    const [lowering, raising] = [service(nodes.stores[0]), service(nodes.stores[1])];

    // Pairs on chains of depth 1 (parent lowered, child raised) and 2 (grandparent lowered,
    // grandchild raised, the account between inheriting).
    const PAIRS = 40;
    const pairs = [];
    for (let i = 0; i < PAIRS; i++) {
      const top = await lowering.createAccount({ name: `top-${i}`, limits: { rpm: 100 } });
      const middle = i % 2 === 0 ? top : await lowering.createAccount({ name: `mid-${i}`, parent_id: top.id });
      const leaf = await lowering.createAccount({ name: `leaf-${i}`, parent_id: middle.id, limits: { rpm: 10 } });
      pairs.push({ top, leaf });
    }
    applied.length = 0;

    const outcomes = await Promise.all(
      pairs.map(async ({ top, leaf }, i) => {
        const lower = () => lowering.updateAccount(top.id, { limits: { rpm: 40 } });
        const raise = () => raising.updateAccount(leaf.id, { limits: { rpm: 60 } });
        // Either may be sent first; the database decides which takes effect first.
        const [lowered, raised] = i % 2 === 0 ? await Promise.allSettled([lower(), raise()]) : (await Promise.allSettled([raise(), lower()])).reverse();
        return { top, leaf, lowered: lowered!, raised: raised! };
      }),
    );

    let accepted = 0;
    for (const { top, leaf, lowered, raised } of outcomes) {
      expect(lowered.status).toBe("fulfilled");
      if (raised.status === "rejected") {
        expect(raised.reason).toBeInstanceOf(GatewayError);
        expect(raised.reason).toMatchObject({ code: "exceeds_parent", status: 400, param: "limits.rpm" });
        expect((raised.reason as GatewayError).message).toContain(`60 is above the limit of 40, set by account '${top.name}'`);
      } else accepted++;

      // Replay the writes in the order they took effect: each accepted raise fits the bound of its moment.
      let bound = 100;
      let leafValue = 10;
      for (const e of applied) {
        if (e.target.id === top.id) bound = (e.after as { limits: { rpm: number } }).limits.rpm;
        if (e.target.id === leaf.id) {
          leafValue = (e.after as { limits: { rpm: number } }).limits.rpm;
          expect(leafValue, `${leaf.name} raised to ${leafValue} while its ancestor's bound was ${bound}`).toBeLessThanOrEqual(bound);
        }
      }
      // The rows are what the replay says: the lowered bound, and the raise only where it went first.
      const [topRow, leafRow] = await Promise.all([nodes.stores[0].accounts.get(top.id), nodes.stores[1].accounts.get(leaf.id)]);
      expect(topRow?.settings.limits).toEqual({ rpm: 40 });
      expect(leafRow?.settings.limits).toEqual({ rpm: raised.status === "fulfilled" ? 60 : 10 });
      expect(leafValue).toBe(raised.status === "fulfilled" ? 60 : 10);
    }
    expect(applied).toHaveLength(PAIRS + accepted);
  });
});
