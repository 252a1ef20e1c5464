/**
 * ChatGPT login for the mock (src/mock/README.md#chatgpt-login): the token endpoint
 * `POST /oauth/token` (refresh_token grant, JSON or form-encoded, docs/protocols.md#codex-login) and
 * the access check of the Codex backend routes.
 *
 * - `login()` makes an account's first token set, in auth.json shape: an id token carrying
 *   the `https://api.openai.com/auth` claims (`chatgpt_account_id`, `chatgpt_plan_type`) and an
 *   access token (a JWT) that expires after `accessLifetimeMs` by the mock's clock (`now`).
 * - Every refresh rotates the refresh token. Presenting a spent one answers 401
 *   `refresh_token_reused` (the body openai/codex parses) and, as the real issuer does with
 *   a replayed token, ends the whole login: its current refresh token stops working too.
 * - `failNext("500" | "hang" | "invalid_grant" | "expired", n)` scripts the next answers: a
 *   500, no answer at all (the client's timeout decides), or a permanent refusal: the OAuth
 *   `invalid_grant`, or 401 `refresh_token_expired` (a login that ran out).
 * - Once a login exists, the Codex routes (and their WebSocket upgrade) answer 401 to an access
 *   token the mock did not issue or revoked with `invalidateAccess()` (`token_invalidated`), or
 *   whose `exp` has passed (`token_expired`). Before that they accept any bearer, as they always did.
 * Tokens are HS256 JWTs signed with a per-process secret; nothing verifies them but the mock.
 */
import { createHmac, randomBytes, randomUUID } from "node:crypto";
import type { ServerResponse } from "node:http";
import { type HttpReply, JSON_HEADERS, bearer } from "./adapter.js";
import { sendReply } from "./deliver.js";
import type { RecordedRequest } from "./types.js";

const AUTH_CLAIM = "https://api.openai.com/auth";

export interface CodexAuthJson {
  OPENAI_API_KEY: null;
  tokens: { id_token: string; access_token: string; refresh_token: string; account_id: string };
  last_refresh: string;
}

interface Login {
  accountId: string;
  plan: string;
  email: string;
  /** The one refresh token that works now; undefined once the login ended. */
  current: string | undefined;
}

type Failure = "500" | "hang" | "invalid_grant" | "expired";

/** One answer of the token endpoint, for tests to assert on. */
export interface RefreshRecord {
  accountId: string | undefined;
  outcome: "rotated" | "reused" | "unknown" | Failure;
}

export class CodexOAuth {
  /** How long issued access tokens live (ms, by `now`). */
  accessLifetimeMs = 3_600_000;
  /** The mock's clock for token lifetimes (a test's simulated clock, say). */
  now: () => number = Date.now;
  /** Every call of the token endpoint, in order. */
  readonly refreshes: RefreshRecord[] = [];
  readonly #secret = randomBytes(32);
  readonly #refreshTokens = new Map<string, { login: Login; spent: boolean }>();
  readonly #accessTokens = new Map<string, { login: Login; exp: number }>();
  readonly #failures: Failure[] = [];
  #enforce = false;

  /** How many times a spent refresh token was presented. */
  get reuses(): number {
    return this.refreshes.filter((r) => r.outcome === "reused").length;
  }

  /** A new login for an account: its first token set, as `codex login` would write it. */
  login(opts: { accountId?: string; plan?: string; email?: string } = {}): CodexAuthJson {
    this.#enforce = true;
    const login: Login = {
      accountId: opts.accountId ?? `acct-${randomUUID()}`,
      plan: opts.plan ?? "pro",
      email: opts.email ?? "user@example.com",
      current: undefined,
    };
    const set = this.#issue(login);
    return {
      OPENAI_API_KEY: null,
      tokens: { id_token: set.id_token, access_token: set.access_token, refresh_token: set.refresh_token, account_id: login.accountId },
      last_refresh: new Date(this.now()).toISOString(),
    };
  }

  /** Makes the next `times` token-endpoint answers fail this way. */
  failNext(kind: Failure, times = 1): void {
    for (let i = 0; i < times; i++) this.#failures.push(kind);
  }

