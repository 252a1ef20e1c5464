/** The contract each protocol module implements, and small JSON helpers they share. */
import type { IdSource } from "./ids.js";
import type { ReplyPlan, RequestFacts } from "./plan.js";
import type { MockProtocol, RecordedRequest, Scenario } from "./types.js";

/** A complete non-stream HTTP answer. */
export interface HttpReply {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Per-request values a renderer needs besides the plan. */
export interface RenderContext {
  ids: IdSource;
  /** Unix seconds. */
  created: number;
  requestId: string;
  scenario: Scenario;
}

export type JsonObject = Record<string, unknown>;

export interface ProtocolAdapter {
  readonly protocol: MockProtocol;
  /** Auth, headers and required fields, in the order the real server checks them; an error reply or undefined. */
  validate(req: RecordedRequest, body: JsonObject, requestId: string): HttpReply | undefined;
  facts(req: RecordedRequest, body: JsonObject): RequestFacts;
  /** A protocol-shaped error (scenario errors, bad JSON, unknown directives). */
  error(status: number, message: string | undefined, requestId: string, scenario?: Scenario): HttpReply;
  /** Headers of a 200 event stream (the Codex backend's carry the scenario's usage windows). */
  streamHeaders(requestId: string, scenario?: Scenario): Record<string, string>;
  renderJson(plan: ReplyPlan, facts: RequestFacts, body: JsonObject, ctx: RenderContext): HttpReply;
  /** Every SSE frame of the stream, in order, each already framed. */
  renderStream(plan: ReplyPlan, facts: RequestFacts, body: JsonObject, ctx: RenderContext): string[];
}

export function isObject(v: unknown): v is JsonObject {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

export function str(v: unknown): string | undefined {
  return typeof v === "string" ? v : undefined;
}

export function num(v: unknown): number | undefined {
  return typeof v === "number" && Number.isFinite(v) ? v : undefined;
}

/** The token of an `Authorization: Bearer …` header, or undefined. */
export function bearer(headers: Record<string, string>): string | undefined {
  const h = headers["authorization"];
  if (!h) return undefined;
  const m = /^Bearer\s+(\S.*)$/i.exec(h);
  return m?.[1]?.trim() || undefined;
}

/** Concatenated text of a string content or an array of `{type, text}` parts whose type is in `types`. */
export function textOf(content: unknown, types: ReadonlySet<string>): string {
  if (typeof content === "string") return content;
  if (!Array.isArray(content)) return "";
  let out = "";
  for (const part of content) {
    if (isObject(part) && typeof part.text === "string" && types.has(String(part.type))) {
      out = out ? `${out}\n${part.text}` : part.text;
    }
  }
  return out;
}

export const JSON_HEADERS = { "content-type": "application/json" } as const;
export const SSE_HEADERS = { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache" } as const;
