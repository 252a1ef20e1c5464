/**
 * A ChatGPT account's OAuth token set, as Codex CLI keeps it in `~/.codex/auth.json`
 * (docs/protocols.md#codex-login; openai/codex `login/src/auth/manager.rs`):
 *
 *     {"OPENAI_API_KEY": null,
 *      "tokens": {"id_token": "<JWT>", "access_token": "<JWT>", "refresh_token": "…", "account_id": "…"},
 *      "last_refresh": "2026-01-01T00:00:00Z"}
 *
 * The gateway stores the same shape (sealed, governance/secrets.ts), so what it keeps is
 * what Codex CLI would read, and a stored secret that starts with `{` is such a set (a bare
 * string is a static access token, as before OAuth landed). The account id and the plan
 * come from the id token's `https://api.openai.com/auth` claim; the access token's `exp`
 * says when it stops working. Tokens are decoded, never verified: the gateway is not
 * their audience, the upstream is.
 */
import { decodeJwt } from "jose";
import { GatewayError } from "../canonical/errors.js";

/** The claim OpenAI puts its own fields under, in id and access tokens alike. */
const AUTH_CLAIM = "https://api.openai.com/auth";

export interface CodexTokenSet {
  idToken: string;
  accessToken: string;
  /** Single-use: every refresh returns a new one, and presenting a spent one kills the login. */
  refreshToken: string;
  /** `chatgpt-account-id`, sent with every request. */
  accountId: string;
  /** `chatgpt_plan_type` (plus, pro, team, …); null when the id token does not say. */
  planType: string | null;
  /** When the access token stops working (its `exp`, epoch ms); null when it is not a JWT with one. */
  expiresAt: number | null;
  /** When the set was last refreshed (epoch ms); Codex refreshes a set older than 8 days whatever its expiry. */
  lastRefresh: number;
}

/** What the admin API and logs may show of a token set: nothing secret. */
export interface CodexTokenMeta {
  kind: "chatgpt_oauth";
  account_id: string;
  plan_type: string | null;
  access_expires_at: string | null;
  last_refresh: string;
}

function refuse(message: string, param?: string): never {
  throw new GatewayError("invalid_request", "invalid_codex_auth", message, { status: 400, param });
}

function claimsOf(token: string, what: string): Record<string, unknown> {
  try {
    return decodeJwt(token) as Record<string, unknown>;
  } catch {
    return refuse(`${what} is not a JWT (three base64url parts with a JSON payload).`, `tokens.${what}`);
  }
}

function authClaim(claims: Record<string, unknown>): Record<string, unknown> {
  const auth = claims[AUTH_CLAIM];
  return auth !== null && typeof auth === "object" ? (auth as Record<string, unknown>) : {};
}

function nonEmpty(v: unknown): v is string {
  return typeof v === "string" && v !== "";
}

/** The access token's expiry (epoch ms), or null when it is not a JWT or carries no `exp`. */
export function accessTokenExpiry(accessToken: string): number | null {
  try {
    const exp = decodeJwt(accessToken).exp;
    return typeof exp === "number" && Number.isFinite(exp) ? exp * 1000 : null;
  } catch {
    return null;
  }
}

/**
 * Reads an auth.json (its text, or the parsed object) into a token set, or throws
 * `invalid_codex_auth` saying what is wrong: not JSON, no `tokens`, a token missing, an id
 * token that is not a JWT, no ChatGPT account id. `now` stands in for a missing `last_refresh`.
 */
