import { afterEach, beforeEach, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { startMockUpstream, type MockUpstream } from "./server.js";

let mock: MockUpstream;

beforeEach(async () => {
  mock = await startMockUpstream();
});
afterEach(() => mock.close());

async function refresh(token: string, form = false): Promise<{ status: number; body: Record<string, unknown> }> {
  const params = { grant_type: "refresh_token", refresh_token: token, client_id: "app_EMoamEEZ73f0CkXaXp7hrann" };
  const res = await fetch(`${mock.url}/oauth/token`, {
    method: "POST",
    headers: { "content-type": form ? "application/x-www-form-urlencoded" : "application/json" },
    body: form ? new URLSearchParams(params).toString() : JSON.stringify(params),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function codex(token: string, accountId: string): Promise<{ status: number; text: string }> {
  const res = await fetch(`${mock.url}/backend-api/codex/responses`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "chatgpt-account-id": accountId, "content-type": "application/json" },
    body: JSON.stringify({ model: "gpt-5-codex", instructions: "", input: [], store: false, stream: true }),
  });
  return { status: res.status, text: await res.text() };
}

/** A WebSocket upgrade of the Codex route: "open", or the refusal's status and body. */
function upgrade(token: string): Promise<"open" | { status: number; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${mock.url.replace("http", "ws")}/backend-api/codex/responses`, { headers: { authorization: `Bearer ${token}` } });
    ws.once("open", () => {
      ws.close();
      resolve("open");
    });
    ws.once("unexpected-response", (_req, res) => {
      let text = "";
      res.on("data", (d: Buffer) => (text += d.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Record<string, unknown> }));
    });
    ws.once("error", reject);
  });
}

const claims = (jwt: string): Record<string, unknown> => JSON.parse(Buffer.from(jwt.split(".")[1]!, "base64url").toString("utf8")) as Record<string, unknown>;

describe("the mock's ChatGPT login", () => {
  it("issues JWTs with the account claims and a scripted lifetime, and rotates the refresh token on every use", async () => {
    let now = Date.UTC(2026, 0, 1);
    mock.oauth.now = () => now;
    mock.oauth.accessLifetimeMs = 10_000;
    const auth = mock.oauth.login({ accountId: "acct-7", plan: "team" });
    expect(claims(auth.tokens.id_token)["https://api.openai.com/auth"]).toMatchObject({ chatgpt_account_id: "acct-7", chatgpt_plan_type: "team" });
    expect(claims(auth.tokens.access_token).exp).toBe(now / 1000 + 10);
    expect((await codex(auth.tokens.access_token, "acct-7")).status).toBe(200);

    now += 10_000;
    const expired = await codex(auth.tokens.access_token, "acct-7");
    expect(expired.status).toBe(401);
    expect(JSON.parse(expired.text)).toMatchObject({ error: { code: "token_expired" } });
    expect((await codex("made-up", "acct-7")).status).toBe(401);

    const first = await refresh(auth.tokens.refresh_token, true);
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ access_token: expect.any(String), id_token: expect.any(String), refresh_token: expect.any(String), expires_in: 10 });
    expect(first.body.refresh_token).not.toBe(auth.tokens.refresh_token);
    expect((await codex(first.body.access_token as string, "acct-7")).status).toBe(200);
  });

  it("refuses a spent refresh token with refresh_token_reused and ends the login", async () => {
    const auth = mock.oauth.login();
    const next = await refresh(auth.tokens.refresh_token);
    const reused = await refresh(auth.tokens.refresh_token);
    expect(reused).toEqual({
      status: 401,
      body: {
        error: {
          message: "Your refresh token has already been used to generate a new access token. Please try signing in again.",
          type: "invalid_request_error",
          param: null,
          code: "refresh_token_reused",
        },
      },
    });
    expect((await refresh(next.body.refresh_token as string)).body).toMatchObject({ error: { code: "refresh_token_invalidated" } });
    expect(mock.oauth.reuses).toBe(1);
    expect(mock.oauth.refreshes.map((r) => r.outcome)).toEqual(["rotated", "reused", "unknown"]);
  });

  it("checks the bearer of a Codex WebSocket upgrade too, and revokes issued access tokens on request (token_invalidated)", async () => {
    const auth = mock.oauth.login({ accountId: "acct-ws" });
    expect(await upgrade(auth.tokens.access_token)).toBe("open");
    expect(await upgrade("made-up")).toEqual({ status: 401, body: expect.objectContaining({ error: expect.objectContaining({ code: "token_invalidated" }) }) });
    mock.oauth.invalidateAccess("acct-ws");
    expect(await upgrade(auth.tokens.access_token)).toMatchObject({ status: 401, body: { error: { code: "token_invalidated" } } });
    const http = await codex(auth.tokens.access_token, "acct-ws");
    expect(http.status).toBe(401);
    expect(JSON.parse(http.text)).toMatchObject({ error: { code: "token_invalidated" } });
    // The login itself lives: one refresh gives a token that serves.
    const next = await refresh(auth.tokens.refresh_token);
    expect(next.status).toBe(200);
    expect(await upgrade(next.body.access_token as string)).toBe("open");
    expect((await codex(next.body.access_token as string, "acct-ws")).status).toBe(200);
  });

  it("answers scripted failures: a 500, invalid_grant, refresh_token_expired, and no answer at all", async () => {
    const auth = mock.oauth.login();
    mock.oauth.failNext("500");
    mock.oauth.failNext("invalid_grant");
    mock.oauth.failNext("expired");
    mock.oauth.failNext("hang");
    expect((await refresh(auth.tokens.refresh_token)).status).toBe(500);
    expect(await refresh(auth.tokens.refresh_token)).toMatchObject({ status: 400, body: { error: "invalid_grant" } });
    expect(await refresh(auth.tokens.refresh_token)).toEqual({
      status: 401,
      body: { error: { message: expect.any(String), type: "invalid_request_error", param: null, code: "refresh_token_expired" } },
    });
    const hung = fetch(`${mock.url}/oauth/token`, { method: "POST", body: "{}", signal: AbortSignal.timeout(200) });
    await expect(hung).rejects.toThrow();
    // Failures spend nothing: the login still refreshes.
    expect((await refresh(auth.tokens.refresh_token)).status).toBe(200);
  });
});
