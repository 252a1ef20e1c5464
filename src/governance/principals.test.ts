import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { GatewayError } from "../canonical/errors.js";
import type { Store } from "../storage/ports.js";
import { openTestStore, type TestStore } from "../testing/test-stores.js";
import { generateKey, hashKey, keyPrefix } from "./api-keys.js";
import { modelAllowed, Principals, type Principal, type PrincipalCacheOptions, type PrincipalSource } from "./principals.js";

let t: TestStore;
let store: Store;

beforeEach(async () => {
  t = await openTestStore("sqlite");
  store = t.store;
});
afterEach(() => t.dispose());

/** Issues a generated key to an account; returns the secret and the key's id. */
async function issue(accountId: string): Promise<string> {
  const { secret, prefix, hash } = generateKey();
  await store.apiKeys.create({ accountId, name: "k", prefix, hash });
  return secret;
}

/** The store, counting the queries the cache makes. */
function counted(): { source: PrincipalSource; queries: { byPrefix: number; chains: number } } {
  const queries = { byPrefix: 0, chains: 0 };
  const source: PrincipalSource = {
    apiKeys: {
      getByPrefix: (p) => (queries.byPrefix++, store.apiKeys.getByPrefix(p)),
      get: (id) => store.apiKeys.get(id),
    },
    accounts: {
      get: (id) => (queries.chains++, store.accounts.get(id)),
      ancestors: (id) => store.accounts.ancestors(id),
    },
  };
  return { source, queries };
}

/** Asserts the key is not cached (the answer is a promise), and lets the load finish before the store closes. */
async function expectMiss(p: Principals, secret: string): Promise<void> {
  const answer = p.verify(secret);
  expect(answer).toBeInstanceOf(Promise);
  await answer;
}

async function verify(p: Principals, secret: string): Promise<Principal | undefined> {
  return p.verify(secret);
}

describe("principals: what a key may do", () => {
  it("finds a key by its secret, with its chain nearest first and the chain's folded policy", async () => {
    const org = await store.accounts.create({ name: "org", settings: { models: ["gpt-*", "claude-*"] } });
    const team = await store.accounts.create({ name: "team", parentId: org.id });
    const bot = await store.accounts.create({ name: "bot", parentId: team.id, settings: { models: ["gpt-4o*"] } });
    const teamKey = await issue(team.id);
    const botKey = await issue(bot.id);

    const principals = new Principals(store);
    const p = (await verify(principals, botKey))!;
    expect(p.account.name).toBe("bot");
    expect(p.chain.map((a) => a.name)).toEqual(["bot", "team", "org"]);
    expect(modelAllowed(p, "gpt-4o-mini")).toBe(true);
    expect(modelAllowed(p, "gpt-5")).toBe(false);
    expect(modelAllowed(p, "claude-3")).toBe(false);

    const inherits = (await verify(principals, teamKey))!;
    expect(inherits.chain.map((a) => a.name)).toEqual(["team", "org"]);
    expect(modelAllowed(inherits, "claude-3")).toBe(true);
    expect(modelAllowed(inherits, "o3")).toBe(false);
    // The team's chain was folded once, for the bot's key, and shared with the team's key.
    expect(inherits.chain[0]).toBe(p.chain[1]);
    expect(principals.stats().accounts).toBe(3);
  });

  it("refuses wrong secrets, including one that shares a real key's prefix", async () => {
    const a = await store.accounts.create({ name: "a" });
    const secret = await issue(a.id);
    const principals = new Principals(store);
    const forged = secret.slice(0, -1) + (secret.endsWith("A") ? "B" : "A");
    expect(keyPrefix(forged)).toBe(keyPrefix(secret));
    expect(await verify(principals, forged)).toBeUndefined();
    // Now cached: the real key answers at once, and the forged one still does not.
    expect(principals.verify(secret)).toMatchObject({ account: { id: a.id } });
    expect(principals.verify(forged)).toBeUndefined();
    expect(await verify(principals, "sk-never-issued-0000000000")).toBeUndefined();
  });

  it("takes keys of any shape (declared in YAML) through their hash-derived prefix", async () => {
    const a = await store.accounts.create({ name: "a" });
    const secret = "sk-declared-in-yaml-0000000001";
    const hash = hashKey(secret);
    await store.apiKeys.create({ accountId: a.id, name: "yaml", prefix: keyPrefix(secret, hash), hash });
    expect((await verify(new Principals(store), secret))?.account.id).toBe(a.id);
  });

  it("refuses revoked keys", async () => {
    const a = await store.accounts.create({ name: "a" });
    const secret = await issue(a.id);
    const [key] = await store.apiKeys.listByAccount(a.id);
    await store.apiKeys.revoke(key!.id);
    expect(await verify(new Principals(store), secret)).toBeUndefined();
  });

  it("never lets a stored child use more than its parent", async () => {
    const parent = await store.accounts.create({ name: "parent", settings: { models: ["gpt-4o"] } });
    // Wider than its parent: the admin API refuses this, but the store takes it.
    const child = await store.accounts.create({ name: "child", parentId: parent.id, settings: { models: ["gpt-4o", "claude-*"] } });
    const p = (await verify(new Principals(store), await issue(child.id)))!;
    expect(modelAllowed(p, "gpt-4o")).toBe(true);
    expect(modelAllowed(p, "claude-3")).toBe(false);
  });

  it("lets an account whose policy does not parse, and everything below it, use no model, and says so", async () => {
    const broken = await store.accounts.create({ name: "broken", settings: { models: "gpt-4o" } });
    const below = await store.accounts.create({ name: "below", parentId: broken.id, settings: { models: ["gpt-4o"] } });
    const fine = await store.accounts.create({ name: "fine" });
    const [brokenKey, belowKey, fineKey] = [await issue(broken.id), await issue(below.id), await issue(fine.id)];
    const warnings: unknown[] = [];
    const principals = new Principals(store, { logger: { warn: (obj: unknown) => void warnings.push(obj) } });
    expect(modelAllowed((await verify(principals, brokenKey))!, "gpt-4o")).toBe(false);
    expect(modelAllowed((await verify(principals, belowKey))!, "gpt-4o")).toBe(false);
    expect(modelAllowed((await verify(principals, fineKey))!, "gpt-4o")).toBe(true);
    expect(warnings).toEqual([expect.objectContaining({ account: "broken" })]);
  });
});

