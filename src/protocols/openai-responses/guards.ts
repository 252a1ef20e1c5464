/** Narrowing helpers for JSON read off the wire, and the invalid-request error they raise. */
import { GatewayError, type ErrorCode } from "../../canonical/errors.js";

export type JsonObject = Record<string, unknown>;

export function isObject(v: unknown): v is JsonObject {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

export function invalid(param: string, message: string, code: ErrorCode = "invalid_value"): GatewayError {
  return new GatewayError("invalid_request", code, message, { param });
}

export function reqString(o: JsonObject, key: string, path: string): string {
  const v = o[key];
  if (typeof v !== "string")
    throw invalid(join(path, key), `'${join(path, key)}' must be a string.`, v === undefined ? "missing_required_parameter" : "invalid_type");
  return v;
}

export function optString(o: JsonObject, key: string, path: string): string | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "string") throw invalid(join(path, key), `'${join(path, key)}' must be a string.`, "invalid_type");
  return v;
}

export function optNumber(o: JsonObject, key: string, path: string): number | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "number" || !Number.isFinite(v)) throw invalid(join(path, key), `'${join(path, key)}' must be a number.`, "invalid_type");
  return v;
}

export function optBoolean(o: JsonObject, key: string, path: string): boolean | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "boolean") throw invalid(join(path, key), `'${join(path, key)}' must be a boolean.`, "invalid_type");
  return v;
}

export function reqObject(v: unknown, path: string): JsonObject {
  if (!isObject(v)) throw invalid(path, `'${path}' must be an object.`, "invalid_type");
  return v;
}

export function join(path: string, key: string): string {
  return path ? `${path}.${key}` : key;
}

export function num(v: unknown): number {
  return typeof v === "number" && Number.isFinite(v) ? v : 0;
}

export function str(v: unknown): string | undefined {
  return typeof v === "string" ? v : undefined;
}

export { isOpenAIReasoningBlob } from "../common/reasoning-blob.js";
