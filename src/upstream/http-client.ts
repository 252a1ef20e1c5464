/**
 * The HTTP transport to upstreams: an undici Agent with keep-alive pools per
 * origin. Per-request timeouts come from the upstream's settings (upstream/timeouts.ts); aborting the
 * signal (client disconnect) tears the upstream request down. undici's types
 * stay in this file: callers see UpstreamResponse.
 *
 * Requests go through undici's `dispatch` with a handler of our own rather than its
 * `request()`: the answer's chunks are queued here and handed to the reader as they are,
 * with no Readable stream, async resource or per-request URL parse in between. That
 * machinery cost more per request than the rest of the upstream exchange on small bodies
 * (bench/README.md).
 */
import { createRequire } from "node:module";
import type { Agent as UndiciAgent, Dispatcher } from "undici";
import type { IncomingHttpHeaders } from "node:http";
import { LRUCache } from "lru-cache";
import {
  UpstreamTransportError,
  type UpstreamBody,
  type UpstreamHeaders,
  type UpstreamRequest,
  type UpstreamResponse,
  type UpstreamTransport,
} from "./response.js";
import { DEFAULT_CONNECT_TIMEOUT_MS } from "./timeouts.js";

/**
 * undici's Agent alone. The package's index also loads fetch, WebSocket, the HTTP cache and
 * the mock agent: about 3 MB of heap the gateway never uses, which every full collection of
 * its heap marks (at one connection on 76 KB bodies, one every few hundred milliseconds).
 * undici has no exports map, so the module is reachable; its type is the index's.
 */
const Agent = createRequire(import.meta.url)("undici/lib/dispatcher/agent.js") as typeof UndiciAgent;
type Agent = UndiciAgent;

/** undici error codes that mean the upstream was too slow rather than unreachable. */
const TIMEOUT_CODES = new Set(["UND_ERR_HEADERS_TIMEOUT", "UND_ERR_CONNECT_TIMEOUT"]);

/** Unread bytes past which the exchange stops reading from the socket until the reader catches up. */
const HIGH_WATER_MARK = 64 * 1024;

/**
 * How much of an answer given up unread is still read off the socket so the connection can
 * be reused; past it the connection is closed instead (undici's `dump()` makes the same trade).
 */
const DISCARD_READ_LIMIT = 128 * 1024;

interface Waiter {
  resolve(step: IteratorResult<Buffer>): void;
  reject(err: Error): void;
}

/** The aborted exchange's reason, so readers see the abort (the client left, the gateway stopped) as before. */
function abortReason(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new Error("The request was aborted.");
}

/**
 * One upstream exchange: undici's handler on one side, the UpstreamResponse a lane reads on
 * the other. The body is iterated once (an async iterator over the queued chunks) or read
 * whole; an error after the head is kept for the reader, never thrown at nobody.
 */
class Exchange implements Dispatcher.DispatchHandler, AsyncIterator<Buffer>, UpstreamBody {
  readonly head: Promise<UpstreamResponse>;
  #settleHead!: { resolve(r: UpstreamResponse): void; reject(err: Error): void };
  #controller: Dispatcher.DispatchController | undefined;
  #started = false;
  #chunks: Buffer[] = [];
  /** Index of the next unread chunk in #chunks. */
  #next = 0;
  #queued = 0;
  #ended = false;
  #error: Error | undefined;
  #waiter: Waiter | undefined;
  #whole: { resolve(b: Buffer): void; reject(err: Error): void } | undefined;
  #discardedBytes = -1;
  readonly #signal: AbortSignal;
  readonly #onAbort = (): void => this.#abort(abortReason(this.#signal));

