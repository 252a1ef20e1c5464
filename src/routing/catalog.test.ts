import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Store } from "../storage/ports.js";
import { openTestStore, type TestStore } from "../testing/test-stores.js";
import { buildSnapshot, Catalog, type CatalogSource, type Decrypter } from "./catalog.js";

let t: TestStore;
let store: Store;

beforeEach(async () => {
  t = await openTestStore("sqlite");
  store = t.store;
});
afterEach(() => t.dispose());

/** Stands in for the secret box: anything with `open` will do, and this one counts its calls. */
function countingDecrypter(): Decrypter & { opened: string[] } {
  const opened: string[] = [];
  return { opened, open: (ciphertext) => (opened.push(ciphertext), `plain:${ciphertext}`) };
}

describe("catalog snapshot", () => {
  it("holds each enabled upstream with its active keys, opened by the decrypter it is given", async () => {
    const chat = await store.upstreams.create({ name: "chat", protocol: "openai-chat", baseUrl: "https://api.openai.com/v1", models: ["gpt-4o", "gpt-4o-*"] });
    await store.upstreams.create({ name: "off", protocol: "anthropic", baseUrl: "https://a.test", models: ["claude-*"], enabled: false });
    await store.upstreamKeys.create({ upstreamId: chat.id, name: "one", ciphertext: "c1", fingerprint: "sha256:1" });
    const two = await store.upstreamKeys.create({ upstreamId: chat.id, name: "two", ciphertext: "c2", fingerprint: "sha256:2" });
    await store.upstreamKeys.setStatus(two.id, "disabled");

    const decrypter = countingDecrypter();
    const snapshot = await buildSnapshot(store, decrypter, 7);
    expect(snapshot.version).toBe(7);
    expect(snapshot.upstreams.map((u) => u.upstream.name)).toEqual(["chat"]);
    const target = snapshot.upstreams[0]!;
    expect(target.pool.keys.map((k) => [k.name, k.secret])).toEqual([["one", "plain:c1"]]);
    expect(target.models.matches("gpt-4o-mini")).toBe(true);
    expect(target.models.matches("claude-3")).toBe(false);
    expect(target.sendsCacheKey).toBe(true);
    expect(decrypter.opened).toEqual(["c1"]);
  });

  it("leaves out a key whose envelope does not open, names it, and serves the others", async () => {
    const u = await store.upstreams.create({ name: "chat", protocol: "openai-chat", baseUrl: "https://x.test/v1", models: ["m"] });
    await store.upstreamKeys.create({ upstreamId: u.id, name: "good", ciphertext: "c1", fingerprint: "sha256:1" });
    const bad = await store.upstreamKeys.create({ upstreamId: u.id, name: "sealed-elsewhere", ciphertext: "bad", fingerprint: "sha256:2" });
    const decrypter: Decrypter = {
      open: (c) => {
        if (c === "bad") throw new Error("sealed under master key 0123456789abcdef, which this process does not hold");
        return `plain:${c}`;
      },
    };
    const snapshot = await buildSnapshot(store, decrypter, 1);
    expect(snapshot.upstreams[0]!.pool.keys.map((k) => k.name)).toEqual(["good"]);
    expect(snapshot.unopened).toEqual([
      { upstreamKeyId: bad.id, upstreamId: u.id, reason: "sealed under master key 0123456789abcdef, which this process does not hold" },
    ]);
  });

  it("lists the owners of enabled upstreams, for callers that own none to skip the owner check", async () => {
    const acme = await store.accounts.create({ name: "acme" });
    const off = await store.accounts.create({ name: "off" });
    await store.upstreams.create({ name: "shared", protocol: "openai-chat", baseUrl: "https://x.test/v1", models: ["m"] });
    await store.upstreams.create({ name: "own", ownerAccountId: acme.id, protocol: "openai-chat", baseUrl: "https://x.test/v1", models: ["m"] });
    await store.upstreams.create({ name: "own", ownerAccountId: off.id, protocol: "openai-chat", baseUrl: "https://x.test/v1", models: ["m"], enabled: false });
    const snapshot = await buildSnapshot(store, countingDecrypter(), 1);
    expect([...snapshot.owners]).toEqual([acme.id]);
  });

  it("keeps key health across a reload for unchanged keys, disabled ones included, and starts new keys afresh", async () => {
    const u = await store.upstreams.create({ name: "chat", protocol: "openai-chat", baseUrl: "https://x.test/v1", models: ["m"] });
    await store.upstreamKeys.create({ upstreamId: u.id, name: "cooling", ciphertext: "c1", fingerprint: "sha256:1" });
    await store.upstreamKeys.create({ upstreamId: u.id, name: "rejected", ciphertext: "c2", fingerprint: "sha256:2" });
    const decrypter = countingDecrypter();
    const catalog = await Catalog.load(store, decrypter);
    // Keys made in the same millisecond have no fixed order: find them by name.
    const named = (name: string) => catalog.snapshot.upstreams[0]!.pool.keys.find((k) => k.name === name)!;
    const cooling = named("cooling");
    Object.assign(cooling, { coolingUntil: 123, failures: 2 });
    Object.assign(named("rejected"), { removed: true, failures: 1 });
    await store.upstreamKeys.create({ upstreamId: u.id, name: "new", ciphertext: "c3", fingerprint: "sha256:3" });

    await catalog.reload();
    expect(catalog.snapshot.version).toBe(2);
    expect(catalog.snapshot.upstreams[0]!.pool.keys).toHaveLength(3);
    expect(named("cooling")).toBe(cooling);
    expect(named("cooling")).toMatchObject({ coolingUntil: 123, failures: 2 });
    expect(named("rejected")).toMatchObject({ removed: true, failures: 1, secret: "plain:c2" });
    expect(named("new")).toMatchObject({ removed: false, failures: 0, secret: "plain:c3" });
    expect([...decrypter.opened].sort()).toEqual(["c1", "c2", "c3"]);
  });

  it("builds again when reloaded during a running build, so a write made during it is never missed", async () => {
    let gated = false;
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    const source: CatalogSource = {
      upstreamKeys: store.upstreamKeys,
      upstreams: {
        ...store.upstreams,
        list: async () => {
          const list = await store.upstreams.list();
          if (gated) await gate;
          return list;
        },
      },
    };
    const catalog = await Catalog.load(source, countingDecrypter());
    gated = true;
    const first = catalog.reload();
    await new Promise((r) => setTimeout(r, 5));
    await store.upstreams.create({ name: "late", protocol: "openai-responses", baseUrl: "https://x.test/v1", models: ["m"] });
    const second = catalog.reload();
    open();
    await Promise.all([first, second]);
    expect(catalog.snapshot.upstreams.map((u) => u.upstream.name)).toEqual(["late"]);
  });
});
