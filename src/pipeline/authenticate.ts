/**
 * API key → principal, from governance's in-memory principals snapshot (tier 1).
 * `Authorization: Bearer` and `x-api-key` are both accepted on every route, since
 * Anthropic clients use either (docs/protocols.md#anthropic-messages). This step owns the HTTP side (which
 * header, which error code); checking the secret is governance's (verifyKey).
 */
import type { IncomingHttpHeaders } from "node:http";
import { GatewayError } from "../canonical/errors.js";
import { verifyKey, type Principal, type PrincipalsSnapshot } from "../governance/principals.js";

export function presentedKey(headers: IncomingHttpHeaders): string | undefined {
  const auth = headers.authorization;
  if (typeof auth === "string") {
    const m = /^Bearer\s+(.+)$/i.exec(auth.trim());
    if (m) return m[1]!.trim();
  }
  const x = headers["x-api-key"];
  if (typeof x === "string" && x.trim()) return x.trim();
  return undefined;
}

/** `now` (ms since the epoch) is injectable for tests; the expiry check is one number compare, no I/O. */
export function authenticate(headers: IncomingHttpHeaders, principals: PrincipalsSnapshot, now: number = Date.now()): Principal {
  const secret = presentedKey(headers);
  if (!secret) {
    throw new GatewayError("authentication", "missing_api_key", "No API key provided. Send it as 'Authorization: Bearer <key>' or 'x-api-key: <key>'.");
  }
  const principal = verifyKey(principals, secret);
  if (!principal) throw new GatewayError("authentication", "invalid_api_key", "Invalid API key.");
  // Expiry first: an expired key is refused whatever its scopes.
  if (now >= principal.expiresAtMs) throw new GatewayError("authentication", "api_key_expired", "This API key has expired.");
  if (!principal.scopes.includes("inference")) {
    throw new GatewayError(
      "permission",
      "key_scope_manage_only",
      "This API key has only the 'manage' scope, for the admin API; calling models needs a key with the 'inference' scope.",
    );
  }
  return principal;
}