describe("principals cache", () => {
  it("answers a cached key synchronously, without the store", async () => {
    const a = await store.accounts.create({ name: "a" });
    const secret = await issue(a.id);
    const { source, queries } = counted();
    const principals = new Principals(source);
    const miss = principals.verify(secret);
    expect(miss).toBeInstanceOf(Promise);
    const first = await miss;
    for (let i = 0; i < 100; i++) expect(principals.verify(secret)).toBe(first);
    expect(queries).toEqual({ byPrefix: 1, chains: 1 });
  });

  it("answers a secret it verified before without hashing it, and forgets the secret with its key", async () => {
    const a = await store.accounts.create({ name: "a" });
    const b = await store.accounts.create({ name: "b" });
    const secret = await issue(a.id);
    const other = await issue(b.id);
    const [key] = await store.apiKeys.listByAccount(a.id);
    const forged = secret.slice(0, -1) + (secret.endsWith("A") ? "B" : "A");
    const principals = new Principals(store, { maxKeys: 1 });
    const first = (await verify(principals, secret))!;
    expect(principals.verifiedSecrets).toBe(1);
    expect(principals.verify(secret)).toBe(first);
    // A wrong secret with the key's prefix is hashed, refused and not remembered.
    expect(principals.verify(forged)).toBeUndefined();
    expect(principals.verifiedSecrets).toBe(1);

    // Revoked and announced: the remembered secret goes with the key and is refused.
    await store.apiKeys.revoke(key!.id);
    await principals.invalidate({ type: "api_key", id: key!.id });
    expect(principals.verifiedSecrets).toBe(0);
    expect(await verify(principals, secret)).toBeUndefined();

    // Evicted (the bound is one key) and cleared: gone too, so the next look-up is a miss.
    expect((await verify(principals, other))?.account.id).toBe(b.id);
    expect(principals.verifiedSecrets).toBe(1);
    principals.clear();
    expect(principals.verifiedSecrets).toBe(0);
    await expectMiss(principals, other);
    expect(principals.verifiedSecrets).toBe(1);
    const third = await issue(a.id);
    expect((await verify(principals, third))?.account.id).toBe(a.id);
    expect(principals.verifiedSecrets).toBe(1);
    await expectMiss(principals, other);
  });

  it("loads a key once for concurrent misses", async () => {
    const a = await store.accounts.create({ name: "a" });
    const secret = await issue(a.id);
    const { source, queries } = counted();
    const principals = new Principals(source);
    const all = await Promise.all(Array.from({ length: 50 }, () => verify(principals, secret)));
    expect(new Set(all).size).toBe(1);
    expect(all[0]?.account.id).toBe(a.id);
    expect(queries).toEqual({ byPrefix: 1, chains: 1 });
  });

  it("folds an account's chain once for all its keys and its sub-accounts' keys", async () => {
    const org = await store.accounts.create({ name: "org" });
    const team = await store.accounts.create({ name: "team", parentId: org.id });
    const secrets = [await issue(team.id), await issue(team.id), await issue(org.id)];
    const { source, queries } = counted();
    const principals = new Principals(source);
    const ps = [];
    for (const s of secrets) ps.push((await verify(principals, s))!);
    expect(ps[0]!.chain).toBe(ps[1]!.chain);
    expect(ps[0]!.policy).toBe(ps[1]!.policy);
    expect(ps[2]!.chain[0]).toBe(ps[0]!.chain[1]);
    // One chain read, for the first key; the other keys' accounts were cached.
    expect(queries).toEqual({ byPrefix: 3, chains: 1 });
    // Two cached accounts (1 each) and the two chains keys hang on (team: 2, org: 1).
    expect(principals.stats()).toMatchObject({ keys: 3, accounts: 2, chainLinks: 5 });
  });

  it("remembers unknown prefixes, bounded, and forgets one when a key is created with it", async () => {
    const a = await store.accounts.create({ name: "a" });
    const { source, queries } = counted();
    const principals = new Principals(source, { maxUnknownKeys: 3 });
    const { secret } = generateKey();
    expect(await verify(principals, secret)).toBeUndefined();
    // Remembered: answered at once, no query.
    expect(principals.verify(secret)).toBeUndefined();
    expect(queries.byPrefix).toBe(1);

    for (let i = 0; i < 10; i++) await verify(principals, generateKey().secret);
    expect(principals.stats().unknownKeys).toBe(3);

    const fresh = generateKey();
    expect(await verify(principals, fresh.secret)).toBeUndefined();
    const key = await store.apiKeys.create({ accountId: a.id, name: "new", prefix: fresh.prefix, hash: fresh.hash });
    expect(principals.verify(fresh.secret)).toBeUndefined(); // still remembered as unknown…
    await principals.invalidate({ type: "api_key", id: key.id });
    expect((await verify(principals, fresh.secret))?.account.id).toBe(a.id); // …until the creation is announced
  });

  it("drops a revoked key at once", async () => {
    const a = await store.accounts.create({ name: "a" });
    const secret = await issue(a.id);
    const principals = new Principals(store);
    expect(await verify(principals, secret)).toBeDefined();
    const [key] = await store.apiKeys.listByAccount(a.id);
    await store.apiKeys.revoke(key!.id);
    expect(principals.verify(secret)).toBeDefined(); // the cache has not been told yet
    await principals.invalidate({ type: "api_key", id: key!.id });
    expect(await verify(principals, secret)).toBeUndefined();
    expect(principals.stats()).toMatchObject({ keys: 0, accounts: 0, chainLinks: 0 });
  });

  it("drops the whole cached subtree of a suspended account, and nothing else", async () => {
    // root → l1 → l2 → l3 (depth 3), and a sibling branch root → other.
    const root = await store.accounts.create({ name: "root" });
    const l1 = await store.accounts.create({ name: "l1", parentId: root.id });
    const l2 = await store.accounts.create({ name: "l2", parentId: l1.id });
    const l3 = await store.accounts.create({ name: "l3", parentId: l2.id });
    const other = await store.accounts.create({ name: "other", parentId: root.id });
    const deep = await issue(l3.id);
    const mid = await issue(l2.id);
    const aside = await issue(other.id);
    const { source, queries } = counted();
    const principals = new Principals(source);
    for (const s of [deep, mid, aside]) expect((await verify(principals, s))!.chain.every((a) => a.status === "active")).toBe(true);
    const asideBefore = principals.verify(aside);

    await store.accounts.update(l1.id, { status: "disabled" });
    principals.invalidateAccount(l1.id);
    // Both keys below l1 are loaded again and see l1 disabled (admission refuses them); the sibling stays cached.
    await expectMiss(principals, deep);
    const reloaded = (await verify(principals, deep))!;
    expect(reloaded.chain.map((a) => [a.name, a.status])).toEqual([
      ["l3", "active"],
      ["l2", "active"],
      ["l1", "disabled"],
      ["root", "active"],
    ]);
    expect((await verify(principals, mid))!.chain.find((a) => a.id === l1.id)?.status).toBe("disabled");
    expect(principals.verify(aside)).toBe(asideBefore);
    expect(queries.byPrefix).toBe(5);
  });

  it("drops the subtree below a moved account, which then folds under its new parent", async () => {
    const a = await store.accounts.create({ name: "a", settings: { models: ["gpt-*"] } });
    const b = await store.accounts.create({ name: "b", settings: { models: ["claude-*"] } });
    const mover = await store.accounts.create({ name: "mover", parentId: a.id });
    const leaf = await store.accounts.create({ name: "leaf", parentId: mover.id });
    const secret = await issue(leaf.id);
    const principals = new Principals(store);
    expect(modelAllowed((await verify(principals, secret))!, "gpt-5")).toBe(true);
    await store.accounts.move(mover.id, b.id);
    await principals.invalidate({ type: "account", id: mover.id });
    const p = (await verify(principals, secret))!;
    expect(p.chain.map((x) => x.name)).toEqual(["leaf", "mover", "b"]);
    expect(modelAllowed(p, "gpt-5")).toBe(false);
    expect(modelAllowed(p, "claude-4")).toBe(true);
    // a's node went with mover's subtree: nothing depends on it any more.
    expect(principals.cachedPolicy(a.id)).toBeUndefined();
  });

  it("does not cache what a load read before a change arrived", async () => {
    const a = await store.accounts.create({ name: "a" });
    const secret = await issue(a.id);
    const [key] = await store.apiKeys.listByAccount(a.id);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const source: PrincipalSource = {
      apiKeys: {
        getByPrefix: async (p) => {
          const k = await store.apiKeys.getByPrefix(p);
          await gate;
          return k;
        },
        get: (id) => store.apiKeys.get(id),
      },
      accounts: store.accounts,
    };
    const principals = new Principals(source);
    const slow = verify(principals, secret); // reads the key while still active
    await new Promise((r) => setTimeout(r, 5));
    await store.apiKeys.revoke(key!.id);
    const told = principals.invalidate({ type: "api_key", id: key!.id });
    release();
    await told;
    expect(await slow).toBeDefined(); // the request that raced the revocation
    expect(principals.stats().keys).toBe(0);
    expect(principals.verifiedSecrets).toBe(0);
    expect(await verify(principals, secret)).toBeUndefined();
  });

  it("evicts the least recently used keys within its bound, and frees their chains", async () => {
    const org = await store.accounts.create({ name: "org" });
    const teams = [];
    for (let i = 0; i < 4; i++) teams.push(await store.accounts.create({ name: `team${i}`, parentId: org.id }));
    const secrets = [];
    for (const team of teams) secrets.push(await issue(team.id));
    const principals = new Principals(store, { maxKeys: 2 });
    for (const s of secrets) await verify(principals, s);
    expect(principals.stats()).toMatchObject({ keys: 2, accounts: 3, chainLinks: 3 + 2 + 2 });
    await expectMiss(principals, secrets[0]!);
    expect(principals.verify(secrets[3]!)).not.toBeInstanceOf(Promise);
  });

  it("keeps the summed chain length within its bound", async () => {
    let parent: string | null = null;
    const chain = [];
    for (let i = 0; i < 10; i++) {
      const a: { id: string } = await store.accounts.create({ name: `a${i}`, parentId: parent });
      chain.push(a);
      parent = a.id;
    }
    // Every cached account counts 1, and each key's account its chain: a key at depth 9 costs 10 + 10.
    const deep = await issue(chain[9]!.id);
    const lone = await store.accounts.create({ name: "lone" });
    const loneKey = await issue(lone.id);
    const side = await store.accounts.create({ name: "side", parentId: chain[2]!.id });
    const sideKey = await issue(side.id);
    const principals = new Principals(store, { maxChainLinks: 25 });
    await verify(principals, deep);
    await verify(principals, loneKey);
    expect(principals.stats()).toMatchObject({ keys: 2, chainLinks: 22 });
    // side adds 1 + 4 (a0..a2 are shared): 27 > 25, so the least recently used key goes, and a3..a9 with it.
    await verify(principals, sideKey);
    expect(principals.stats()).toMatchObject({ keys: 2, accounts: 5, chainLinks: 5 + 4 + 1 });
    expect(principals.verify(loneKey)).not.toBeInstanceOf(Promise);
    await expectMiss(principals, deep);
  });

  it("refuses loads beyond its rate with key_lookup_unavailable, and serves cached keys meanwhile", async () => {
    const a = await store.accounts.create({ name: "a" });
    const secret = await issue(a.id);
    let now = 0;
    const opts: Partial<PrincipalCacheOptions> = { loadsPerSecond: 3, now: () => now };
    const principals = new Principals(store, opts);
    await verify(principals, secret);
    await verify(principals, generateKey().secret);
    await verify(principals, generateKey().secret);
    const refused = await verify(principals, generateKey().secret).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(GatewayError);
    expect(refused).toMatchObject({ code: "key_lookup_unavailable", status: 503 });
    expect(principals.verify(secret)).toMatchObject({ account: { id: a.id } });
    now += 1000;
    expect(await verify(principals, generateKey().secret)).toBeUndefined();
    expect(principals.stats()).toMatchObject({ loads: 4, refusedLoads: 1 });
  });

  it("reloads a key it found valid before without counting it against the rate, after a reset or an eviction", async () => {
    const a = await store.accounts.create({ name: "a" });
    const [s1, s2] = [await issue(a.id), await issue(a.id)];
    const now = 0;
    const principals = new Principals(store, { loadsPerSecond: 2, maxKeys: 1, now: () => now });
    await verify(principals, s1);
    await verify(principals, s2); // evicts s1; the bucket is empty now
    await expect(verify(principals, generateKey().secret)).rejects.toMatchObject({ code: "key_lookup_unavailable" });
    expect((await verify(principals, s1))?.account.id).toBe(a.id);
    principals.clear();
    expect((await verify(principals, s2))?.account.id).toBe(a.id);
    expect(principals.stats()).toMatchObject({ loads: 4, refusedLoads: 1 });
  });

  it("answers key_lookup_unavailable when the store fails, and caches nothing", async () => {
    const a = await store.accounts.create({ name: "a" });
    const secret = await issue(a.id);
    let down = true;
    const principals = new Principals({
      apiKeys: { getByPrefix: (p) => (down ? Promise.reject(new Error("database down")) : store.apiKeys.getByPrefix(p)), get: (id) => store.apiKeys.get(id) },
      accounts: store.accounts,
    });
    await expect(verify(principals, secret)).rejects.toMatchObject({ code: "key_lookup_unavailable" });
    down = false;
    expect((await verify(principals, secret))?.account.id).toBe(a.id);
  });

  it("forgets everything on clear, and on a notice that the configuration file was applied", async () => {
    const a = await store.accounts.create({ name: "a" });
    const secret = await issue(a.id);
    const principals = new Principals(store);
    await verify(principals, secret);
    await verify(principals, generateKey().secret);
    principals.clear();
    expect(principals.stats()).toMatchObject({ keys: 0, unknownKeys: 0, accounts: 0, chainLinks: 0 });
    await expectMiss(principals, secret);
    await principals.invalidate({ type: "config", id: "switchyard.yaml" });
    await expectMiss(principals, secret);
  });
});
