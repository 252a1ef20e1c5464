/**
 * Which client headers travel upstream (docs/configuration.md#forwarded-headers).
 * Three rules, in order:
 *
 * 1. Never: hop-by-hop headers (RFC 9110 §7.6.1), the client's own credentials and
 *    the account selectors that decide what the operator's credential bills
 *    (`openai-organization`, `openai-project`), cookies, anything describing the
 *    network path to us (forwarded, x-forwarded-*, client-ip headers, CDN and proxy
 *    headers), our own `x-switchyard-*`, and the client's WebSocket handshake.
 * 2. Not to an upstream of another protocol: the client vendor's own headers
 *    (anthropic-*, openai-*, x-stainless-*, Claude Code's and Codex CLI's session
 *    and telemetry headers), which mean nothing to it.
 * 3. The upstream's `forward_headers` setting: by default (`deny` with no names)
 *    every other header passes, since clients depend on them (anthropic-beta,
 *    x-claude-code-session-id, session-id, x-codex-*, originator …); `deny` names
 *    headers to drop as well; `allow` lets only the named ones through. A name on
 *    an allow list never brings back a header rules 1 and 2 drop.
 *
 * The gateway's own headers (content type, accept, the credential, the Codex
 * session header, the operator's `headers` setting) are added after the filter.
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
  // Which organisation and project an OpenAI key acts for is the operator's choice (the
  // upstream's `headers` setting), not the client's: a client's own ids make the upstream refuse the key.
  "openai-organization",
  "openai-project",
  "forwarded",
  "via",
  "x-real-ip",
  "true-client-ip",
  "x-client-ip",
  "x-cluster-client-ip",
  "x-request-id",
  "accept-encoding",
  "chatgpt-account-id",
]);

// sec-websocket-* describe the client's WebSocket handshake, never the upstream request.
const DROP_PREFIXES = ["x-forwarded-", "x-original-forwarded-", "x-switchyard-", "cf-", "fastly-", "x-amzn-", "x-envoy-", "sec-websocket-"];

/**
 * Client headers meaningful only to the client's own vendor (Claude Code's and
 * Codex CLI's session and telemetry headers among them); not sent to an
 * upstream of another protocol.
 */
const VENDOR_HEADER =
  /^(anthropic-|x-stainless-|openai-|x-claude-code-|x-codex-|x-app$|x-client-request-id$|session[-_]id$|thread-id$|conversation[-_]id$|originator$)/;

/** An upstream's `forward_headers` setting. Names are header names, or a prefix ending in `*`. */
export interface ForwardHeadersSetting {
  mode: "allow" | "deny";
  names: string[];
}

/** A header name (RFC 9110 token), or a prefix of one ending in `*`. */
export const FORWARD_HEADER_NAME = /^[A-Za-z0-9!#$%&'+.^_`|~-]+\*?$/;

/** What an upstream that says nothing gets: every header the fixed rules let through. */
export const DEFAULT_FORWARD_HEADERS: ForwardHeadersSetting = { mode: "deny", names: [] };

/** One upstream's header rules, compiled once when the catalog is built. */
export interface HeaderPolicy {
  /** The `forward_headers` setting in effect (shown by the admin API). */
  readonly setting: ForwardHeadersSetting;
  /** Whether a client header (lower-case name) that the fixed rules let through may pass. */
  passes(name: string): boolean;
  /** The operator's headers for every request to this upstream (its `headers` setting), lower-case names. */
  readonly extra: Readonly<Record<string, string>>;
}

/**
 * Reads a stored `forward_headers` value. Undefined when absent; a value that does
 * not parse (written by hand into the database, say) forwards nothing, so a broken
 * strict policy never turns into the permissive default.
 */
export function readForwardHeaders(raw: unknown): ForwardHeadersSetting | undefined {
  if (raw === undefined || raw === null) return undefined;
  const v = raw as { mode?: unknown; names?: unknown };
  const valid =
    typeof raw === "object" &&
    (v.mode === "allow" || v.mode === "deny") &&
    Array.isArray(v.names) &&
    v.names.every((n) => typeof n === "string" && FORWARD_HEADER_NAME.test(n));
  return valid ? { mode: v.mode as "allow" | "deny", names: (v.names as string[]).map((n) => n.toLowerCase()) } : { mode: "allow", names: [] };
}

/** Compiles an upstream's `forward_headers` and `headers` settings. */
export function compileHeaderPolicy(settings: Record<string, unknown>): HeaderPolicy {
  const setting = readForwardHeaders(settings.forward_headers) ?? DEFAULT_FORWARD_HEADERS;
  const exact = new Set(setting.names.filter((n) => !n.endsWith("*")));
  const prefixes = setting.names.filter((n) => n.endsWith("*")).map((n) => n.slice(0, -1));
  const listed = (name: string): boolean => exact.has(name) || prefixes.some((p) => name.startsWith(p));
  const extra: Record<string, string> = {};
  if (settings.headers && typeof settings.headers === "object") {
    for (const [k, v] of Object.entries(settings.headers)) if (typeof v === "string") extra[k.toLowerCase()] = v;
  }
  return {
    setting,
    passes: setting.mode === "allow" ? listed : setting.names.length === 0 ? () => true : (name) => !listed(name),
    extra,
  };
}

/** The policy of an upstream with no settings: today's defaults and no extra headers. */
export const DEFAULT_HEADER_POLICY: HeaderPolicy = compileHeaderPolicy({});

/**
 * The headers of one upstream request: the client's forwardable ones (minus
 * its vendor's own when the upstream speaks another protocol, minus what the
 * upstream's policy keeps out), the content type, the operator's extra headers.
 * The credential is added separately, by the attempt.
 */
export function upstreamHeaders(incoming: IncomingHttpHeaders, o: { foreign: boolean; stream: boolean; policy: HeaderPolicy }): Record<string, string> {
  // One pass, adding only what passes: deleting from the object after the fact costs more than the test.
  const headers = forwardableHeaders(incoming, (name) => !(o.foreign && VENDOR_HEADER.test(name)) && o.policy.passes(name));
  headers["content-type"] = "application/json";
  if (o.stream) headers.accept = "text/event-stream";
  Object.assign(headers, o.policy.extra);
  return headers;
}

/** First letters of the dropped prefixes: most header names are ruled out by one comparison. */
const DROP_PREFIX_INITIALS = new Set(DROP_PREFIXES.map((p) => p[0]));

/** `keep-alive` and `close` name no header; anything else in `connection` is a hop-by-hop header to drop. */
function connectionListed(connection: string | string[] | undefined): Set<string> | undefined {
  if (connection === undefined || connection === "keep-alive" || connection === "close") return undefined;
  return new Set(
    String(connection)
      .split(",")
      .map((s) => s.trim().toLowerCase())
      .filter(Boolean),
  );
}

export function forwardableHeaders(incoming: IncomingHttpHeaders, keep?: (name: string) => boolean): Record<string, string> {
  const out: Record<string, string> = {};
  const listed = connectionListed(incoming.connection);
  for (const name in incoming) {
    const value = incoming[name];
    if (value === undefined) continue;
    if (DROP.has(name) || listed?.has(name)) continue;
    if (DROP_PREFIX_INITIALS.has(name[0]) && DROP_PREFIXES.some((p) => name.startsWith(p))) continue;
    if (keep && !keep(name)) continue;
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
