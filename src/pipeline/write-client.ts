/**
 * Writing to the client with backpressure: a slow client slows the relay
 * instead of growing the gateway's buffers.
 */
import type { ClientSink } from "./exchange.js";

/** Resolves when the sink can take more; rejects once the client is gone. */
export function writeAsync(res: ClientSink, chunk: Buffer | string): Promise<void> {
  if (res.destroyed) return Promise.reject(new Error("client gone"));
  if (res.write(chunk)) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const onDrain = (): void => {
      res.off("close", onClose);
      resolve();
    };
    const onClose = (): void => {
      res.off("drain", onDrain);
      reject(new Error("client gone"));
    };
    res.once("drain", onDrain);
    res.once("close", onClose);
  });
}

export function sendJson(res: ClientSink, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text), ...headers });
  res.end(text);
}

export const SSE_HEADERS = { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache", connection: "keep-alive" } as const;
