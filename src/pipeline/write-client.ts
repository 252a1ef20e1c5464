/**
 * Writing to the client with backpressure: a slow client slows the relay
 * instead of growing the gateway's buffers.
 */
import type { ClientSink, Exchange } from "./exchange.js";
import type { TranslationWarning } from "../protocols/codec.js";
import { withMembers } from "../canonical/shared-shape.js";

/** Resolves when the sink can take more; rejects once the client is gone. */
export function writeAsync(res: ClientSink, chunk: Buffer | string): Promise<void> {
  return writeNow(res, chunk) ?? Promise.resolve();
}

/**
 * writeAsync answered within the call: nothing when the sink took the chunk and can take more, a
 * promise only to wait for a drain or to report the client gone. For a relay that awaits only
 * what it must (a turn of the microtask queue for every write otherwise).
 */
export function writeNow(res: ClientSink, chunk: Buffer | string): Promise<void> | undefined {
  if (res.destroyed) return Promise.reject(new Error("client gone"));
  if (res.write(chunk)) return undefined;
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
 * Holds what is written to `res` from now until the answer ends or the event loop turns, whichever
 * comes first. For the write that carries a stream's terminal event: the upstream's end of body
 * usually arrives in the same turn, often in a second socket read's callback, so `end()` follows
 * and Node writes the chunked encoding's last chunk (`0\r\n\r\n`) with what it holds, in one
 * system call. Without the hold, node:http had uncorked the event's write on the next tick, before
 * that second callback, and the terminator went out in a `write` of its own (every Codex-shaped
 * stream of the bench: bench/README.md, "Last measured"). An upstream that ends later than this
 * turn only delays its terminal event by the rest of the turn.
 */
function holdUntilTurn(res: ClientSink, released?: () => void): void {
  res.cork();
  setImmediate(() => {
    released?.();
    res.uncork();
  });
}

/**
 * Writes the chunk that carries a stream's terminal event, held for the end that follows
 * (holdUntilTurn). It does not wait for the sink to drain: a held write drains only once the hold
 * lets go, and what comes after the terminal event is the end (or, from a Chat upstream, a usage
 * chunk and `[DONE]`, which wait as usual). Nothing to await, or a rejected promise once the client
 * is gone, as writeNow.
 */
export function writeTerminal(res: ClientSink, chunk: Buffer | string): Promise<void> | undefined {
  if (res.destroyed) return Promise.reject(new Error("client gone"));
  holdUntilTurn(res);
  res.write(chunk);
  return undefined;
}

/**
 * A stream's writes, those after its first joined per turn of the event loop. The first goes out at
 * once (the time to first byte); each later one is held, with whatever else the same turn writes,
 * until the loop turns (holdUntilTurn). Reads an upstream delivers together (a burst, or a whole
 * answer, as a Responses stream that repeats the request arrives: 64 KB reads, each callback its
 * own tick) then reach the client in one system call, not one per read; events that arrive apart
 * each wait only for the rest of their turn. Backpressure as writeAsync: a held write that fills
 * the sink waits for the drain that follows the hold.
 */
export class TurnWriter {
  #first = true;
  #held = false;

  constructor(private readonly res: ClientSink) {}

  /** As writeNow: a promise only to wait for a drain, or to report the client gone. */
  write(chunk: Buffer | string): Promise<void> | undefined {
    if (this.#first) {
      this.#first = false;
      return writeNow(this.res, chunk);
    }
    if (this.res.destroyed) return Promise.reject(new Error("client gone"));
    if (!this.#held) {
      this.#held = true;
      holdUntilTurn(this.res, () => (this.#held = false));
    }
    return writeNow(this.res, chunk);
  }
}

/**
 * The sink the lanes write to, put in front of the edge's once per request. When the
 * answer's head goes out, whichever lane or attempt writes it, it notes the time (the usage
 * record's time to first byte: a stream's head is flushed at once, so it is the first byte
 * on the wire) and, with `server.route_header`, names the route in the head.
 */
class AnswerSink implements ClientSink {
  constructor(
    private readonly ex: Exchange,
    private readonly sink: ClientSink,
    private readonly routeHeader: boolean,
  ) {}

  writeHead(status: number, headers?: Record<string, string | number>): unknown {
    this.ex.firstByteAt ??= performance.now();
    const route = this.routeHeader ? routeOf(this.ex) : undefined;
    return this.sink.writeHead(status, route === undefined ? headers : withMembers(headers ?? {}, { "x-switchyard-route": route }));
  }
  flushHeaders(): void {
    this.sink.flushHeaders();
  }
  cork(): void {
    this.sink.cork();
  }
  uncork(): void {
    this.sink.uncork();
  }
  write(chunk: Buffer | string): boolean {
    return this.sink.write(chunk);
  }
  end(chunk?: Buffer | string): unknown {
    return this.sink.end(chunk);
  }
  get destroyed(): boolean {
    return this.sink.destroyed;
  }
  once(event: "drain" | "close", listener: () => void): unknown {
    return this.sink.once(event, listener);
  }
  off(event: "drain" | "close", listener: () => void): unknown {
    return this.sink.off(event, listener);
  }
}

export function watchAnswer(ex: Exchange, routeHeader: boolean): void {
  ex.res = new AnswerSink(ex, ex.res, routeHeader);
}

/** A value for a `key=value; …` header: percent-encodes what would break it (as headerSafe, and `;`, `=`, space). */
function routeValue(text: string): string {
  return headerSafe(text).replace(/[;= ]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/**
 * `x-switchyard-route` (opt-in with `server.route_header`): `upstream=<name>; tier=<n>`
 * (the route's tier that served, 1 = primary), then `; model=<served>` when a mapping
 * rule changed the model. Names only: never a key, a
 * fingerprint or a URL. Whichever attempt writes the head is the one named; errors the edge
 * renders (nothing answered) carry no route. A WebSocket turn has no head, so its sink
 * drops the header.
 */
function routeOf(ex: Exchange): string | undefined {
  const planned = ex.lastAttempt;
  if (!planned) return undefined;
  const route = `upstream=${routeValue(planned.target.upstream.name)}; tier=${planned.tier + 1}`;
  return planned.model !== ex.model ? `${route}; model=${routeValue(planned.model)}` : route;
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
