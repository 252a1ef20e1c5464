/**
 * ChatGPT/Codex subscription logins as upstream credentials that keep themselves fresh
 * (docs/codex.md#how-tokens-stay-fresh; docs/protocols.md#codex-login, after openai/codex
 * `login/src/auth/manager.rs`):
 *
 * - **Hot path**: `authorize` on a token that is not due is two header writes and a
 *   resolved promise. A token inside its refresh margin is still used while a refresh
 *   starts beside it; only a token past its `exp` makes the request wait for one.
 * - **When**: a timer per credential fires at `exp − refresh_margin_ms` (or when the set
 *   is 8 days old, Codex's own rule), whatever routing thinks of the key (a cooling key
 *   still refreshes); once more after the upstream refused the token (`rejected`, 401).
 * - **Single-flight**: one refresh per credential at a time in a process (every caller
 *   shares its promise), and one node at a time in a cluster (the vault's lease). A node
 *   that finds the stored set already fresher than its own adopts it without calling the
 *   token endpoint, so a cluster presents each refresh token exactly once
 *   (openai/codex#17340: two nodes refreshing one login get it revoked).
 * - **Rotation first**: the refresh token is single-use, so the new set is written to the
 *   store (compare-and-set on the envelope) before its access token is used.
 * - **Dead**: `refresh_token_reused`, `refresh_token_expired`, `refresh_token_invalidated`
 *   or `invalid_grant` mark the credential dead in the store (remembered across restarts,
 *   skipped by routing); a timeout or 5xx from the token endpoint is transient: the attempt
 *   fails over, and the refresh is tried again with backoff.
 */
import type { Logger } from "../observability/logger.js";
import type { Metrics } from "../observability/metrics.js";
import { applyRefreshReply, codexTokenMeta, parseCodexAuth, serializeCodexAuth, type CodexTokenSet } from "./codex-auth.js";
import { CredentialUnavailableError, type Credential, type RejectionVerdict } from "./credentials.js";

export { CredentialUnavailableError };

/** Codex CLI's OAuth client (docs/protocols.md#codex-login). */
export const CODEX_CLIENT_ID = "app_EMoamEEZ73f0CkXaXp7hrann";
export const OPENAI_TOKEN_URL = "https://auth.openai.com/oauth/token";

/** Refusals of a refresh token that no retry can fix: the user must log in again. */
const PERMANENT_CODES = new Set(["refresh_token_reused", "refresh_token_expired", "refresh_token_invalidated", "invalid_grant"]);

/** An upstream's `settings.oauth` (docs/configuration.md#upstreams), with defaults filled in. */
export interface OAuthSettings {
  tokenUrl: string;
  clientId: string;
  /** Refresh this long before the access token's `exp`. */
  refreshMarginMs: number;
  /** The token endpoint's whole answer must arrive within this. */
  timeoutMs: number;
  /** Refresh a set older than this whatever its expiry (Codex: 8 days). */
  maxAgeMs: number;
}

export const DEFAULT_OAUTH: OAuthSettings = {
  tokenUrl: OPENAI_TOKEN_URL,
  clientId: CODEX_CLIENT_ID,
  refreshMarginMs: 5 * 60_000,
  timeoutMs: 30_000,
  maxAgeMs: 8 * 24 * 3_600_000,
};

export function oauthSettings(settings: Record<string, unknown>): OAuthSettings {
  const o = settings.oauth !== null && typeof settings.oauth === "object" ? (settings.oauth as Record<string, unknown>) : {};
  const str = (v: unknown, d: string): string => (typeof v === "string" && v !== "" ? v : d);
  const num = (v: unknown, d: number): number => (typeof v === "number" && Number.isFinite(v) && v >= 0 ? v : d);
  return {
    tokenUrl: str(o.token_url, DEFAULT_OAUTH.tokenUrl),
    clientId: str(o.client_id, DEFAULT_OAUTH.clientId),
    refreshMarginMs: num(o.refresh_margin_ms, DEFAULT_OAUTH.refreshMarginMs),
    timeoutMs: num(o.timeout_ms, DEFAULT_OAUTH.timeoutMs) || DEFAULT_OAUTH.timeoutMs,
    maxAgeMs: num(o.max_age_ms, DEFAULT_OAUTH.maxAgeMs) || DEFAULT_OAUTH.maxAgeMs,
  };
}

