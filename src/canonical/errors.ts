/**
 * Canonical error classes. Each protocol codec maps these to and from its own
 * envelope (OpenAI `{error:{message,type,code,param}}`, Anthropic
 * `{type:"error",error:{type,message}}`).
 */
export type ErrorKind =
  | "invalid_request"
  | "authentication"
  | "permission"
  | "not_found"
  | "request_too_large"
  | "rate_limit"
  | "billing"
  | "upstream"
  | "overloaded"
  | "timeout"
  | "internal";

export const ERROR_STATUS: Record<ErrorKind, number> = {
  invalid_request: 400,
  authentication: 401,
  billing: 402,
  permission: 403,
  not_found: 404,
  request_too_large: 413,
  rate_limit: 429,
  internal: 500,
  upstream: 502,
  overloaded: 529,
  timeout: 504,
};

/**
 * An error the gateway answers with. `code` is a stable, documented string
 * (e.g. `invalid_api_key`, `model_not_allowed`, `no_upstream`), `param` names
 * the offending request field when there is one.
 */
export class GatewayError extends Error {
  readonly kind: ErrorKind;
  readonly code: string;
  readonly status: number;
  readonly param: string | undefined;
  /** Extra response headers (e.g. retry-after). */
  readonly headers: Record<string, string> | undefined;

  constructor(kind: ErrorKind, code: string, message: string, opts: { status?: number; param?: string; headers?: Record<string, string> } = {}) {
    super(message);
    this.name = "GatewayError";
    this.kind = kind;
    this.code = code;
    this.status = opts.status ?? ERROR_STATUS[kind];
    this.param = opts.param;
    this.headers = opts.headers;
  }
}

export function statusToKind(status: number): ErrorKind {
  switch (status) {
    case 400:
    case 422:
      return "invalid_request";
    case 401:
      return "authentication";
    case 402:
      return "billing";
    case 403:
      return "permission";
    case 404:
      return "not_found";
    case 413:
      return "request_too_large";
    case 429:
      return "rate_limit";
    case 504:
    case 408:
      return "timeout";
    case 503:
    case 529:
      return "overloaded";
    default:
      return status >= 500 ? "upstream" : "invalid_request";
  }
}
