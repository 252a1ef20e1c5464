/**
 * One ChatGPT login shared by two nodes for days of simulated time: two independent
 * credential managers (each its own store connection, vault and in-process state) on one
 * store (a real SQLite file, or a PostgreSQL database of the test's own), refreshing at the
 * mock's token endpoint over a real socket, on one hand-moved clock. Both nodes' timers come
 * due together at every rotation; the token endpoint must see each refresh token once.
 *
 * Which node wins a rotation is left to the store; what is forced is that the loser meets
 * the lease: the winner's token-endpoint call waits until the other node has been refused
 * the lease, so every rotation runs the wait-then-adopt branch, not just the quick look.
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Counter, Registry } from "prom-client";
import { request } from "undici";
import { afterEach, describe, expect, it } from "vitest";
import { SealedCredentialVault } from "../governance/credential-vault.js";
import { SecretBox, fingerprint } from "../governance/secrets.js";
import { startMockUpstream, type MockUpstream } from "../mock/server.js";
import { openStore, type OpenStoreOptions } from "../storage/open-store.js";
import type { Store } from "../storage/ports.js";
import { ManualClock } from "../testing/manual-clock.js";
import { createTestDatabase, type TestDatabase } from "../testing/postgres-db.js";
import { ENGINES, type Engine } from "../testing/test-stores.js";
import { OAuthAccounts, requestRefresh, type ChatGptOAuthAccount, type CredentialVault } from "./chatgpt-oauth.js";
import { codexFingerprintMaterial, parseCodexAuth, serializeCodexAuth } from "./codex-auth.js";

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAYS = 3;
const STEP = 30 * MINUTE;

interface Node {
  store: Store;
  accounts: OAuthAccounts;
  cred: ChatGptOAuthAccount;
  /** Times this node asked for the refresh lease and was refused it. */
  denied: number;
  /** Times this node called the token endpoint. */
  calls: number;
  refreshes: Counter<"upstream" | "outcome">;
}

/** Counts of one node's refresh outcomes (refreshed, adopted, transient, dead). */
async function outcomes(n: Node): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const v of (await n.refreshes.get()).values) out[String(v.labels.outcome)] = v.value;
  return out;
}

let cleanup: Array<() => Promise<unknown>> = [];

afterEach(async () => {
  for (const fn of cleanup.reverse()) await fn().catch(() => undefined);
  cleanup = [];
});

/** Two store connections to one database of the engine's. */
async function twoStores(engine: Engine): Promise<[Store, Store]> {
  let location: OpenStoreOptions;
  if (engine === "sqlite") {
    const dataDir = await mkdtemp(join(tmpdir(), "switchyard-oauth-cluster-"));
    cleanup.push(() => rm(dataDir, { recursive: true, force: true }));
    location = { dataDir };
  } else {
    const db: TestDatabase = await createTestDatabase();
    cleanup.push(() => db.drop());
    location = { databaseUrl: db.url, dataDir: "/nonexistent", poolMax: 2 };
  }
  const a = await openStore(location);
  cleanup.push(() => a.close());
  await a.migrate();
  const b = await openStore(location);
  cleanup.push(() => b.close());
  return [a, b];
}

