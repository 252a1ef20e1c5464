/**
 * Small readers for untrusted JSON. Every failure is a GatewayError
 * `invalid_request` naming the offending field in `param`, so the client's SDK
 * shows which part of its body was wrong.
 */
import { GatewayError, type ErrorCode } from "../../canonical/errors.js";

export type JsonObject = Record<string, unknown>;

export function isRecord(v: unknown): v is JsonObject {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

export function invalid(param: string, message: string, code: ErrorCode = "invalid_request"): GatewayError {
  return new GatewayError("invalid_request", code, `${param}: ${message}`, { param });
}

export function expectRecord(v: unknown, param: string): JsonObject {
  if (!isRecord(v)) throw invalid(param, "must be an object");
  return v;
}

export function expectArray(v: unknown, param: string): unknown[] {
  if (!Array.isArray(v)) throw invalid(param, "must be an array");
  return v;
}

export function expectString(v: unknown, param: string): string {
  if (typeof v !== "string") throw invalid(param, "must be a string");
  return v;
}

export function optString(v: unknown, param: string): string | undefined {
  return v === undefined || v === null ? undefined : expectString(v, param);
}

export function optNumber(v: unknown, param: string): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "number" || !Number.isFinite(v)) throw invalid(param, "must be a number");
  return v;
}

export function optInteger(v: unknown, param: string, min = 0): number | undefined {
  const n = optNumber(v, param);
  if (n !== undefined && (!Number.isInteger(n) || n < min)) throw invalid(param, `must be an integer >= ${min}`);
  return n;
}

export function optBoolean(v: unknown, param: string): boolean | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "boolean") throw invalid(param, "must be a boolean");
  return v;
}

/** Copies every key of `obj` not in `consumed` — the protocol-only remainder. */
export function remainder(obj: JsonObject, consumed: ReadonlySet<string>): JsonObject | undefined {
  let out: JsonObject | undefined;
  // Keys, not entries: no pair array per key (a Claude Code turn decodes 24 tools through here).
  for (const k of Object.keys(obj)) {
    if (consumed.has(k)) continue;
    const v = obj[k];
    if (v !== undefined) (out ??= {})[k] = v;
  }
  return out;
}

/** Parses JSON text; undefined when it is not valid JSON. */
export function tryParseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
