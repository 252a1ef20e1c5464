/**
 * Reads a request body into one Buffer, refusing it past the configured limit
 * before buffering more than that.
 */
import type { IncomingMessage } from "node:http";
import { GatewayError } from "../canonical/errors.js";

export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers["content-length"]);
  if (Number.isFinite(declared) && declared > limit) {
    req.resume();
    return Promise.reject(tooLarge(limit));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.removeAllListeners("data");
        req.resume();
        reject(tooLarge(limit));
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size)));
    req.on("error", reject);
  });
}

function tooLarge(limit: number): GatewayError {
  return new GatewayError("request_too_large", "request_too_large", `The request body exceeds the ${limit}-byte limit.`);
}
