/**
 * API key → principal, from governance's in-memory principals cache (tier 1).
 * `Authorization: Bearer` and `x-api-key` are both accepted on every route, since
 * Anthropic clients use either (docs/protocols.md#anthropic-messages). This step owns the HTTP side (which
 * header, which error code); checking the secret is governance's (verifyKey).
 */
import type { IncomingHttpHeaders } from "node:http";
import { GatewayError } from "../canonical/errors.js";
import type { Principal, Principals } from "../governance/principals.js";

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

/**
 * The caller's principal. Synchronous when the key is in the principals cache (the hot
 * path: no promise, no database); a promise only when the cache must load the key.
 * `now` (ms since the epoch) is injectable for tests; the expiry check is one number
 * compare, so a cached key expires without any invalidation.
 */
export function authenticate(headers: IncomingHttpHeaders, principals: Principals, now: number = Date.now()): Principal | Promise<Principal> {
  const secret = presentedKey(headers);
  if (!secret) {
    throw new GatewayError("authentication", "missing_api_key", "No API key provided. Send it as 'Authorization: Bearer <key>' or 'x-api-key: <key>'.");
  }
  const found = principals.verify(secret);
  return found instanceof Promise ? found.then((p) => usable(p, now)) : usable(found, now);
}

function usable(principal: Principal | undefined, now: number): Principal {
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
