/**
 * The ChatGPT Codex backend flavour of Responses,
 * `POST /backend-api/codex/responses` (also `/codex/responses`), docs/protocols.md#codex-backend.
 * It rejects what the real backend rejects, with its `{"detail": …}` bodies,
 * streams only, and ends with a `response.completed` whose `output` is empty.
 *
 * Sources for the exact messages: store/stream/unsupported-parameter rules from
 * docs/protocols.md#codex-body-rules; "Instructions are required" from several gateway issue threads that
 * quote the backend; "Input must be a list" and the 401/400 auth bodies are
 * single-source or inferred (unverified).
 */
import { type HttpReply, JSON_HEADERS, type JsonObject, type ProtocolAdapter, SSE_HEADERS, bearer, isObject } from "./adapter.js";
import { renderResponsesStream, responsesFacts } from "./openai-responses.js";
import type { RecordedRequest, Scenario } from "./types.js";
import { codexUsageHeaders, usageLimitReply } from "./codex-usage.js";

/** Top-level fields the backend answers with `Unsupported parameter: X`, in the order checked. */
export const CODEX_UNSUPPORTED = [
  "max_output_tokens",
  "max_completion_tokens",
  "temperature",
  "top_p",
  "frequency_penalty",
  "presence_penalty",
  "truncation",
  "user",
  "context_management",
  "prompt_cache_retention",
  "prompt_cache_options",
  "safety_identifier",
  "stream_options",
  "generate",
  "previous_response_id",
] as const;

function detail(status: number, message: string, requestId: string, extra: Record<string, string> = {}): HttpReply {
  return { status, headers: { ...JSON_HEADERS, "x-request-id": requestId, ...extra }, body: JSON.stringify({ detail: message }) };
}

/** Rate-limit headers as the backend sends them on every answer (docs/protocols.md#codex-rate-limits; scriptable in codex-usage.ts). */
export function codexRateLimitHeaders(usedPercent: number, now: number): Record<string, string> {
  return codexUsageHeaders({ usagePrimary: usedPercent }, now);
}

function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

/** Checks auth headers only; the server calls it before parsing the body, as the real edge does. */
export function codexAuthError(req: RecordedRequest, requestId: string): HttpReply | undefined {
  if (!bearer(req.headers)) {
    return {
      status: 401,
      headers: { ...JSON_HEADERS, "x-request-id": requestId },
      body: JSON.stringify({ detail: { message: "Unauthorized - Access token is missing" } }),
    };
  }
  if (!req.headers["chatgpt-account-id"]) return detail(400, "Missing ChatGPT-Account-Id header", requestId);
  return undefined;
}

function validate(req: RecordedRequest, body: JsonObject, requestId: string): HttpReply | undefined {
  const auth = codexAuthError(req, requestId);
  if (auth) return auth;
  if (body.store !== false) return detail(400, "Store must be set to false", requestId);
  if (body.stream !== true) return detail(400, "Stream must be set to true", requestId);
  if (body.instructions === undefined || body.instructions === null) return detail(400, "Instructions are required", requestId);
  if (typeof body.instructions !== "string") return detail(400, "Instructions must be a string", requestId);
  for (const name of CODEX_UNSUPPORTED) {
    if (name in body) return detail(400, `Unsupported parameter: ${name}`, requestId);
  }
  if ("service_tier" in body && body.service_tier !== "priority") return detail(400, "Unsupported parameter: service_tier", requestId);
  if (!Array.isArray(body.input)) return detail(400, "Input must be a list", requestId);
  if (hasCacheBreakpoint(body.input)) return detail(400, "Unsupported parameter: prompt_cache_breakpoint", requestId);
  if (typeof body.model !== "string" || body.model === "") return detail(400, "Model is required", requestId);
  return undefined;
}

function hasCacheBreakpoint(input: unknown[]): boolean {
  for (const item of input) {
    if (!isObject(item) || !Array.isArray(item.content)) continue;
    for (const part of item.content) if (isObject(part) && "prompt_cache_breakpoint" in part) return true;
  }
  return false;
}

function error(status: number, message: string | undefined, requestId: string, scenario?: Scenario): HttpReply {
  const extra: Record<string, string> = {};
  if (scenario?.retryAfter !== undefined) extra["retry-after"] = scenario.retryAfter;
  // A used-up plan window: the backend's usage_limit_reached (codex-usage.ts).
  if (status === 429) return usageLimitReply(requestId, scenario, message, nowSeconds(), extra);
  return detail(status, message ?? (status >= 500 ? "Internal Server Error" : "Bad Request"), requestId, extra);
}

export const codex: ProtocolAdapter = {
  protocol: "codex",
  validate,
  facts: responsesFacts,
  error,
  streamHeaders: (requestId, scenario) => ({ ...SSE_HEADERS, "x-request-id": requestId, ...codexUsageHeaders(scenario, nowSeconds()) }),
  // Unreachable: validate() rejects stream !== true. Kept so the adapter contract holds.
  renderJson: (_plan, _f, _body, ctx) => detail(400, "Stream must be set to true", ctx.requestId),
  renderStream: (plan, f, body, ctx) => renderResponsesStream(plan, f, body, ctx, { codex: true }),
};
