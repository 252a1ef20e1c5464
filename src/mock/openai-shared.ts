/** What OpenAI Chat and Responses share: the error envelope, auth and usage-free helpers. */
import { type HttpReply, JSON_HEADERS, type JsonObject, SSE_HEADERS, bearer, isObject, str } from "./adapter.js";
import type { CacheProbe } from "./usage.js";
import type { RecordedRequest, Scenario } from "./types.js";

/** `{error:{message,type,param,code}}`, the shape the openai SDK parses into APIError. */
export function openaiError(
  status: number,
  message: string,
  requestId: string,
  opts: { type?: string; param?: string | null; code?: string | null; retryAfter?: string } = {},
): HttpReply {
  const d = defaultsFor(status);
  const body = {
    error: { message, type: opts.type ?? d.type, param: opts.param ?? null, code: opts.code === undefined ? d.code : opts.code },
  };
  const headers: Record<string, string> = { ...JSON_HEADERS, "x-request-id": requestId };
  if (opts.retryAfter !== undefined) headers["retry-after"] = opts.retryAfter;
  return { status, headers, body: JSON.stringify(body) };
}

function defaultsFor(status: number): { type: string; code: string | null; message: string } {
  switch (status) {
    case 400:
      return { type: "invalid_request_error", code: null, message: "Invalid request." };
    case 401:
      return { type: "invalid_request_error", code: "invalid_api_key", message: "Incorrect API key provided." };
    case 403:
      return { type: "invalid_request_error", code: "unsupported_country_region_territory", message: "Request not allowed." };
    case 404:
      return { type: "invalid_request_error", code: "model_not_found", message: "The model does not exist or you do not have access to it." };
    case 413:
      return { type: "invalid_request_error", code: "request_too_large", message: "Request too large." };
    case 429:
      return { type: "requests", code: "rate_limit_exceeded", message: "Rate limit reached. Please try again in 1s." };
    default:
      return status >= 500
        ? { type: "server_error", code: null, message: "The server had an error while processing your request." }
        : { type: "invalid_request_error", code: null, message: `Request failed with status ${status}.` };
  }
}

/** A scenario-requested error in the OpenAI envelope. */
export function openaiScenarioError(status: number, message: string | undefined, requestId: string, scenario?: Scenario): HttpReply {
  const opts: { retryAfter?: string } = {};
  if (scenario?.retryAfter !== undefined) opts.retryAfter = scenario.retryAfter;
  return openaiError(status, message ?? defaultsFor(status).message, requestId, opts);
}

/** Bearer auth and `model`, checked the way api.openai.com does before anything else. */
export function checkAuthAndModel(req: RecordedRequest, body: JsonObject, requestId: string): HttpReply | undefined {
  if (!bearer(req.headers)) {
    return openaiError(401, "You didn't provide an API key. Send it in the Authorization header as `Bearer YOUR_KEY`.", requestId, { code: null });
  }
  if (typeof body.model !== "string" || body.model === "") {
    return openaiError(400, "you must provide a model parameter", requestId);
  }
  return undefined;
}

export function missingParam(name: string, requestId: string): HttpReply {
  return openaiError(400, `Missing required parameter: '${name}'.`, requestId, {
    param: name,
    code: "missing_required_parameter",
  });
}

export function openaiStreamHeaders(requestId: string): Record<string, string> {
  return { ...SSE_HEADERS, "x-request-id": requestId };
}

export function openaiCacheProbe(body: JsonObject, inputTokens: number): CacheProbe | undefined {
  const key = str(body.prompt_cache_key);
  return key ? { mode: "openai", key: `openai:${key}`, prefixTokens: inputTokens } : undefined;
}

/** Chat `tool_choice` and Responses `tool_choice` share the string forms. */
export function toolChoiceOf(choice: unknown): "none" | "any" | { name: string } | undefined {
  if (choice === "none") return "none";
  if (choice === "required") return "any";
  if (!isObject(choice)) return undefined;
  const fn = isObject(choice.function) ? str(choice.function.name) : undefined;
  const name = str(choice.name) ?? fn;
  return name ? { name } : undefined;
}
