/**
 * ChatGPT logins through a whole gateway on a hand-moved clock (real SQLite file, real
 * sockets, the mock's token endpoint and Codex backend): the gateway takes the test's clock
 * for its logins' refresh timers (`credentialClock`) and for routing and cooldowns (`now`),
 * and the mock issues and checks tokens by the same clock. Days of token lifetimes run in
 * seconds; what the client sees when a refresh fails is asserted in each client protocol.
 *
 * Logins are imported through the admin API. A login imported already past its `exp`
 * (issued by the mock two hours back) makes the client's request do the refresh itself,
 * deterministically: its timer is armed at "now" but fires only when the clock moves.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { parseConfig } from "./config/load.js";
import { startGateway, type Gateway } from "./main.js";
import { codexAccount } from "./mock/index.js";
import { startMockUpstream, type MockUpstream } from "./mock/server.js";
import { createLogger } from "./observability/logger.js";
import { ManualClock } from "./testing/manual-clock.js";

const CLIENT_KEY = "sk-test-codex-clock-000000000001";
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
/**
 * How long a refresh the clock started in the background may take to show (real time). It
 * bounds a wait for something that must happen, never a race: the wait ends as soon as it shows.
 */
const BACKGROUND = { timeout: 10_000, interval: 10 };

let mock: MockUpstream;
let dataDir: string;
let clock: ManualClock;
let gw: Gateway | undefined;

const YAML = `
server:
  port: 0
  host: 127.0.0.1
log_level: silent
routing:
  health:
    probe_interval_ms: 0
accounts:
  - name: team
    keys: [${CLIENT_KEY}]
`;

beforeEach(async () => {
  mock = await startMockUpstream();
  dataDir = await mkdtemp(join(tmpdir(), "switchyard-logins-clock-"));
  // Real time at the start: the mock's usage-limit answers name resets by it.
  clock = new ManualClock(Date.now());
  mock.oauth.now = () => clock.now();
  mock.oauth.accessLifetimeMs = HOUR;
  const env = { SWITCHYARD_DATA_DIR: dataDir };
  const source = join(dataDir, "switchyard.yaml");
  await writeFile(source, YAML);
  gw = await startGateway({
    config: parseConfig(YAML, source, env),
    source,
    env,
    logger: createLogger("silent"),
    now: () => clock.now(),
    credentialClock: clock,
  });
});

afterEach(async () => {
  await gw?.close(1000);
  gw = undefined;
  await mock.close();
  await rm(dataDir, { recursive: true, force: true });
});