describe.each(ENGINES)("a ChatGPT login shared by two nodes (%s)", (engine) => {
  it(`serves ${DAYS} days of simulated time from both nodes, every refresh token presented once`, async () => {
    const mock: MockUpstream = await startMockUpstream();
    cleanup.push(() => mock.close());
    const clock = new ManualClock();
    mock.oauth.now = () => clock.now();
    mock.oauth.accessLifetimeMs = HOUR;
    const [storeA, storeB] = await twoStores(engine);
    const box = new SecretBox(randomBytes(32));
    const settings = { oauth: { token_url: `${mock.url}/oauth/token`, refresh_margin_ms: 5 * MINUTE, timeout_ms: 5000 } };
    const upstream = await storeA.upstreams.create({ name: "codex", protocol: "codex", baseUrl: `${mock.url}/backend-api/codex`, models: ["*"], settings });
    const imported = parseCodexAuth(mock.oauth.login({ accountId: "acct-shared" }), clock.now());
    const key = await storeA.upstreamKeys.create({
      upstreamId: upstream.id,
      name: "shared",
      ciphertext: box.seal(serializeCodexAuth(imported)),
      fingerprint: fingerprint(codexFingerprintMaterial(imported)),
    });

    // The lease gate: a token-endpoint call goes ahead once the other node has been refused the lease.
    let denials = 0;
    let waiters: Array<() => void> = [];
    const denied = (): void => {
      denials++;
      for (const w of waiters) w();
      waiters = [];
    };
    const afterNextDenial = (): Promise<void> => {
      const mark = denials;
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error("the other node never asked for the lease")), 5000);
        const check = (): void => {
          if (denials > mark) {
            clearTimeout(timer);
            resolve();
          } else waiters.push(check);
        };
        check();
      });
    };

    const node = (store: Store): Node => {
      const vault = new SealedCredentialVault(store.upstreamKeys, box);
      const n = {
        store,
        denied: 0,
        calls: 0,
        refreshes: new Counter({ name: "refreshes", help: "-", labelNames: ["upstream", "outcome"], registers: [new Registry()] }),
      } as Node;
      const gated: CredentialVault = {
        load: (id) => vault.load(id),
        rotate: (id, expected, secret, meta) => vault.rotate(id, expected, secret, meta),
        markDead: (id, reason) => vault.markDead(id, reason),
        async lease(id, ttl) {
          const lease = await vault.lease(id, ttl);
          if (!lease) {
            n.denied++;
            denied();
          }
          return lease;
        },
      };
      n.accounts = new OAuthAccounts({
        vault: gated,
        clock,
        leasePollMs: 5,
        metrics: { credentialRefreshes: n.refreshes },
        async refresh(s, refreshToken) {
          n.calls++;
          await afterNextDenial();
          return requestRefresh(s, refreshToken);
        },
      });
      cleanup.push(() => Promise.resolve(n.accounts.close()));
      n.cred = n.accounts.create({ name: "codex", settings }, { id: key.id, fingerprint: key.fingerprint, secret: box.open(key.ciphertext) });
      return n;
    };
    const nodes = [node(storeA), node(storeB)] as const;

    const stored = async (): Promise<ReturnType<typeof parseCodexAuth>> => parseCodexAuth(box.open((await storeB.upstreamKeys.get(key.id))!.ciphertext));
    const rotations = (): number => mock.oauth.refreshes.filter((r) => r.outcome === "rotated").length;
    /** One Codex request through a node, sent with what its credential puts on it; the token it sent and the status. */
    const call = async (n: Node): Promise<{ status: number; token: string }> => {
      const headers: Record<string, string> = { "content-type": "application/json", accept: "text/event-stream" };
      await n.cred.authorize(headers, new AbortController().signal);
      const res = await request(`${mock.url}/backend-api/codex/responses`, {
        method: "POST",
        headers,
        body: JSON.stringify({ model: "gpt-5-codex", instructions: "", input: [], store: false, stream: true }),
      });
      await res.body.text();
      return { status: res.statusCode, token: headers.authorization! };
    };

    let served = 0;
    let rotationSteps = 0;
    const steps = (DAYS * 24 * HOUR) / STEP;
    for (let i = 0; i < steps; i++) {
      const before = rotations();
      clock.advance(STEP);
      await Promise.all(nodes.map((n) => n.cred.settled()));
      if (rotations() > before) {
        rotationSteps++;
        // One call of the token endpoint per rotation, whichever node made it; the other waited and adopted.
        expect(rotations() - before).toBe(1);
      }
      // Both nodes hold the newest set: the one stored, the one the issuer made last.
      const newest = await stored();
      for (const n of nodes) expect(n.cred.tokens.accessToken).toBe(newest.accessToken);
      for (const n of nodes) {
        const r = await call(n);
        expect(r).toEqual({ status: 200, token: `Bearer ${newest.accessToken}` });
        served++;
      }
    }

    expect(served).toBe(steps * 2);
    // An hour's token refreshed 5 minutes ahead, checked every 30 minutes: one rotation an hour.
    expect(rotationSteps).toBeGreaterThanOrEqual(DAYS * 24 - 1);
    expect(mock.oauth.refreshes.map((r) => r.outcome).filter((o) => o !== "rotated")).toEqual([]);
    expect(mock.oauth.reuses).toBe(0);
    // Every rotation: one node called the endpoint, the other was refused the lease and adopted the stored set.
    const [a, b] = await Promise.all(nodes.map(outcomes));
    expect(nodes[0].calls + nodes[1].calls).toBe(rotations());
    expect((a!.refreshed ?? 0) + (b!.refreshed ?? 0)).toBe(rotations());
    expect((a!.adopted ?? 0) + (b!.adopted ?? 0)).toBe(rotations());
    expect(a!.transient ?? 0).toBe(0);
    expect(b!.transient ?? 0).toBe(0);
    expect(nodes[0].denied + nodes[1].denied).toBeGreaterThanOrEqual(rotations());
    for (const n of nodes) expect(n.cred.dead).toBeUndefined();
    const row = (await storeA.upstreamKeys.get(key.id))!;
    expect(row.deadAt).toBeNull();
    expect(parseCodexAuth(box.open(row.ciphertext)).refreshToken).toBe(nodes[0].cred.tokens.refreshToken);
  }, 60_000);
});