/** Time and timers, injectable so a test can run days of token lifetimes in seconds. */
export interface OAuthClock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const SYSTEM_CLOCK: OAuthClock = {
  now: Date.now,
  // Unref'd: a pending refresh never keeps a process alive.
  setTimeout: (fn, ms) => setTimeout(fn, ms).unref(),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

/**
 * Where the token sets live between refreshes: the store, sealed (governance/credential-vault.ts
 * implements it; main.ts wires it). `version` is opaque: the stored envelope, compared and set.
 */
export interface CredentialVault {
  load(keyId: string): Promise<{ version: string; secret: string; dead: { reason: string; at: string } | null } | undefined>;
  /** Stores `secret` if the stored version still is `expected`; the new version, or undefined when it was not. */
  rotate(keyId: string, expected: string, secret: string, meta: Record<string, unknown> | null): Promise<string | undefined>;
  /** Marks the credential dead for good (and takes it out of routing on every node). */
  markDead(keyId: string, reason: string): Promise<void>;
  /** The cluster-wide right to refresh this credential for `ttlMs`; undefined while another holder has it. */
  lease(keyId: string, ttlMs: number): Promise<{ release(): Promise<void> } | undefined>;
}

/** What the token endpoint said, classified. */
export class TokenEndpointError extends Error {
  override readonly name = "TokenEndpointError";
  constructor(
    readonly permanent: boolean,
    /** The endpoint's error code (`refresh_token_reused`, …), `http_<status>`, `timeout` or `network`. */
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** The OAuth error code of a token endpoint's answer: `{"error":{"code":…}}`, `{"error":"…"}` or `{"code":…}`. */
export function tokenErrorCode(body: unknown): string | undefined {
  if (body === null || typeof body !== "object") return undefined;
  const b = body as Record<string, unknown>;
  if (typeof b.error === "string") return b.error;
  if (b.error !== null && typeof b.error === "object") {
    const code = (b.error as Record<string, unknown>).code;
    if (typeof code === "string") return code;
  }
  return typeof b.code === "string" ? b.code : undefined;
}

/** One refresh_token grant (JSON, as Codex sends it). Throws {@link TokenEndpointError}. */
export async function requestRefresh(settings: OAuthSettings, refreshToken: string): Promise<Record<string, unknown>> {
  let status: number;
  let text: string;
  try {
    // Node's own fetch: a refresh is rare, and the gateway need not load undici's fetch for it.
    const res = await fetch(settings.tokenUrl, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json" },
      body: JSON.stringify({ client_id: settings.clientId, grant_type: "refresh_token", refresh_token: refreshToken, scope: "openid profile email" }),
      signal: AbortSignal.timeout(settings.timeoutMs),
    });
    status = res.status;
    text = await res.text();
  } catch (err) {
    const e = err as Error;
    const timeout = e.name === "TimeoutError" || e.name === "AbortError" || /timeout/i.test(e.message);
    // fetch says only "fetch failed"; what failed (ECONNREFUSED, a reset) is its cause.
    const cause = e.cause instanceof Error ? `: ${e.cause.message}` : "";
    throw new TokenEndpointError(false, timeout ? "timeout" : "network", `token endpoint ${timeout ? "timed out" : "unreachable"}: ${e.message}${cause}`);
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  if (status >= 200 && status < 300) {
    if (body && typeof body === "object" && typeof (body as Record<string, unknown>).access_token === "string") return body as Record<string, unknown>;
    throw new TokenEndpointError(false, "bad_answer", `token endpoint answered ${status} without an access token`);
  }
  const code = tokenErrorCode(body);
  if (code !== undefined && PERMANENT_CODES.has(code)) throw new TokenEndpointError(true, code, `token endpoint refused the refresh token: ${code}`);
  throw new TokenEndpointError(false, code ?? `http_${status}`, `token endpoint answered ${status}${code ? ` (${code})` : ""}`);
}

export interface OAuthAccountDeps {
  vault: CredentialVault;
  clock?: OAuthClock;
  logger?: Pick<Logger, "info" | "warn" | "error">;
  metrics?: Pick<Metrics, "credentialRefreshes">;
  /** The token endpoint call (tests may count or wrap it). */
  refresh?: (settings: OAuthSettings, refreshToken: string) => Promise<Record<string, unknown>>;
  /** How often a node waiting for another node's refresh looks at the store (real ms). */
  leasePollMs?: number;
}

type Reason = "due" | "expired" | "rejected";

const RESOLVED = Promise.resolve();
const MAX_TIMER_MS = 2 ** 31 - 1;
/** Backoff after a transient failure: 30 s, doubling, at most 10 minutes. */
const RETRY_MIN_MS = 30_000;
const RETRY_MAX_MS = 600_000;

/** One ChatGPT login behind one upstream key. */
export class ChatGptOAuthAccount implements Credential {
  readonly kind = "chatgpt_account";
  #tokens: CodexTokenSet;
  #settings: OAuthSettings;
  #dead: string | undefined;
  #inflight: Promise<void> | undefined;
  #timer: unknown;
  #failures = 0;
  /** After a transient failure, no refresh before this (epoch ms by the clock): the token endpoint is not hammered per request. */
  #retryAt = 0;
  #closed = false;
  readonly #clock: OAuthClock;
  /**
   * Which access token each request (its signal) was sent with, so a 401 that arrives after
   * another request already refreshed retries with the new token instead of refreshing again.
   */
  readonly #sentWith = new WeakMap<AbortSignal, string>();

  constructor(
    readonly keyId: string,
    readonly upstream: string,
    readonly fingerprint: string,
    tokens: CodexTokenSet,
    settings: OAuthSettings,
    private readonly deps: OAuthAccountDeps,
  ) {
    this.#tokens = tokens;
    this.#settings = settings;
    this.#clock = deps.clock ?? SYSTEM_CLOCK;
    this.#schedule();
  }

  /** The token set in use (tests; never logged). */
  get tokens(): Readonly<CodexTokenSet> {
    return this.#tokens;
  }

  /** Why the login is dead, or undefined while it lives. */
  get dead(): string | undefined {
    return this.#dead;
  }

  /** Resolves when no refresh is under way (tests). */
  settled(): Promise<void> {
    return (this.#inflight ?? RESOLVED).catch(() => undefined);
  }

  /** New settings (the upstream was edited); the timer follows a new margin. */
  update(settings: OAuthSettings): void {
    this.#settings = settings;
    this.#schedule();
  }

  authorize(headers: Record<string, string>, signal: AbortSignal): void | Promise<void> {
    if (this.#dead !== undefined) return Promise.reject(this.#deadError());
    const now = this.#clock.now();
    const t = this.#tokens;
    if (t.expiresAt !== null && now >= t.expiresAt) {
      // Past its exp: the upstream would refuse it, so this request waits for the refresh.
      return abortable(this.#refresh("expired"), signal).then(() => this.#write(headers, signal));
    }
    // Inside the margin: still good, so it is used while the refresh runs beside it (the
    // timer normally got there first; after a failure its backoff decides).
    if (now >= this.#dueAt(t) && now >= this.#retryAt) this.#refresh("due").catch(() => undefined);
    this.#write(headers, signal);
  }

  async rejected(signal: AbortSignal): Promise<RejectionVerdict> {
    if (this.#dead !== undefined) return "disable";
    const sent = this.#sentWith.get(signal) ?? this.#tokens.accessToken;
    // Refreshed since this request was sent: the new token is the retry.
    if (sent !== this.#tokens.accessToken) return "retry";
    try {
      await abortable(this.#refresh("rejected", sent), signal);
      return "retry";
    } catch (err) {
      if (err instanceof CredentialUnavailableError && err.permanent) return "disable";
      throw err;
    }
  }

  /** Stops the timer (the key left the catalog, or the process stops). */
  close(): void {
    this.#closed = true;
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #write(headers: Record<string, string>, signal: AbortSignal): void {
    this.#sentWith.set(signal, this.#tokens.accessToken);
    headers.authorization = `Bearer ${this.#tokens.accessToken}`;
    headers["chatgpt-account-id"] = this.#tokens.accountId;
  }

  #deadError(): CredentialUnavailableError {
    return new CredentialUnavailableError(
      true,
      this.#dead ?? "dead",
      `the ChatGPT login of upstream key ${this.fingerprint} is dead (${this.#dead}); import a new login`,
    );
  }

  /** When a set is due for refresh: its margin before `exp`, or its maximum age. */
  #dueAt(t: CodexTokenSet): number {
    const byAge = t.lastRefresh + this.#settings.maxAgeMs;
    return t.expiresAt === null ? byAge : Math.min(t.expiresAt - this.#settings.refreshMarginMs, byAge);
  }

  /** Single-flight: every caller while one runs shares its outcome. */
  #refresh(reason: Reason, stale?: string): Promise<void> {
    if (this.#inflight) return this.#inflight;
    if (this.#clock.now() < this.#retryAt) {
      return Promise.reject(
        new CredentialUnavailableError(
          false,
          "refresh_backoff",
          `refreshing the ChatGPT login of upstream key ${this.fingerprint} failed recently; tried again later`,
        ),
      );
    }
    this.#inflight = this.#run(reason, stale).then(
      () => {
        this.#inflight = undefined;
        this.#failures = 0;
        this.#retryAt = 0;
        this.#schedule();
      },
      (err: unknown) => {
        this.#inflight = undefined;
        if (this.#dead === undefined) {
          this.#failures++;
          const backoff = Math.min(RETRY_MIN_MS * 2 ** (this.#failures - 1), RETRY_MAX_MS);
          this.#retryAt = this.#clock.now() + backoff;
          this.#schedule(backoff);
        }
        throw err instanceof CredentialUnavailableError
          ? err
          : new CredentialUnavailableError(
              false,
              "refresh_failed",
              `refreshing the ChatGPT login of upstream key ${this.fingerprint} failed: ${(err as Error).message}`,
            );
      },
    );
    return this.#inflight;
  }

  /** Whether a stored set serves this refresh's purpose without calling the token endpoint. */
  #good(stored: CodexTokenSet, reason: Reason, stale: string | undefined): boolean {
    if (reason === "rejected") return stored.accessToken !== stale && (stored.expiresAt === null || stored.expiresAt > this.#clock.now());
    return this.#clock.now() < this.#dueAt(stored);
  }

  async #run(reason: Reason, stale: string | undefined): Promise<void> {
    // A look before the lease: another node may have rotated already, and then nothing waits.
    const seen = await this.#load();
    if (seen && this.#good(seen.set, reason, stale)) return this.#adopt(seen.set, "adopted");
    const lease = await this.#acquire(reason, stale);
    if (lease === "adopted") return;
    try {
      // Under the lease the stored set is the one to refresh from (never the copy in memory).
      const current = await this.#load();
      if (!current) throw new CredentialUnavailableError(false, "gone", `upstream key ${this.fingerprint} is no longer stored`);
      if (this.#good(current.set, reason, stale)) return this.#adopt(current.set, "adopted");
      let reply: Record<string, unknown>;
      try {
        reply = await (this.deps.refresh ?? requestRefresh)(this.#settings, current.set.refreshToken);
      } catch (err) {
        if (err instanceof TokenEndpointError && err.permanent) {
          await this.#die(err.code, true);
          throw this.#deadError();
        }
        this.deps.metrics?.credentialRefreshes.inc({ upstream: this.upstream, outcome: "transient" });
        this.deps.logger?.warn(
          { upstream: this.upstream, key: this.fingerprint, err: (err as Error).message },
          "ChatGPT login refresh failed; trying again later",
        );
        throw new CredentialUnavailableError(false, err instanceof TokenEndpointError ? err.code : "refresh_failed", (err as Error).message);
      }
      const next = applyRefreshReply(current.set, reply, this.#clock.now());
      await this.#persist(next, current.version, current.set.refreshToken);
      this.deps.metrics?.credentialRefreshes.inc({ upstream: this.upstream, outcome: "refreshed" });
      this.#adopt(next);
    } finally {
      await lease
        .release()
        .catch((err: Error) => this.deps.logger?.warn({ key: this.fingerprint, err: err.message }, "could not release a refresh lease; it runs out by itself"));
    }
  }

  async #load(): Promise<{ version: string; set: CodexTokenSet } | undefined> {
    const stored = await this.deps.vault.load(this.keyId);
    if (!stored) return undefined;
    if (stored.dead) {
      await this.#die(stored.dead.reason, false);
      throw this.#deadError();
    }
    return { version: stored.version, set: parseCodexAuth(stored.secret, this.#clock.now()) };
  }

  /** The lease, or "adopted" when the node holding it stored a set good enough meanwhile. */
  async #acquire(reason: Reason, stale: string | undefined): Promise<{ release(): Promise<void> } | "adopted"> {
    const ttl = this.#settings.timeoutMs + 30_000;
    const pollMs = this.deps.leasePollMs ?? 100;
    const giveUp = Date.now() + ttl + 5_000;
    for (;;) {
      const lease = await this.deps.vault.lease(this.keyId, ttl);
      if (lease) return lease;
      // Another node is refreshing: wait for its result rather than race it.
      await new Promise((r) => setTimeout(r, pollMs));
      const seen = await this.#load();
      if (seen && this.#good(seen.set, reason, stale)) {
        this.#adopt(seen.set, "adopted");
        return "adopted";
      }
      if (Date.now() > giveUp)
        throw new CredentialUnavailableError(false, "lease_busy", `another node has held the refresh lease of upstream key ${this.fingerprint} too long`);
    }
  }

  /**
   * Writes the rotated set over the one it came from. The compare-and-set fails only if the
   * envelope changed under the lease: a master-key re-wrap of the same set (then it is
   * written over the re-wrapped one) or, were the lease ever lost, another node's rotation.
   * A set that cannot be stored is still the only live one (its refresh token was spent), so
   * it is used and stored again later rather than dropped.
   */
  async #persist(next: CodexTokenSet, expected: string, spent: string): Promise<void> {
    let version = expected;
    for (let i = 0; i < 3; i++) {
      try {
        if (await this.deps.vault.rotate(this.keyId, version, serializeCodexAuth(next), { ...codexTokenMeta(next) })) return;
        const again = await this.deps.vault.load(this.keyId);
        if (!again) return;
        if (parseCodexAuth(again.secret).refreshToken !== spent) {
          this.deps.logger?.error(
            { upstream: this.upstream, key: this.fingerprint },
            "ChatGPT login was rotated by another holder during a refresh; keeping the stored set",
          );
          return;
        }
        version = again.version;
      } catch (err) {
        this.deps.logger?.error(
          { upstream: this.upstream, key: this.fingerprint, err: (err as Error).message },
          "could not store a rotated ChatGPT login; using it and storing it again later",
        );
        this.#persistLater(next);
        return;
      }
    }
  }

  #persistLater(next: CodexTokenSet): void {
    this.#clock.setTimeout(() => {
      if (this.#closed || this.#tokens !== next) return;
      void this.deps.vault
        .load(this.keyId)
        .then((stored) => stored && this.#persist(next, stored.version, parseCodexAuth(stored.secret).refreshToken))
        .catch(() => this.#persistLater(next));
    }, 5_000);
  }

  #adopt(set: CodexTokenSet, outcome?: "adopted"): void {
    if (outcome && set.accessToken !== this.#tokens.accessToken) this.deps.metrics?.credentialRefreshes.inc({ upstream: this.upstream, outcome });
    this.#tokens = set;
  }

  async #die(reason: string, persist: boolean): Promise<void> {
    if (this.#dead !== undefined) return;
    this.#dead = reason;
    this.close();
    this.deps.metrics?.credentialRefreshes.inc({ upstream: this.upstream, outcome: "dead" });
    this.deps.logger?.error(
      { upstream: this.upstream, key: this.fingerprint, reason },
      "ChatGPT login is dead: its refresh token was refused for good; import a new login",
    );
    if (persist) await this.deps.vault.markDead(this.keyId, reason);
  }

  /** Arms the timer for the next refresh: when due, or after `retryInMs` following a failure. */
  #schedule(retryInMs?: number): void {
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#closed || this.#dead !== undefined) return;
    const now = this.#clock.now();
    const at = retryInMs !== undefined ? now + retryInMs : this.#dueAt(this.#tokens);
    const delay = Math.min(Math.max(0, at - now), MAX_TIMER_MS);
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = undefined;
      if (this.#closed) return;
      // Not due yet (a clamped delay, or a set adopted meanwhile): just arm again.
      if (retryInMs === undefined && this.#clock.now() < this.#dueAt(this.#tokens)) return this.#schedule();
      this.#retryAt = 0;
      this.#refresh("due").catch(() => undefined);
    }, delay);
  }
}

function abortable(p: Promise<void>, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason as Error);
    signal.addEventListener("abort", onAbort, { once: true });
    p.then(
      () => {
        signal.removeEventListener("abort", onAbort);
        resolve();
      },
      (err: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(err as Error);
      },
    );
  });
}

/**
 * Every ChatGPT login credential of this process: made on first use of a key (or when the
 * catalog is synced), their timers stopped when their key leaves the catalog or the process stops.
 */
export class OAuthAccounts {
  readonly #byKey = new Map<string, ChatGptOAuthAccount>();
  constructor(private readonly deps: OAuthAccountDeps) {}

  /** The credential for a key whose secret is a token set; one per key id. */
  create(upstream: { name: string; settings: Record<string, unknown> }, key: { id: string; fingerprint: string; secret: string }): ChatGptOAuthAccount {
    const existing = this.#byKey.get(key.id);
    if (existing) return existing;
    const clock = this.deps.clock ?? SYSTEM_CLOCK;
    const c = new ChatGptOAuthAccount(
      key.id,
      upstream.name,
      key.fingerprint,
      parseCodexAuth(key.secret, clock.now()),
      oauthSettings(upstream.settings),
      this.deps,
    );
    this.#byKey.set(key.id, c);
    return c;
  }

  get(keyId: string): ChatGptOAuthAccount | undefined {
    return this.#byKey.get(keyId);
  }

  /** Keeps the credentials of these keys (following their upstreams' settings); stops and forgets the rest. */
  retain(keys: ReadonlyMap<string, { settings: Record<string, unknown> }>): void {
    for (const [id, c] of this.#byKey) {
      const u = keys.get(id);
      if (u) {
        c.update(oauthSettings(u.settings));
        continue;
      }
      c.close();
      this.#byKey.delete(id);
    }
  }

  *live(): Iterable<ChatGptOAuthAccount> {
    yield* this.#byKey.values();
  }

  close(): void {
    for (const c of this.#byKey.values()) c.close();
    this.#byKey.clear();
  }
}