export function parseCodexAuth(input: unknown, now: number = Date.now()): CodexTokenSet {
  let doc = input;
  if (typeof doc === "string") {
    try {
      doc = JSON.parse(doc);
    } catch {
      refuse("The Codex auth file is not JSON; give the contents of ~/.codex/auth.json after `codex login`.");
    }
  }
  if (doc === null || typeof doc !== "object" || Array.isArray(doc)) refuse("The Codex auth file must be a JSON object (the contents of ~/.codex/auth.json).");
  const tokens = (doc as Record<string, unknown>).tokens;
  if (tokens === null || typeof tokens !== "object" || Array.isArray(tokens)) {
    refuse("The Codex auth file has no `tokens` object: it holds an API key, not a ChatGPT login (run `codex login` with a ChatGPT account).", "tokens");
  }
  const t = tokens as Record<string, unknown>;
  for (const name of ["id_token", "access_token", "refresh_token"]) {
    if (!nonEmpty(t[name])) refuse(`The Codex auth file's tokens.${name} is missing or empty.`, `tokens.${name}`);
  }
  const idToken = t.id_token as string;
  const accessToken = t.access_token as string;
  const auth = authClaim(claimsOf(idToken, "id_token"));
  const fromClaim = auth.chatgpt_account_id;
  const accountId = nonEmpty(fromClaim) ? fromClaim : nonEmpty(t.account_id) ? t.account_id : undefined;
  if (!accountId)
    refuse(`The id token carries no ChatGPT account id (claim ${AUTH_CLAIM}.chatgpt_account_id) and tokens.account_id is absent.`, "tokens.id_token");
  const lastRefreshText = (doc as Record<string, unknown>).last_refresh;
  const parsedLast = typeof lastRefreshText === "string" ? Date.parse(lastRefreshText) : Number.NaN;
  return {
    idToken,
    accessToken,
    refreshToken: t.refresh_token as string,
    accountId,
    planType: nonEmpty(auth.chatgpt_plan_type) ? auth.chatgpt_plan_type : null,
    expiresAt: accessTokenExpiry(accessToken),
    lastRefresh: Number.isFinite(parsedLast) ? parsedLast : now,
  };
}

/** The set as auth.json text (the form it is sealed in). */
export function serializeCodexAuth(set: CodexTokenSet): string {
  return JSON.stringify({
    OPENAI_API_KEY: null,
    tokens: { id_token: set.idToken, access_token: set.accessToken, refresh_token: set.refreshToken, account_id: set.accountId },
    last_refresh: new Date(set.lastRefresh).toISOString(),
  });
}

/** Whether a stored upstream secret is a token set (JSON) rather than a static access token. */
export function isCodexAuthSecret(secret: string): boolean {
  return secret.trimStart().startsWith("{");
}

export function codexTokenMeta(set: CodexTokenSet): CodexTokenMeta {
  return {
    kind: "chatgpt_oauth",
    account_id: set.accountId,
    plan_type: set.planType,
    access_expires_at: set.expiresAt === null ? null : new Date(set.expiresAt).toISOString(),
    last_refresh: new Date(set.lastRefresh).toISOString(),
  };
}

/**
 * What an imported set's fingerprint is computed from: the account and the login (its
 * refresh token at import). It never changes while the gateway rotates the tokens, so a
 * YAML file naming the same auth.json matches the stored key at every start; a new
 * `codex login` gives a new fingerprint, so importing it replaces the old key.
 */
export function codexFingerprintMaterial(set: CodexTokenSet): string {
  return `chatgpt:${set.accountId}:${set.refreshToken}`;
}

/**
 * The set after a refresh reply (`{id_token?, access_token?, refresh_token?, expires_in?}`):
 * what the reply leaves out stays as it was. The plan and account follow a new id token.
 */
export function applyRefreshReply(previous: CodexTokenSet, reply: Record<string, unknown>, now: number): CodexTokenSet {
  const idToken = nonEmpty(reply.id_token) ? reply.id_token : previous.idToken;
  const accessToken = nonEmpty(reply.access_token) ? reply.access_token : previous.accessToken;
  let accountId = previous.accountId;
  let planType = previous.planType;
  if (idToken !== previous.idToken) {
    try {
      const auth = authClaim(decodeJwt(idToken) as Record<string, unknown>);
      if (nonEmpty(auth.chatgpt_account_id)) accountId = auth.chatgpt_account_id;
      if (nonEmpty(auth.chatgpt_plan_type)) planType = auth.chatgpt_plan_type;
    } catch {
      // A new id token we cannot read changes nothing we route by; keep the old claims.
    }
  }
  let expiresAt = accessTokenExpiry(accessToken);
  if (expiresAt === null && typeof reply.expires_in === "number" && Number.isFinite(reply.expires_in)) expiresAt = now + reply.expires_in * 1000;
  return {
    idToken,
    accessToken,
    refreshToken: nonEmpty(reply.refresh_token) ? reply.refresh_token : previous.refreshToken,
    accountId,
    planType,
    expiresAt,
    lastRefresh: now,
  };
}
