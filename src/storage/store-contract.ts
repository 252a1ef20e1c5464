/**
 * The behaviour every Store implementation must show, run by each implementation's
 * test file (sqlite-store.test.ts, postgres-store.test.ts).
 *
 * `makeStore` must return a fresh, empty store whose migrations have not run yet; the
 * suite migrates it, uses it for one test and closes it.
 */
import fc from "fast-check";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  AUDIT_GENESIS_HASH,
  StoreError,
  type Account,
  type AuditFilter,
  type CreditMovement,
  type CreditMovementResult,
  type NewAuditRecord,
  type Repos,
  type Store,
  type StoreErrorCode,
  type UsageRecord,
  type UsageTotals,
} from "./ports.js";

export function runStoreContract(name: string, makeStore: () => Promise<Store>): void {
  describe(`${name} store contract`, () => {
    let store: Store;
    let applied: string[];

    beforeEach(async () => {
      store = await makeStore();
      applied = await store.migrate();
    });

    afterEach(async () => {
      // Unset when makeStore failed; that failure is the one worth reading.
      await store?.close();
    });

    describe("lifecycle", () => {
      it("applies every migration once and then nothing", async () => {
        expect(applied.length).toBeGreaterThan(0);
        expect(new Set(applied).size).toBe(applied.length);
        expect(await store.migrate()).toEqual([]);
        expect(await store.migrate()).toEqual([]);
      });

      it("names its dialect and answers ping", async () => {
        expect(["sqlite", "postgres"]).toContain(store.dialect);
        await expect(store.ping()).resolves.toBeUndefined();
      });

      it("can be closed twice", async () => {
        await store.close();
        await expect(store.close()).resolves.toBeUndefined();
      });
    });

    describe("accounts", () => {
      it("creates a root account with defaults", async () => {
        const a = await store.accounts.create({ name: "acme" });
        expect(a).toEqual({
          id: expect.stringMatching(UUID),
          parentId: null,
          name: "acme",
          status: "active",
          settings: {},
          createdAt: expect.any(String),
          updatedAt: a.createdAt,
        });
        expectIsoTime(a.createdAt);
        expect(await store.accounts.get(a.id)).toEqual(a);
        expect(await store.accounts.getByName("acme")).toEqual(a);
      });

      it("returns undefined for unknown ids and names", async () => {
        expect(await store.accounts.get(MISSING_ID)).toBeUndefined();
        expect(await store.accounts.getByName("nobody")).toBeUndefined();
        expect(await store.accounts.update(MISSING_ID, { name: "x" })).toBeUndefined();
        expect(await store.accounts.ancestors(MISSING_ID)).toEqual([]);
        expect(await store.accounts.descendants(MISSING_ID)).toEqual([]);
      });

      it("creates children with explicit status and settings", async () => {
        const root = await store.accounts.create({ name: "root" });
        const child = await store.accounts.create({
          parentId: root.id,
          name: "child",
          status: "disabled",
          settings: { rpm: 10 },
        });
        expect(child.parentId).toBe(root.id);
        expect(child.status).toBe("disabled");
        expect(await store.accounts.get(child.id)).toEqual(child);
      });

      it("lists every account ordered by name", async () => {
        const root = await store.accounts.create({ name: "m" });
        await store.accounts.create({ name: "z", parentId: root.id });
        await store.accounts.create({ name: "a" });
        expect((await store.accounts.list()).map((a) => a.name)).toEqual(["a", "m", "z"]);
      });

      it("rejects a duplicate name on create and on rename", async () => {
        const root = await store.accounts.create({ name: "taken" });
        await expectStoreError(store.accounts.create({ name: "taken" }), "conflict");
        await expectStoreError(store.accounts.create({ name: "taken", parentId: root.id }), "conflict");
        const other = await store.accounts.create({ name: "other" });
        await expectStoreError(store.accounts.update(other.id, { name: "taken" }), "conflict");
        expect((await store.accounts.get(other.id))?.name).toBe("other");
        expect(await store.accounts.list()).toHaveLength(2);
      });

      it("rejects an unknown parent and leaves nothing behind", async () => {
        await expectStoreError(store.accounts.create({ name: "orphan", parentId: MISSING_ID }), "not_found");
        expect(await store.accounts.getByName("orphan")).toBeUndefined();
      });

      it("updates name, status and settings and bumps updatedAt", async () => {
        const a = await store.accounts.create({ name: "before", settings: { keep: false } });
        await tick();
        const b = await store.accounts.update(a.id, { name: "after", status: "disabled", settings: { keep: true } });
        expect(b).toMatchObject({ id: a.id, name: "after", status: "disabled", settings: { keep: true } });
        expect(b?.createdAt).toBe(a.createdAt);
        expect(b!.updatedAt > a.updatedAt).toBe(true);
        expect(await store.accounts.get(a.id)).toEqual(b);
        expect(await store.accounts.getByName("before")).toBeUndefined();
      });

      it("leaves unpatched fields alone", async () => {
        const a = await store.accounts.create({ name: "same", settings: { x: 1 } });
        expect(await store.accounts.update(a.id, {})).toMatchObject({
          name: "same",
          status: "active",
          settings: { x: 1 },
        });
        expect(await store.accounts.update(a.id, { name: "same" })).toMatchObject({ name: "same" });
        expect(await store.accounts.update(a.id, { status: "disabled" })).toMatchObject({ settings: { x: 1 } });
      });

      it("round-trips settings documents exactly", async () => {
        const a = await store.accounts.create({ name: "json", settings: JSON_DOC });
        expect((await store.accounts.get(a.id))?.settings).toEqual(JSON_DOC);
        const b = await store.accounts.update(a.id, { settings: { replaced: [JSON_DOC] } });
        expect(b?.settings).toEqual({ replaced: [JSON_DOC] });
        expect((await store.accounts.get(a.id))?.settings).toEqual({ replaced: [JSON_DOC] });
      });

      it("deletes a leaf once", async () => {
        const root = await store.accounts.create({ name: "root" });
        const leaf = await store.accounts.create({ name: "leaf", parentId: root.id });
        expect(await store.accounts.delete(leaf.id)).toBe(true);
        expect(await store.accounts.delete(leaf.id)).toBe(false);
        expect(await store.accounts.get(leaf.id)).toBeUndefined();
        expect(await store.accounts.descendants(root.id)).toEqual([]);
        expect(await store.accounts.ancestors(leaf.id)).toEqual([]);
        // The name is free again.
        await store.accounts.create({ name: "leaf", parentId: root.id });
      });

      it("refuses to delete an account with children", async () => {
        const root = await store.accounts.create({ name: "root" });
        const child = await store.accounts.create({ name: "child", parentId: root.id });
        await expectStoreError(store.accounts.delete(root.id), "has_children");
        expect(await store.accounts.get(root.id)).toBeDefined();
        expect(ids(await store.accounts.descendants(root.id))).toEqual([child.id]);
        expect(await store.accounts.delete(child.id)).toBe(true);
        expect(await store.accounts.delete(root.id)).toBe(true);
      });

      it("deletes the account's API keys with it", async () => {
        const a = await store.accounts.create({ name: "keyed" });
        const key = await store.apiKeys.create({ accountId: a.id, name: "k", prefix: "sy-gone", hash: "h" });
        expect(await store.accounts.delete(a.id)).toBe(true);
        expect(await store.apiKeys.get(key.id)).toBeUndefined();
        expect(await store.apiKeys.getByPrefix("sy-gone")).toBeUndefined();
      });
    });

    describe("account tree", () => {
      it("answers ancestors nearest first and descendants at every depth", async () => {
        const t = await buildTree(store, { a: null, b: "a", c: "b", d: "c", e: "b", f: "a", x: null });
        expect(names(await store.accounts.ancestors(t.d.id))).toEqual(["c", "b", "a"]);
        expect(names(await store.accounts.ancestors(t.a.id))).toEqual([]);
        expect(names(await store.accounts.descendants(t.a.id)).sort()).toEqual(["b", "c", "d", "e", "f"]);
        expect(names(await store.accounts.descendants(t.b.id)).sort()).toEqual(["c", "d", "e"]);
        expect(await store.accounts.descendants(t.x.id)).toEqual([]);
        // Nearest levels first.
        const depthOf: Record<string, number> = { b: 1, f: 1, c: 2, e: 2, d: 3 };
        const depths = names(await store.accounts.descendants(t.a.id)).map((n) => depthOf[n]!);
        expect(depths).toEqual([...depths].sort((p, q) => p - q));
      });

      it("lists children, answers depth below, and pages descendants in a stable, filtered order", async () => {
        const t = await buildTree(store, { root: null, "b-Two": "root", "a-one": "root", c: "a-one", "d-two": "c", e: "a-one", x: null });
        await store.accounts.update(t.e.id, { status: "disabled" });
        expect(names(await store.accounts.children(t.root.id))).toEqual(["a-one", "b-Two"]);
        expect(await store.accounts.children(t["d-two"].id)).toEqual([]);
        expect(await store.accounts.depthBelow(t.root.id, t["d-two"].id)).toBe(3);
        expect(await store.accounts.depthBelow(t.root.id, t.root.id)).toBe(0);
        expect(await store.accounts.depthBelow(t.c.id, t.root.id)).toBeUndefined();
        expect(await store.accounts.depthBelow(t.x.id, t.c.id)).toBeUndefined();

        const all = async (q: Omit<Parameters<typeof store.accounts.descendantPage>[1], "limit" | "cursor">, limit: number): Promise<string[][]> => {
          const pages: string[][] = [];
          let cursor: string | undefined;
          do {
            const page = await store.accounts.descendantPage(t.root.id, { ...q, limit, ...(cursor ? { cursor } : {}) });
            pages.push(page.items.map((a) => `${a.depth}:${a.name}`));
            cursor = page.nextCursor ?? undefined;
          } while (cursor);
          return pages;
        };
        expect(await all({}, 2)).toEqual([["1:a-one", "1:b-Two"], ["2:c", "2:e"], ["3:d-two"]]);
        expect(await all({}, 5)).toEqual([["1:a-one", "1:b-Two", "2:c", "2:e", "3:d-two"]]);
        // Name filter: a substring, ASCII case ignored, LIKE's wildcards taken literally.
        expect(await all({ nameContains: "TWO" }, 10)).toEqual([["1:b-Two", "3:d-two"]]);
        expect(await all({ nameContains: "_" }, 10)).toEqual([[]]);
        expect(await all({ nameContains: "%" }, 10)).toEqual([[]]);
        expect(await all({ status: "disabled" }, 10)).toEqual([["2:e"]]);
        expect(await all({ depth: 2 }, 1)).toEqual([["2:c"], ["2:e"]]);
        expect(await all({ maxDepth: 1 }, 10)).toEqual([["1:a-one", "1:b-Two"]]);
        await expectStoreError(store.accounts.descendantPage(t.root.id, { limit: 1, cursor: "not-a-cursor" }), "invalid");
      });

      it("deletes a whole subtree with its keys in one transaction, deepest first", async () => {
        const t = await buildTree(store, { a: null, b: "a", c: "b", d: "a", x: null });
        await store.apiKeys.create({ accountId: t.c.id, name: "k", prefix: "sy-c", hash: "h" });
        await store.apiKeys.create({ accountId: t.x.id, name: "k", prefix: "sy-x", hash: "h" });
        // A refusal from the hook undoes everything.
        await expect(
          store.accounts.deleteSubtree(t.b.id, async () => {
            throw new Error("balance left");
          }),
        ).rejects.toThrow("balance left");
        expect(names(await store.accounts.descendants(t.a.id))).toEqual(["b", "d", "c"]);
        let seen: string[] = [];
        const deleted = await store.accounts.deleteSubtree(t.b.id, async (accounts) => void (seen = names(accounts)));
        expect(names(deleted)).toEqual(["c", "b"]);
        expect(seen).toEqual(["c", "b"]);
        expect(names(await store.accounts.descendants(t.a.id))).toEqual(["d"]);
        expect(await store.apiKeys.getByPrefix("sy-c")).toBeUndefined();
        expect(await store.apiKeys.getByPrefix("sy-x")).toBeDefined();
        expect(await store.accounts.deleteSubtree(t.b.id)).toEqual([]);
        expect(names(await store.accounts.deleteSubtree(t.a.id))).toEqual(["d", "a"]);
        expect(names(await store.accounts.list())).toEqual(["x"]);
      });

      it("leaves no orphan when sub-accounts are created while their subtree is deleted", async () => {
        const t = await buildTree(store, { a: null, b: "a", c: "b" });
        const creates = Array.from({ length: 6 }, (_, i) => store.accounts.create({ name: `late-${i}`, parentId: i % 2 ? t.b.id : t.c.id }));
        const [deleted, ...made] = await Promise.allSettled([store.accounts.deleteSubtree(t.a.id), ...creates]);
        expect(deleted.status).toBe("fulfilled");
        // Each create either ran before the delete (and went with it) or found its parent gone.
        for (const r of made) if (r.status === "rejected") expect(r.reason).toMatchObject({ code: "not_found" });
        expect(await store.accounts.list()).toEqual([]);
      });

      it("moves a subtree and re-links every descendant", async () => {
        const t = await buildTree(store, { a: null, b: "a", c: "b", d: "c", s: "a", x: null, y: "x" });
        await store.accounts.move(t.b.id, t.y.id);
        expect((await store.accounts.get(t.b.id))?.parentId).toBe(t.y.id);
        expect(names(await store.accounts.ancestors(t.b.id))).toEqual(["y", "x"]);
        expect(names(await store.accounts.ancestors(t.c.id))).toEqual(["b", "y", "x"]);
        expect(names(await store.accounts.ancestors(t.d.id))).toEqual(["c", "b", "y", "x"]);
        expect(names(await store.accounts.descendants(t.a.id))).toEqual(["s"]);
        expect(names(await store.accounts.descendants(t.x.id))).toEqual(["y", "b", "c", "d"]);
        expect(names(await store.accounts.descendants(t.b.id))).toEqual(["c", "d"]);
        // Untouched branches stay put.
        expect(names(await store.accounts.ancestors(t.s.id))).toEqual(["a"]);
      });

      it("makes a subtree a root when moved to null", async () => {
        const t = await buildTree(store, { a: null, b: "a", c: "b" });
        await store.accounts.move(t.b.id, null);
        expect((await store.accounts.get(t.b.id))?.parentId).toBeNull();
        expect(await store.accounts.ancestors(t.b.id)).toEqual([]);
        expect(names(await store.accounts.ancestors(t.c.id))).toEqual(["b"]);
        expect(await store.accounts.descendants(t.a.id)).toEqual([]);
        // And back again.
        await store.accounts.move(t.b.id, t.a.id);
        expect(names(await store.accounts.ancestors(t.c.id))).toEqual(["b", "a"]);
        expect(names(await store.accounts.descendants(t.a.id))).toEqual(["b", "c"]);
      });

      it("treats a move to the current parent as a no-op", async () => {
        const t = await buildTree(store, { a: null, b: "a", c: "b" });
        await store.accounts.move(t.b.id, t.a.id);
        await store.accounts.move(t.a.id, null);
        expect(names(await store.accounts.ancestors(t.c.id))).toEqual(["b", "a"]);
        expect(names(await store.accounts.descendants(t.a.id))).toEqual(["b", "c"]);
      });

      it("rejects cycles and changes nothing", async () => {
        const t = await buildTree(store, { a: null, b: "a", c: "b", d: "c" });
        await expectStoreError(store.accounts.move(t.b.id, t.b.id), "cycle");
        await expectStoreError(store.accounts.move(t.b.id, t.c.id), "cycle");
        await expectStoreError(store.accounts.move(t.a.id, t.d.id), "cycle");
        expect(names(await store.accounts.ancestors(t.d.id))).toEqual(["c", "b", "a"]);
        expect(names(await store.accounts.descendants(t.a.id))).toEqual(["b", "c", "d"]);
        expect((await store.accounts.get(t.b.id))?.parentId).toBe(t.a.id);
      });

      it("rejects moves of or under unknown accounts", async () => {
        const t = await buildTree(store, { a: null, b: "a" });
        await expectStoreError(store.accounts.move(MISSING_ID, t.a.id), "not_found");
        await expectStoreError(store.accounts.move(MISSING_ID, null), "not_found");
        await expectStoreError(store.accounts.move(t.b.id, MISSING_ID), "not_found");
        expect(names(await store.accounts.ancestors(t.b.id))).toEqual(["a"]);
      });

      it("handles a chain 50 levels deep", async () => {
        const chain: Account[] = [await store.accounts.create({ name: "n00" })];
        for (let i = 1; i <= 50; i++) {
          chain.push(await store.accounts.create({ name: `n${String(i).padStart(2, "0")}`, parentId: chain[i - 1]!.id }));
        }
        const at = (i: number): Account => chain[i]!;
        const leaf = at(50);
        expect(ids(await store.accounts.ancestors(leaf.id))).toEqual(ids(chain.slice(0, 50)).reverse());
        expect(ids(await store.accounts.descendants(at(0).id))).toEqual(ids(chain.slice(1)));

        await store.accounts.move(at(25).id, null);
        expect(ids(await store.accounts.ancestors(leaf.id))).toEqual(ids(chain.slice(25, 50)).reverse());
        expect(ids(await store.accounts.descendants(at(0).id))).toEqual(ids(chain.slice(1, 25)));
        expect(ids(await store.accounts.descendants(at(25).id))).toEqual(ids(chain.slice(26)));

        await store.accounts.move(at(25).id, at(10).id);
        expect(ids(await store.accounts.ancestors(leaf.id))).toEqual([...ids(chain.slice(25, 50)).reverse(), ...ids(chain.slice(0, 11)).reverse()]);
        expect(await store.accounts.descendants(at(0).id)).toHaveLength(50);
        expect(await store.accounts.descendants(at(10).id)).toHaveLength(14 + 26);
        expect(ids(await store.accounts.descendants(at(11).id))).toEqual(ids(chain.slice(12, 25)));
        await expectStoreError(store.accounts.move(at(10).id, leaf.id), "cycle");
        expect(await store.accounts.delete(leaf.id)).toBe(true);
        expect(ids(await store.accounts.descendants(at(25).id))).toEqual(ids(chain.slice(26, 50)));
      });

      it("keeps ancestors and descendants equal to the parent links under random edits", async () => {
        let run = 0;
        await fc.assert(
          fc.asyncProperty(fc.array(treeOp, { minLength: 1, maxLength: 25 }), async (ops) => {
            run++;
            const model = new Map<string, string | null>();
            const order: string[] = [];
            for (const [i, op] of ops.entries()) {
              const pick = (n: number): string | undefined => (order.length === 0 ? undefined : order[n % order.length]);
              if (op.kind === "create") {
                const parentId = op.parent === null ? null : (pick(op.parent) ?? null);
                const a = await store.accounts.create({ name: `r${run}-${i}`, parentId });
                model.set(a.id, parentId);
                order.push(a.id);
              } else if (op.kind === "move") {
                const id = pick(op.node);
                if (id === undefined) continue;
                const parentId = op.parent === null ? null : (pick(op.parent) ?? null);
                if (parentId !== null && (parentId === id || modelAncestors(model, parentId).includes(id))) {
                  await expectStoreError(store.accounts.move(id, parentId), "cycle");
                } else {
                  await store.accounts.move(id, parentId);
                  model.set(id, parentId);
                }
              } else {
                const id = pick(op.node);
                if (id === undefined) continue;
                if ([...model.values()].includes(id)) {
                  await expectStoreError(store.accounts.delete(id), "has_children");
                } else {
                  expect(await store.accounts.delete(id)).toBe(true);
                  model.delete(id);
                  order.splice(order.indexOf(id), 1);
                }
              }
            }
            for (const id of order) {
              expect((await store.accounts.get(id))?.parentId).toBe(model.get(id));
              expect(ids(await store.accounts.ancestors(id))).toEqual(modelAncestors(model, id));
              const expected = order.filter((d) => modelAncestors(model, d).includes(id));
              const actual = ids(await store.accounts.descendants(id));
              expect([...actual].sort()).toEqual([...expected].sort());
              const depths = actual.map((d) => modelAncestors(model, d).indexOf(id));
              expect(depths).toEqual([...depths].sort((p, q) => p - q));
            }
          }),
          { numRuns: 15 },
        );
      });
    });

    describe("API keys", () => {
      it("creates, finds and lists keys", async () => {
        const a = await store.accounts.create({ name: "a" });
        const b = await store.accounts.create({ name: "b" });
        const k1 = await store.apiKeys.create({
          accountId: a.id,
          name: "ci",
          prefix: "sy-aaaa1111",
          hash: "f".repeat(64),
        });
        expect(k1).toEqual({
          id: expect.stringMatching(UUID),
          accountId: a.id,
          name: "ci",
          prefix: "sy-aaaa1111",
          hash: "f".repeat(64),
          status: "active",
          scopes: ["inference"],
          expiresAt: null,
          models: null,
          limits: null,
          replacedBy: null,
          createdAt: expect.any(String),
          lastUsedAt: null,
        });
        expectIsoTime(k1.createdAt);
        const k2 = await store.apiKeys.create({
          accountId: a.id,
          name: "laptop",
          prefix: "sy-aaaa2222",
          hash: "e".repeat(64),
        });
        const k3 = await store.apiKeys.create({
          accountId: b.id,
          name: "other",
          prefix: "sy-bbbb1111",
          hash: "d".repeat(64),
        });
        expect(await store.apiKeys.get(k1.id)).toEqual(k1);
        expect(await store.apiKeys.getByPrefix("sy-aaaa2222")).toEqual(k2);
        expect(await store.apiKeys.get(MISSING_ID)).toBeUndefined();
        expect(await store.apiKeys.getByPrefix("sy-none")).toBeUndefined();
        expect(ids(await store.apiKeys.listByAccount(a.id)).sort()).toEqual([k1.id, k2.id].sort());
        expect(ids(await store.apiKeys.listByAccount(b.id))).toEqual([k3.id]);
        expect(await store.apiKeys.listByAccount(MISSING_ID)).toEqual([]);
        expect(ids(await store.apiKeys.listActive()).sort()).toEqual([k1.id, k2.id, k3.id].sort());
      });

      it("revokes keys and keeps them out of the active list", async () => {
        const a = await store.accounts.create({ name: "a" });
        const k1 = await store.apiKeys.create({ accountId: a.id, name: "one", prefix: "sy-1", hash: "h1" });
        const k2 = await store.apiKeys.create({ accountId: a.id, name: "two", prefix: "sy-2", hash: "h2" });
        expect(await store.apiKeys.revoke(k1.id)).toBe(true);
        expect(await store.apiKeys.revoke(k1.id)).toBe(true);
        expect(await store.apiKeys.revoke(MISSING_ID)).toBe(false);
        expect((await store.apiKeys.get(k1.id))?.status).toBe("revoked");
        expect((await store.apiKeys.getByPrefix("sy-1"))?.status).toBe("revoked");
        expect(ids(await store.apiKeys.listActive())).toEqual([k2.id]);
        expect(await store.apiKeys.listByAccount(a.id)).toHaveLength(2);
      });

      it("records last use and never moves it backwards", async () => {
        const a = await store.accounts.create({ name: "a" });
        const k = await store.apiKeys.create({ accountId: a.id, name: "k", prefix: "sy-t", hash: "h" });
        await store.apiKeys.touch(k.id, "2030-01-02T03:04:05.006Z");
        expect((await store.apiKeys.get(k.id))?.lastUsedAt).toBe("2030-01-02T03:04:05.006Z");
        await store.apiKeys.touch(k.id, "2030-01-01T00:00:00.000Z");
        expect((await store.apiKeys.get(k.id))?.lastUsedAt).toBe("2030-01-02T03:04:05.006Z");
        await store.apiKeys.touch(k.id, "2030-01-03T00:00:00.000Z");
        expect((await store.apiKeys.get(k.id))?.lastUsedAt).toBe("2030-01-03T00:00:00.000Z");
        await expect(store.apiKeys.touch(MISSING_ID, "2030-01-03T00:00:00.000Z")).resolves.toBeUndefined();
      });

      it("stores scopes, expiry, model narrowing and limits", async () => {
        const a = await store.accounts.create({ name: "a" });
        const k = await store.apiKeys.create({
          accountId: a.id,
          name: "ops",
          prefix: "sy-scoped",
          hash: "h",
          scopes: ["inference", "manage"],
          expiresAt: "2031-01-01T00:00:00.000Z",
          models: ["gpt-4o*"],
          limits: { rpm: 60, concurrency: 2 },
        });
        expect(k).toMatchObject({
          scopes: ["inference", "manage"],
          expiresAt: "2031-01-01T00:00:00.000Z",
          models: ["gpt-4o*"],
          limits: { rpm: 60, concurrency: 2 },
          replacedBy: null,
        });
        expect(await store.apiKeys.get(k.id)).toEqual(k);
        expect(ids(await store.apiKeys.listActive())).toEqual([k.id]);
      });

      it("rotates a key once: the replacement is stored and the old key expires at the grace end", async () => {
        const a = await store.accounts.create({ name: "a" });
        const k = await store.apiKeys.create({ accountId: a.id, name: "ci", prefix: "sy-old", hash: "h-old", scopes: ["manage"], models: ["gpt-*"] });
        const grace = "2030-05-05T00:00:00.000Z";
        const { old, replacement } = await store.apiKeys.rotate(
          k.id,
          { accountId: a.id, name: "ci", prefix: "sy-new", hash: "h-new", scopes: ["manage"], models: ["gpt-*"] },
          grace,
        );
        expect(old).toMatchObject({ id: k.id, status: "active", expiresAt: grace, replacedBy: replacement.id });
        expect(replacement).toMatchObject({ prefix: "sy-new", scopes: ["manage"], models: ["gpt-*"], expiresAt: null, replacedBy: null });
        expect(await store.apiKeys.get(k.id)).toEqual(old);
        expect(await store.apiKeys.getByPrefix("sy-new")).toEqual(replacement);
        // Both secrets stay listed until the grace ends; the old one carries its end.
        expect(ids(await store.apiKeys.listActive()).sort()).toEqual([k.id, replacement.id].sort());
        // A replaced key does not rotate again, and nothing is written when it is refused.
        await expectStoreError(store.apiKeys.rotate(k.id, { accountId: a.id, name: "ci", prefix: "sy-new2", hash: "h" }, grace), "conflict");
        expect(await store.apiKeys.getByPrefix("sy-new2")).toBeUndefined();
        await store.apiKeys.revoke(replacement.id);
        await expectStoreError(store.apiKeys.rotate(replacement.id, { accountId: a.id, name: "ci", prefix: "sy-new3", hash: "h" }, grace), "conflict");
        await expectStoreError(store.apiKeys.rotate(MISSING_ID, { accountId: a.id, name: "ci", prefix: "sy-new4", hash: "h" }, grace), "conflict");
      });

      it("lets exactly one of many concurrent rotations of a key win", async () => {
        const a = await store.accounts.create({ name: "a" });
        const k = await store.apiKeys.create({ accountId: a.id, name: "ci", prefix: "sy-race", hash: "h" });
        const results = await Promise.allSettled(
          Array.from({ length: 8 }, (_, i) =>
            store.apiKeys.rotate(k.id, { accountId: a.id, name: "ci", prefix: `sy-race-${i}`, hash: `h${i}` }, "2030-01-01T00:00:00.000Z"),
          ),
        );
        const won = results.filter((r) => r.status === "fulfilled");
        expect(won).toHaveLength(1);
        for (const r of results) if (r.status === "rejected") expect(r.reason).toMatchObject({ code: "conflict" });
        expect(await store.apiKeys.listByAccount(a.id)).toHaveLength(2);
        expect((await store.apiKeys.get(k.id))?.replacedBy).toBe(won[0]!.value.replacement.id);
      });

      it("rejects a duplicate prefix and an unknown account", async () => {
        const a = await store.accounts.create({ name: "a" });
        const b = await store.accounts.create({ name: "b" });
        await store.apiKeys.create({ accountId: a.id, name: "k", prefix: "sy-dup", hash: "h" });
        await expectStoreError(store.apiKeys.create({ accountId: b.id, name: "k", prefix: "sy-dup", hash: "h2" }), "conflict");
        await expectStoreError(store.apiKeys.create({ accountId: MISSING_ID, name: "k", prefix: "sy-new", hash: "h" }), "not_found");
        expect(await store.apiKeys.listByAccount(b.id)).toEqual([]);
        expect(await store.apiKeys.getByPrefix("sy-new")).toBeUndefined();
      });
    });

    describe("upstreams", () => {
      it("creates an upstream with defaults and finds it", async () => {
        const u = await store.upstreams.create({
          name: "openai",
          protocol: "openai-responses",
          baseUrl: "https://api.openai.com/v1",
          models: ["gpt-5*", "o4-mini"],
        });
        expect(u).toEqual({
          id: expect.stringMatching(UUID),
          name: "openai",
          ownerAccountId: null,
          protocol: "openai-responses",
          baseUrl: "https://api.openai.com/v1",
          models: ["gpt-5*", "o4-mini"],
          enabled: true,
          settings: {},
          createdAt: expect.any(String),
          updatedAt: u.createdAt,
        });
        expectIsoTime(u.createdAt);
        expect(await store.upstreams.get(u.id)).toEqual(u);
        expect(await store.upstreams.getByName("openai")).toEqual(u);
        expect(await store.upstreams.get(MISSING_ID)).toBeUndefined();
        expect(await store.upstreams.getByName("nope")).toBeUndefined();
      });

      it("round-trips every protocol, disabled flags, empty model lists and settings", async () => {
        const protocols = ["openai-responses", "openai-chat", "anthropic", "codex"] as const;
        for (const [i, protocol] of protocols.entries()) {
          const u = await store.upstreams.create({
            name: `u${i}`,
            protocol,
            baseUrl: `http://127.0.0.1:${9000 + i}`,
            models: i === 0 ? [] : ["claude-*", "模型-ü"],
            enabled: i % 2 === 0,
            settings: JSON_DOC,
          });
          expect(await store.upstreams.get(u.id)).toEqual(u);
          expect(u.enabled).toBe(i % 2 === 0);
          expect(u.settings).toEqual(JSON_DOC);
        }
        expect((await store.upstreams.list()).map((u) => u.name)).toEqual(["u0", "u1", "u2", "u3"]);
      });

      it("rejects a duplicate name", async () => {
        await store.upstreams.create({ name: "dup", protocol: "anthropic", baseUrl: "https://a", models: [] });
        await expectStoreError(store.upstreams.create({ name: "dup", protocol: "openai-chat", baseUrl: "https://b", models: [] }), "conflict");
        expect(await store.upstreams.list()).toHaveLength(1);
      });

      it("patches only the given fields", async () => {
        const u = await store.upstreams.create({
          name: "p",
          protocol: "openai-chat",
          baseUrl: "https://old",
          models: ["a"],
          settings: { timeoutMs: 1000 },
        });
        await tick();
        const off = await store.upstreams.update(u.id, { enabled: false });
        expect(off).toMatchObject({
          enabled: false,
          baseUrl: "https://old",
          models: ["a"],
          settings: { timeoutMs: 1000 },
        });
        expect(off!.updatedAt > u.updatedAt).toBe(true);
        const changed = await store.upstreams.update(u.id, {
          protocol: "codex",
          baseUrl: "https://new",
          models: ["b", "c*"],
          enabled: true,
          settings: { headers: { "x-a": "1" } },
        });
        expect(changed).toMatchObject({
          name: "p",
          protocol: "codex",
          baseUrl: "https://new",
          models: ["b", "c*"],
          enabled: true,
          settings: { headers: { "x-a": "1" } },
          createdAt: u.createdAt,
        });
        expect(await store.upstreams.get(u.id)).toEqual(changed);
        expect(await store.upstreams.update(MISSING_ID, { enabled: false })).toBeUndefined();
      });

      it("deletes an upstream together with its keys", async () => {
        const u = await store.upstreams.create({
          name: "gone",
          protocol: "anthropic",
          baseUrl: "https://a",
          models: [],
        });
        const keep = await store.upstreams.create({
          name: "kept",
          protocol: "anthropic",
          baseUrl: "https://b",
          models: [],
        });
        const k1 = await store.upstreamKeys.create({
          upstreamId: u.id,
          name: "k1",
          ciphertext: "c1",
          fingerprint: "sha256:1",
        });
        await store.upstreamKeys.create({ upstreamId: u.id, name: "k2", ciphertext: "c2", fingerprint: "sha256:2" });
        const kept = await store.upstreamKeys.create({
          upstreamId: keep.id,
          name: "k",
          ciphertext: "c",
          fingerprint: "sha256:1",
        });
        expect(await store.upstreams.delete(u.id)).toBe(true);
        expect(await store.upstreams.delete(u.id)).toBe(false);
        expect(await store.upstreams.get(u.id)).toBeUndefined();
        expect(await store.upstreamKeys.get(k1.id)).toBeUndefined();
        expect(await store.upstreamKeys.listByUpstream(u.id)).toEqual([]);
        expect(await store.upstreamKeys.listAll()).toEqual([kept]);
        // The name is free again.
        await store.upstreams.create({ name: "gone", protocol: "anthropic", baseUrl: "https://a", models: [] });
      });
    });

    describe("tenant-owned upstreams", () => {
      it("scopes names per owner: the same name once per tenant and once gateway-wide", async () => {
        const acme = await store.accounts.create({ name: "acme" });
        const beta = await store.accounts.create({ name: "beta" });
        const shared = await store.upstreams.create({ name: "openai", protocol: "openai-chat", baseUrl: "https://g", models: [] });
        const a = await store.upstreams.create({ name: "openai", ownerAccountId: acme.id, protocol: "openai-chat", baseUrl: "https://a", models: [] });
        const b = await store.upstreams.create({ name: "openai", ownerAccountId: beta.id, protocol: "openai-chat", baseUrl: "https://b", models: [] });
        expect(a.ownerAccountId).toBe(acme.id);
        expect(await store.upstreams.get(a.id)).toEqual(a);
        expect(await store.upstreams.getByName("openai")).toEqual(shared);
        expect(await store.upstreams.getByName("openai", null)).toEqual(shared);
        expect(await store.upstreams.getByName("openai", acme.id)).toEqual(a);
        expect(await store.upstreams.getByName("openai", beta.id)).toEqual(b);
        await expectStoreError(
          store.upstreams.create({ name: "openai", ownerAccountId: acme.id, protocol: "anthropic", baseUrl: "https://x", models: [] }),
          "conflict",
        );
        await expectStoreError(store.upstreams.create({ name: "openai", protocol: "anthropic", baseUrl: "https://x", models: [] }), "conflict");
        expect(await store.upstreams.list()).toHaveLength(3);
      });

      it("refuses an unknown owner", async () => {
        await expectStoreError(
          store.upstreams.create({ name: "x", ownerAccountId: MISSING_ID, protocol: "anthropic", baseUrl: "https://x", models: [] }),
          "not_found",
        );
        expect(await store.upstreams.list()).toEqual([]);
      });

      it("goes with its owner: deleting the account deletes its upstreams and their keys", async () => {
        const acme = await store.accounts.create({ name: "acme" });
        const owned = await store.upstreams.create({ name: "own", ownerAccountId: acme.id, protocol: "anthropic", baseUrl: "https://a", models: [] });
        const shared = await store.upstreams.create({ name: "shared", protocol: "anthropic", baseUrl: "https://s", models: [] });
        await store.upstreamKeys.create({ upstreamId: owned.id, name: "k", ciphertext: "c", fingerprint: "f" });
        const kept = await store.upstreamKeys.create({ upstreamId: shared.id, name: "k", ciphertext: "c", fingerprint: "f" });
        expect(await store.accounts.delete(acme.id)).toBe(true);
        expect(await store.upstreams.list()).toEqual([shared]);
        expect(await store.upstreamKeys.listAll()).toEqual([kept]);
      });
    });

    describe("upstream keys", () => {
      it("creates, finds and lists keys", async () => {
        const u = await store.upstreams.create({
          name: "u",
          protocol: "openai-chat",
          baseUrl: "https://u",
          models: [],
        });
        const v = await store.upstreams.create({
          name: "v",
          protocol: "openai-chat",
          baseUrl: "https://v",
          models: [],
        });
        const ciphertext = "v1:AAECAwQ=:+/9ZmFrZQ==:tag/+==";
        const k1 = await store.upstreamKeys.create({
          upstreamId: u.id,
          name: "primary",
          ciphertext,
          fingerprint: "sha256:ab12",
        });
        expect(k1).toEqual({
          id: expect.stringMatching(UUID),
          upstreamId: u.id,
          name: "primary",
          ciphertext,
          fingerprint: "sha256:ab12",
          status: "active",
          createdAt: expect.any(String),
          credentialMeta: null,
          deadReason: null,
          deadAt: null,
        });
        expectIsoTime(k1.createdAt);
        const k2 = await store.upstreamKeys.create({
          upstreamId: u.id,
          name: "backup",
          ciphertext: "c2",
          fingerprint: "sha256:cd34",
        });
        const k3 = await store.upstreamKeys.create({
          upstreamId: v.id,
          name: "only",
          ciphertext: "c3",
          fingerprint: "sha256:ab12",
        });
        expect(await store.upstreamKeys.get(k1.id)).toEqual(k1);
        expect(await store.upstreamKeys.get(MISSING_ID)).toBeUndefined();
        expect(ids(await store.upstreamKeys.listByUpstream(u.id)).sort()).toEqual([k1.id, k2.id].sort());
        expect(await store.upstreamKeys.listByUpstream(v.id)).toEqual([k3]);
        expect(await store.upstreamKeys.listByUpstream(MISSING_ID)).toEqual([]);
        expect(ids(await store.upstreamKeys.listAll()).sort()).toEqual([k1.id, k2.id, k3.id].sort());
      });

      it("changes status and deletes", async () => {
        const u = await store.upstreams.create({ name: "u", protocol: "anthropic", baseUrl: "https://u", models: [] });
        const k = await store.upstreamKeys.create({ upstreamId: u.id, name: "k", ciphertext: "c", fingerprint: "f" });
        expect(await store.upstreamKeys.setStatus(k.id, "disabled")).toBe(true);
        expect((await store.upstreamKeys.get(k.id))?.status).toBe("disabled");
        expect(await store.upstreamKeys.setStatus(k.id, "active")).toBe(true);
        expect((await store.upstreamKeys.get(k.id))?.status).toBe("active");
        expect(await store.upstreamKeys.setStatus(MISSING_ID, "disabled")).toBe(false);
        expect(await store.upstreamKeys.delete(k.id)).toBe(true);
        expect(await store.upstreamKeys.delete(k.id)).toBe(false);
        expect(await store.upstreamKeys.get(k.id)).toBeUndefined();
        expect(await store.upstreams.get(u.id)).toBeDefined();
      });

      it("rotates a credential by compare-and-set, marks it dead, and leases its refresh to one holder at a time", async () => {
        const u = await store.upstreams.create({ name: "u", protocol: "codex", baseUrl: "https://u", models: [] });
        const meta = { kind: "chatgpt_oauth", account_id: "acct" };
        const k = await store.upstreamKeys.create({ upstreamId: u.id, name: "k", ciphertext: "c0", fingerprint: "f", credentialMeta: meta });
        expect(k.credentialMeta).toEqual(meta);
        // Compare-and-set: only over the envelope it was made from.
        expect(await store.upstreamKeys.rotateCredential(k.id, "c0", { ciphertext: "c1", meta: { ...meta, plan_type: "pro" } })).toBe(true);
        expect(await store.upstreamKeys.rotateCredential(k.id, "c0", { ciphertext: "c2", meta: null })).toBe(false);
        expect(await store.upstreamKeys.get(k.id)).toMatchObject({ ciphertext: "c1", credentialMeta: { ...meta, plan_type: "pro" }, deadAt: null });
        // The lease: one holder until it runs out or is given back; a stranger cannot give it back.
        const t0 = "2026-01-01T00:00:00.000Z";
        const until = "2026-01-01T00:00:30.000Z";
        expect(await store.upstreamKeys.acquireRefreshLease(k.id, "a", until, t0)).toBe(true);
        expect(await store.upstreamKeys.acquireRefreshLease(k.id, "b", until, "2026-01-01T00:00:10.000Z")).toBe(false);
        await store.upstreamKeys.releaseRefreshLease(k.id, "b");
        expect(await store.upstreamKeys.acquireRefreshLease(k.id, "b", until, "2026-01-01T00:00:10.000Z")).toBe(false);
        expect(await store.upstreamKeys.acquireRefreshLease(k.id, "b", "2026-01-01T00:01:30.000Z", until)).toBe(true);
        await store.upstreamKeys.releaseRefreshLease(k.id, "b");
        expect(await store.upstreamKeys.acquireRefreshLease(k.id, "c", until, t0)).toBe(true);
        const racers = await Promise.all(
          ["d", "e", "f", "g"].map((o) => store.upstreamKeys.acquireRefreshLease(k.id, o, "2026-01-01T00:05:00.000Z", "2026-01-01T00:04:00.000Z")),
        );
        expect(racers.filter(Boolean)).toHaveLength(1);
        expect(await store.upstreamKeys.markDead(k.id, "refresh_token_reused", t0)).toBe(true);
        expect(await store.upstreamKeys.get(k.id)).toMatchObject({ deadReason: "refresh_token_reused", deadAt: t0 });
        expect(await store.upstreamKeys.markDead(MISSING_ID, "x", t0)).toBe(false);
        expect(await store.upstreamKeys.acquireRefreshLease(MISSING_ID, "a", until, t0)).toBe(false);
      });

      it("pages through every key in id order", async () => {
        const u = await store.upstreams.create({ name: "u", protocol: "anthropic", baseUrl: "https://u", models: [] });
        const made = [];
        for (let i = 0; i < 7; i++) made.push(await store.upstreamKeys.create({ upstreamId: u.id, name: `k${i}`, ciphertext: `c${i}`, fingerprint: `f${i}` }));
        const seen: string[] = [];
        let after: string | undefined;
        for (;;) {
          const page = await store.upstreamKeys.page(after, 3);
          expect(page.length).toBeLessThanOrEqual(3);
          if (page.length === 0) break;
          seen.push(...ids(page));
          after = page[page.length - 1]!.id;
        }
        expect(seen).toEqual(ids(made).sort());
      });

      it("replaces an envelope only when it is still the expected one", async () => {
        const u = await store.upstreams.create({ name: "u", protocol: "anthropic", baseUrl: "https://u", models: [] });
        const k = await store.upstreamKeys.create({ upstreamId: u.id, name: "k", ciphertext: "old", fingerprint: "f" });
        expect(await store.upstreamKeys.replaceCiphertext(k.id, "other", "new")).toBe(false);
        expect((await store.upstreamKeys.get(k.id))?.ciphertext).toBe("old");
        expect(await store.upstreamKeys.replaceCiphertext(k.id, "old", "new")).toBe(true);
        expect(await store.upstreamKeys.get(k.id)).toEqual({ ...k, ciphertext: "new" });
        expect(await store.upstreamKeys.replaceCiphertext(MISSING_ID, "old", "new")).toBe(false);
      });

      it("rejects a duplicate fingerprint within an upstream and an unknown upstream", async () => {
        const u = await store.upstreams.create({ name: "u", protocol: "anthropic", baseUrl: "https://u", models: [] });
        await store.upstreamKeys.create({ upstreamId: u.id, name: "k", ciphertext: "c", fingerprint: "sha256:same" });
        await expectStoreError(store.upstreamKeys.create({ upstreamId: u.id, name: "k2", ciphertext: "c2", fingerprint: "sha256:same" }), "conflict");
        await expectStoreError(store.upstreamKeys.create({ upstreamId: MISSING_ID, name: "k", ciphertext: "c", fingerprint: "sha256:x" }), "not_found");
        expect(await store.upstreamKeys.listAll()).toHaveLength(1);
      });
    });

    describe("chain locks", () => {
      it("are taken only inside a transaction", async () => {
        const t = await buildTree(store, { a: null });
        await expect(store.accounts.lockChains([t.a.id])).rejects.toThrow(/inside Store.transaction/);
        await store.transaction((tx) => tx.accounts.lockChains([t.a.id, "no-such-account"]));
      });

      it("hold an account's chain until the transaction ends: a writer locking any account below waits and then reads what the first committed", async () => {
        const t = await buildTree(store, { root: null, mid: "root", leaf: "mid" });
        let locked!: () => void;
        const holding = new Promise<void>((resolve) => (locked = resolve));
        let open!: () => void;
        const gate = new Promise<void>((resolve) => (open = resolve));
        const first = store.transaction(async (tx) => {
          await tx.accounts.lockChains([t.mid.id]);
          locked();
          await gate;
          await tx.accounts.update(t.root.id, { settings: { mark: "first" } });
        });
        await holding;
        const second = store.transaction(async (tx) => {
          await tx.accounts.lockChains([t.leaf.id]);
          return (await tx.accounts.get(t.root.id))?.settings.mark;
        });
        // Time for the second writer to overtake if it could; the lock, not the delay, decides the outcome.
        await new Promise((resolve) => setTimeout(resolve, 50));
        open();
        await first;
        expect(await second).toBe("first");
      });

      it("never deadlock when writers lock overlapping chains in different orders", async () => {
        const t = await buildTree(store, { r: null, a: "r", b: "r", c: "a", d: "b" });
        const ids = [t.a.id, t.b.id, t.c.id, t.d.id];
        await Promise.all(
          Array.from({ length: 12 }, (_, i) =>
            store.transaction(async (tx) => {
              const order = i % 2 === 0 ? ids : [...ids].reverse();
              await tx.accounts.lockChains(order.slice(i % 3));
              await tx.accounts.update(t.r.id, { settings: { writer: i } });
            }),
          ),
        );
        expect(typeof (await store.accounts.get(t.r.id))?.settings.writer).toBe("number");
      });
    });

    describe("transactions", () => {
      it("commits everything written through tx when fn resolves, and returns fn's value", async () => {
        const result = await store.transaction(async (tx) => {
          const root = await tx.accounts.create({ name: "root" });
          const child = await tx.accounts.create({ name: "child", parentId: root.id });
          await tx.apiKeys.create({ accountId: child.id, name: "k", prefix: "sy-tx000001", hash: "a".repeat(64) });
          const u = await tx.upstreams.create({ name: "up", protocol: "openai-chat", baseUrl: "https://x.test/v1", models: ["m"] });
          await tx.upstreamKeys.create({ upstreamId: u.id, name: "uk", ciphertext: "c", fingerprint: "sha256:tx" });
          await tx.usage.insertMany([record(1, { accountId: child.id })]);
          return child.id;
        });
        expect(names(await store.accounts.ancestors(result))).toEqual(["root"]);
        expect((await store.apiKeys.getByPrefix("sy-tx000001"))?.accountId).toBe(result);
        expect(await store.upstreamKeys.listAll()).toHaveLength(1);
        expect(await store.usage.listByAccount(result)).toHaveLength(1);
      });

      it("undoes everything written through tx when fn throws, tree writes included, and rethrows the same error", async () => {
        const t = await buildTree(store, { a: null, b: "a", x: null });
        const u = await store.upstreams.create({ name: "up", protocol: "anthropic", baseUrl: "https://a.test", models: ["claude-*"] });
        await store.upstreamKeys.create({ upstreamId: u.id, name: "uk", ciphertext: "c", fingerprint: "sha256:kept" });
        const failure = new Error("fn failed");
        const error = await store
          .transaction(async (tx) => {
            const c = await tx.accounts.create({ name: "c", parentId: t.b.id });
            await tx.accounts.move(t.b.id, t.x.id);
            await tx.accounts.update(t.a.id, { name: "renamed", settings: { models: [] } });
            await tx.apiKeys.create({ accountId: c.id, name: "k", prefix: "sy-tx000002", hash: "b".repeat(64) });
            expect(await tx.upstreams.delete(u.id)).toBe(true);
            await tx.usage.insertMany([record(2, { accountId: t.a.id })]);
            expect(names(await tx.accounts.ancestors(c.id))).toEqual(["b", "x"]);
            throw failure;
          })
          .catch((e: unknown) => e);
        expect(error).toBe(failure);
        expect(names(await store.accounts.list())).toEqual(["a", "b", "x"]);
        expect(await store.accounts.get(t.a.id)).toEqual(t.a);
        expect(names(await store.accounts.ancestors(t.b.id))).toEqual(["a"]);
        expect(names(await store.accounts.descendants(t.a.id))).toEqual(["b"]);
        expect(await store.accounts.descendants(t.x.id)).toEqual([]);
        expect(await store.apiKeys.getByPrefix("sy-tx000002")).toBeUndefined();
        expect(await store.upstreams.get(u.id)).toEqual(u);
        expect(await store.upstreamKeys.listByUpstream(u.id)).toHaveLength(1);
        expect(await store.usage.listByAccount(t.a.id)).toEqual([]);
      });

      it("shows its writes to itself at once and to other readers all together or not at all", async () => {
        let outside: Promise<Account[]> | undefined;
        await store.transaction(async (tx) => {
          const first = await tx.accounts.create({ name: "first" });
          expect(await tx.accounts.get(first.id)).toEqual(first);
          expect(await tx.accounts.getByName("first")).toEqual(first);
          // Not awaited here: on SQLite this reader waits for the transaction to end.
          outside = store.accounts.list();
          await tick();
          await tx.accounts.create({ name: "second", parentId: first.id });
        });
        expect([[], ["first", "second"]]).toContainEqual(names(await outside!));
        expect(names(await store.accounts.list())).toEqual(["first", "second"]);
      });

      it("never shows a rolled-back write to another reader", async () => {
        let release!: () => void;
        const held = new Promise<void>((r) => (release = r));
        const failing = store.transaction(async (tx) => {
          await tx.accounts.create({ name: "ghost" });
          await held;
          throw new Error("rolled back");
        });
        await tick();
        const outside = store.accounts.getByName("ghost");
        release();
        await expect(failing).rejects.toThrow("rolled back");
        expect(await outside).toBeUndefined();
        expect(await store.accounts.list()).toEqual([]);
      });

      it("keeps a usage batch written outside it while it is open, even when it rolls back", async () => {
        let release!: () => void;
        const held = new Promise<void>((r) => (release = r));
        const failing = store.transaction(async (tx) => {
          await tx.usage.insertMany([record(1)]);
          await held;
          throw new Error("rolled back");
        });
        await tick();
        const inserted = store.usage.insertMany([record(2)]);
        release();
        await expect(failing).rejects.toThrow("rolled back");
        expect(await inserted).toHaveLength(1);
        expect((await store.usage.listByAccount("acct-1")).map((r) => r.requestId)).toEqual(["req_2"]);
      });

      it("nests: a failed inner transaction is undone alone and the outer one carries on", async () => {
        await store.transaction(async (tx) => {
          await tx.accounts.create({ name: "kept" });
          await expect(
            tx.transaction(async (inner) => {
              await inner.accounts.create({ name: "undone" });
              throw new Error("inner failed");
            }),
          ).rejects.toThrow("inner failed");
          // A statement that fails at the database (a unique name), caught outside the inner body.
          await expectStoreError(
            tx.transaction((inner) => inner.accounts.create({ name: "kept" })),
            "conflict",
          );
          await expectStoreError(
            tx.transaction((inner) => inner.apiKeys.create({ accountId: MISSING_ID, name: "k", prefix: "sy-orphan", hash: "c".repeat(64) })),
            "not_found",
          );
          expect(names(await tx.accounts.list())).toEqual(["kept"]);
          await tx.accounts.create({ name: "after" });
        });
        expect(names(await store.accounts.list())).toEqual(["after", "kept"]);
      });

      it("nests: an inner transaction's writes roll back with the outer one, at any depth", async () => {
        const error = await store
          .transaction(async (tx) => {
            await tx.accounts.create({ name: "outer" });
            const value = await tx.transaction(async (mid) => {
              const m = await mid.accounts.create({ name: "mid" });
              return mid.transaction(async (deep) => (await deep.accounts.create({ name: "deep", parentId: m.id })).id);
            });
            expect(names(await tx.accounts.ancestors(value))).toEqual(["mid"]);
            throw new Error("outer failed");
          })
          .catch((e: unknown) => e);
        expect(error).toMatchObject({ message: "outer failed" });
        expect(await store.accounts.list()).toEqual([]);

        await store.transaction((tx) => tx.transaction((mid) => mid.transaction((deep) => deep.accounts.create({ name: "deep" }))));
        expect(names(await store.accounts.list())).toEqual(["deep"]);
      });

      it("refuses to run statements once it has ended", async () => {
        let leaked: Repos | undefined;
        await store.transaction(async (tx) => {
          leaked = tx;
          await tx.accounts.create({ name: "a" });
        });
        await expect(leaked!.accounts.list()).rejects.toThrow(/transaction has ended/);
        await expect(store.transaction((tx) => tx.accounts.create({ name: "b" }))).resolves.toMatchObject({ name: "b" });
      });
    });

    describe("usage records", () => {
      it("inserts a batch and lists an account's records newest first, every field intact", async () => {
        const batch = [
          record(1),
          record(2),
          record(3, { accountId: "acct-2", status: "error", httpStatus: 502, errorCode: "upstream_error", apiKeyId: null, upstreamModel: null }),
        ];
        expect(await store.usage.insertMany(batch)).toHaveLength(3);
        expect(await store.usage.listByAccount("acct-1")).toEqual([record(2), record(1)]);
        expect(await store.usage.listByAccount("acct-2")).toEqual([batch[2]]);
        expect(await store.usage.listByAccount("acct-1", { limit: 1 })).toEqual([record(2)]);
      });

      it("insertCharged debits each payer what its newly inserted records charged, in the same transaction", async () => {
        const t = await buildTree(store, { org: null, team: "org" });
        await store.ledger.move({ type: "topup", accountId: t.org.id, amountMicros: 1_000, kind: "payg" });
        const paid = (n: number, payer: string, micros: number): UsageRecord =>
          record(n, { requestId: `req_charged_${n}`, accountId: t.team.id, payerAccountId: payer, chargedMicros: micros });
        const batch = [paid(1, t.org.id, 100), paid(2, t.org.id, 30), paid(3, t.team.id, 7), record(4, { requestId: "req_free" })];
        // The same request twice in one batch is stored once and charged once.
        const first = await store.usage.insertCharged([...batch, paid(1, t.org.id, 100)]);
        expect([...first.inserted].sort()).toEqual(batch.map((r) => r.requestId).sort());
        const wallets = new Map(first.wallets.map((w) => [w.accountId, w]));
        expect(wallets.size).toBe(2);
        expect(wallets.get(t.org.id)?.spendableMicros).toBe(870);
        // Nothing to spend: the team's 7 is debt.
        expect(wallets.get(t.team.id)?.spendableMicros).toBe(-7);
        expect(await store.ledger.balance(t.org.id)).toBe(870);
        expect((await store.ledger.entries(t.org.id)).filter((e) => e.type === "debit").map((e) => e.amountMicros)).toEqual([-130]);

        // A retried batch: the stored records are skipped and not charged again, the new one is, and
        // every payer the batch names still gets its wallet back.
        const again = await store.usage.insertCharged([paid(1, t.org.id, 100), paid(3, t.team.id, 7), paid(5, t.org.id, 20)]);
        expect(again.inserted).toEqual([`req_charged_5`]);
        expect(new Map(again.wallets.map((w) => [w.accountId, w.spendableMicros]))).toEqual(
          new Map([
            [t.org.id, 850],
            [t.team.id, -7],
          ]),
        );
        expect(await store.ledger.balance(t.org.id)).toBe(850);
        expect(await store.ledger.balance(t.team.id)).toBe(-7);
        for (const id of [t.org.id, t.team.id]) {
          const rows = await store.ledger.entries(id, { limit: 1000 });
          expect(rows.reduce((n, e) => n + e.amountMicros, 0)).toBe(await store.ledger.balance(id));
        }
        expect(await store.usage.insertCharged([])).toEqual({ inserted: [], wallets: [] });
      });

      it("insertCharged inside a transaction commits and rolls back with it", async () => {
        const t = await buildTree(store, { payer: null });
        await store.ledger.move({ type: "topup", accountId: t.payer.id, amountMicros: 500, kind: "payg" });
        const rec = record(1, { requestId: "req_tx_charged", accountId: t.payer.id, payerAccountId: t.payer.id, chargedMicros: 40 });
        const failure = new Error("after the debit");
        await expect(
          store.transaction(async (tx) => {
            expect((await tx.usage.insertCharged([rec])).wallets).toMatchObject([{ accountId: t.payer.id, spendableMicros: 460 }]);
            throw failure;
          }),
        ).rejects.toBe(failure);
        expect(await store.ledger.balance(t.payer.id)).toBe(500);
        expect(await store.usage.listByAccount(t.payer.id)).toEqual([]);
        await store.transaction(async (tx) => {
          await tx.usage.insertCharged([rec]);
        });
        expect(await store.ledger.balance(t.payer.id)).toBe(460);
        expect(await store.usage.listByAccount(t.payer.id)).toHaveLength(1);
      });

      it("keeps each attempt of a request, in order, and none for a request that made none", async () => {
        const trail = [
          {
            upstream: "a",
            upstreamId: "up-a",
            keyId: "k-1",
            tier: 2,
            outcome: "error_event",
            httpStatus: 200,
            code: "overloaded_error",
            durationMs: 12,
          },
          { upstream: "b", upstreamId: "up-b", keyId: "k-2", tier: 1, outcome: "timeout", httpStatus: null, code: null, durationMs: 1000 },
          { upstream: "ü 🚀", upstreamId: "up-c", keyId: "k-3", tier: null, outcome: "ok", httpStatus: 200, code: null, durationMs: 5 },
        ];
        await store.usage.insertMany([record(1, { attemptTrail: trail, attempts: 3 }), record(2, { attemptTrail: undefined })]);
        const [second, first] = await store.usage.listByAccount("acct-1");
        expect(first!.attemptTrail).toEqual(trail);
        expect(second!.attemptTrail).toBeNull();
      });

      it("skips records already stored, so a retried flush never double-counts", async () => {
        expect(await store.usage.insertMany([record(1), record(2)])).toEqual(["req_1", "req_2"]);
        expect(await store.usage.insertMany([record(2), record(3)])).toEqual(["req_3"]);
        expect(await store.usage.listByAccount("acct-1")).toHaveLength(3);
      });

      it("in a batch of any size, inserts each new id once (the first of two records with it) and names each", async () => {
        // A batch of flush size's order, with ids stored before and ids met twice, early and late in it
        // (what a multi-row insert would have to get right, which SQLite's path was measured with:
        // bench/README.md, the eighteenth stop).
        const all = Array.from({ length: 45 }, (_, i) => record(i + 1));
        expect(await store.usage.insertMany([all[0]!, all[20]!, all[40]!])).toEqual(["req_1", "req_21", "req_41"]);
        const batch = [
          ...all.slice(0, 5),
          record(18, { outputTokens: 77 }),
          ...all.slice(5, 40),
          record(2, { outputTokens: 55 }),
          ...all.slice(40),
          record(44, { outputTokens: 66 }),
        ];
        const stored = new Set(["req_1", "req_21", "req_41"]);
        const expected = batch.map((r) => r.requestId).filter((id) => !stored.has(id) && (stored.add(id), true));
        expect((await store.usage.insertMany(batch)).sort()).toEqual(expected.sort());
        const rows = new Map((await store.usage.listByAccount("acct-1", { limit: 100 })).map((r) => [r.requestId, r]));
        expect(rows.size).toBe(45);
        expect(rows.get("req_18")!.outputTokens).toBe(77);
        expect(rows.get("req_2")!.outputTokens).toBe(40);
        expect(rows.get("req_44")!.outputTokens).toBe(40);
        expect(await store.usage.insertMany(batch)).toEqual([]);
      });

      const ALL_TIME = { from: "2000-01-01T00:00:00.000Z", to: "2100-01-01T00:00:00.000Z" };

      it("rolls up the rows it inserts per hour, account, model and keys, in the same write; a retried flush adds nothing", async () => {
        const hour = (h: number, n: number): string => new Date(Date.UTC(2026, 0, 1, h, 7, n)).toISOString();
        const batch = [
          record(1, { createdAt: hour(0, 1) }),
          record(2, { createdAt: hour(0, 2), model: "claude-sonnet-4-5" }),
          record(3, { createdAt: hour(1, 3), status: "error", apiKeyId: null, upstreamKeyId: null }),
          record(4, { createdAt: hour(1, 4), accountId: "acct-2" }),
          record(5, { createdAt: hour(25, 5) }),
        ];
        await store.usage.insertMany(batch.slice(0, 3));
        // A retried flush overlapping the first: only records 4 and 5 are new, and only they are added.
        expect(await store.usage.insertMany(batch)).toEqual(["req_4", "req_5"]);
        // Inside a transaction too (SQLite takes the query-layer path there).
        await store.transaction((tx) => tx.usage.insertMany([...batch, record(6, { createdAt: hour(1, 6), accountId: "acct-2" })]));
        const all = [...batch, record(6, { createdAt: hour(1, 6), accountId: "acct-2" })];
        const gateway = await store.usage.summarize({ scope: "subtree", ...ALL_TIME, groupBy: "hour" });
        expect(gateway.total).toEqual(sumOf(all));
        expect(new Map(gateway.groups.map(({ group, ...t }) => [group, t]))).toEqual(sumsBy(all, (r) => `${r.createdAt.slice(0, 13)}:00:00.000Z`));
        const own = await store.usage.summarize({ accountId: "acct-1", scope: "self", ...ALL_TIME, groupBy: "model" });
        expect(own.total).toEqual(sumOf(all.filter((r) => r.accountId === "acct-1")));
        expect(own.total.errors).toBe(1);
        expect(new Map(own.groups.map(({ group, ...t }) => [group, t]))).toEqual(
          sumsBy(
            all.filter((r) => r.accountId === "acct-1"),
            (r) => r.model,
          ),
        );
        const byKey = await store.usage.summarize({ accountId: "acct-1", scope: "self", ...ALL_TIME, groupBy: "key" });
        expect(byKey.groups.map((g) => [g.group, g.requests])).toEqual([
          ["key-1", 3],
          ["", 1],
        ]);
        const byDay = await store.usage.summarize({ scope: "subtree", ...ALL_TIME, groupBy: "day" });
        expect(byDay.groups.map((g) => [g.group, g.requests]).sort()).toEqual([
          ["2026-01-01", 5],
          ["2026-01-02", 1],
        ]);
        // The window is [from, to) on hour boundaries.
        const firstHour = await store.usage.summarize({ scope: "subtree", from: hour(0, 0).slice(0, 13) + ":00:00.000Z", to: "2026-01-01T01:00:00.000Z" });
        expect(firstHour.total.requests).toBe(2);
        const none = await store.usage.summarize({ accountId: "nobody", scope: "self", ...ALL_TIME, groupBy: "model" });
        expect(none).toEqual({ total: sumOf([]), groups: [] });
      });

      it("sums a subtree through the closure table, and groups it by the account itself and each child's subtree", async () => {
        const t = await buildTree(store, { root: null, a: "root", a1: "a", a11: "a1", b: "root", other: null });
        const rows = [
          record(1, { accountId: t.root.id }),
          record(2, { accountId: t.a.id }),
          record(3, { accountId: t.a1.id }),
          record(4, { accountId: t.a11.id }),
          record(5, { accountId: t.b.id }),
          record(6, { accountId: t.b.id }),
          record(7, { accountId: t.other.id }),
        ];
        await store.usage.insertMany(rows);
        const inTree = rows.filter((r) => r.accountId !== t.other.id);
        const subtree = await store.usage.summarize({ accountId: t.root.id, scope: "subtree", ...ALL_TIME, groupBy: "descendant" });
        expect(subtree.total).toEqual(sumOf(inTree));
        const byChild = new Map(subtree.groups.map(({ group, ...totals }) => [group, totals]));
        expect(byChild).toEqual(
          new Map([
            [t.root.id, sumOf([rows[0]!])],
            [t.a.id, sumOf(rows.slice(1, 4))],
            [t.b.id, sumOf(rows.slice(4, 6))],
          ]),
        );
        // The groups add up to the total: every row counted once.
        expect(sumOf([]).requests + subtree.groups.reduce((s, g) => s + g.requests, 0)).toBe(subtree.total.requests);
        expect(subtree.groups.reduce((s, g) => s + g.costMicros, 0)).toBe(subtree.total.costMicros);
        const mid = await store.usage.summarize({ accountId: t.a1.id, scope: "subtree", ...ALL_TIME, groupBy: "descendant" });
        expect(mid.groups.map((g) => [g.group, g.requests]).sort()).toEqual(
          [
            [t.a1.id, 1],
            [t.a11.id, 1],
          ].sort(),
        );
        expect((await store.usage.summarize({ accountId: t.a.id, scope: "self", ...ALL_TIME })).total).toEqual(sumOf([rows[1]!]));
      });

      it("keeps the rollups equal to the rows when flushes overlap in parallel (several nodes, retried batches)", async () => {
        const models = ["gpt-5", "glm-4.6", "kimi-k2", "qwen-plus"];
        const all = Array.from({ length: 120 }, (_, n) =>
          record(n, { model: models[n % 4]!, upstreamKeyId: `uk-${n % 3}`, createdAt: new Date(Date.UTC(2026, 0, 1, n % 2, 0, n % 60)).toISOString() }),
        );
        // Eight flushes, each a shuffled overlapping slice, so they touch the same rollup rows in different orders.
        const batches = Array.from({ length: 8 }, (_, i) => {
          const slice = all.slice(i * 10, i * 10 + 50);
          return i % 2 === 0 ? slice : [...slice].reverse();
        });
        const inserted = (await Promise.all(batches.map((b) => store.usage.insertMany(b)))).flat();
        const unique = new Set(inserted);
        expect(unique.size).toBe(inserted.length);
        const stored = all.filter((r) => unique.has(r.requestId));
        expect(stored).toHaveLength(Math.min(all.length, 7 * 10 + 50));
        const got = await store.usage.summarize({ accountId: "acct-1", scope: "self", ...ALL_TIME, groupBy: "model" });
        expect(got.total).toEqual(sumOf(stored));
        expect(new Map(got.groups.map(({ group, ...t }) => [group, t]))).toEqual(sumsBy(stored, (r) => r.model));
      });

      it("keeps the rollups equal to the rows under any batches and retries", async () => {
        const arb = fc.array(
          fc.record({
            n: fc.integer({ min: 0, max: 40 }),
            hour: fc.integer({ min: 0, max: 3 }),
            account: fc.constantFrom("acct-1", "acct-2"),
            model: fc.constantFrom("gpt-5", "glm-4.6"),
            upstreamKey: fc.constantFrom("uk-1", "uk-2", null),
          }),
          { maxLength: 30 },
        );
        await fc.assert(
          fc.asyncProperty(fc.array(arb, { minLength: 1, maxLength: 4 }), async (batches) => {
            // Each run starts from empty rows: a fresh store would be slow, so ids are unique per run instead.
            const run = randomRunId();
            const seen = new Map<string, UsageRecord>();
            for (const batch of batches) {
              const recs = batch.map((b) =>
                record(b.n, {
                  requestId: `${run}_${b.n}`,
                  accountId: `${run}-${b.account}`,
                  model: b.model,
                  upstreamKeyId: b.upstreamKey,
                  createdAt: new Date(Date.UTC(2026, 0, 1, b.hour, 0, b.n)).toISOString(),
                }),
              );
              await store.usage.insertMany(recs);
              for (const r of recs) if (!seen.has(r.requestId)) seen.set(r.requestId, r);
            }
            for (const account of ["acct-1", "acct-2"]) {
              const mine = [...seen.values()].filter((r) => r.accountId === `${run}-${account}`);
              const got = await store.usage.summarize({ accountId: `${run}-${account}`, scope: "self", ...ALL_TIME, groupBy: "upstream_key" });
              expect(got.total).toEqual(sumOf(mine));
              expect(new Map(got.groups.map(({ group, ...t }) => [group, t]))).toEqual(sumsBy(mine, (r) => r.upstreamKeyId ?? ""));
            }
          }),
          { numRuns: 15 },
        );
      });

      it("takes batches larger than one statement", async () => {
        const many = Array.from({ length: 2500 }, (_, i) => record(i));
        expect(await store.usage.insertMany(many)).toHaveLength(2500);
        expect(await store.usage.listByAccount("acct-1", { limit: 5000 })).toHaveLength(2500);
        expect(await store.usage.insertMany([])).toEqual([]);
      });
    });

    describe("credit ledger", () => {
      const done = (r: CreditMovementResult): CreditMovement => {
        if (r.status !== "done" && r.status !== "replayed") throw new Error(`expected a movement, got ${JSON.stringify(r)}`);
        return r.movement;
      };

      it("tops up, grants and claws back with one ledger row per balance change", async () => {
        const t = await buildTree(store, { root: null, child: "root" });
        const top = done(await store.ledger.move({ type: "topup", accountId: t.root.id, amountMicros: 1_000, kind: "payg", actor: "root", note: "welcome" }));
        expect(top).toMatchObject({
          type: "topup",
          accountId: t.root.id,
          counterpartyId: null,
          amountMicros: 1_000,
          kind: "payg",
          balanceAfterMicros: 1_000,
          note: "welcome",
        });
        const grant = done(
          await store.ledger.move({
            type: "grant",
            accountId: t.child.id,
            counterpartyId: t.root.id,
            amountMicros: 300,
            kind: "subscription",
            expiresAt: "2999-01-01T00:00:00.000Z",
          }),
        );
        expect(grant).toMatchObject({
          balanceAfterMicros: 300,
          counterpartyBalanceAfterMicros: 700,
          kind: "subscription",
          expiresAt: "2999-01-01T00:00:00.000Z",
        });
        const back = done(await store.ledger.move({ type: "clawback", accountId: t.child.id, counterpartyId: t.root.id, amountMicros: 100 }));
        expect(back).toMatchObject({ type: "clawback", amountMicros: 100, balanceAfterMicros: 200, counterpartyBalanceAfterMicros: 800 });

        expect(await store.ledger.balance(t.root.id)).toBe(800);
        expect(await store.ledger.balance(t.child.id)).toBe(200);
        const rootRows = (await store.ledger.entries(t.root.id)).reverse();
        expect(rootRows.map((e) => [e.accountSeq, e.type, e.amountMicros, e.balanceAfterMicros])).toEqual([
          [1, "topup", 1_000, 1_000],
          [2, "grant_out", -300, 700],
          [3, "clawback_in", 100, 800],
        ]);
        expect((await store.ledger.entries(t.child.id)).map((e) => [e.type, e.amountMicros, e.balanceAfterMicros])).toEqual([
          ["clawback", -100, 200],
          ["grant", 300, 300],
        ]);
        // Both rows of a movement point at the row on the account the call named.
        expect(rootRows[1]!.reference).toBe(grant.id);
        expect(grant.counterpartyEntryId).toBe(rootRows[1]!.id);
        // What came back keeps its kind and expiry, and says where it came from.
        expect((await store.ledger.grants(t.root.id)).map((g) => [g.kind, g.remainingMicros, g.expiresAt, g.sourceAccountId])).toEqual([
          ["subscription", 100, "2999-01-01T00:00:00.000Z", t.child.id],
          ["payg", 700, null, null],
        ]);
        expect((await store.ledger.grants(t.child.id)).map((g) => [g.amountMicros, g.remainingMicros, g.sourceAccountId])).toEqual([[300, 200, t.root.id]]);
        expect(await store.ledger.balance(MISSING_ID)).toBe(0);
        expect(await store.ledger.entries(t.root.id, { beforeSeq: 3, limit: 1 })).toMatchObject([{ accountSeq: 2 }]);
      });

      it("a wallet in debt gives (or gives back) only its credit beyond the debt, which that credit repays first", async () => {
        const t = await buildTree(store, { root: null, child: "root" });
        // Consumption before any credit, 50 on the parent and 30 on the child; then 100 of credit, which the
        // parent's next debit would spend on its debt first.
        await store.ledger.debit([
          { accountId: t.root.id, amountMicros: 50, requests: 1 },
          { accountId: t.child.id, amountMicros: 30, requests: 1 },
        ]);
        await store.ledger.move({ type: "topup", accountId: t.root.id, amountMicros: 100, kind: "payg" });
        expect(await store.ledger.balance(t.root.id)).toBe(50);
        expect(await store.ledger.move({ type: "grant", accountId: t.child.id, counterpartyId: t.root.id, amountMicros: 51, kind: "payg" })).toEqual({
          status: "insufficient",
          availableMicros: 50,
        });
        done(await store.ledger.move({ type: "grant", accountId: t.child.id, counterpartyId: t.root.id, amountMicros: 50, kind: "payg" }));
        expect(await store.ledger.move({ type: "grant", accountId: t.child.id, counterpartyId: t.root.id, amountMicros: 1, kind: "payg" })).toEqual({
          status: "insufficient",
          availableMicros: 0,
        });
        expect((await store.ledger.wallet(t.root.id)).spendableMicros).toBe(0);
        // The child holds 50 of credit and owes 30: 20 can go back to the parent, not 21.
        expect(await store.ledger.move({ type: "clawback", accountId: t.child.id, counterpartyId: t.root.id, amountMicros: 21 })).toEqual({
          status: "insufficient",
          availableMicros: 20,
        });
        done(await store.ledger.move({ type: "clawback", accountId: t.child.id, counterpartyId: t.root.id, amountMicros: 20 }));
        expect((await store.ledger.wallet(t.child.id)).spendableMicros).toBe(0);
        expect((await store.ledger.wallet(t.root.id)).spendableMicros).toBe(20);
        for (const id of [t.root.id, t.child.id]) {
          const rows = await store.ledger.entries(id, { limit: 100 });
          expect(await store.ledger.balance(id)).toBe(rows.reduce((n, e) => n + e.amountMicros, 0));
        }
        expect([await store.ledger.balance(t.root.id), await store.ledger.balance(t.child.id)]).toEqual([20, 0]);
      });

      it("refuses more than the paying side holds unspent and unexpired, writing nothing", async () => {
        const t = await buildTree(store, { root: null, child: "root" });
        await store.ledger.move({
          type: "topup",
          accountId: t.root.id,
          amountMicros: 100,
          kind: "addon",
          expiresAt: "2030-01-01T00:00:00.000Z",
          now: "2029-01-01T00:00:00.000Z",
        });
        await store.ledger.move({ type: "topup", accountId: t.root.id, amountMicros: 40, kind: "payg", now: "2029-01-01T00:00:00.000Z" });
        const later = "2030-06-01T00:00:00.000Z";
        expect(
          await store.ledger.move({ type: "grant", accountId: t.child.id, counterpartyId: t.root.id, amountMicros: 41, kind: "payg", now: later }),
        ).toEqual({
          status: "insufficient",
          availableMicros: 40,
        });
        done(await store.ledger.move({ type: "grant", accountId: t.child.id, counterpartyId: t.root.id, amountMicros: 30, kind: "payg", now: later }));
        expect(await store.ledger.move({ type: "clawback", accountId: t.child.id, counterpartyId: t.root.id, amountMicros: 31, now: later })).toEqual({
          status: "insufficient",
          availableMicros: 30,
        });
        // The expired top-up still counts in the balance until consumption expires it.
        expect(await store.ledger.balance(t.root.id)).toBe(110);
        expect(await store.ledger.entries(t.root.id)).toHaveLength(3);
        expect(await store.ledger.entries(t.child.id)).toHaveLength(1);
        await expect(store.ledger.move({ type: "topup", accountId: t.root.id, amountMicros: 0, kind: "payg" })).rejects.toThrow(RangeError);
        await expect(store.ledger.move({ type: "topup", accountId: t.root.id, amountMicros: 1.5, kind: "payg" })).rejects.toThrow(RangeError);
      });

      it("spends the parent's grants earliest expiry first, never-expiring ones last", async () => {
        const t = await buildTree(store, { root: null, child: "root" });
        const now = "2029-01-01T00:00:00.000Z";
        await store.ledger.move({ type: "topup", accountId: t.root.id, amountMicros: 100, kind: "payg", now });
        await store.ledger.move({ type: "topup", accountId: t.root.id, amountMicros: 50, kind: "addon", expiresAt: "2031-01-01T00:00:00.000Z", now });
        await store.ledger.move({ type: "topup", accountId: t.root.id, amountMicros: 30, kind: "subscription", expiresAt: "2030-01-01T00:00:00.000Z", now });
        done(await store.ledger.move({ type: "grant", accountId: t.child.id, counterpartyId: t.root.id, amountMicros: 60, kind: "payg", now }));
        expect((await store.ledger.grants(t.root.id)).map((g) => [g.kind, g.remainingMicros])).toEqual([
          ["addon", 20],
          ["payg", 100],
        ]);
        expect(await store.ledger.balance(t.root.id)).toBe(120);
      });

      it("returns the first movement for a repeated idempotency key, also when the repeats race", async () => {
        const t = await buildTree(store, { root: null, child: "root" });
        const topups = await Promise.all(
          Array.from({ length: 8 }, () =>
            store.ledger.move({ type: "topup", accountId: t.root.id, amountMicros: 500, kind: "payg", idempotencyKey: "order-1" }),
          ),
        );
        expect(topups.filter((r) => r.status === "done")).toHaveLength(1);
        expect(new Set(topups.map((r) => done(r).id)).size).toBe(1);
        expect(topups.map((r) => done(r).balanceAfterMicros)).toEqual(Array(8).fill(500));
        const grants = await Promise.all(
          Array.from({ length: 8 }, () =>
            store.ledger.move({ type: "grant", accountId: t.child.id, counterpartyId: t.root.id, amountMicros: 200, kind: "addon", idempotencyKey: "g-1" }),
          ),
        );
        expect(new Set(grants.map((r) => done(r).id)).size).toBe(1);
        expect(grants.map((r) => done(r).counterpartyBalanceAfterMicros)).toEqual(Array(8).fill(300));
        expect(done(grants[0]!).idempotencyKey).toBe("g-1");
        expect(await store.ledger.balance(t.root.id)).toBe(300);
        expect(await store.ledger.balance(t.child.id)).toBe(200);
        // The key is the account's: another account may use it for its own movement.
        expect(
          done(await store.ledger.move({ type: "topup", accountId: t.child.id, amountMicros: 1, kind: "payg", idempotencyKey: "order-1" })).balanceAfterMicros,
        ).toBe(201);
      });

      it("releases a deleted account's unexpired credit to its parent and writes off the rest", async () => {
        const t = await buildTree(store, { root: null, child: "root" });
        const now = "2029-01-01T00:00:00.000Z";
        await store.ledger.move({ type: "topup", accountId: t.root.id, amountMicros: 100, kind: "payg", now });
        await store.ledger.move({
          type: "grant",
          accountId: t.child.id,
          counterpartyId: t.root.id,
          amountMicros: 50,
          kind: "addon",
          expiresAt: "2030-01-01T00:00:00.000Z",
          now,
        });
        await store.ledger.move({ type: "grant", accountId: t.child.id, counterpartyId: t.root.id, amountMicros: 20, kind: "payg", now });
        const released = done(
          await store.ledger.move({ type: "release", accountId: t.child.id, counterpartyId: t.root.id, amountMicros: 0, now: "2030-06-01T00:00:00.000Z" }),
        );
        expect(released).toMatchObject({ type: "release", amountMicros: 20, balanceAfterMicros: 50, counterpartyBalanceAfterMicros: 50 });
        expect(await store.ledger.balance(t.child.id)).toBe(0);
        expect((await store.ledger.entries(t.child.id)).map((e) => [e.type, e.amountMicros, e.balanceAfterMicros])[0]).toEqual(["adjustment", -50, 0]);
        expect(await store.ledger.grants(t.child.id)).toEqual([]);
        expect(await store.ledger.move({ type: "release", accountId: t.child.id, counterpartyId: t.root.id, amountMicros: 0 })).toEqual({ status: "empty" });

        const root = done(await store.ledger.move({ type: "release", accountId: t.root.id, amountMicros: 0 }));
        expect(root).toMatchObject({ type: "release", amountMicros: 50, balanceAfterMicros: 0, counterpartyId: null });
        expect((await store.ledger.entries(t.root.id))[0]).toMatchObject({ type: "adjustment", amountMicros: -50 });
      });

      it("keeps every balance equal to its rows and to its grants under a parallel storm", async () => {
        const t = await buildTree(store, { r: null, a: "r", b: "r", a1: "a", a2: "a" });
        const parentOf: Record<string, string> = { a: t.r.id, b: t.r.id, a1: t.a.id, a2: t.a.id };
        await store.ledger.move({ type: "topup", accountId: t.r.id, amountMicros: 10_000, kind: "payg" });
        let seed = 7;
        const rand = (n: number) => (seed = (seed * 1103515245 + 12345) % 2147483648) % n;
        const children = ["a", "b", "a1", "a2"] as const;
        const ops = Array.from({ length: 120 }, (_, i) => {
          const child = children[rand(children.length)]!;
          const kind = rand(10);
          // Some calls share a key, as a client's retries would.
          const idempotencyKey = rand(4) === 0 ? `k${i % 9}` : undefined;
          const amount = 1 + rand(900);
          if (kind < 1) return { type: "topup" as const, accountId: t[child].id, amountMicros: amount, kind: "addon" as const, idempotencyKey };
          if (kind < 7)
            return {
              type: "grant" as const,
              accountId: t[child].id,
              counterpartyId: parentOf[child]!,
              amountMicros: amount,
              kind: "payg" as const,
              idempotencyKey,
            };
          return { type: "clawback" as const, accountId: t[child].id, counterpartyId: parentOf[child]!, amountMicros: amount, idempotencyKey };
        });
        const results = await Promise.all(ops.map((op) => store.ledger.move(op)));
        let topped = 10_000;
        const firstByKey = new Map<string, string>();
        for (const [i, r] of results.entries()) {
          const op = ops[i]!;
          if (r.status === "insufficient") continue;
          const m = done(r);
          if (op.idempotencyKey !== undefined) {
            const key = `${op.accountId}:${op.idempotencyKey}`;
            if (firstByKey.has(key)) expect(firstByKey.get(key)).toBe(m.id);
            else firstByKey.set(key, m.id);
          }
          if (r.status === "done" && op.type === "topup") topped += op.amountMicros;
        }
        expect(results.some((r) => r.status === "done" && r.movement.type === "grant")).toBe(true);
        let total = 0;
        for (const account of Object.values(t)) {
          const balance = await store.ledger.balance(account.id);
          const rows = (await store.ledger.entries(account.id, { limit: 1000 })).reverse();
          expect(balance).toBeGreaterThanOrEqual(0);
          expect(rows.reduce((n, e) => n + e.amountMicros, 0)).toBe(balance);
          expect((await store.ledger.grants(account.id)).reduce((n, g) => n + g.remainingMicros, 0)).toBe(balance);
          // Each row follows the one before it.
          let running = 0;
          for (const [i, e] of rows.entries()) {
            running += e.amountMicros;
            expect([e.accountSeq, e.balanceAfterMicros]).toEqual([i + 1, running]);
          }
          total += balance;
        }
        // Money only enters through top-ups, each counted once.
        expect(total).toBe(topped);
      });
    });

    describe("audit chain", () => {
      const record = (n: number, over: Partial<NewAuditRecord> = {}): NewAuditRecord => ({
        actor: n % 2 ? "root" : "api_key:k1",
        action: "account.update",
        targetType: "account",
        targetId: `acct-${n}`,
        before: null,
        after: `{"n":${n}}`,
        ip: "127.0.0.1",
        requestId: `req_${n}`,
        createdAt: new Date(Date.UTC(2026, 0, 1, 0, 0, n)).toISOString(),
        ...over,
      });
      const seal = (seq: number, prevHash: string) => `${seq}:${prevHash.slice(0, 8)}`;

      it("appends links naming their predecessor, and lists and filters them", async () => {
        const first = await store.audit.append(record(1), ["a", "b"], seal);
        expect(first).toMatchObject({ seq: 1, prevHash: AUDIT_GENESIS_HASH, hash: "1:00000000", requestId: "req_1" });
        const second = await store.transaction((tx) => tx.audit.append(record(2, { action: "credits.grant" }), ["a"], seal));
        expect(second).toMatchObject({ seq: 2, prevHash: "1:00000000", hash: "2:1:000000" });
        await store.audit.append(record(3), [], seal);
        expect((await store.audit.scan(0, 10)).map((r) => r.seq)).toEqual([1, 2, 3]);
        expect((await store.audit.scan(1, 1)).map((r) => r.seq)).toEqual([2]);
        expect(await store.audit.list()).toEqual([...(await store.audit.scan(0, 10))].reverse());
        const seqs = async (f: AuditFilter) => (await store.audit.list(f)).map((r) => r.seq);
        expect(await seqs({ scopeAccountId: "a" })).toEqual([2, 1]);
        expect(await seqs({ scopeAccountId: "b" })).toEqual([1]);
        expect(await seqs({ action: "credits.grant" })).toEqual([2]);
        expect(await seqs({ actor: "api_key:k1" })).toEqual([2]);
        expect(await seqs({ targetType: "account", targetId: "acct-3" })).toEqual([3]);
        expect(await seqs({ since: record(2).createdAt, until: record(3).createdAt })).toEqual([2]);
        expect(await seqs({ beforeSeq: 3, limit: 1 })).toEqual([2]);
      });

      it("rolls back with the transaction it was appended in", async () => {
        await store.audit.append(record(1), [], seal);
        await expect(
          store.transaction(async (tx) => {
            await tx.audit.append(record(2), ["a"], seal);
            throw new Error("change failed");
          }),
        ).rejects.toThrow("change failed");
        const next = await store.audit.append(record(3), [], seal);
        expect(next.seq).toBe(2);
        expect(await store.audit.list({ scopeAccountId: "a" })).toEqual([]);
      });

      it("stays linear when appends race", async () => {
        await Promise.all(
          Array.from({ length: 24 }, (_, i) =>
            store.transaction(async (tx) => {
              await tx.accounts.create({ name: `racer-${i}` });
              return tx.audit.append(record(i), [], seal);
            }),
          ),
        );
        const chain = await store.audit.scan(0, 100);
        expect(chain.map((r) => r.seq)).toEqual(Array.from({ length: 24 }, (_, i) => i + 1));
        for (const [i, r] of chain.entries()) expect(r.prevHash).toBe(i === 0 ? AUDIT_GENESIS_HASH : chain[i - 1]!.hash);
      });
    });
  });
}

