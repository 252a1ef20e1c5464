/**
 * ChatGPT logins that refresh themselves, over real sockets (the mock's token endpoint and
 * Codex backend) and a real SQLite file (the sealed store a restart reads back), on a hand-moved clock.
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { request } from "undici";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { SealedCredentialVault } from "../governance/credential-vault.js";
import { SecretBox, fingerprint } from "../governance/secrets.js";
import { startMockUpstream, type MockUpstream } from "../mock/server.js";
import { buildSnapshot } from "../routing/catalog.js";
import { openStore } from "../storage/open-store.js";
import type { Store, UpstreamKey } from "../storage/ports.js";
import { ManualClock } from "../testing/manual-clock.js";
import { CredentialUnavailableError, OAuthAccounts, type ChatGptOAuthAccount, type CredentialVault } from "./chatgpt-oauth.js";
import { codexFingerprintMaterial, parseCodexAuth, serializeCodexAuth } from "./codex-auth.js";

const HOUR = 3_600_000;
const MINUTE = 60_000;

interface Fixture {
  mock: MockUpstream;
  dataDir: string;
  store: Store;
  box: SecretBox;
  clock: ManualClock;
  upstreamId: string;
  settings: Record<string, unknown>;
  key: UpstreamKey;
  accounts: OAuthAccounts;
  cred: ChatGptOAuthAccount;
}

let f: Fixture;

async function setup(o: { margin?: number; timeoutMs?: number; vault?: (v: CredentialVault) => CredentialVault } = {}): Promise<Fixture> {
  const mock = await startMockUpstream();
  const dataDir = await mkdtemp(join(tmpdir(), "switchyard-oauth-"));
  const store = await openStore({ dataDir });
  await store.migrate();
  const box = new SecretBox(randomBytes(32));
  const clock = new ManualClock();
  mock.oauth.now = () => clock.now();
  mock.oauth.accessLifetimeMs = HOUR;
  const settings = { oauth: { token_url: `${mock.url}/oauth/token`, refresh_margin_ms: o.margin ?? 5 * MINUTE, timeout_ms: o.timeoutMs ?? 5000 } };
  const upstream = await store.upstreams.create({ name: "codex", protocol: "codex", baseUrl: `${mock.url}/backend-api/codex`, models: ["*"], settings });
  const set = parseCodexAuth(mock.oauth.login({ accountId: "acct-1", plan: "pro" }), clock.now());
  const key = await store.upstreamKeys.create({
    upstreamId: upstream.id,
    name: "login",
    ciphertext: box.seal(serializeCodexAuth(set)),
    fingerprint: fingerprint(codexFingerprintMaterial(set)),
  });
  const vault = new SealedCredentialVault(store.upstreamKeys, box);
  const accounts = new OAuthAccounts({ vault: o.vault ? o.vault(vault) : vault, clock, leasePollMs: 10 });
  const cred = accounts.create({ name: "codex", settings }, { id: key.id, fingerprint: key.fingerprint, secret: box.open(key.ciphertext) });
  return { mock, dataDir, store, box, clock, upstreamId: upstream.id, settings, key, accounts, cred };
}

async function teardown(x: Fixture | undefined): Promise<void> {
  if (!x) return;
  x.accounts.close();
  await x.store.close().catch(() => undefined);
  await x.mock.close();
  await rm(x.dataDir, { recursive: true, force: true });
}

const CODEX_BODY = JSON.stringify({ model: "gpt-5-codex", instructions: "", input: [], store: false, stream: true });

/** One request the way an attempt makes it: authorize, send, and on a 401 ask the credential once whether to retry. */
async function callCodex(x: Fixture, cred: ChatGptOAuthAccount = x.cred): Promise<number> {
  const signal = new AbortController().signal;
  for (let refreshed = false; ; refreshed = true) {
    const headers: Record<string, string> = { "content-type": "application/json", accept: "text/event-stream" };
    await cred.authorize(headers, signal);
    const res = await request(`${x.mock.url}/backend-api/codex/responses`, { method: "POST", headers, body: CODEX_BODY });
    await res.body.text();
    if (res.statusCode === 401 && !refreshed && (await cred.rejected(signal)) === "retry") continue;
    return res.statusCode;
  }
}

