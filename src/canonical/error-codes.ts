/**
 * Every error code the gateway itself gives a client, once: its kind, the HTTP status it is
 * answered with, and what it means. `GatewayError` takes only these codes (tsc checks every
 * call site); docs/errors.md documents each of them and a test keeps the two in step.
 *
 * Codes an upstream sends (OpenAI's `context_length_exceeded`, Anthropic's
 * `overloaded_error`, …) are not a closed set and are not here: an error relaying an
 * upstream's answer carries a catalogue code (`upstream_rejected`, `upstream_error`) and the
 * upstream's own code in `GatewayError.upstreamCode`; see errors.ts.
 */
import type { ErrorKind } from "./errors.js";

export interface ErrorCodeInfo {
  readonly kind: ErrorKind;
  /** The HTTP status of the answer (or of the WebSocket error frame). */
  readonly status: number;
  readonly description: string;
  /**
   * Relays an upstream's answer: kind and status then follow the upstream's HTTP status or
   * error type (`statusToKind`, the codecs' type tables), and `kind`/`status` above are
   * those of the gateway's own use of the code.
   */
  readonly followsUpstream?: true;
}

export const ERROR_CODES = {
  // The request body
  invalid_json: { kind: "invalid_request", status: 400, description: "The body (or WebSocket frame) is not valid JSON, or not a JSON object." },
  missing_model: { kind: "invalid_request", status: 400, description: "The request names no model in `model`." },
  invalid_messages: { kind: "invalid_request", status: 400, description: "count_tokens: `messages` is not an array." },
  invalid_request: { kind: "invalid_request", status: 400, description: "Anthropic Messages body: a field has the wrong shape or value; `param` names it." },
  invalid_value: { kind: "invalid_request", status: 400, description: "OpenAI body: a field has a value outside the allowed set; `param` names it." },
  invalid_type: { kind: "invalid_request", status: 400, description: "OpenAI body: a field has the wrong JSON type; `param` names it." },
  missing_required_parameter: { kind: "invalid_request", status: 400, description: "A required field is missing; `param` names it." },
  unsupported_value: { kind: "invalid_request", status: 400, description: "A valid value the gateway does not support (e.g. Chat `n` > 1); `param` names it." },
  unsupported_content: {
    kind: "invalid_request",
    status: 400,
    description: "Anthropic Messages body: a content type not supported in that place (e.g. inside a tool_result).",
  },
  unknown_content_block: { kind: "invalid_request", status: 400, description: "Anthropic Messages body: an unknown content block type." },
  request_too_large: { kind: "request_too_large", status: 413, description: "The body (or WebSocket frame) exceeds `server.body_limit_bytes`." },

  // Routes and the connection
  unknown_route: { kind: "not_found", status: 404, description: "No route for this method and path." },
  method_not_allowed: { kind: "invalid_request", status: 405, description: "The path exists but not for this method." },
  client_closed: { kind: "invalid_request", status: 499, description: "The client went away before the answer; recorded in usage, never seen by the client." },
  invalid_frame: { kind: "invalid_request", status: 400, description: "Responses WebSocket: a binary frame; requests are JSON text frames." },
  unsupported_frame: { kind: "invalid_request", status: 400, description: "Responses WebSocket: a frame type other than `response.create`." },
  response_already_in_flight: {
    kind: "invalid_request",
    status: 409,
    description: "Responses WebSocket: a `response.create` while a response is still streaming on this connection.",
  },
  previous_response_not_found: {
    kind: "invalid_request",
    status: 400,
    description: "Responses WebSocket: `previous_response_id` is not the last response on this connection.",
  },

  // Who is asking
  missing_api_key: { kind: "authentication", status: 401, description: "No API key in `Authorization: Bearer` or `x-api-key`." },
  invalid_api_key: { kind: "authentication", status: 401, description: "The API key is not one the gateway knows (wrong, or revoked)." },
  account_disabled: { kind: "permission", status: 403, description: "The key's account, or one of its ancestors, is disabled." },
  model_not_allowed: { kind: "permission", status: 403, description: "The key's account chain does not allow this model, or denies it (`deny_models`)." },
  ip_not_allowed: {
    kind: "permission",
    status: 403,
    description: "The client address is outside the `ip_allow` ranges of an account on the key's chain (or could not be determined).",
  },
  origin_not_allowed: {
    kind: "permission",
    status: 403,
    description: "The request's Origin header is not in the `origins` of an account on the key's chain.",
  },
  limits_unavailable: {
    kind: "overloaded",
    status: 503,
    description:
      "The shared counters (Redis) that limits, quotas and credit are checked against cannot be reached, and `governance.on_counters_unavailable` is `refuse`. Sent with retry-after.",
  },
  concurrency_limit_exceeded: {
    kind: "rate_limit",
    status: 429,
    description:
      "An account on the key's chain, or the key itself, already has as many requests in flight as its concurrency limit allows (`x-switchyard-limit` names it).",
  },
  rate_limit_exceeded: {
    kind: "rate_limit",
    status: 429,
    description:
      "A request or token limit per minute, hour or day (the key's, an account's on its chain, or a per-model one) has no room for this request; `retry-after` says when it will, `x-switchyard-limit` names the limit and the account.",
  },
  insufficient_credit: {
    kind: "billing",
    status: 402,
    description:
      "Credit track: the paying account's unexpired credit plus its overdraft does not cover the request's estimated cost (the message names the account).",
  },
  quota_exceeded: {
    kind: "rate_limit",
    status: 429,
    description: "Quota track: a day or month usage quota of an account on the key's chain is used up and its policy does not switch to pay-as-you-go.",
  },
  spend_cap_exceeded: {
    kind: "rate_limit",
    status: 429,
    description: "Credit track: an account on the key's chain has reached its daily or monthly spend cap (counting its whole subtree).",
  },
  invalid_admin_token: {
    kind: "authentication",
    status: 401,
    description: "Admin API: the bearer token is neither the admin token nor an active API key (missing, wrong, or revoked).",
  },
  api_key_expired: {
    kind: "authentication",
    status: 401,
    description: "The API key's expiry has passed, or the grace period after it was rotated has ended (data plane and admin API).",
  },
  key_scope_manage_only: {
    kind: "permission",
    status: 403,
    description: "The API key has only the `manage` scope, which is for the admin API; calling models needs a key with the `inference` scope.",
  },
  key_scope_inference_only: {
    kind: "permission",
    status: 403,
    description: "Admin API: the API key lacks the `manage` scope; an `inference` key only calls models.",
  },
  key_lookup_unavailable: {
    kind: "overloaded",
    status: 503,
    description:
      "The API key is not in this node's memory and could not be looked up now: the database did not answer, or the node is at its rate of look-ups for unknown keys (`principal_cache.loads_per_second`). Sent with retry-after.",
  },

  // Routing to an upstream
  model_not_found: { kind: "not_found", status: 404, description: "No configured upstream serves this model." },
  no_upstream_key: { kind: "overloaded", status: 503, description: "Upstreams serve the model, but none has a usable key (all disabled or cooling down)." },
  server_draining: {
    kind: "overloaded",
    status: 503,
    description: "This node is draining before a shutdown and takes no new requests (sent with connection: close).",
  },
  server_shutting_down: {
    kind: "overloaded",
    status: 503,
    description: "The node shut down before the answer was complete; in a stream it arrives as the protocol's error event.",
  },
  request_timeout: {
    kind: "invalid_request",
    status: 408,
    description:
      "The request head or body did not arrive within server.headers_timeout_ms / server.request_timeout_ms (logs and metrics; node:http sends the 408).",
  },

  // Upstream failures (retried on the next key while nothing has reached the client)
  upstream_timeout: { kind: "timeout", status: 504, description: "The upstream did not answer within the timeout." },
  upstream_unreachable: { kind: "upstream", status: 502, description: "The upstream could not be reached (connection refused, reset, DNS)." },
  upstream_rate_limited: {
    kind: "rate_limit",
    status: 429,
    description: "The upstream answered 429 (on the last attempt, when every attempt failed); `retry-after` when it said when.",
  },
  upstream_usage_limit: {
    kind: "rate_limit",
    status: 429,
    description:
      "The subscription account behind the gateway's credential has used up its usage window (the Codex backend's `usage_limit_reached`, on the last attempt, when every attempt failed); `retry-after` names the window's reset.",
  },
  upstream_auth_failed: { kind: "upstream", status: 502, description: "The upstream rejected the gateway's own credential (HTTP 401/403)." },
  upstream_credential_refresh_failed: {
    kind: "upstream",
    status: 502,
    description:
      "A ChatGPT account's access token had expired (or was refused) and refreshing it failed for now (the token endpoint timed out or answered 5xx); the key cools down and is refreshed again later.",
  },
  upstream_credential_dead: {
    kind: "upstream",
    status: 502,
    description:
      "A ChatGPT account's login is dead: its refresh token was refused for good (reused, expired, invalidated); the key is out of service until an admin imports a new login.",
  },
  upstream_quota_exhausted: {
    kind: "upstream",
    status: 502,
    description: "The upstream account behind the gateway's key has no quota or credit left (402, or a quota-exhausted answer).",
  },
  upstream_closed: {
    kind: "upstream",
    status: 502,
    description:
      "Realtime: the upstream closed the session (a normal close is relayed with its own code; any other close or a broken connection ends the client's with 1011).",
  },
  realtime_not_available: {
    kind: "not_found",
    status: 404,
    description: "Realtime: no upstream that serves Realtime (`realtime: true`) serves the model named in `/v1/realtime?model=`.",
  },
  realtime_frame_too_large: {
    kind: "upstream",
    status: 502,
    description: "Realtime: the upstream sent a frame over `server.realtime_max_frame_bytes`; the session is closed with 1009.",
  },
  upstream_error: {
    kind: "upstream",
    status: 502,
    description: "The upstream failed (5xx, or an error in its answer or stream); the last attempt's failure when every attempt failed.",
    followsUpstream: true,
  },
  upstream_rejected: {
    kind: "invalid_request",
    status: 400,
    description: "The upstream refused the request with a final 4xx answer, relayed to the client; the upstream's own code is kept.",
    followsUpstream: true,
  },
  upstream_body_broken: { kind: "upstream", status: 502, description: "The upstream broke off a non-streaming answer." },
  upstream_bad_answer: { kind: "upstream", status: 502, description: "The upstream's answer is not valid JSON, or not the protocol's response shape." },
  invalid_upstream_response: { kind: "upstream", status: 502, description: "A Responses upstream answered with something that is not a response object." },
  upstream_stream_incomplete: {
    kind: "upstream",
    status: 502,
    description: "Passthrough: the upstream stream ended before its terminal event (sent in-stream).",
  },
  upstream_stream_broken: {
    kind: "upstream",
    status: 502,
    description: "Passthrough: the upstream stream (or upstream WebSocket) failed mid-way (sent in-stream; over a Responses WebSocket as an error frame).",
  },
  stream_truncated: { kind: "upstream", status: 502, description: "Translate lane: the upstream stream ended before its terminal event." },
  bad_event: { kind: "upstream", status: 502, description: "Translate lane: an Anthropic upstream sent a malformed stream event." },
  bad_chunk: { kind: "upstream", status: 502, description: "Translate lane: a Chat upstream sent a stream chunk that is not a JSON object." },
  invalid_event: { kind: "upstream", status: 502, description: "Translate lane: a Responses upstream sent a stream event that is not JSON." },
  server_error: { kind: "upstream", status: 502, description: "Responses `response.failed` whose upstream error carried no code." },

  // Admin API
  invalid_field: { kind: "invalid_request", status: 400, description: "Admin API: a body field failed validation; `param` names it." },
  exceeds_parent: {
    kind: "invalid_request",
    status: 400,
    description: "Admin API: a policy value goes beyond an ancestor's bound; the message names the field, the value, the bound and the ancestor that set it.",
  },
  children_outside_policy: {
    kind: "invalid_request",
    status: 409,
    description:
      "Admin API: narrowing a list of this account would leave sub-accounts' lists allowing more than it; the message lists them. Narrow them first.",
  },
  change_not_applied: {
    kind: "internal",
    status: 500,
    description: "Admin API: the change was saved, but this node could not reload it yet; it applies with the next successful reload.",
  },
  invalid_codex_auth: {
    kind: "invalid_request",
    status: 400,
    description:
      "Admin API, CLI or YAML: a Codex auth.json that cannot be imported (not JSON, no `tokens`, a token missing, an id token that is not a JWT, no ChatGPT account id); the message and `param` say which.",
  },
  codex_auth_needs_codex_upstream: {
    kind: "invalid_request",
    status: 400,
    description: "Admin API: `codex_auth` given for an upstream whose protocol is not `codex`; a ChatGPT login serves only the Codex backend.",
  },
  upstream_managed_by_config: {
    kind: "invalid_request",
    status: 409,
    description:
      "Admin API: the upstream is declared in the YAML file, whose key list is authoritative (a key added here would be deleted at the next start); add the key in the file.",
  },
  insufficient_balance: {
    kind: "invalid_request",
    status: 409,
    description:
      "Admin API: a grant larger than the parent's unspent, unexpired credit less its debt, or a clawback larger than the account's; the message names what is available and what was requested.",
  },
  no_parent_account: {
    kind: "invalid_request",
    status: 400,
    description: "Admin API: a grant to, or clawback from, a primary account, which has no parent; the root tops it up instead.",
  },
  idempotency_key_reused: {
    kind: "invalid_request",
    status: 409,
    description: "Admin API: the idempotency key was already used on this account for a different credit operation or amount.",
  },
  root_only: { kind: "permission", status: 403, description: "Admin API: only the root admin token may do this (top up credit, read the whole audit log)." },
  credit_not_permitted: {
    kind: "permission",
    status: 403,
    description: "Admin API: a manage key moves credit only into and out of accounts below its own, never its own account.",
  },
  own_account_read_only: {
    kind: "permission",
    status: 403,
    description:
      "Admin API: a manage key may read its own account and manage that account's keys, but not change, suspend, resume, move or delete the account itself; an administrator above it can.",
  },
  key_outlives_issuer: {
    kind: "permission",
    status: 403,
    description: "Admin API: a manage key issuing or rotating a key of its own account would hand out a key that outlives it (no expiry, or a later one).",
  },
  parent_required: {
    kind: "invalid_request",
    status: 400,
    description: "Admin API: a manage key creates accounts only inside its own subtree, so `parent_id` is required.",
  },
  exceeds_account: {
    kind: "invalid_request",
    status: 400,
    description: "Admin API: a key's `models` or `limits` go beyond what its account's effective policy allows; `param` names the field.",
  },
  key_not_rotatable: {
    kind: "invalid_request",
    status: 409,
    description: "Admin API: only an active, unexpired key that has not been rotated yet can be rotated (rotate its replacement instead).",
  },
  account_not_found: { kind: "not_found", status: 404, description: "Admin API: no account with that id." },
  api_key_not_found: { kind: "not_found", status: 404, description: "Admin API: no API key with that id." },
  upstream_not_found: { kind: "not_found", status: 404, description: "Admin API: no upstream with that id." },
  upstream_key_not_found: { kind: "not_found", status: 404, description: "Admin API: no key with that id on that upstream." },
  conflict: { kind: "invalid_request", status: 409, description: "Admin API (store): the name (or key) already exists." },
  not_found: { kind: "not_found", status: 404, description: "Admin API (store): a referenced record does not exist." },
  has_children: { kind: "invalid_request", status: 409, description: "Admin API (store): the account still has child accounts." },
  cycle: { kind: "invalid_request", status: 400, description: "Admin API (store): the move would make an account its own ancestor." },
  invalid: { kind: "invalid_request", status: 400, description: "Admin API (store): the change breaks a store rule." },

  internal_error: { kind: "internal", status: 500, description: "A bug or unexpected failure in the gateway; logged with the request id." },
} as const satisfies Record<string, ErrorCodeInfo>;

export type ErrorCode = keyof typeof ERROR_CODES;

export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === "string" && Object.hasOwn(ERROR_CODES, code);
}