/** A usage record numbered n (request id, tokens and time follow from n). */
export function record(n: number, over: Partial<UsageRecord> = {}): UsageRecord {
  return {
    requestId: `req_${n}`,
    accountId: "acct-1",
    apiKeyId: "key-1",
    model: "gpt-5",
    upstreamModel: "gpt-5.4",
    upstreamId: "up-1",
    upstreamKeyId: "uk-1",
    clientProtocol: "anthropic-messages",
    upstreamProtocol: "codex",
    stream: n % 2 === 0,
    inputTokens: 1000 + n,
    cachedInputTokens: 512,
    cacheWriteTokens: 7,
    outputTokens: 40,
    reasoningTokens: 12,
    costMicros: 2 ** 40 + n,
    status: "ok",
    httpStatus: 200,
    errorCode: null,
    attempts: 1,
    latencyMs: 123,
    // Null for some, as for a request no upstream answered.
    ttfbMs: n % 3 === 0 ? null : 40 + n,
    // Who paid, and what was debited (null and 0 for some: nobody charged).
    // And no attempt trail for those.
    attemptTrail:
      n % 3 === 0
        ? null
        : [
            {
              upstream: "up",
              upstreamId: "up-1",
              keyId: "uk-0",
              tier: null,
              outcome: "rate_limited",
              httpStatus: 429,
              code: "rate_limit_exceeded",
              durationMs: 3,
            },
            { upstream: "up", upstreamId: "up-1", keyId: "uk-1", tier: 0, outcome: "ok", httpStatus: 200, code: null, durationMs: 40 + n },
          ],
    createdAt: new Date(Date.UTC(2026, 0, 1, 0, 0, n)).toISOString(),
    priceVersion: "builtin-2026-12/gpt-5*",
    payerAccountId: n % 4 === 0 ? null : "acct-1",
    // Above 2^32, as costMicros: bigint columns on both engines.
    chargedMicros: n % 4 === 0 ? 0 : 2 ** 33 + n,
    cacheKeyHash: n % 3 === 0 ? null : `hash-${n}`,
    tier: n % 3 === 0 ? null : 1 + (n % 2),
    ...over,
  };
}

