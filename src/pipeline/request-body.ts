/**
 * The client's body as the pipeline reads it: validated as a JSON object, with
 * top-level fields read lazily from the bytes (json-peek) so the passthrough
 * lane never decodes the whole body.
 */
import { GatewayError } from "../canonical/errors.js";
import { arrayItemBytes, fieldBytes, peekBody, readField, type PeekedBody } from "./json-peek.js";

export interface ParsedBody {
  raw: Buffer;
  peek: PeekedBody;
  read(name: string): unknown;
  bytes(name: string): Buffer | undefined;
  itemBytes(name: string): Iterable<Buffer>;
}

/** Validates the body as a JSON object, reading top-level fields without decoding the whole of it. */
export function parseBody(raw: Buffer): ParsedBody {
  const peek = peekBody(raw);
  if (!peek) {
    let detail = "the request body must be a JSON object";
    try {
      const v: unknown = JSON.parse(raw.toString("utf8"));
      if (v !== null && typeof v === "object" && !Array.isArray(v)) detail = "the request body could not be parsed";
    } catch (err) {
      detail = `the request body is not valid JSON: ${(err as Error).message}`;
    }
    throw new GatewayError("invalid_request", "invalid_json", detail.charAt(0).toUpperCase() + detail.slice(1) + ".");
  }
  const cache = new Map<string, unknown>();
  return {
    raw,
    peek,
    read(name) {
      if (!cache.has(name)) cache.set(name, readField(raw, peek, name));
      return cache.get(name);
    },
    bytes: (name) => fieldBytes(raw, peek, name),
    itemBytes: (name) => arrayItemBytes(raw, peek, name),
  };
}

/** The model a body names, or a 400 in the client's protocol. */
export function requireModel(body: ParsedBody): string {
  const model = body.read("model");
  if (typeof model !== "string" || model.length === 0) {
    throw new GatewayError("invalid_request", "missing_model", "The request must name a model in the 'model' field.", { param: "model" });
  }
  return model;
}
