/**
 * ChatGPT logins through a whole gateway (real SQLite file, real sockets, the mock's
 * token endpoint and Codex backend): importing them through the admin API, the CLI and
 * YAML, failing over when a refresh fails, and what the admin sees of a dead one, across
 * a restart. The credential's own rules are in upstream/chatgpt-oauth.test.ts.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { runCli } from "./cli/program.js";
import type { CliIo } from "./cli/io.js";
import { parseConfig } from "./config/load.js";
import { startGateway, type Gateway } from "./main.js";
import { startMockUpstream, type MockUpstream } from "./mock/server.js";
import { createLogger } from "./observability/logger.js";

const CLIENT_KEY = "sk-test-codex-logins-0000000001";
const HOUR = 3_600_000;

let mock: MockUpstream;
let dataDir: string;
let gw: Gateway | undefined;

function yaml(extraUpstream = ""): string {
  return `
server:
  port: 0
  host: 127.0.0.1
log_level: silent
routing:
  health:
    probe_interval_ms: 0
${extraUpstream ? `upstreams:\n${extraUpstream}` : ""}accounts:
  - name: team
    keys: [${CLIENT_KEY}]
`;
}

async function boot(text: string): Promise<Gateway> {
  const env = { SWITCHYARD_DATA_DIR: dataDir };
  const source = join(dataDir, "switchyard.yaml");
  await writeFile(source, text);
  gw = await startGateway({ config: parseConfig(text, source, env), source, env, logger: createLogger("silent") });
  return gw;
}

async function adminCall(method: string, path: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${gw!.url}/admin/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${gw!.adminToken}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function chat(): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${gw!.url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${CLIENT_KEY}`, "content-type": "application/json" },
    body: JSON.stringify({ model: "gpt-5-codex", messages: [{ role: "user", content: "hi" }] }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** A codex upstream created through the admin API, refreshing at the mock. */
async function codexUpstream(): Promise<string> {
  const created = await adminCall("POST", "/upstreams", {
    name: "chatgpt",
    protocol: "codex",
    base_url: `${mock.url}/backend-api/codex`,
    models: ["gpt-5-codex"],
    oauth: { token_url: `${mock.url}/oauth/token`, timeout_ms: 2000 },
  });
  expect(created.status).toBe(201);
  return created.body.id as string;
}

async function keys(upstreamId: string): Promise<Array<Record<string, unknown>>> {
  return (await adminCall("GET", `/upstreams/${upstreamId}/keys`)).body.data as Array<Record<string, unknown>>;
}

const codexCalls = (): number => mock.requests.filter((r) => r.path === "/backend-api/codex/responses").length;

/** Spends a login's refresh token the way a second holder of the same auth.json would. */
async function spend(refreshToken: string): Promise<void> {
  const res = await fetch(`${mock.url}/oauth/token`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ grant_type: "refresh_token", refresh_token: refreshToken, client_id: "someone-else" }),
  });
  expect(res.status).toBe(200);
}

beforeEach(async () => {
  mock = await startMockUpstream();
  dataDir = await mkdtemp(join(tmpdir(), "switchyard-logins-"));
});

afterEach(async () => {
  await gw?.close(1000);
  gw = undefined;
  await mock.close();
  await rm(dataDir, { recursive: true, force: true });
});

