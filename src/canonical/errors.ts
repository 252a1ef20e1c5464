/**
 * Canonical error classes. Each protocol codec maps these to and from its own
 * envelope (OpenAI `{error:{message,type,code,param}}`, Anthropic
 * `{type:"error",error:{type,message}}`). The codes themselves are catalogued in
 * error-codes.ts.
 */
import type { ErrorCode } from "./error-codes.js";
import type { StreamError } from "./stream.js";

export type { ErrorCode } from "./error-codes.js";

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

export interface GatewayErrorOptions {
  /** Overrides the kind's status (e.g. 405, 499, or an upstream's own 4xx). */
  status?: number;
  param?: string;
  /** Extra response headers (e.g. retry-after). */
  headers?: Record<string, string>;
  /** The upstream's own error code, when this error relays an upstream's answer; see `upstreamCode`. */
  upstreamCode?: string;
}

/**
 * An error the gateway answers with. `code` is a stable, documented code from the catalogue
 * (error-codes.ts, docs/errors.md), `param` names the offending request field when there is one.
 */
export class GatewayError extends Error {
  readonly kind: ErrorKind;
  readonly code: ErrorCode;
  readonly status: number;
  readonly param: string | undefined;
  /** Extra response headers (e.g. retry-after). */
  readonly headers: Record<string, string> | undefined;
  /**
   * The upstream's own code (`context_length_exceeded`, `invalid_request_error`, or
   * `http_<status>` when it gave none), verbatim, when this error relays an upstream's answer
   * (codecs' `decodeError`, in-band stream errors, a failed Responses object). Upstream codes
   * are an open set, so they cannot be `code`; `code` is then `upstream_rejected` or
   * `upstream_error`. Clients always saw the upstream's code in the OpenAI envelopes'
   * `code` field, so that is what `wireCode` keeps giving them.
   */
  readonly upstreamCode: string | undefined;

  constructor(kind: ErrorKind, code: ErrorCode, message: string, opts: GatewayErrorOptions = {}) {
    super(message);
    this.name = "GatewayError";
    this.kind = kind;
    this.code = code;
    this.status = opts.status ?? ERROR_STATUS[kind];
    this.param = opts.param;
    this.headers = opts.headers;
    this.upstreamCode = opts.upstreamCode;
  }

  /** The code put on the wire (OpenAI envelopes' `code`) and in usage records: the upstream's own when relayed, else `code`. */
  get wireCode(): string {
    return this.upstreamCode ?? this.code;
  }
}

/**
 * Codes the gateway's own stream decoders put into a `StreamError` when an upstream stream
 * is broken; every other `StreamError.code` is the upstream's own.
 */
const STREAM_DECODER_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>(["stream_truncated", "bad_event", "bad_chunk", "invalid_event"]);

/** The GatewayError for an in-band stream error (the upstream's code kept as `upstreamCode`). */
export function streamErrorToGatewayError(error: StreamError): GatewayError {
  if (error.code !== undefined && STREAM_DECODER_CODES.has(error.code as ErrorCode))
    return new GatewayError(error.kind, error.code as ErrorCode, error.message);
  return new GatewayError(error.kind, "upstream_error", error.message, error.code === undefined ? {} : { upstreamCode: error.code });
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
