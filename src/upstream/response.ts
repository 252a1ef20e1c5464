/**
 * What a lane sends to an upstream and gets back, independent of the transport
 * that carries it (HTTP today; an upstream WebSocket for the Codex backend can
 * implement the same shape). Nothing outside src/upstream sees undici.
 */
export interface UpstreamRequest {
  url: string;
  method: "POST" | "GET";
  headers: Record<string, string>;
  body?: Buffer | string;
  /** Aborted when the client goes away: tears the upstream exchange down. */
  signal: AbortSignal;
  /** Time allowed for the response head, then between body chunks. */
  headersTimeoutMs: number;
  bodyTimeoutMs: number;
  /** Time allowed to establish the connection; the transport's default when unset. */
  connectTimeoutMs?: number;
}

export type UpstreamHeaders = Record<string, string | string[] | undefined>;

/**
 * An answer's body as it arrives: iterate it once. A transport that queues what it has received
 * offers `takeNow`, so that a reader takes chunks already there within the call, without a
 * promise for each: reads queue up whenever the event loop turns later than they arrive (a busy
 * gateway, a burst of events, a whole answer sent at once).
 */
export interface UpstreamBody extends AsyncIterable<Buffer> {
  /**
   * The next chunk if it has arrived (taken, as the iterator's `next()` would take it), `null`
   * once the body has ended, undefined when it must be waited for: with `next()`, which also
   * reports a failure. Mixed freely with `next()`, on the same iterator.
   */
  takeNow?(): Buffer | null | undefined;
}

export interface UpstreamResponse {
  status: number;
  headers: UpstreamHeaders;
  /** The body as it arrives; iterate it once, or call one of the readers below. */
  body: UpstreamBody;
  /** The whole body as bytes (for JSON answers and error bodies). */
  bytes(): Promise<Buffer>;
  /** Gives the body up unread, freeing the connection. */
  discard(): void;
}

/** A transport failure before a response head arrived. */
export class UpstreamTransportError extends Error {
  constructor(
    readonly kind: "timeout" | "network",
    message: string,
    override readonly cause?: unknown,
  ) {
    super(message);
    this.name = "UpstreamTransportError";
  }
}

export interface UpstreamTransport {
  /** Resolves with the response head; rejects with UpstreamTransportError (or the abort reason once the signal fired). */
  send(req: UpstreamRequest): Promise<UpstreamResponse>;
  close(): Promise<void>;
}
