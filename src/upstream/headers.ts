/**
 * Which client headers travel upstream. Unknown headers pass (clients depend on
 * them: anthropic-beta, x-claude-code-session-id, session-id, x-codex-*,
 * originator …); hop-by-hop headers (RFC 9110 §7.6.1), the client's own
 * credentials, cookies, and anything describing our topology do not.
 */
import type { IncomingHttpHeaders } from "node:http";

const DROP = new Set([
  "host",
  "connection",
  "keep-alive",
  "proxy-connection",
  "proxy-authorization",
  "proxy-authenticate",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "content-length",
  "expect",
  "authorization",
  "x-api-key",
  "api-key",
  "cookie",
  "forwarded",
  "via",
  "x-real-ip",
  "x-request-id",
  "accept-encoding",
  "chatgpt-account-id",
]);

const DROP_PREFIXES = ["x-forwarded-", "x-switchyard-", "cf-", "x-amzn-", "x-envoy-"];

export function forwardableHeaders(incoming: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  const connectionListed = new Set(
    String(incoming.connection ?? "")
      .split(",")
      .map((s) => s.trim().toLowerCase())
      .filter(Boolean),
  );
  for (const [name, value] of Object.entries(incoming)) {
    if (value === undefined) continue;
    if (DROP.has(name) || connectionListed.has(name)) continue;
    if (DROP_PREFIXES.some((p) => name.startsWith(p))) continue;
    out[name] = Array.isArray(value) ? value.join(", ") : value;
  }
  return out;
}

/** Upstream response headers a client may see; upstream rate-limit and org headers stay inside. */
const PASS_BACK = new Set(["retry-after", "x-codex-turn-state", "x-models-etag", "x-reasoning-included", "openai-model"]);

export function clientResponseHeaders(upstream: Record<string, string | string[] | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of PASS_BACK) {
    const v = upstream[name];
    if (v !== undefined) out[name] = Array.isArray(v) ? v.join(", ") : v;
  }
  return out;
}