  constructor(signal: AbortSignal) {
    this.#signal = signal;
    this.head = new Promise<UpstreamResponse>((resolve, reject) => {
      this.#settleHead = { resolve, reject };
    });
    signal.addEventListener("abort", this.#onAbort, { once: true });
  }

  #abort(reason: Error): void {
    if (this.#controller) this.#controller.abort(reason);
    // Not dispatched yet: onRequestStart aborts at once.
  }

  #done(): void {
    this.#signal.removeEventListener("abort", this.#onAbort);
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.#controller = controller;
    if (this.#signal.aborted) controller.abort(abortReason(this.#signal));
  }

  onResponseStart(_controller: Dispatcher.DispatchController, statusCode: number, headers: IncomingHttpHeaders): void {
    if (statusCode < 200) return; // 1xx: informational, the answer's head is still to come
    this.#started = true;
    this.#settleHead.resolve(new Answer(statusCode, headers as UpstreamHeaders, this));
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.#discardedBytes >= 0) {
      this.#discardedBytes += chunk.length;
      if (this.#discardedBytes > DISCARD_READ_LIMIT) controller.abort(new Error("The answer was given up unread."));
      return;
    }
    const waiter = this.#waiter;
    if (waiter) {
      this.#waiter = undefined;
      waiter.resolve({ done: false, value: chunk });
      return;
    }
    this.#chunks.push(chunk);
    this.#queued += chunk.length;
    if (this.#queued >= HIGH_WATER_MARK && !this.#whole) controller.pause();
  }

  onResponseEnd(): void {
    this.#ended = true;
    this.#done();
    if (this.#whole) this.#whole.resolve(this.#take());
    this.#waiter?.resolve({ done: true, value: undefined });
    this.#waiter = undefined;
  }

  onResponseError(_controller: Dispatcher.DispatchController | undefined, err: Error): void {
    this.#done();
    if (!this.#started) {
      if (this.#signal.aborted) return this.#settleHead.reject(err);
      const code = (err as { code?: string }).code ?? "";
      return this.#settleHead.reject(new UpstreamTransportError(TIMEOUT_CODES.has(code) ? "timeout" : "network", err.message, err));
    }
    this.#error = err;
    this.#whole?.reject(err);
    this.#waiter?.reject(err);
    this.#waiter = undefined;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  /** The oldest queued chunk, taken; undefined when none is queued. */
  #shift(): Buffer | undefined {
    if (this.#next >= this.#chunks.length) return undefined;
    const value = this.#chunks[this.#next]!;
    this.#chunks[this.#next++] = undefined as unknown as Buffer;
    if (this.#next === this.#chunks.length) {
      this.#chunks = [];
      this.#next = 0;
    }
    this.#queued -= value.length;
    if (this.#controller?.paused && this.#queued < HIGH_WATER_MARK) this.#controller.resume();
    return value;
  }

  /** UpstreamBody.takeNow: a queued chunk, `null` after the end, undefined while waiting or after an error (next() reports it). */
  takeNow(): Buffer | null | undefined {
    const value = this.#shift();
    if (value !== undefined) return value;
    return this.#ended && !this.#error ? null : undefined;
  }

  next(): Promise<IteratorResult<Buffer>> {
    const value = this.#shift();
    if (value !== undefined) return Promise.resolve({ done: false, value });
    if (this.#error) return Promise.reject(this.#error);
    if (this.#ended) return Promise.resolve({ done: true, value: undefined });
    if (this.#controller?.paused) this.#controller.resume();
    return new Promise((resolve, reject) => {
      this.#waiter = { resolve, reject };
    });
  }

  /** A reader that stops early (a `break`, a throw in its loop) gives the rest up: the exchange is torn down. */
  return(): Promise<IteratorResult<Buffer>> {
    if (!this.#ended && !this.#error) this.#controller?.abort(new Error("The reader gave the answer up."));
    this.#chunks = [];
    this.#queued = 0;
    return Promise.resolve({ done: true, value: undefined });
  }

  /** The queued chunks as one Buffer (the one chunk itself when there is just one). */
  #take(): Buffer {
    const chunks = this.#next === 0 ? this.#chunks : this.#chunks.slice(this.#next);
    this.#chunks = [];
    this.#next = 0;
    this.#queued = 0;
    return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
  }

  /** UpstreamResponse.bytes. */
  bytes(): Promise<Buffer> {
    if (this.#error) return Promise.reject(this.#error);
    if (this.#ended) return Promise.resolve(this.#take());
    const whole = new Promise<Buffer>((resolve, reject) => {
      this.#whole = { resolve, reject };
    });
    if (this.#controller?.paused) this.#controller.resume();
    return whole;
  }

  /** UpstreamResponse.discard. */
  discard(): void {
    this.#chunks = [];
    this.#next = 0;
    this.#queued = 0;
    if (this.#ended || this.#error) return;
    this.#discardedBytes = 0;
    if (this.#controller?.paused) this.#controller.resume();
  }
}

/**
 * The answer a lane reads: its head, and the exchange as its body. A class, so an answer is a
 * few fields, not an object literal with a computed key and two closures made for every request.
 */
class Answer implements UpstreamResponse {
  constructor(
    readonly status: number,
    readonly headers: UpstreamHeaders,
    readonly body: Exchange,
  ) {}

  bytes(): Promise<Buffer> {
    return this.body.bytes();
  }

  discard(): void {
    this.body.discard();
  }
}

/** Origin and path of a request URL; the few URLs a gateway sends to are parsed once each. */
const targets = new LRUCache<string, { origin: string; path: string }>({ max: 1024 });

function targetOf(url: string): { origin: string; path: string } {
  let t = targets.get(url);
  if (!t) {
    const u = new URL(url);
    t = { origin: u.origin, path: `${u.pathname}${u.search}` };
    targets.set(url, t);
  }
  return t;
}

export function createUpstreamHttp(opts: { connectTimeoutMs?: number } = {}): UpstreamTransport {
  const defaultConnect = opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  // undici sets the connect timeout per Agent, so each distinct timeout the upstreams ask
  // for gets an Agent (and keep-alive pools) of its own; there are as many as settings differ.
  const agents = new Map<number, Agent>();
  const agentFor = (connectTimeoutMs: number): Agent => {
    let agent = agents.get(connectTimeoutMs);
    if (!agent) {
      agent = new Agent({
        keepAliveTimeout: 30_000,
        keepAliveMaxTimeout: 600_000,
        connections: 256,
        pipelining: 1,
        connect: { timeout: connectTimeoutMs },
      });
      agents.set(connectTimeoutMs, agent);
    }
    return agent;
  };
  agentFor(defaultConnect);
  return {
    send(o: UpstreamRequest): Promise<UpstreamResponse> {
      if (o.signal.aborted) return Promise.reject(abortReason(o.signal));
      const exchange = new Exchange(o.signal);
      let target: { origin: string; path: string };
      try {
        target = targetOf(o.url);
      } catch (err) {
        exchange.onResponseError(undefined, err as Error);
        return exchange.head;
      }
      agentFor(o.connectTimeoutMs ?? defaultConnect).dispatch(
        {
          origin: target.origin,
          path: target.path,
          method: o.method,
          headers: o.headers,
          body: o.body,
          headersTimeout: o.headersTimeoutMs,
          bodyTimeout: o.bodyTimeoutMs,
        },
        exchange,
      );
      return exchange.head;
    },
    close: async () => {
      await Promise.all([...agents.values()].map((a) => a.close()));
    },
  };
}
