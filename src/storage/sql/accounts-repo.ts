import { randomUUID } from "node:crypto";
import { sql, type Kysely, type Selectable } from "kysely";
import {
  StoreError,
  type Account,
  type AccountAtDepth,
  type AccountPatch,
  type AccountRepo,
  type AccountStatus,
  type DescendantPage,
  type DescendantQuery,
  type NewAccount,
} from "../ports.js";
import { constraintViolation } from "./db-errors.js";
import { nowIso, oneOf, parseJsonObject, toJsonText } from "./row-codec.js";
import type { AccountsTable, Database } from "./schema.js";
import { lockAccountTree, writeTransaction, type SqlContext } from "./sql-context.js";

const ACCOUNT_STATUSES: readonly AccountStatus[] = ["active", "disabled"];

function toAccount(row: Selectable<AccountsTable>): Account {
  return {
    id: row.id,
    parentId: row.parent_id,
    name: row.name,
    status: oneOf(row.status, ACCOUNT_STATUSES, "accounts.status"),
    settings: parseJsonObject(row.settings, "accounts.settings"),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

function nameConflict(error: unknown, name: string | undefined): unknown {
  return constraintViolation(error) === "unique" ? new StoreError("conflict", `an account named ${JSON.stringify(name)} already exists`) : error;
}

/**
 * Accounts with a closure table (see schema.ts). Every tree write runs in one write
 * transaction under the account-tree lock, so the closure rows always match parent_id.
 */
export class SqlAccountRepo implements AccountRepo {
  constructor(private readonly ctx: SqlContext) {}

  async create(input: NewAccount): Promise<Account> {
    const now = nowIso();
    const parentId = input.parentId ?? null;
    const row: Selectable<AccountsTable> = {
      id: randomUUID(),
      parent_id: parentId,
      name: input.name,
      status: input.status ?? "active",
      settings: toJsonText(input.settings ?? {}),
      created_at: now,
      updated_at: now,
    };
    try {
      await writeTransaction(this.ctx, async (trx) => {
        await lockAccountTree(trx, this.ctx.dialect);
        if (parentId !== null) await requireAccount(trx, parentId, "parent account");
        await trx.insertInto("accounts").values(row).execute();
        await trx.insertInto("account_closure").values({ ancestor_id: row.id, descendant_id: row.id, depth: 0 }).execute();
        if (parentId !== null) {
          await trx
            .insertInto("account_closure")
            .columns(["ancestor_id", "descendant_id", "depth"])
            .expression((eb) =>
              eb
                .selectFrom("account_closure")
                .select((s) => [
                  "ancestor_id",
                  // PostgreSQL cannot infer a bare parameter's type in a select list.
                  s.cast<string>(s.val(row.id), "text").as("descendant_id"),
                  s("depth", "+", 1).as("depth"),
                ])
                .where("descendant_id", "=", parentId),
            )
            .execute();
        }
      });
    } catch (error) {
      throw nameConflict(error, input.name);
    }
    return toAccount(row);
  }

  async get(id: string): Promise<Account | undefined> {
    const row = await this.ctx.db.selectFrom("accounts").selectAll().where("id", "=", id).executeTakeFirst();
    return row && toAccount(row);
  }

  async getByName(name: string): Promise<Account | undefined> {
    const row = await this.ctx.db.selectFrom("accounts").selectAll().where("name", "=", name).executeTakeFirst();
    return row && toAccount(row);
  }

  async list(): Promise<Account[]> {
    const rows = await this.ctx.db.selectFrom("accounts").selectAll().orderBy("name").execute();
    return rows.map(toAccount);
  }

  async update(id: string, patch: AccountPatch): Promise<Account | undefined> {
    try {
      const row = await this.ctx.db
        .updateTable("accounts")
        .set({
          ...(patch.name === undefined ? {} : { name: patch.name }),
          ...(patch.status === undefined ? {} : { status: patch.status }),
          ...(patch.settings === undefined ? {} : { settings: toJsonText(patch.settings) }),
          updated_at: nowIso(),
        })
        .where("id", "=", id)
        .returningAll()
        .executeTakeFirst();
      return row && toAccount(row);
    } catch (error) {
      throw nameConflict(error, patch.name);
    }
  }

  async delete(id: string): Promise<boolean> {
    return writeTransaction(this.ctx, async (trx) => {
      await lockAccountTree(trx, this.ctx.dialect);
      const existing = await trx.selectFrom("accounts").select("id").where("id", "=", id).executeTakeFirst();
      if (!existing) return false;
      const child = await trx.selectFrom("accounts").select("id").where("parent_id", "=", id).limit(1).executeTakeFirst();
      if (child) throw new StoreError("has_children", `account ${id} has sub-accounts; move or delete them first`);
      // The foreign keys cascade too; deleting explicitly keeps the result independent
      // of whether the connection enforces them.
      await trx.deleteFrom("api_keys").where("account_id", "=", id).execute();
      await trx.deleteFrom("account_closure").where("descendant_id", "=", id).execute();
      await trx.deleteFrom("accounts").where("id", "=", id).execute();
      return true;
    });
  }

  async ancestors(id: string): Promise<Account[]> {
    const rows = await this.ctx.db
      .selectFrom("account_closure as c")
      .innerJoin("accounts as a", "a.id", "c.ancestor_id")
      .selectAll("a")
      .where("c.descendant_id", "=", id)
      .where("c.depth", ">", 0)
      .orderBy("c.depth", "asc")
      .execute();
    return rows.map(toAccount);
  }

  async descendants(id: string): Promise<Account[]> {
    const rows = await this.ctx.db
      .selectFrom("account_closure as c")
      .innerJoin("accounts as a", "a.id", "c.descendant_id")
      .selectAll("a")
      .where("c.ancestor_id", "=", id)
      .where("c.depth", ">", 0)
      .orderBy("c.depth", "asc")
      .orderBy("a.name", "asc")
      .execute();
    return rows.map(toAccount);
  }

  async lockChains(ids: readonly string[]): Promise<void> {
    if (this.ctx.txDepth === undefined) throw new Error("lockChains runs inside Store.transaction: outside one a lock would end with its statement");
    // SQLite: the transaction began with BEGIN IMMEDIATE and holds the one write lock.
    if (this.ctx.dialect !== "postgres" || ids.length === 0) return;
    const chains = (db: Kysely<Database>) =>
      db
        .selectFrom("account_closure")
        .select("ancestor_id")
        .where("descendant_id", "in", [...ids]);
    // The tree lock first, as every tree write takes it: a policy write that goes on to
    // create or move an account would otherwise hold rows while waiting for the tree lock,
    // and a cascade delete hold the tree lock while waiting for those rows. Under it no
    // chain can change; the row locks also hold off writes that skip the tree lock
    // (a status or settings update elsewhere).
    await lockAccountTree(this.ctx.db, this.ctx.dialect);
    // A move that commits between the lock and the chain's use would hand us ancestors we
    // do not hold (READ COMMITTED evaluates the subquery before waiting on the rows), so
    // read the chains again once the rows are ours, and lock anew if they changed.
    for (let round = 0; round < 5; round++) {
      const locked = await this.ctx.db.selectFrom("accounts").select("id").where("id", "in", chains(this.ctx.db)).orderBy("id").forUpdate().execute();
      const held = new Set(locked.map((r) => r.id));
      const now = await chains(this.ctx.db).execute();
      if (now.every((r) => held.has(r.ancestor_id))) return;
    }
    throw new StoreError("conflict", "the account tree kept changing while its chain was being locked; try again");
  }

  async children(id: string): Promise<Account[]> {
    const rows = await this.ctx.db.selectFrom("accounts").selectAll().where("parent_id", "=", id).orderBy("name").orderBy("id").execute();
    return rows.map(toAccount);
  }

  async descendantPage(id: string, query: DescendantQuery): Promise<DescendantPage> {
    const after = query.cursor === undefined ? undefined : decodeCursor(query.cursor);
    let q = this.ctx.db
      .selectFrom("account_closure as c")
      .innerJoin("accounts as a", "a.id", "c.descendant_id")
      .selectAll("a")
      .select("c.depth")
      .where("c.ancestor_id", "=", id)
      .where("c.depth", ">", 0);
    if (query.depth !== undefined) q = q.where("c.depth", "=", query.depth);
    if (query.maxDepth !== undefined) q = q.where("c.depth", "<=", query.maxDepth);
    if (query.status !== undefined) q = q.where("a.status", "=", query.status);
    if (query.nameContains !== undefined) {
      // lower() on both sides: SQLite's LIKE ignores ASCII case and PostgreSQL's does not.
      const pattern = `%${query.nameContains.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
      q = q.where(sql<boolean>`lower(a.name) like ${pattern} escape '\\'`);
    }
    if (after) {
      // Keyset pagination on (depth, name, id): a page never repeats or skips a row that
      // existed across both calls, however many rows were added or removed in between.
      const [depth, name, aid] = after;
      q = q.where((eb) =>
        eb.or([
          eb("c.depth", ">", depth),
          eb.and([eb("c.depth", "=", depth), eb("a.name", ">", name)]),
          eb.and([eb("c.depth", "=", depth), eb("a.name", "=", name), eb("a.id", ">", aid)]),
        ]),
      );
    }
    const rows = await q
      .orderBy("c.depth")
      .orderBy("a.name")
      .orderBy("a.id")
      .limit(query.limit + 1)
      .execute();
    const items: AccountAtDepth[] = rows.slice(0, query.limit).map((r) => ({ ...toAccount(r), depth: Number(r.depth) }));
    const last = items[items.length - 1];
    return { items, nextCursor: rows.length > query.limit && last ? encodeCursor([last.depth, last.name, last.id]) : null };
  }

  async depthBelow(ancestorId: string, descendantId: string): Promise<number | undefined> {
    const row = await this.ctx.db
      .selectFrom("account_closure")
      .select("depth")
      .where("ancestor_id", "=", ancestorId)
      .where("descendant_id", "=", descendantId)
      .executeTakeFirst();
    return row === undefined ? undefined : Number(row.depth);
  }

  async deleteSubtree(id: string, beforeDelete?: (accounts: readonly Account[]) => Promise<void>): Promise<Account[]> {
    return writeTransaction(this.ctx, async (trx) => {
      await lockAccountTree(trx, this.ctx.dialect);
      const rows = await trx
        .selectFrom("account_closure as c")
        .innerJoin("accounts as a", "a.id", "c.descendant_id")
        .selectAll("a")
        .where("c.ancestor_id", "=", id)
        .orderBy("c.depth", "desc")
        .orderBy("a.id")
        .execute();
      const accounts = rows.map(toAccount);
      if (accounts.length === 0) return [];
      await beforeDelete?.(accounts);
      const ids = accounts.map((a) => a.id);
      // Explicit deletes, like delete(): the result does not depend on the connection enforcing foreign keys.
      await trx.deleteFrom("api_keys").where("account_id", "in", ids).execute();
      await trx.deleteFrom("account_closure").where("descendant_id", "in", ids).execute();
      // Deepest first, so no statement removes a parent before its children on engines that check each row.
      for (const a of accounts) await trx.deleteFrom("accounts").where("id", "=", a.id).execute();
      return accounts;
    });
  }

  async move(id: string, newParentId: string | null): Promise<void> {
    await writeTransaction(this.ctx, async (trx) => {
      await lockAccountTree(trx, this.ctx.dialect);
      const node = await trx.selectFrom("accounts").select(["id", "parent_id"]).where("id", "=", id).executeTakeFirst();
      if (!node) throw new StoreError("not_found", `account ${id} does not exist`);
      if (newParentId !== null) {
        await requireAccount(trx, newParentId, "new parent account");
        // The depth-0 self row makes this catch a move under itself as well.
        const inSubtree = await trx
          .selectFrom("account_closure")
          .select("depth")
          .where("ancestor_id", "=", id)
          .where("descendant_id", "=", newParentId)
          .executeTakeFirst();
        if (inSubtree) throw new StoreError("cycle", `account ${newParentId} is inside the subtree of ${id}`);
      }
      if (node.parent_id === newParentId) return;

      const subtree = trx.selectFrom("account_closure as s").select("s.descendant_id").where("s.ancestor_id", "=", id);
      // Detach: forget every link from outside the subtree into it.
      await trx.deleteFrom("account_closure").where("descendant_id", "in", subtree).where("ancestor_id", "not in", subtree).execute();
      // Attach: every ancestor of the new parent (itself included) × every subtree member.
      if (newParentId !== null) {
        await trx
          .insertInto("account_closure")
          .columns(["ancestor_id", "descendant_id", "depth"])
          .expression((eb) =>
            eb
              .selectFrom(["account_closure as p", "account_closure as c"])
              .select((s) => ["p.ancestor_id", "c.descendant_id", s(s("p.depth", "+", s.ref("c.depth")), "+", 1).as("depth")])
              .where("p.descendant_id", "=", newParentId)
              .where("c.ancestor_id", "=", id),
          )
          .execute();
      }
      await trx.updateTable("accounts").set({ parent_id: newParentId, updated_at: nowIso() }).where("id", "=", id).execute();
    });
  }
}

type Cursor = [depth: number, name: string, id: string];

function encodeCursor(c: Cursor): string {
  return Buffer.from(JSON.stringify(c)).toString("base64url");
}

function decodeCursor(text: string): Cursor {
  try {
    const c: unknown = JSON.parse(Buffer.from(text, "base64url").toString("utf8"));
    if (Array.isArray(c) && c.length === 3 && Number.isInteger(c[0]) && typeof c[1] === "string" && typeof c[2] === "string") return c as Cursor;
  } catch {
    // Falls through to the refusal below.
  }
  throw new StoreError("invalid", "the cursor is not one this store handed out");
}

async function requireAccount(trx: Kysely<Database>, id: string, what: string): Promise<void> {
  const row = await trx.selectFrom("accounts").select("id").where("id", "=", id).executeTakeFirst();
  if (!row) throw new StoreError("not_found", `${what} ${id} does not exist`);
}
