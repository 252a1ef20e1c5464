import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Store } from "../storage/ports.js";
import { openTestStore, type TestStore } from "../testing/test-stores.js";
import { generateKey, hashKey, keyPrefix } from "./api-keys.js";
import { buildPrincipals, modelAllowed, Principals, verifyKey, type PrincipalSource } from "./principals.js";

let t: TestStore;
let store: Store;

beforeEach(async () => {
  t = await openTestStore("sqlite");
  store = t.store;
});
afterEach(() => t.dispose());

/** Issues a generated key to an account; returns the secret. */
async function issue(accountId: string): Promise<string> {
  const { secret, prefix, hash } = generateKey();
  await store.apiKeys.create({ accountId, name: "k", prefix, hash });
  return secret;
}

describe("principals snapshot", () => {
  it("finds a key by its secret, with its chain nearest first and the chain's folded policy", async () => {
    const org = await store.accounts.create({ name: "org", settings: { models: ["gpt-*", "claude-*"] } });
    const team = await store.accounts.create({ name: "team", parentId: org.id });
    const bot = await store.accounts.create({ name: "bot", parentId: team.id, settings: { models: ["gpt-4o*"] } });
    const teamKey = await issue(team.id);
    const botKey = await issue(bot.id);

    const snapshot = await buildPrincipals(store, 1);
    const p = verifyKey(snapshot, botKey)!;
    expect(p.account.name).toBe("bot");
    expect(p.chain.map((a) => a.name)).toEqual(["bot", "team", "org"]);
    expect(modelAllowed(p, "gpt-4o-mini")).toBe(true);
    expect(modelAllowed(p, "gpt-5")).toBe(false);
    expect(modelAllowed(p, "claude-3")).toBe(false);

    const inherits = verifyKey(snapshot, teamKey)!;
    expect(inherits.chain.map((a) => a.name)).toEqual(["team", "org"]);
    expect(modelAllowed(inherits, "claude-3")).toBe(true);
    expect(modelAllowed(inherits, "o3")).toBe(false);
  });

  it("refuses wrong secrets, including one that shares a real key's prefix", async () => {
    const a = await store.accounts.create({ name: "a" });
    const secret = await issue(a.id);
    const snapshot = await buildPrincipals(store, 1);
    const forged = secret.slice(0, -1) + (secret.endsWith("A") ? "B" : "A");
    expect(keyPrefix(forged)).toBe(keyPrefix(secret));
    expect(verifyKey(snapshot, forged)).toBeUndefined();
    expect(verifyKey(snapshot, "sk-never-issued-0000000000")).toBeUndefined();
  });

  it("takes keys of any shape (declared in YAML) through their hash-derived prefix", async () => {
    const a = await store.accounts.create({ name: "a" });
    const secret = "sk-declared-in-yaml-0000000001";
    const hash = hashKey(secret);
    await store.apiKeys.create({ accountId: a.id, name: "yaml", prefix: keyPrefix(secret, hash), hash });
    expect(verifyKey(await buildPrincipals(store, 1), secret)?.account.id).toBe(a.id);
  });

  it("leaves revoked keys out", async () => {
    const a = await store.accounts.create({ name: "a" });
    const secret = await issue(a.id);
    const [key] = await store.apiKeys.listByAccount(a.id);
    await store.apiKeys.revoke(key!.id);
    expect(verifyKey(await buildPrincipals(store, 1), secret)).toBeUndefined();
  });

  it("never lets a stored child use more than its parent", async () => {
    const parent = await store.accounts.create({ name: "parent", settings: { models: ["gpt-4o"] } });
    // Wider than its parent: the admin API refuses this, but the store takes it.
    const child = await store.accounts.create({ name: "child", parentId: parent.id, settings: { models: ["gpt-4o", "claude-*"] } });
    const secret = await issue(child.id);
    const p = verifyKey(await buildPrincipals(store, 1), secret)!;
    expect(modelAllowed(p, "gpt-4o")).toBe(true);
    expect(modelAllowed(p, "claude-3")).toBe(false);
  });

  it("lets an account whose policy does not parse, and everything below it, use no model, and says so", async () => {
    const broken = await store.accounts.create({ name: "broken", settings: { models: "gpt-4o" } });
    const below = await store.accounts.create({ name: "below", parentId: broken.id, settings: { models: ["gpt-4o"] } });
    const fine = await store.accounts.create({ name: "fine" });
    const [brokenKey, belowKey, fineKey] = [await issue(broken.id), await issue(below.id), await issue(fine.id)];
    const warnings: unknown[] = [];
    const snapshot = await buildPrincipals(store, 1, { warn: (obj: unknown) => void warnings.push(obj) });
    expect(modelAllowed(verifyKey(snapshot, brokenKey)!, "gpt-4o")).toBe(false);
    expect(modelAllowed(verifyKey(snapshot, belowKey)!, "gpt-4o")).toBe(false);
    expect(modelAllowed(verifyKey(snapshot, fineKey)!, "gpt-4o")).toBe(true);
    expect(warnings).toEqual([expect.objectContaining({ account: "broken" })]);
  });
});

describe("Principals holder", () => {
  it("swaps in a new snapshot on reload and leaves the old one as it was", async () => {
    const a = await store.accounts.create({ name: "a" });
    const principals = await Principals.load(store);
    const before = principals.snapshot;
    const secret = await issue(a.id);
    expect(verifyKey(principals.snapshot, secret)).toBeUndefined();
    await principals.reload();
    expect(verifyKey(principals.snapshot, secret)?.account.name).toBe("a");
    expect(principals.snapshot.version).toBe(before.version + 1);
    expect(verifyKey(before, secret)).toBeUndefined();
  });

  it("builds again after a running build, so a write made during it is never missed, and callers waiting meanwhile share one build", async () => {
    const a = await store.accounts.create({ name: "a" });
    let builds = 0;
    let gated = false;
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    const source: PrincipalSource = {
      accounts: store.accounts,
      apiKeys: {
        listActive: async () => {
          builds++;
          const keys = await store.apiKeys.listActive();
          if (gated) await gate;
          return keys;
        },
      },
    };
    const principals = await Principals.load(source);
    gated = true;
    const first = principals.reload();
    await new Promise((r) => setTimeout(r, 5));
    expect(builds).toBe(2);
    // Written after the running build read the keys: only a later build can see it.
    const secret = await issue(a.id);
    const waiting = [principals.reload(), principals.reload(), principals.reload()];
    open();
    await Promise.all([first, ...waiting]);
    expect(builds).toBe(3);
    expect(verifyKey(principals.snapshot, secret)?.account.name).toBe("a");
  });

  it("keeps the current snapshot when a rebuild fails", async () => {
    const a = await store.accounts.create({ name: "a" });
    const secret = await issue(a.id);
    let fail = false;
    const source: PrincipalSource = {
      accounts: { list: () => (fail ? Promise.reject(new Error("database down")) : store.accounts.list()) },
      apiKeys: store.apiKeys,
    };
    const principals = await Principals.load(source);
    fail = true;
    await expect(principals.reload()).rejects.toThrow("database down");
    expect(verifyKey(principals.snapshot, secret)?.account.name).toBe("a");
    fail = false;
    await principals.reload();
    expect(principals.snapshot.version).toBe(2);
  });
});