describe("importing ChatGPT logins", () => {
  it("through the admin API: the login serves, and the key shows its account, plan and expiry", async () => {
    await boot(yaml());
    const upstreamId = await codexUpstream();
    const auth = mock.oauth.login({ accountId: "acct-admin", plan: "team" });
    const added = await adminCall("POST", `/upstreams/${upstreamId}/keys`, { name: "alice", codex_auth: auth });
    expect(added.status).toBe(201);
    expect(added.body).toMatchObject({ name: "alice", credential: { kind: "chatgpt_oauth", account_id: "acct-admin", plan_type: "team" }, dead: null });
    expect(JSON.stringify(added.body)).not.toContain(auth.tokens.refresh_token);
    expect(await chat()).toMatchObject({ status: 200 });
    const sent = mock.requests.find((r) => r.path === "/backend-api/codex/responses")!;
    expect(sent.headers.authorization).toBe(`Bearer ${auth.tokens.access_token}`);
    expect(sent.headers["chatgpt-account-id"]).toBe("acct-admin");
    // The same login twice is the same key.
    expect((await adminCall("POST", `/upstreams/${upstreamId}/keys`, { codex_auth: auth })).status).toBe(409);
  });

  it("refuses a malformed auth.json with invalid_codex_auth, and a login for a non-codex upstream", async () => {
    await boot(yaml());
    const upstreamId = await codexUpstream();
    const good = mock.oauth.login({ accountId: "acct-x" });
    const noAccount = mock.oauth.login({ accountId: "" });
    const cases: Array<[unknown, string | undefined]> = [
      ["this is not json", undefined],
      [{ OPENAI_API_KEY: "sk-123", tokens: null }, "tokens"],
      [{ tokens: { ...good.tokens, refresh_token: "" } }, "tokens.refresh_token"],
      [{ tokens: { ...good.tokens, id_token: "not-a-jwt" } }, "tokens.id_token"],
      [{ tokens: { ...noAccount.tokens, account_id: "" } }, "tokens.id_token"],
    ];
    for (const [codex_auth, param] of cases) {
      const res = await adminCall("POST", `/upstreams/${upstreamId}/keys`, { codex_auth });
      expect(res.status, JSON.stringify(codex_auth)).toBe(400);
      expect(res.body.error).toMatchObject({ code: "invalid_codex_auth", ...(param ? { param } : {}) });
    }
    // A JSON `key` for a codex upstream is read as a login, and checked as one.
    const asKey = await adminCall("POST", `/upstreams/${upstreamId}/keys`, { key: '{"tokens": {}}' });
    expect(asKey.status).toBe(400);
    expect(asKey.body.error).toMatchObject({ code: "invalid_codex_auth", param: "tokens.id_token" });
    const both = await adminCall("POST", `/upstreams/${upstreamId}/keys`, { key: "x", codex_auth: good });
    expect(both.status).toBe(400);
    const chatUpstream = await adminCall("POST", "/upstreams", { name: "chat", protocol: "openai-chat", base_url: `${mock.url}/v1`, models: ["x"] });
    const wrong = await adminCall("POST", `/upstreams/${chatUpstream.body.id as string}/keys`, { codex_auth: good });
    expect(wrong.status).toBe(400);
    expect(wrong.body.error).toMatchObject({ code: "codex_auth_needs_codex_upstream" });
    expect(await keys(upstreamId)).toEqual([]);
  });

  it("through the CLI: switchyard upstreams import-codex FILE --upstream ID", async () => {
    await boot(yaml());
    const upstreamId = await codexUpstream();
    const file = join(dataDir, "auth.json");
    await writeFile(file, JSON.stringify(mock.oauth.login({ accountId: "acct-cli", plan: "plus" })));
    let out = "";
    let err = "";
    const io: CliIo = { env: {}, out: (t) => void (out += t), err: (t) => void (err += t), readStdin: () => Promise.resolve("") };
    const as = ["--url", gw!.url, "--token", gw!.adminToken];
    expect(await runCli(["upstreams", "import-codex", file, "--upstream", upstreamId, ...as], io)).toBe(0);
    expect(out).toMatch(/^login imported: key \S+ \(sha256:[0-9a-f]{16}\), account acct-cli, plan plus\n$/);
    expect(await keys(upstreamId)).toEqual([
      expect.objectContaining({ name: "chatgpt-acct-cli", credential: expect.objectContaining({ account_id: "acct-cli" }) }),
    ]);
    await writeFile(file, "{ not json");
    out = "";
    expect(await runCli(["upstreams", "import-codex", file, "--upstream", upstreamId, ...as], io)).toBe(1);
    expect(err).toContain("not JSON");
    expect(await chat()).toMatchObject({ status: 200 });
  });

  it("through YAML: imported once; a restart after rotations keeps the stored login, never the spent file", async () => {
    const auth = mock.oauth.login({ accountId: "acct-yaml" });
    await writeFile(join(dataDir, "alice-auth.json"), JSON.stringify(auth));
    const text = yaml(`  - name: chatgpt
    protocol: codex
    base_url: ${mock.url}/backend-api/codex
    models: [gpt-5-codex]
    oauth: { token_url: "${mock.url}/oauth/token" }
    keys:
      - { name: alice, codex_auth_file: alice-auth.json }
`);
    await boot(text);
    expect(await chat()).toMatchObject({ status: 200 });
    // The issuer's clock moves two hours on: the token is refused, refreshed once, and the retry serves.
    mock.oauth.now = () => Date.now() + 2 * HOUR;
    expect(await chat()).toMatchObject({ status: 200 });
    expect(mock.oauth.refreshes.map((r) => r.outcome)).toEqual(["rotated"]);
    await gw!.close(1000);
    gw = undefined;
    // Same file (now holding a spent refresh token), same store: the stored, rotated login is kept.
    await boot(text);
    mock.oauth.now = () => Date.now() + 4 * HOUR;
    expect(await chat()).toMatchObject({ status: 200 });
    expect(mock.oauth.refreshes.map((r) => r.outcome)).toEqual(["rotated", "rotated"]);
    expect(mock.oauth.reuses).toBe(0);
    const upstream = (await adminCall("GET", "/upstreams")).body.data as Array<{ id: string }>;
    expect(await keys(upstream[0]!.id)).toEqual([expect.objectContaining({ name: "alice", dead: null })]);
  });

  it("a bad codex_auth_file stops the start with one line naming it", async () => {
    await writeFile(join(dataDir, "bad.json"), JSON.stringify({ tokens: { id_token: "x", access_token: "y", refresh_token: "z" } }));
    const text = yaml(`  - name: chatgpt
    protocol: codex
    base_url: ${mock.url}/backend-api/codex
    models: [gpt-5-codex]
    keys:
      - codex_auth_file: bad.json
`);
    await expect(boot(text)).rejects.toThrow(/upstreams\[0\]\.keys\[0\]: codex_auth_file .*bad\.json: invalid_codex_auth: .*id_token is not a JWT/);
  });
});