async function admin(method: string, path: string, body?: unknown): Promise<{ status: number; body: Record<string, any> }> {
  const res = await fetch(`${gw!.url}/admin/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${gw!.adminToken}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, any> };
}

/** A codex upstream refreshing at the mock, with one login per account id; the upstream's id and its keys' ids. */
async function importLogins(accountIds: string[], o: { timeoutMs?: number; issuedAgoMs?: number } = {}): Promise<{ upstreamId: string; keyIds: string[] }> {
  const created = await admin("POST", "/upstreams", {
    name: "chatgpt",
    protocol: "codex",
    base_url: `${mock.url}/backend-api/codex`,
    models: ["gpt-5-codex"],
    oauth: { token_url: `${mock.url}/oauth/token`, refresh_margin_ms: 5 * MINUTE, timeout_ms: o.timeoutMs ?? 5000 },
  });
  expect(created.status).toBe(201);
  const upstreamId = created.body.id as string;
  const keyIds: string[] = [];
  for (const id of accountIds) {
    mock.oauth.now = () => clock.now() - (o.issuedAgoMs ?? 0);
    const auth = mock.oauth.login({ accountId: id });
    mock.oauth.now = () => clock.now();
    const added = await admin("POST", `/upstreams/${upstreamId}/keys`, { name: id, codex_auth: auth });
    expect(added.status).toBe(201);
    keyIds.push(added.body.id as string);
  }
  return { upstreamId, keyIds };
}

async function listedKey(upstreamId: string, keyId: string): Promise<Record<string, any>> {
  const listed = (await admin("GET", `/upstreams/${upstreamId}/keys`)).body.data as Array<Record<string, any>>;
  return listed.find((k) => k.id === keyId)!;
}

type ClientProtocol = "chat" | "responses" | "messages";

/** One non-streaming request in a client protocol; its status and JSON body. */
async function ask(protocol: ClientProtocol = "chat"): Promise<{ status: number; body: Record<string, any> }> {
  const [path, body] =
    protocol === "chat"
      ? ["/v1/chat/completions", { model: "gpt-5-codex", messages: [{ role: "user", content: "hi" }] }]
      : protocol === "responses"
        ? ["/v1/responses", { model: "gpt-5-codex", input: "hi" }]
        : ["/v1/messages", { model: "gpt-5-codex", max_tokens: 64, messages: [{ role: "user", content: "hi" }] }];
  const res = await fetch(`${gw!.url}${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${CLIENT_KEY}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, any> };
}

/** The error body each client protocol's own envelope gives a gateway error of kind `upstream` (docs/errors.md). */
function upstreamError(protocol: ClientProtocol, code: string): Record<string, unknown> {
  if (protocol === "messages") return { type: "error", error: { type: "api_error", message: expect.any(String) }, request_id: expect.any(String) };
  return { error: { message: expect.any(String), type: "server_error", param: null, code } };
}

const codexCalls = (): Array<{ headers: Record<string, string | undefined> }> =>
  mock.requests.filter((r) => r.path === "/backend-api/codex/responses") as Array<{ headers: Record<string, string | undefined> }>;
const outcomes = (accountId?: string): string[] =>
  mock.oauth.refreshes.filter((r) => accountId === undefined || r.accountId === accountId).map((r) => r.outcome);

describe("a ChatGPT login through the gateway on a simulated clock", () => {
  it("serves for 3 days through its rotations, each request with a live token", async () => {
    const { upstreamId, keyIds } = await importLogins(["acct-days"]);
    const days = 3;
    const step = 30 * MINUTE;
    // Every other step lands on the token's exp: its request waits for (or finds done) the rotation the timer started 5 minutes earlier.
    for (let t = 0; t < days * 24 * HOUR; t += step) {
      clock.advance(step);
      expect((await ask()).status).toBe(200);
    }
    const steps = (days * 24 * HOUR) / step;
    // One call per request: no token was ever refused (the mock refuses an expired or unknown one with a 401).
    expect(codexCalls()).toHaveLength(steps);
    expect(outcomes()).toEqual(Array(days * 24).fill("rotated"));
    expect(mock.oauth.reuses).toBe(0);
    // What the admin sees: alive, with the expiry of the newest token, which the last request carried.
    const key = await listedKey(upstreamId, keyIds[0]!);
    expect(key.dead).toBeNull();
    expect(Date.parse(key.credential.access_expires_at as string)).toBe(Math.floor((clock.now() + HOUR) / 1000) * 1000);
    const last = codexCalls()
      .at(-1)!
      .headers.authorization!.replace(/^Bearer /, "");
    const exp = (JSON.parse(Buffer.from(last.split(".")[1]!, "base64url").toString()) as { exp: number }).exp;
    expect(exp * 1000).toBe(Date.parse(key.credential.access_expires_at as string));
    const metrics = await (await fetch(`${gw!.url}/metrics`)).text();
    expect(metrics).toContain(`switchyard_upstream_credential_refreshes_total{upstream="chatgpt",outcome="refreshed"} ${days * 24}`);
  });

  it("a login cooling down after usage_limit_reached still refreshes on schedule, and serves when its window resets", async () => {
    const { upstreamId, keyIds } = await importLogins(["acct-cool"]);
    const keyId = keyIds[0]!;
    // Its plan window runs out, resetting in two hours.
    mock.script({ match: codexAccount("acct-cool"), scenario: "usage_limit=7200", times: 1 });
    const limited = await ask();
    expect(limited.status).toBe(429);
    expect(limited.body.error).toMatchObject({ code: "upstream_usage_limit" });
    const cooling = await listedKey(upstreamId, keyId);
    expect(cooling).toMatchObject({ state: "cooling", reason: "usage limit reached" });
    const issuedExpiry = Date.parse(cooling.credential.access_expires_at as string);

    // Twice past its refresh point while cooling: each time the timer rotates the login, nothing else asks it to.
    for (const [advance, rotated] of [
      [56 * MINUTE, 1],
      [60 * MINUTE, 2],
    ] as const) {
      clock.advance(advance);
      await vi.waitFor(async () => {
        expect(outcomes("acct-cool")).toEqual(Array(rotated).fill("rotated"));
        const k = await listedKey(upstreamId, keyId);
        expect(Date.parse(k.credential.access_expires_at as string)).toBeGreaterThan(issuedExpiry + (rotated - 1) * HOUR);
      }, BACKGROUND);
      expect(await listedKey(upstreamId, keyId)).toMatchObject({ state: "cooling", dead: null });
    }
    expect(codexCalls()).toHaveLength(1); // the usage-limited one; refreshing needed no request

    // Past the window's reset: the first request goes out with the newest token and is served at once.
    clock.advance(10 * MINUTE);
    const served = await ask();
    expect(served.status).toBe(200);
    expect(codexCalls()).toHaveLength(2);
    const sent = codexCalls()
      .at(-1)!
      .headers.authorization!.replace(/^Bearer /, "");
    const exp = (JSON.parse(Buffer.from(sent.split(".")[1]!, "base64url").toString()) as { exp: number }).exp;
    expect(exp * 1000).toBe(Date.parse((await listedKey(upstreamId, keyId)).credential.access_expires_at as string));
    expect(mock.oauth.reuses).toBe(0);
  });
});

describe("a token revoked before its exp", () => {
  it("401 token_invalidated: the login refreshes once, shared by concurrent requests, and each is served with the new token", async () => {
    await importLogins(["acct-revoked"]);
    expect((await ask()).status).toBe(200);
    const old = codexCalls()[0]!.headers.authorization!;
    mock.oauth.invalidateAccess("acct-revoked");
    // What the backend answers the revoked token now.
    const refused = await fetch(`${mock.url}/backend-api/codex/responses`, {
      method: "POST",
      headers: { authorization: old, "chatgpt-account-id": "acct-revoked", "content-type": "application/json" },
      body: JSON.stringify({ model: "gpt-5-codex", instructions: "", input: [], store: false, stream: true }),
    });
    expect(refused.status).toBe(401);
    expect(await refused.json()).toMatchObject({ error: { code: "token_invalidated" } });
    mock.clear();

    const answers = await Promise.all((["chat", "responses", "messages", "chat", "responses"] as const).map((p) => ask(p)));
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200, 200]);
    expect(outcomes()).toEqual(["rotated"]);
    expect(mock.oauth.reuses).toBe(0);
    // Each request: at most one refusal with the revoked token, then the refreshed one; no other token.
    const sent = codexCalls().map((c) => c.headers.authorization);
    const fresh = sent.at(-1)!;
    expect(fresh).not.toBe(old);
    expect(sent.filter((t) => t === fresh)).toHaveLength(5);
    expect(sent.filter((t) => t !== fresh && t !== old)).toEqual([]);
    expect(sent.filter((t) => t === old).length).toBeLessThanOrEqual(5);
  });
});

