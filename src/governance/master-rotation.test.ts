/**
 * Master-key rotation against real stores: every envelope ends up under the new key,
 * no credential is lost or changed, runs are idempotent and resumable, and writes racing
 * with the rotation are neither overwritten nor missed.
 */
import { randomBytes } from "node:crypto";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Store, Upstream } from "../storage/ports.js";
import { ENGINES, openTestStore, type TestStore } from "../testing/test-stores.js";
import { AuditChain, verifyAuditChain } from "./audit.js";
import { rotateMasterKey } from "./master-rotation.js";
import { fingerprint, masterKeyId, SecretBox } from "./secrets.js";

const OLD = randomBytes(32);
const NEW = randomBytes(32);

describe.each(ENGINES)("master-key rotation on %s", (engine) => {
  let t: TestStore;
  let store: Store;
  let upstream: Upstream;

  beforeEach(async () => {
    t = await openTestStore(engine);
    store = t.store;
    upstream = await store.upstreams.create({ name: "u", protocol: "openai-chat", baseUrl: "https://u.test", models: ["m"] });
  });
  afterEach(() => t?.dispose());

  async function addKeys(box: SecretBox, n: number, tag: string): Promise<Map<string, string>> {
    const made = new Map<string, string>();
    for (let i = 0; i < n; i++) {
      const secret = `sk-${tag}-${i}-${randomBytes(6).toString("hex")}`;
      const k = await store.upstreamKeys.create({
        upstreamId: upstream.id,
        name: `${tag}${i}`,
        ciphertext: box.seal(secret),
        fingerprint: fingerprint(secret),
      });
      made.set(k.id, secret);
    }
    return made;
  }

  async function expectAllOpenUnderNewOnly(expected: Map<string, string>): Promise<void> {
    const only = new SecretBox(NEW);
    const keys = await store.upstreamKeys.listAll();
    expect(new Map(keys.map((k) => [k.id, only.open(k.ciphertext)]))).toEqual(expected);
    for (const k of keys) expect(only.keyIdOf(k.ciphertext)).toBe(masterKeyId(NEW));
  }

  it("re-wraps every key in batches, keeps ids, fingerprints and ciphertexts, and a second run changes nothing", async () => {
    const secrets = await addKeys(new SecretBox(OLD), 23, "k");
    const before = await store.upstreamKeys.listAll();
    const progress: number[] = [];
    const report = await rotateMasterKey(store, new SecretBox(NEW, [OLD]), { batchSize: 5, onBatch: (r) => void progress.push(r.examined) });
    expect(report).toMatchObject({
      currentKeyId: masterKeyId(NEW),
      examined: 23,
      rewrapped: 23,
      alreadyCurrent: 0,
      changedMeanwhile: 0,
      unreadable: [],
      batches: 5,
    });
    expect(progress).toEqual([5, 10, 15, 20, 23]);
    await expectAllOpenUnderNewOnly(secrets);
    const after = await store.upstreamKeys.listAll();
    for (const [i, k] of after.entries()) {
      expect({ ...k, ciphertext: "" }).toEqual({ ...before[i]!, ciphertext: "" });
      expect(k.ciphertext.split(".").slice(5)).toEqual(before[i]!.ciphertext.split(".").slice(5));
    }
    const again = await rotateMasterKey(store, new SecretBox(NEW, [OLD]), { batchSize: 5 });
    expect(again).toMatchObject({ examined: 23, rewrapped: 0, alreadyCurrent: 23 });
    expect(await store.upstreamKeys.listAll()).toEqual(after);
  });

  it("records each re-wrap in the audit chain, naming the master keys and never an envelope", async () => {
    const made = await addKeys(new SecretBox(OLD), 3, "a");
    const audit = { sink: new AuditChain(), origin: { actor: { type: "cli" } } };
    await rotateMasterKey(store, new SecretBox(NEW, [OLD]), { batchSize: 2, audit });
    const records = await store.audit.list({ action: "upstream_key.rewrap" });
    expect(records.map((r) => r.targetId).sort()).toEqual([...made.keys()].sort());
    for (const r of records) {
      expect(r.actor).toBe("cli");
      expect([JSON.parse(r.before!), JSON.parse(r.after!)]).toEqual([{ master_key_id: masterKeyId(OLD) }, { master_key_id: masterKeyId(NEW) }]);
    }
    expect(JSON.stringify(records)).not.toContain("v2.");
    expect(await verifyAuditChain(store)).toMatchObject({ ok: true, count: 3 });
    // Nothing left to re-wrap: nothing more recorded.
    await rotateMasterKey(store, new SecretBox(NEW, [OLD]), { audit });
    expect(await store.audit.list({ action: "upstream_key.rewrap" })).toHaveLength(3);
  });

  it("resumes a run that stopped half-way, and reports envelopes no key opens without stopping", async () => {
    const secrets = await addKeys(new SecretBox(OLD), 10, "k");
    // A run that dies after its first batch.
    const stop = new Error("killed");
    await expect(
      rotateMasterKey(store, new SecretBox(NEW, [OLD]), {
        batchSize: 4,
        onBatch: () => {
          throw stop;
        },
      }),
    ).rejects.toBe(stop);
    const stranger = await addKeys(new SecretBox(randomBytes(32)), 1, "lost");
    const report = await rotateMasterKey(store, new SecretBox(NEW, [OLD]), { batchSize: 4 });
    expect(report).toMatchObject({ examined: 11, rewrapped: 6, alreadyCurrent: 4 });
    expect(report.unreadable.map((u) => u.upstreamKeyId)).toEqual([...stranger.keys()]);
    await store.upstreamKeys.delete([...stranger.keys()][0]!);
    await expectAllOpenUnderNewOnly(secrets);
  });

  it("races safely with keys added and removed while it runs", async () => {
    const secrets = await addKeys(new SecretBox(OLD), 40, "k");
    const during = new SecretBox(NEW, [OLD]);
    const doomed = [...secrets.keys()].filter((_, i) => i % 4 === 0);
    const [report, added] = await Promise.all([
      rotateMasterKey(store, during, { batchSize: 3 }),
      (async () => {
        for (const id of doomed) await store.upstreamKeys.delete(id);
        // Gateways hold the new key as current during the changeover, so new keys arrive under it.
        return addKeys(during, 10, "new");
      })(),
    ]);
    for (const id of doomed) secrets.delete(id);
    for (const [id, s] of added) secrets.set(id, s);
    expect(report.unreadable).toEqual([]);
    // Whatever raced past one run, the next finishes: the result is the same as without the race.
    await rotateMasterKey(store, during, { batchSize: 3 });
    await expectAllOpenUnderNewOnly(secrets);
  });
});
