/**
 * Upstream credentials, chosen by kind rather than by wire protocol, and kept
 * out of protocol translation (the codecs never see a secret). A credential
 * puts itself on a request and says what an upstream 401/403 means for it:
 * a static API key is simply wrong and is taken out of its pool; an OAuth
 * account (ChatGPT/Codex subscriptions) may refresh its token once and retry.
 */
import type { UpstreamProtocol } from "../canonical/protocols.js";
import { isCodexAuthSecret, parseCodexAuth } from "./codex-auth.js";

export type CredentialKind =
  /** `Authorization: Bearer <key>` (OpenAI and OpenAI-compatible providers). */
  | "api_key"
  /** `x-api-key` plus a default `anthropic-version` (https://docs.anthropic.com/en/api/versioning). */
  | "anthropic_key"
  /** A ChatGPT account's access token plus its `chatgpt-account-id` (the Codex backend). */
  | "chatgpt_account";

/** What to do after the upstream rejected the credential. */
export type RejectionVerdict = "retry" | "disable";

export interface Credential {
  readonly kind: CredentialKind;
  /**
   * Writes the credential into the outgoing headers; may first refresh an expired token. Returns
   * nothing when the headers are written within the call (a static key: every request), a
   * promise when it has to wait (a refresh), so the attempt awaits only then.
   */
  authorize(headers: Record<string, string>, signal: AbortSignal): void | Promise<void>;
  /** The upstream answered 401/403: "retry" once a refresh succeeded, "disable" to take the key out. */
  rejected(signal: AbortSignal): Promise<RejectionVerdict>;
}

/**
 * The credential could not be put on a request: its login is dead (`permanent`), or its
 * token expired and refreshing failed for now. The attempt treats the first like a revoked
 * key and the second like a failing one (cool down, fail over).
 */
export class CredentialUnavailableError extends Error {
  override readonly name = "CredentialUnavailableError";
  constructor(
    readonly permanent: boolean,
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

export function credentialKindOf(protocol: UpstreamProtocol): CredentialKind {
  return protocol === "anthropic" ? "anthropic_key" : protocol === "codex" ? "chatgpt_account" : "api_key";
}

class BearerKey implements Credential {
  readonly kind = "api_key";
  constructor(private readonly secret: string) {}
  authorize(headers: Record<string, string>): void {
    headers.authorization = `Bearer ${this.secret}`;
  }
  rejected(): Promise<RejectionVerdict> {
    return Promise.resolve("disable");
  }
}

class AnthropicKey implements Credential {
  readonly kind = "anthropic_key";
  constructor(private readonly secret: string) {}
  authorize(headers: Record<string, string>): void {
    headers["x-api-key"] = this.secret;
    headers["anthropic-version"] ??= "2023-06-01";
  }
  rejected(): Promise<RejectionVerdict> {
    return Promise.resolve("disable");
  }
}

/**
 * A ChatGPT account with a static access token (the stored secret is the token itself):
 * a rejection disables the key. A stored token set (an imported auth.json) is a
 * self-refreshing login instead: upstream/chatgpt-oauth.ts, made by the composition root's
 * credential factory.
 */
class ChatGptAccount implements Credential {
  readonly kind = "chatgpt_account";
  constructor(
    private readonly accessToken: string,
    private readonly accountId: string | undefined,
  ) {}
  authorize(headers: Record<string, string>): void {
    headers.authorization = `Bearer ${this.accessToken}`;
    if (this.accountId) headers["chatgpt-account-id"] = this.accountId;
  }
  rejected(): Promise<RejectionVerdict> {
    return Promise.resolve("disable");
  }
}

/** The credential for one upstream key: its kind follows the upstream, its secret the key. */
export function createCredential(upstream: { protocol: UpstreamProtocol; settings: Record<string, unknown> }, secret: string): Credential {
  switch (credentialKindOf(upstream.protocol)) {
    case "anthropic_key":
      return new AnthropicKey(secret);
    case "chatgpt_account": {
      const accountId = upstream.settings.account_id;
      if (isCodexAuthSecret(secret)) {
        // Without the OAuth machinery (a bare factory): the set's access token, as a static one.
        // An unreadable set goes as it is: the upstream refuses it and the key is taken out, as any wrong key.
        try {
          const set = parseCodexAuth(secret);
          return new ChatGptAccount(set.accessToken, set.accountId);
        } catch {
          return new ChatGptAccount(secret, typeof accountId === "string" ? accountId : undefined);
        }
      }
      return new ChatGptAccount(secret, typeof accountId === "string" ? accountId : undefined);
    }
    case "api_key":
      return new BearerKey(secret);
  }
}

/**
 * Credentials per pool key, made once and kept while the key object lives (a
 * catalog reload keeps unchanged keys), so a refreshed token outlives the
 * request that refreshed it.
 */
export function createCredentialCache(make: CredentialFactory = createCredential): CredentialSource {
  const byKey = new WeakMap<object, Credential>();
  return (upstream, key) => {
    let c = byKey.get(key);
    if (!c) {
      c = make(upstream, key.secret, key);
      byKey.set(key, c);
    }
    return c;
  };
}

/** The upstream a credential is for: its protocol picks the kind; its name and settings the rest. */
export interface CredentialUpstream {
  protocol: UpstreamProtocol;
  settings: Record<string, unknown>;
  name?: string;
}

/** A pool key as credentials see it: its secret, and (for self-refreshing ones) its id and fingerprint. */
export interface CredentialKey {
  readonly secret: string;
  readonly id?: string;
  readonly fingerprint?: string;
}

/** Makes the credential of one key (the composition root's factory adds self-refreshing logins). */
export type CredentialFactory = (upstream: CredentialUpstream, secret: string, key: CredentialKey) => Credential;

/** Finds the credential of one key of one upstream. */
export type CredentialSource = (upstream: CredentialUpstream, key: CredentialKey) => Credential;