  /**
   * Revokes the access tokens issued so far (of one account, or all): the Codex routes answer them
   * 401 `token_invalidated`, as the backend does to a token revoked before its `exp`. The refresh
   * tokens still work, so a client that refreshes once gets a token that serves.
   */
  invalidateAccess(accountId?: string): void {
    for (const [token, issued] of this.#accessTokens) if (accountId === undefined || issued.login.accountId === accountId) this.#accessTokens.delete(token);
  }

  /** Forgets scripted failures and recorded refreshes (logins stay). */
  clear(): void {
    this.#failures.length = 0;
    this.refreshes.length = 0;
  }

  handles(req: RecordedRequest): boolean {
    return req.method === "POST" && req.path === "/oauth/token";
  }

  /** Answers `POST /oauth/token`. */
  answer(req: RecordedRequest, res: ServerResponse): void {
    const form = parseForm(req);
    const token = typeof form.refresh_token === "string" ? form.refresh_token : "";
    const entry = this.#refreshTokens.get(token);
    const failure = this.#failures.shift();
    if (failure) {
      this.refreshes.push({ accountId: entry?.login.accountId, outcome: failure });
      // No answer at all: the connection stays open until the client gives up.
      if (failure === "hang") return;
      if (failure === "500") return sendReply(res, json(500, { error: { message: "Internal server error", type: "server_error", code: null } }));
      if (failure === "expired") {
        return sendReply(
          res,
          json(401, {
            error: {
              message: "Your refresh token has expired. Please try signing in again.",
              type: "invalid_request_error",
              param: null,
              code: "refresh_token_expired",
            },
          }),
        );
      }
      return sendReply(res, json(400, { error: "invalid_grant", error_description: "The refresh token is invalid or expired." }));
    }
    if (form.grant_type !== "refresh_token") {
      return sendReply(res, json(400, { error: "unsupported_grant_type", error_description: "Only refresh_token is supported by the mock." }));
    }
    if (!entry) {
      this.refreshes.push({ accountId: undefined, outcome: "unknown" });
      return sendReply(
        res,
        json(401, {
          error: { message: "Could not validate your refresh token.", type: "invalid_request_error", param: null, code: "refresh_token_invalidated" },
        }),
      );
    }
    if (!entry.spent && entry.login.current !== token) {
      this.refreshes.push({ accountId: entry.login.accountId, outcome: "unknown" });
      return sendReply(
        res,
        json(401, {
          error: {
            message: "Your refresh token has been invalidated. Please try signing in again.",
            type: "invalid_request_error",
            param: null,
            code: "refresh_token_invalidated",
          },
        }),
      );
    }
    if (entry.spent) {
      this.refreshes.push({ accountId: entry.login.accountId, outcome: "reused" });
      // A replayed refresh token ends the login: its live token stops working too.
      entry.login.current = undefined;
      return sendReply(
        res,
        json(401, {
          error: {
            message: "Your refresh token has already been used to generate a new access token. Please try signing in again.",
            type: "invalid_request_error",
            param: null,
            code: "refresh_token_reused",
          },
        }),
      );
    }
    entry.spent = true;
    this.refreshes.push({ accountId: entry.login.accountId, outcome: "rotated" });
    sendReply(res, json(200, { ...this.#issue(entry.login), token_type: "Bearer", expires_in: Math.floor(this.accessLifetimeMs / 1000) }));
  }

  /**
   * The Codex backend's check of the bearer: a 401 for a token the mock never issued, or one
   * past its `exp`; undefined when it passes (or before any login exists).
   */
  deny(req: RecordedRequest, requestId: string): HttpReply | undefined {
    if (!this.#enforce) return undefined;
    const token = bearer(req.headers);
    const issued = token ? this.#accessTokens.get(token) : undefined;
    if (!issued) {
      return unauthorized(requestId, "token_invalidated", "Your authentication token has been invalidated. Please try signing in again.");
    }
    if (this.now() >= issued.exp * 1000) {
      return unauthorized(requestId, "token_expired", "Provided authentication token is expired. Please try signing in again.");
    }
    return undefined;
  }

  #issue(login: Login): { id_token: string; access_token: string; refresh_token: string } {
    const iat = Math.floor(this.now() / 1000);
    const exp = Math.floor((this.now() + this.accessLifetimeMs) / 1000);
    const claims = { chatgpt_account_id: login.accountId, chatgpt_plan_type: login.plan, chatgpt_user_id: `user-${login.accountId}` };
    const idToken = this.#jwt({
      iss: "https://auth.openai.com",
      aud: ["app_EMoamEEZ73f0CkXaXp7hrann"],
      email: login.email,
      iat,
      exp: iat + 3600,
      [AUTH_CLAIM]: claims,
    });
    const accessToken = this.#jwt({ iss: "https://auth.openai.com", aud: ["https://api.openai.com/v1"], iat, exp, jti: randomUUID(), [AUTH_CLAIM]: claims });
    const refreshToken = `rt_${randomBytes(24).toString("base64url")}`;
    this.#accessTokens.set(accessToken, { login, exp });
    this.#refreshTokens.set(refreshToken, { login, spent: false });
    login.current = refreshToken;
    return { id_token: idToken, access_token: accessToken, refresh_token: refreshToken };
  }

  #jwt(payload: Record<string, unknown>): string {
    const head = Buffer.from(JSON.stringify({ alg: "HS256", typ: "JWT" })).toString("base64url");
    const body = Buffer.from(JSON.stringify(payload)).toString("base64url");
    const sig = createHmac("sha256", this.#secret).update(`${head}.${body}`).digest("base64url");
    return `${head}.${body}.${sig}`;
  }
}

function parseForm(req: RecordedRequest): Record<string, unknown> {
  if (req.json !== null && typeof req.json === "object") return req.json as Record<string, unknown>;
  return Object.fromEntries(new URLSearchParams(req.body.toString("utf8")));
}

function json(status: number, body: unknown): HttpReply {
  return { status, headers: { ...JSON_HEADERS }, body: JSON.stringify(body) };
}

function unauthorized(requestId: string, code: string, message: string): HttpReply {
  return {
    status: 401,
    headers: { ...JSON_HEADERS, "x-request-id": requestId },
    body: JSON.stringify({ error: { message, type: "invalid_request_error", code, param: null }, status: 401 }),
  };
}