async function stored(x: Fixture): Promise<ReturnType<typeof parseCodexAuth>> {
  const k = await x.store.upstreamKeys.get(x.key.id);
  return parseCodexAuth(x.box.open(k!.ciphertext));
}

const rotations = (x: Fixture): number => x.mock.oauth.refreshes.filter((r) => r.outcome === "rotated").length;

beforeEach(async () => {
  f = await setup();
});

afterEach(async () => {
  await teardown(f);
});

describe("ChatGPT login refresh", () => {
  it("refreshes ahead of expiry on its timer, stores the rotated set, and sends the new token", async () => {
    const first = f.cred.tokens.accessToken;
    f.clock.advance(54 * MINUTE);
    await f.cred.settled();
    expect(f.mock.oauth.refreshes).toEqual([]);
    f.clock.advance(2 * MINUTE); // 56 min: inside the 5-minute margin
    await f.cred.settled();
    expect(f.mock.oauth.refreshes.map((r) => r.outcome)).toEqual(["rotated"]);
    expect(f.cred.tokens.accessToken).not.toBe(first);
    const s = await stored(f);
    expect(s.refreshToken).toBe(f.cred.tokens.refreshToken);
    expect(s.accessToken).toBe(f.cred.tokens.accessToken);
    const meta = (await f.store.upstreamKeys.get(f.key.id))!.credentialMeta;
    expect(meta).toMatchObject({ kind: "chatgpt_oauth", account_id: "acct-1", plan_type: "pro", access_expires_at: new Date(s.expiresAt!).toISOString() });
    expect(await callCodex(f)).toBe(200);
    expect(f.mock.requests.at(-1)!.headers.authorization).toBe(`Bearer ${s.accessToken}`);
    expect(f.mock.requests.at(-1)!.headers["chatgpt-account-id"]).toBe("acct-1");
  });

  it("refreshes once after a 401 and the retry succeeds", async () => {
    // The issuer's clock is two hours ahead: to the upstream the token has expired, to the gateway it has not.
    f.mock.oauth.now = () => f.clock.now() + 2 * HOUR;
    expect(await callCodex(f)).toBe(200);
    expect(rotations(f)).toBe(1);
    const codexCalls = f.mock.requests.filter((r) => r.path === "/backend-api/codex/responses");
    expect(codexCalls.map((r) => r.headers.authorization === `Bearer ${f.cred.tokens.accessToken}`)).toEqual([false, true]);
  });

  it("shares one refresh among 25 concurrent requests whose token was refused (one token-endpoint call)", async () => {
    f.mock.oauth.now = () => f.clock.now() + 2 * HOUR;
    const statuses = await Promise.all(Array.from({ length: 25 }, () => callCodex(f)));
    expect(statuses).toEqual(Array(25).fill(200));
    expect(f.mock.oauth.refreshes.map((r) => r.outcome)).toEqual(["rotated"]);
  });

  it("shares one refresh among 25 concurrent requests holding an expired token", async () => {
    // Past exp without the timer having run: the requests themselves must refresh, once.
    f.accounts.close();
    const fresh = new OAuthAccounts({ vault: new SealedCredentialVault(f.store.upstreamKeys, f.box), clock: f.clock });
    f.accounts = fresh;
    f.clock.advance(2 * HOUR);
    const cred = fresh.create({ name: "codex", settings: f.settings }, { id: f.key.id, fingerprint: f.key.fingerprint, secret: f.box.open(f.key.ciphertext) });
    const statuses = await Promise.all(Array.from({ length: 25 }, () => callCodex(f, cred)));
    expect(statuses).toEqual(Array(25).fill(200));
    expect(f.mock.oauth.refreshes.map((r) => r.outcome)).toEqual(["rotated"]);
  });

  it("stores the rotated set before its access token is used, and a restart reads it back", async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let rotating!: () => void;
    const rotateStarted = new Promise<void>((r) => (rotating = r));
    await teardown(f);
    f = await setup({
      vault: (v) => ({
        load: (id) => v.load(id),
        lease: (id, ttl) => v.lease(id, ttl),
        markDead: (id, reason) => v.markDead(id, reason),
        async rotate(id, expected, secret, meta) {
          rotating();
          await gate;
          return v.rotate(id, expected, secret, meta);
        },
      }),
    });
    f.clock.advance(2 * HOUR); // expired: the request waits for the refresh
    const answer = callCodex(f);
    await rotateStarted;
    // The token endpoint has answered, the store write is held: nothing may have used the new token yet.
    expect(rotations(f)).toBe(1);
    expect(f.mock.requests.filter((r) => r.path === "/backend-api/codex/responses")).toEqual([]);
    release();
    expect(await answer).toBe(200);
    const used = f.mock.requests.find((r) => r.path === "/backend-api/codex/responses")!.headers.authorization;
    const s = await stored(f);
    expect(used).toBe(`Bearer ${s.accessToken}`);

    // "Restart": close the store, open the same file, build a new credential from what it holds.
    f.accounts.close();
    await f.store.close();
    f.store = await openStore({ dataDir: f.dataDir });
    const reopened = (await f.store.upstreamKeys.get(f.key.id))!;
    expect(parseCodexAuth(f.box.open(reopened.ciphertext)).refreshToken).toBe(s.refreshToken);
    f.accounts = new OAuthAccounts({ vault: new SealedCredentialVault(f.store.upstreamKeys, f.box), clock: f.clock });
    const after = f.accounts.create(
      { name: "codex", settings: f.settings },
      { id: reopened.id, fingerprint: reopened.fingerprint, secret: f.box.open(reopened.ciphertext) },
    );
    f.clock.advance(2 * HOUR);
    expect(await callCodex(f, after)).toBe(200);
    expect(f.mock.oauth.reuses).toBe(0);
    expect(rotations(f)).toBe(2);
  });

  it("a reused refresh token kills the login: dead in the store, out of routing, remembered after a restart", async () => {
    // Someone else spends the stored refresh token (the same auth.json used by Codex CLI, say).
    const spent = (await stored(f)).refreshToken;
    const rogue = await request(`${f.mock.url}/oauth/token`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ grant_type: "refresh_token", refresh_token: spent, client_id: "x" }),
    });
    expect(rogue.statusCode).toBe(200);
    await rogue.body.text();
    f.clock.advance(56 * MINUTE);
    await f.cred.settled();
    expect(f.mock.oauth.refreshes.map((r) => r.outcome)).toEqual(["rotated", "reused"]);
    expect(f.cred.dead).toBe("refresh_token_reused");
    expect(await f.cred.rejected(new AbortController().signal)).toBe("disable");
    await expect(f.cred.authorize({}, new AbortController().signal)).rejects.toMatchObject({ permanent: true, reason: "refresh_token_reused" });
    expect(f.clock.pending).toBe(0);

    await f.store.close();
    f.store = await openStore({ dataDir: f.dataDir });
    const k = (await f.store.upstreamKeys.get(f.key.id))!;
    expect(k.deadReason).toBe("refresh_token_reused");
    expect(k.deadAt).toEqual(expect.any(String));
    const snap = await buildSnapshot(f.store, f.box, 1);
    expect(snap.upstreams[0]!.pool.keys).toEqual([]);
    expect(snap.dead).toEqual([{ upstreamKeyId: k.id, upstream: "codex", fingerprint: k.fingerprint, reason: "refresh_token_reused" }]);
    // A credential made from the dead row learns it at its first refresh without calling the endpoint.
    const again = new OAuthAccounts({ vault: new SealedCredentialVault(f.store.upstreamKeys, f.box), clock: f.clock });
    const c = again.create({ name: "codex", settings: f.settings }, { id: k.id, fingerprint: k.fingerprint, secret: f.box.open(k.ciphertext) });
    f.clock.advance(2 * HOUR);
    await expect(c.authorize({}, new AbortController().signal)).rejects.toBeInstanceOf(CredentialUnavailableError);
    expect(c.dead).toBe("refresh_token_reused");
    expect(f.mock.oauth.refreshes).toHaveLength(2);
    again.close();
  });

  it("invalid_grant is permanent too", async () => {
    f.mock.oauth.failNext("invalid_grant");
    f.clock.advance(56 * MINUTE);
    await f.cred.settled();
    expect(f.cred.dead).toBe("invalid_grant");
    expect((await f.store.upstreamKeys.get(f.key.id))!.deadReason).toBe("invalid_grant");
  });

  it("a 500 from the token endpoint is transient: not dead, the request is refused for now, the refresh is retried later", async () => {
    f.mock.oauth.failNext("500", 2);
    f.clock.advance(2 * HOUR); // the timer's refresh fails (first 500)
    await f.cred.settled();
    expect(f.cred.dead).toBeUndefined();
    // Within the backoff the expired token fails fast, without calling the endpoint again.
    const err: unknown = await Promise.resolve(f.cred.authorize({}, new AbortController().signal)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CredentialUnavailableError);
    expect(err).toMatchObject({ permanent: false });
    expect(f.mock.oauth.refreshes.map((r) => r.outcome)).toEqual(["500"]);
    f.clock.advance(30_000); // backoff: the timer tries again (second 500), then 60 s later succeeds
    await f.cred.settled();
    f.clock.advance(60_000);
    await f.cred.settled();
    expect(f.mock.oauth.refreshes.map((r) => r.outcome)).toEqual(["500", "500", "rotated"]);
    expect(f.cred.dead).toBeUndefined();
    expect((await f.store.upstreamKeys.get(f.key.id))!.deadAt).toBeNull();
    expect(await callCodex(f)).toBe(200);
  });

  it("a token endpoint that does not answer times out, transiently", async () => {
    await teardown(f);
    f = await setup({ timeoutMs: 300 });
    f.mock.oauth.failNext("hang");
    f.clock.advance(2 * HOUR);
    const err: unknown = await Promise.resolve(f.cred.authorize({}, new AbortController().signal)).catch((e: unknown) => e);
    expect(err).toMatchObject({ permanent: false, reason: "timeout" });
    expect(f.cred.dead).toBeUndefined();
    expect((await f.store.upstreamKeys.get(f.key.id))!.deadAt).toBeNull();
    f.clock.advance(30_000);
    await f.cred.settled();
    expect(await callCodex(f)).toBe(200);
    expect(f.mock.oauth.reuses).toBe(0);
  });

  it("an imported login serves for days of simulated time through its rotations", async () => {
    let ok = 0;
    const days = 5;
    for (let t = 0; t < days * 24 * 60; t += 20) {
      f.clock.advance(20 * MINUTE);
      await f.cred.settled();
      if ((await callCodex(f)) === 200) ok++;
    }
    expect(ok).toBe((days * 24 * 60) / 20);
    expect(f.mock.oauth.reuses).toBe(0);
    // An hour's token refreshed 5 minutes ahead, checked every 20 minutes: one rotation an hour.
    expect(rotations(f)).toBeGreaterThanOrEqual(days * 24 - 1);
    expect(rotations(f)).toBeLessThanOrEqual(days * 24 + 1);
    expect(f.mock.oauth.refreshes.every((r) => r.outcome === "rotated")).toBe(true);
    expect((await stored(f)).refreshToken).toBe(f.cred.tokens.refreshToken);
  });
});
