import { describe, expect, it } from "vitest";
import { GatewayError } from "../canonical/errors.js";
import { accessTokenExpiry, applyRefreshReply, codexFingerprintMaterial, isCodexAuthSecret, parseCodexAuth, serializeCodexAuth } from "./codex-auth.js";

const AUTH = "https://api.openai.com/auth";
const b64 = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString("base64url");
const jwt = (payload: Record<string, unknown>): string => `${b64({ alg: "none", typ: "JWT" })}.${b64(payload)}.sig`;

const idToken = jwt({ email: "a@example.com", [AUTH]: { chatgpt_account_id: "acct-9", chatgpt_plan_type: "plus" } });
const accessToken = jwt({ exp: 1_800_000_000, [AUTH]: { chatgpt_account_id: "acct-9" } });
const file = {
  OPENAI_API_KEY: null,
  tokens: { id_token: idToken, access_token: accessToken, refresh_token: "rt-1", account_id: "acct-9" },
  last_refresh: "2026-01-02T03:04:05Z",
};

function refusal(input: unknown): { code: string; param: string | undefined; message: string } {
  try {
    parseCodexAuth(input);
  } catch (err) {
    expect(err).toBeInstanceOf(GatewayError);
    const e = err as GatewayError;
    return { code: e.code, param: e.param, message: e.message };
  }
  throw new Error("accepted");
}

describe("parseCodexAuth", () => {
  it("reads the account and plan from the id token's claims and the expiry from the access token", () => {
    const set = parseCodexAuth(JSON.stringify(file));
    expect(set).toEqual({
      idToken,
      accessToken,
      refreshToken: "rt-1",
      accountId: "acct-9",
      planType: "plus",
      expiresAt: 1_800_000_000_000,
      lastRefresh: Date.parse("2026-01-02T03:04:05Z"),
    });
    // Stored and read back unchanged.
    expect(parseCodexAuth(serializeCodexAuth(set))).toEqual(set);
    expect(isCodexAuthSecret(serializeCodexAuth(set))).toBe(true);
    expect(isCodexAuthSecret("eyJhbGciOi.static.token")).toBe(false);
  });

  it("falls back to tokens.account_id when the claim has none, and to now for a missing last_refresh", () => {
    const bare = jwt({ email: "x" });
    const set = parseCodexAuth({ tokens: { ...file.tokens, id_token: bare } }, 42);
    expect(set.accountId).toBe("acct-9");
    expect(set.planType).toBeNull();
    expect(set.lastRefresh).toBe(42);
  });

  it("refuses each kind of malformed file with invalid_codex_auth, naming the part", () => {
    expect(refusal("{ nope")).toMatchObject({ code: "invalid_codex_auth", message: expect.stringContaining("not JSON") });
    expect(refusal([])).toMatchObject({ code: "invalid_codex_auth", message: expect.stringContaining("JSON object") });
    expect(refusal({ OPENAI_API_KEY: "sk-x", tokens: null })).toMatchObject({ code: "invalid_codex_auth", param: "tokens" });
    expect(refusal({ tokens: { ...file.tokens, access_token: "" } })).toMatchObject({ param: "tokens.access_token" });
    expect(refusal({ tokens: { ...file.tokens, refresh_token: undefined } })).toMatchObject({ param: "tokens.refresh_token" });
    expect(refusal({ tokens: { ...file.tokens, id_token: "not-a-jwt" } })).toMatchObject({
      param: "tokens.id_token",
      message: expect.stringContaining("not a JWT"),
    });
    expect(refusal({ tokens: { ...file.tokens, id_token: jwt({}), account_id: undefined } })).toMatchObject({
      param: "tokens.id_token",
      message: expect.stringContaining("no ChatGPT account id"),
    });
  });

  it("an access token that is not a JWT has no known expiry", () => {
    expect(accessTokenExpiry("opaque")).toBeNull();
    expect(parseCodexAuth({ tokens: { ...file.tokens, access_token: "opaque" } }).expiresAt).toBeNull();
  });
});

describe("applyRefreshReply", () => {
  it("takes what the reply gives, keeps the rest, and follows a new id token's plan", () => {
    const set = parseCodexAuth(file);
    const newAccess = jwt({ exp: 1_900_000_000 });
    const newId = jwt({ [AUTH]: { chatgpt_account_id: "acct-9", chatgpt_plan_type: "pro" } });
    const next = applyRefreshReply(set, { access_token: newAccess, refresh_token: "rt-2", id_token: newId }, 5);
    expect(next).toMatchObject({ accessToken: newAccess, refreshToken: "rt-2", planType: "pro", expiresAt: 1_900_000_000_000, lastRefresh: 5 });
    // A reply without a refresh token (no rotation) keeps the old one; expires_in stands in for a missing exp.
    expect(applyRefreshReply(set, { access_token: "opaque", expires_in: 60 }, 1000)).toMatchObject({ refreshToken: "rt-1", expiresAt: 61_000 });
    // The fingerprint's material never moves with a rotation of the same login… it is computed at import only.
    expect(codexFingerprintMaterial(set)).toBe("chatgpt:acct-9:rt-1");
  });
});