let runCounter = 0;
function randomRunId(): string {
  return `run${++runCounter}x${Math.random().toString(36).slice(2, 8)}`;
}

/** What summing `records` by hand gives, in the repo's terms. */
function sumOf(records: readonly UsageRecord[]): UsageTotals {
  const t: UsageTotals = {
    requests: 0,
    errors: 0,
    inputTokens: 0,
    cachedInputTokens: 0,
    cacheWriteTokens: 0,
    outputTokens: 0,
    reasoningTokens: 0,
    costMicros: 0,
    chargedMicros: 0,
  };
  for (const r of records) {
    t.requests += 1;
    if (r.status === "error") t.errors += 1;
    t.inputTokens += r.inputTokens;
    t.cachedInputTokens += r.cachedInputTokens;
    t.cacheWriteTokens += r.cacheWriteTokens;
    t.outputTokens += r.outputTokens;
    t.reasoningTokens += r.reasoningTokens;
    t.costMicros += r.costMicros;
    t.chargedMicros += r.chargedMicros ?? 0;
  }
  return t;
}

/** The same, per group value. */
function sumsBy(records: readonly UsageRecord[], group: (r: UsageRecord) => string): Map<string, UsageTotals> {
  const by = new Map<string, UsageRecord[]>();
  for (const r of records) by.set(group(r), [...(by.get(group(r)) ?? []), r]);
  return new Map([...by].map(([k, rs]) => [k, sumOf(rs)]));
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const MISSING_ID = "00000000-0000-4000-8000-000000000000";

/** Exercises escaping, unicode, nesting and every JSON value type. */
const JSON_DOC: Record<string, unknown> = {
  string: 'quote " backslash \\ newline \n tab \t',
  unicode: "日本語 — ü — 🚀",
  empty: "",
  int: -42,
  float: 3.25,
  big: 9007199254740991,
  yes: true,
  no: false,
  nothing: null,
  list: [1, "two", { three: [3] }, []],
  nested: { deeper: { deepest: { models: ["gpt-5*"], rpm: 1000 } } },
};

type TreeOp = { kind: "create"; parent: number | null } | { kind: "move"; node: number; parent: number | null } | { kind: "delete"; node: number };

const treeOp: fc.Arbitrary<TreeOp> = fc.oneof(
  {
    arbitrary: fc.record({ kind: fc.constant("create" as const), parent: fc.option(fc.nat(), { nil: null }) }),
    weight: 3,
  },
  {
    arbitrary: fc.record({
      kind: fc.constant("move" as const),
      node: fc.nat(),
      parent: fc.option(fc.nat(), { nil: null }),
    }),
    weight: 2,
  },
  { arbitrary: fc.record({ kind: fc.constant("delete" as const), node: fc.nat() }), weight: 1 },
);

/** Ancestors nearest first, by walking the model's parent links. */
function modelAncestors(model: ReadonlyMap<string, string | null>, id: string): string[] {
  const out: string[] = [];
  for (let p = model.get(id) ?? null; p !== null; p = model.get(p) ?? null) out.push(p);
  return out;
}

/** Creates accounts from a name → parent-name map listed parents first. */
async function buildTree<K extends string>(store: Store, spec: Record<K, NoInfer<K> | null>): Promise<Record<K, Account>> {
  const out = new Map<string, Account>();
  for (const [name, parent] of Object.entries(spec) as [K, K | null][]) {
    const parentId = parent === null ? null : out.get(parent)?.id;
    if (parentId === undefined) throw new Error(`buildTree: ${parent} must come before ${name}`);
    out.set(name, await store.accounts.create({ name, parentId }));
  }
  return Object.fromEntries(out) as Record<K, Account>;
}

async function expectStoreError(promise: Promise<unknown>, code: StoreErrorCode): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(StoreError);
  expect((error as StoreError).code).toBe(code);
}

function expectIsoTime(value: string): void {
  expect(new Date(value).toISOString()).toBe(value);
}

/** Lets the clock move so updatedAt can be compared with createdAt. */
function tick(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 2));
}

function ids(items: readonly { id: string }[]): string[] {
  return items.map((i) => i.id);
}

function names(items: readonly { name: string }[]): string[] {
  return items.map((i) => i.name);
}
