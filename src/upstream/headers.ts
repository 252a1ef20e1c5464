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

// sec-websocket-* describe the client's WebSocket handshake, never the upstream request.
const DROP_PREFIXES = ["x-forwarded-", "x-switchyard-", "cf-", "x-amzn-", "x-envoy-", "sec-websocket-"];

/**
 * Client headers meaningful only to the client's own vendor (Claude Code's and
 * Codex CLI's session and telemetry headers among them); not sent to an
 * upstream of another protocol.
 */
const VENDOR_HEADER =
  /^(anthropic-|x-stainless-|openai-|x-claude-code-|x-codex-|x-app$|x-client-request-id$|session[-_]id$|thread-id$|conversation[-_]id$|originator$)/;

/**
 * The headers of one upstream request: the client's forwardable ones (minus
 * its vendor's own when the upstream speaks another protocol), the content
 * type, the operator's extra headers from the upstream's settings. The
 * credential is added separately, by the attempt.
 */
export function upstreamHeaders(
  incoming: IncomingHttpHeaders,
  o: { foreign: boolean; stream: boolean; extra: Record<string, unknown> | undefined },
): Record<string, string> {
  const headers = forwardableHeaders(incoming);
  if (o.foreign) for (const k of Object.keys(headers)) if (VENDOR_HEADER.test(k)) delete headers[k];
  headers["content-type"] = "application/json";
  if (o.stream) headers.accept = "text/event-stream";
  if (o.extra && typeof o.extra === "object") {
    for (const [k, v] of Object.entries(o.extra)) if (typeof v === "string") headers[k.toLowerCase()] = v;
  }
  return headers;
}

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
