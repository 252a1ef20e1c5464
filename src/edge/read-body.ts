/**
 * Reads a request body into one Buffer, refusing it past the configured limit
 * before buffering more than that.
 */
import type { IncomingMessage } from "node:http";
import { GatewayError } from "../canonical/errors.js";
import { stoppedBy } from "../pipeline/stop.js";

/**
 * `signal` stops the wait when the gateway stops the request (the end of a shutdown's grace):
 * the body still arriving is then not waited for, and the stop's reason is the error.
 */
export function readBody(req: IncomingMessage, limit: number, signal?: AbortSignal): Promise<Buffer> {
  const declared = Number(req.headers["content-length"]);
  if (Number.isFinite(declared) && declared > limit) {
    req.resume();
    return Promise.reject(tooLarge(limit));
  }
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    // Settled by hand rather than with .finally(): one promise a request, not two.
    const onStop = (): void => {
      const stopped = signal && stoppedBy(signal);
      if (stopped) fail(stopped);
    };
    const fail = (err: unknown): void => {
      signal?.removeEventListener("abort", onStop);
      reject(err);
    };
    signal?.addEventListener("abort", onStop, { once: true });
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.removeAllListeners("data");
        req.resume();
        fail(tooLarge(limit));
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => {
      signal?.removeEventListener("abort", onStop);
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    });
    req.on("error", fail);
  });
}

function tooLarge(limit: number): GatewayError {
  return new GatewayError("request_too_large", "request_too_large", `The request body exceeds the ${limit}-byte limit.`);
}
