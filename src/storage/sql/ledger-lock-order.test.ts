/**
 * One lock order for every writer of balances, on PostgreSQL (SQLite's single write lock
 * serialises everything already). Grants and clawbacks between a parent and a child run
 * alongside usage debit batches that name both; with the child's id below the parent's,
 * a movement locking parent before child against a batch locking in id order would
 * deadlock, and PostgreSQL would abort one of them. Every call must succeed, and the
 * balances must equal their ledger rows and grants afterwards.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openStore } from "../open-store.js";
import type { Account, Store } from "../ports.js";
import { createTestDatabase, type TestDatabase } from "../../testing/postgres-db.js";

let db: TestDatabase;
let store: Store;

beforeAll(async () => {
  db = await createTestDatabase();
  // Enough connections that the workers' transactions really overlap.
  store = await openStore({ databaseUrl: db.url, dataDir: "/nonexistent", poolMax: 12 });
  await store.migrate();
}, 60_000);
afterAll(async () => {
  await store?.close();
  await db?.drop();
});

/**
 * A parent and a child whose id sorts below the parent's: the order in which parent-first
 * locking and id-order locking disagree. Ids are random UUIDs, so each fresh pair has an even
 * chance; retrying children under one parent would not (a parent whose id starts with 0 almost
 * never gets one), so every try makes a new pair.
 */
async function parentAndChildBelow(): Promise<{ parent: Account; child: Account }> {
  for (let i = 0; i < 64; i++) {
    const parent = await store.accounts.create({ name: `org-${i}` });
    const child = await store.accounts.create({ parentId: parent.id, name: `child-${i}` });
    if (child.id < parent.id) return { parent, child };
  }
  throw new Error("no child id sorted below its parent's in 64 pairs");
}

async function ledgerSum(accountId: string): Promise<number> {
  return (await store.ledger.entries(accountId, { limit: 1_000_000 })).reduce((n, e) => n + e.amountMicros, 0);
}

async function debits(accountId: string): Promise<number> {
  return (await store.ledger.entries(accountId, { limit: 1_000_000 })).filter((e) => e.type === "debit").reduce((n, e) => n - e.amountMicros, 0);
}

describe("ledger lock order (PostgreSQL)", () => {
  it("concurrent grants and clawbacks between a parent and child never deadlock with debit batches naming both", async () => {
    const { parent, child } = await parentAndChildBelow();
    const TOPUP = 1_000_000_000;
    await store.ledger.move({ type: "topup", accountId: parent.id, amountMicros: TOPUP, kind: "payg" });
    await store.ledger.move({ type: "grant", accountId: child.id, counterpartyId: parent.id, amountMicros: 1_000_000, kind: "payg" });

    const WORKERS = 12;
    const ROUNDS = 25;
    let debited = 0;
    let insufficient = 0;
    await Promise.all(
      Array.from({ length: WORKERS }, async (_, w) => {
        for (let r = 0; r < ROUNDS; r++) {
          switch ((w + r) % 4) {
            case 0:
              expect(
                (await store.ledger.move({ type: "grant", accountId: child.id, counterpartyId: parent.id, amountMicros: 1_000, kind: "payg" })).status,
              ).toBe("done");
              break;
            case 1: {
              const back = await store.ledger.move({ type: "clawback", accountId: child.id, counterpartyId: parent.id, amountMicros: 700 });
              if (back.status === "insufficient") insufficient++;
              else expect(back.status).toBe("done");
              break;
            }
            case 2:
              // A usage batch's debits, the child named first: the repo orders the locks itself.
              await store.ledger.debit([
                { accountId: child.id, amountMicros: 13, requests: 1 },
                { accountId: parent.id, amountMicros: 17, requests: 1 },
              ]);
              debited += 30;
              break;
            case 3:
              // The same batch inside a store transaction, as the usage recorder writes it.
              await store.transaction((tx) =>
                tx.ledger.debit([
                  { accountId: parent.id, amountMicros: 5, requests: 1 },
                  { accountId: child.id, amountMicros: 3, requests: 1 },
                ]),
              );
              debited += 8;
              break;
          }
        }
      }),
    );

    expect(insufficient).toBe(0);
    const [parentBalance, childBalance] = [await store.ledger.balance(parent.id), await store.ledger.balance(child.id)];
    expect(parentBalance).toBe(await ledgerSum(parent.id));
    expect(childBalance).toBe(await ledgerSum(child.id));
    for (const [id, balance] of [
      [parent.id, parentBalance],
      [child.id, childBalance],
    ] as const) {
      expect((await store.ledger.grants(id)).reduce((n, g) => n + g.remainingMicros, 0)).toBe(balance);
    }
    // Money is only created by the top-up and only leaves through debits.
    expect(parentBalance + childBalance).toBe(TOPUP - debited);
    expect((await debits(parent.id)) + (await debits(child.id))).toBe(debited);
  }, 120_000);
});