describe("refresh failures through the gateway", () => {
  it("a refresh that fails for now (500) fails over to the next login; the first is not dead and serves again later", async () => {
    await boot(yaml());
    const upstreamId = await codexUpstream();
    for (const id of ["acct-a", "acct-b"]) {
      expect((await adminCall("POST", `/upstreams/${upstreamId}/keys`, { name: id, codex_auth: mock.oauth.login({ accountId: id }) })).status).toBe(201);
    }
    mock.oauth.now = () => Date.now() + 2 * HOUR; // both tokens refused from now on
    mock.oauth.failNext("500");
    const res = await chat();
    expect(res.status).toBe(200);
    expect(mock.oauth.refreshes.map((r) => r.outcome)).toEqual(["500", "rotated"]);
    const listed = await keys(upstreamId);
    expect(listed.map((k) => k.dead)).toEqual([null, null]);
    // The first login's failed refresh counts against its key like a server error; it is not taken out.
    expect(listed.map((k) => k.state)).not.toContain("disabled");
    expect(codexCalls()).toBe(3); // first key refused, second key refused, second key after its refresh
  });

  it("a dead login shows in the admin API and /metrics, routing skips it, and it stays dead after a restart", async () => {
    await boot(yaml());
    const upstreamId = await codexUpstream();
    const doomed = mock.oauth.login({ accountId: "acct-doomed" });
    const spare = mock.oauth.login({ accountId: "acct-spare" });
    const d = await adminCall("POST", `/upstreams/${upstreamId}/keys`, { name: "doomed", codex_auth: doomed });
    await spend(doomed.tokens.refresh_token);
    mock.oauth.now = () => Date.now() + 2 * HOUR;
    // Refused, the login refreshes, is told its refresh token was reused, and dies: nothing else serves yet.
    const refused = await chat();
    expect(refused.status).toBe(502);
    expect(refused.body.error).toMatchObject({ code: "upstream_auth_failed" });
    expect(mock.oauth.refreshes.filter((r) => r.accountId === "acct-doomed").map((r) => r.outcome)).toEqual(["rotated", "reused"]);
    await adminCall("POST", `/upstreams/${upstreamId}/keys`, { name: "spare", codex_auth: spare });
    const check = async (): Promise<void> => {
      const listed = await keys(upstreamId);
      const dead = listed.find((k) => k.id === d.body.id)!;
      expect(dead.dead).toEqual({ reason: "refresh_token_reused", at: expect.any(String) });
      expect(listed.find((k) => k.id !== d.body.id)!.dead).toBeNull();
      const metrics = await (await fetch(`${gw!.url}/metrics`)).text();
      expect(metrics).toContain(
        `switchyard_upstream_credential_dead{upstream="chatgpt",key="${d.body.fingerprint as string}",reason="refresh_token_reused"} 1`,
      );
      const before = mock.requests.filter((r) => r.headers["chatgpt-account-id"] === "acct-doomed").length;
      for (let i = 0; i < 3; i++) expect((await chat()).status).toBe(200);
      expect(mock.requests.filter((r) => r.headers["chatgpt-account-id"] === "acct-doomed").length).toBe(before);
    };
    await check();
    await gw!.close(1000);
    gw = undefined;
    await boot(yaml());
    await check();
    expect(mock.oauth.refreshes.filter((r) => r.accountId === "acct-doomed")).toHaveLength(2);
  });
});
