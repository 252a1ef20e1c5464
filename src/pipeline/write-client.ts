/**
 * Writing to the client with backpressure: a slow client slows the relay
 * instead of growing the gateway's buffers.
 */
import type { ClientSink, Exchange } from "./exchange.js";
import type { TranslationWarning } from "../protocols/codec.js";

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

/**
 * Has the exchange note when its answer's head goes out (`firstByteAt`), whichever lane
 * or attempt writes it: the usage record's time to first byte. The head is the first
 * byte on the wire (a stream's head is flushed at once), as for the edge's ttfb metric.
 */
export function timeFirstByte(ex: Exchange): void {
  const sink = ex.res;
  ex.res = {
    writeHead(status, headers) {
      ex.firstByteAt ??= performance.now();
      return sink.writeHead(status, headers);
    },
    flushHeaders: () => sink.flushHeaders(),
    write: (chunk) => sink.write(chunk),
    end: (chunk) => sink.end(chunk),
    get destroyed() {
      return sink.destroyed;
    },
    once: (event, listener) => sink.once(event, listener),
    off: (event, listener) => sink.off(event, listener),
  };
}

/** A value for a `key=value; …` header: percent-encodes what would break it (as headerSafe, and `;`, `=`, space). */
function routeValue(text: string): string {
  return headerSafe(text).replace(/[;= ]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/**
 * Has the answer's head name the upstream that served it (`x-switchyard-route`, opt-in
 * with `server.route_header`): `upstream=<name>`, then `; model=<served>` when a mapping
 * rule changed the model. Names only: never a key, a fingerprint or a URL. Whichever
 * attempt writes the head is the one named; errors the edge renders (nothing answered)
 * carry no route. A WebSocket turn has no head, so its sink drops the header.
 */
export function announceRoute(ex: Exchange): void {
  const sink = ex.res;
  const writeHead = sink.writeHead.bind(sink);
  sink.writeHead = (status, headers) => {
    const planned = ex.lastAttempt;
    if (!planned) return writeHead(status, headers);
    let route = `upstream=${routeValue(planned.target.upstream.name)}`;
    if (planned.model !== ex.model) route += `; model=${routeValue(planned.model)}`;
    return writeHead(status, { ...headers, "x-switchyard-route": route });
  };
}

export function sendJson(res: ClientSink, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text), ...headers });
  res.end(text);
}

export const SSE_HEADERS = { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache", connection: "keep-alive" } as const;

/** Longest `x-switchyard-warnings` value; the log line of the request holds the whole list. */
const WARNINGS_HEADER_LIMIT = 2048;

/** A field name as a header may carry it (percent-encoded UTF-8): client-chosen keys can hold any character. */
function headerSafe(text: string): string {
  return text.replace(/[^\x21-\x7e]|[,%]/gu, (c) => [...Buffer.from(c, "utf8")].map((b) => `%${b.toString(16).toUpperCase().padStart(2, "0")}`).join(""));
}

/**
 * The `x-switchyard-warnings` value: each lossy mapping once, as `code:field` (or the code
 * alone when no one field is concerned), comma-separated; `...` ends a list cut at the
 * limit. Undefined when there were none.
 */
export function warningsHeader(warnings: readonly TranslationWarning[]): string | undefined {
  if (warnings.length === 0) return undefined;
  const entries = new Set(warnings.map((w) => (w.field === undefined ? w.code : `${w.code}:${headerSafe(w.field)}`)));
  let out = "";
  for (const entry of entries) {
    const next = out === "" ? entry : `${out}, ${entry}`;
    if (next.length > WARNINGS_HEADER_LIMIT) return out === "" ? "..." : `${out}, ...`;
    out = next;
  }
  return out;
}