describe("refresh failures as the client sees them", () => {
  it("an expired refresh token (refresh_token_expired) kills the login: upstream_credential_dead, dead in the admin API and /metrics", async () => {
    const { upstreamId, keyIds } = await importLogins(["acct-expired"], { issuedAgoMs: 2 * HOUR });
    mock.oauth.failNext("expired");
    const res = await ask("responses");
    expect(res.status).toBe(502);
    expect(res.body).toEqual(upstreamError("responses", "upstream_credential_dead"));
    expect(outcomes()).toEqual(["expired"]);
    expect(codexCalls()).toHaveLength(0); // nothing was sent with the expired access token
    const key = await listedKey(upstreamId, keyIds[0]!);
    expect(key.dead).toEqual({ reason: "refresh_token_expired", at: expect.any(String) });
    const metrics = await (await fetch(`${gw!.url}/metrics`)).text();
    expect(metrics).toContain(`switchyard_upstream_credential_dead{upstream="chatgpt",key="${key.fingerprint as string}",reason="refresh_token_expired"} 1`);
    // Out of routing from then on, and the token endpoint is not asked again, however long the clock runs.
    clock.advance(2 * HOUR);
    expect((await ask("chat")).body.error).toMatchObject({ code: "no_upstream_key" });
    expect(outcomes()).toEqual(["expired"]);
  });

  it("a token endpoint answering 500: upstream_credential_refresh_failed (502) in each client protocol, and the login lives", async () => {
    const { upstreamId, keyIds } = await importLogins(["acct-500"], { issuedAgoMs: 2 * HOUR });
    mock.oauth.failNext("500");
    for (const protocol of ["chat", "responses", "messages"] as const) {
      const res = await ask(protocol);
      expect(res.status, protocol).toBe(502);
      expect(res.body, protocol).toEqual(upstreamError(protocol, "upstream_credential_refresh_failed"));
    }
    // One call of the endpoint: the two later requests fell in its backoff.
    expect(outcomes()).toEqual(["500"]);
    expect(codexCalls()).toHaveLength(0);
    expect((await listedKey(upstreamId, keyIds[0]!)).dead).toBeNull();
    // After the backoff the timer refreshes and the login serves again.
    clock.advance(30_000);
    await vi.waitFor(() => expect(outcomes()).toEqual(["500", "rotated"]), BACKGROUND);
    expect((await ask()).status).toBe(200);
  });

  it("a token endpoint that never answers: upstream_credential_refresh_failed after oauth.timeout_ms, and the login lives", async () => {
    const { upstreamId, keyIds } = await importLogins(["acct-hang"], { issuedAgoMs: 2 * HOUR, timeoutMs: 300 });
    mock.oauth.failNext("hang");
    for (const protocol of ["messages", "chat"] as const) {
      const res = await ask(protocol);
      expect(res.status, protocol).toBe(502);
      expect(res.body, protocol).toEqual(upstreamError(protocol, "upstream_credential_refresh_failed"));
    }
    expect(outcomes()).toEqual(["hang"]);
    expect((await listedKey(upstreamId, keyIds[0]!)).dead).toBeNull();
    clock.advance(30_000);
    await vi.waitFor(() => expect(outcomes()).toEqual(["hang", "rotated"]), BACKGROUND);
    expect((await ask("responses")).status).toBe(200);
    expect(mock.oauth.reuses).toBe(0);
  });
});
