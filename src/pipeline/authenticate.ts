/**
 * API key → principal, from the in-memory catalog (tier 1). `Authorization:
 * Bearer` and `x-api-key` are both accepted on every route, since Anthropic
 * clients use either (docs/protocols.md#anthropic-headers).
 */
import type { IncomingHttpHeaders } from "node:http";
import { GatewayError } from "../canonical/errors.js";
import { hashKey, hashesEqual, keyPrefix } from "../governance/api-keys.js";
import type { CatalogSnapshot, Principal } from "../routing/catalog.js";

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

export function authenticate(headers: IncomingHttpHeaders, snapshot: CatalogSnapshot): Principal {
  const secret = presentedKey(headers);
  if (!secret) {
    throw new GatewayError("authentication", "missing_api_key", "No API key provided. Send it as 'Authorization: Bearer <key>' or 'x-api-key: <key>'.");
  }
  const hash = hashKey(secret);
  const principal = snapshot.principalsByPrefix.get(keyPrefix(secret, hash));
  if (!principal || !hashesEqual(principal.keyHash, hash)) {
    throw new GatewayError("authentication", "invalid_api_key", "Invalid API key.");
  }
  return principal;
}
