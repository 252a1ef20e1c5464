/**
 * The upstream side of Responses over WebSocket (docs/codex.md#upstream-websocket-sessions): one
 * socket to an OpenAI Responses or Codex backend endpoint, carrying one `response.create` at a
 * time. The upstream keeps connection-local state (the last response, its cache), so whoever owns
 * the socket must send follow-ups with `previous_response_id` on this socket only.
 *
 * A turn is handed back as an UpstreamResponse whose body is the upstream's frames, each written
 * as one SSE event (`event: <type>` + `data: <the frame's text, unchanged>`), so the lanes meter
 * and relay it exactly as an HTTP stream; the frame's JSON is never decoded or re-encoded except
 * to read the id of the terminal event. The "head" is the first frame: an `error` frame with a
 * `status` there stands for an HTTP error answer (its body is `{"error": …}`), as Codex CLI reads it.
 *
 * Protocol: https://developers.openai.com/api/docs/guides/websocket-mode; Codex CLI's use of it:
 * codex-rs codex-api/src/endpoint/responses_websocket.rs.
 */
import WebSocket from "ws";
import { UpstreamTransportError, type UpstreamHeaders, type UpstreamResponse } from "./response.js";
import { withMembers } from "../canonical/shared-shape.js";

/** The beta token the Responses WebSocket endpoint requires on the upgrade (Codex CLI sends this one). */
export const RESPONSES_WEBSOCKET_BETA = "responses_websockets=2026-02-06";

/** The largest upstream frame taken; a bigger one breaks the socket (and the turn on it). */
export const MAX_UPSTREAM_FRAME_BYTES = 64 * 1024 * 1024;

const TERMINAL = new Set(["response.completed", "response.failed", "response.incomplete", "error"]);

/** `https://host/v1` → `wss://host/v1/responses` (the URL Codex CLI and the SDK build from a base URL). */
export function responsesSocketUrl(httpUrl: string): string {
  return httpUrl.replace(/^http/, "ws");
}

/** Adds the Responses WebSocket beta token to an `openai-beta` header, keeping the other tokens. */
export function withWebSocketBeta(headers: Record<string, string>): Record<string, string> {
  const tokens = (headers["openai-beta"] ?? "")
    .split(",")
    .map((t) => t.trim())
    .filter((t) => t && !t.startsWith("responses_websockets"));
  return withMembers(headers, { "openai-beta": [...tokens, RESPONSES_WEBSOCKET_BETA].join(", ") });
}

export interface OpenSocketOptions {
  url: string;
  headers: Record<string, string>;
  connectTimeoutMs: number;
  /** Aborting before the upgrade completes abandons it. */
  signal: AbortSignal;
}

export type OpenSocketResult =
  | { kind: "open"; socket: ResponsesSocket }
  /** The upstream answered the upgrade with an HTTP status instead of 101. */
  | { kind: "refused"; status: number; headers: UpstreamHeaders; body: string };

/** What a turn's frames said about the response, once the turn ended. */
export interface TurnEnd {
  /** The terminal event's type; undefined when the socket broke or the reader stopped first. */
  terminal: string | undefined;
  /** The response id of a `response.completed` (or `.incomplete`) event. */
  responseId: string | undefined;
}

/** The type of an upstream frame, read from its first bytes (`{"type":"…"` is how every event starts), else parsed. */
function frameType(text: string): string | undefined {
  const m = /^\s*\{\s*"type"\s*:\s*"([^"\\]+)"/.exec(text.slice(0, 128));
  if (m) return m[1];
  try {
    const v = JSON.parse(text) as { type?: unknown };
    return typeof v.type === "string" ? v.type : undefined;
  } catch {
    return undefined;
  }
}

function responseIdOf(text: string): string | undefined {
  try {
    const v = JSON.parse(text) as { response?: { id?: unknown } };
    return typeof v.response?.id === "string" ? v.response.id : undefined;
  } catch {
    return undefined;
  }
}

/** One frame as an SSE event; a frame holding raw newlines (pretty-printed JSON) is compacted first, since SSE data is one line here. */
function asSse(type: string, text: string): Buffer {
  const data = text.includes("\n") || text.includes("\r") ? JSON.stringify(JSON.parse(text)) : text;
  return Buffer.from(`event: ${type}\ndata: ${data}\n\n`);
}

/** A turn's answer; an error head also names the upstream's error code. */
export type SocketAnswer = UpstreamResponse & { errorCode?: string };

interface Waiter {
  resolve(v: Buffer | null): void;
  reject(err: Error): void;
}

export class ResponsesSocket {
  #queue: Array<Buffer | string> = [];
  #waiter: Waiter | undefined;
  #closed: Error | undefined;
  #busy = false;
  readonly #closeListeners = new Set<() => void>();

  constructor(
    private readonly ws: WebSocket,
    /** The upgrade response's headers (`x-codex-turn-state`, `openai-model`, …). */
    readonly upgradeHeaders: UpstreamHeaders,
  ) {
    ws.on("message", (data: WebSocket.RawData, isBinary) => {
      if (isBinary) return;
      const text = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
      const w = this.#waiter;
      if (w) {
        this.#waiter = undefined;
        w.resolve(text);
      } else this.#queue.push(text);
    });
    const onGone = (err: Error): void => {
      if (this.#closed) return;
      this.#closed = err;
      const w = this.#waiter;
      this.#waiter = undefined;
      w?.reject(err);
      for (const l of this.#closeListeners) l();
    };
    ws.on("close", (code, reason) => onGone(new Error(`upstream socket closed (${code}${reason.length ? ` ${reason.toString()}` : ""})`)));
    ws.on("error", (err) => onGone(err));
  }

  /** Open, and no turn under way. */
  get usable(): boolean {
    return this.#closed === undefined && !this.#busy && this.ws.readyState === WebSocket.OPEN;
  }

  get alive(): boolean {
    return this.#closed === undefined && this.ws.readyState === WebSocket.OPEN;
  }

  onClose(listener: () => void): void {
    this.#closeListeners.add(listener);
  }

  close(): void {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) this.ws.close(1000);
    // A peer that does not answer the closing handshake is cut.
    setTimeout(() => this.ws.terminate(), 2_000).unref();
  }

  /** The next text frame; null at the end of `ms` without one; rejects once the socket is gone. */
  private next(ms: number): Promise<Buffer | null> {
    const queued = this.#queue.shift();
    if (queued !== undefined) return Promise.resolve(Buffer.isBuffer(queued) ? queued : Buffer.from(queued));
    if (this.#closed) return Promise.reject(this.#closed);
    return new Promise<Buffer | null>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiter = undefined;
        resolve(null);
      }, ms);
      this.#waiter = {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
    });
  }

  /**
   * Sends one `response.create` frame and resolves at its first answering frame (the "head").
   * The body then yields every frame up to the terminal one. It does not stop when the client
   * leaves: the caller decides, by reading on (to meter what the upstream still produces) or not.
   * `onEnd` learns how the turn ended, once, whether the body was read to its end or given up.
   */
  async turn(
    frame: Buffer,
    o: {
      headersTimeoutMs: number;
      bodyTimeoutMs: number;
      onEnd(end: TurnEnd): void;
      /** Ends the turn where it stands (the gateway stopping it): the read rejects with the signal's reason and the socket goes. */
      stop?: AbortSignal;
    },
  ): Promise<SocketAnswer> {
    if (!this.usable) throw new UpstreamTransportError("network", "upstream socket is not open");
    if (o.stop?.aborted) throw o.stop.reason;
    this.#busy = true;
    let ended = false;
    const onStop = (): void => {
      const w = this.#waiter;
      this.#waiter = undefined;
      w?.reject(o.stop?.reason as Error);
      this.ws.terminate();
    };
    o.stop?.addEventListener("abort", onStop, { once: true });
    const end = (e: TurnEnd): void => {
      if (ended) return;
      ended = true;
      this.#busy = false;
      o.stop?.removeEventListener("abort", onStop);
      o.onEnd(e);
    };
    await new Promise<void>((resolve, reject) => this.ws.send(frame, { binary: false }, (err) => (err ? reject(err) : resolve()))).catch((err: Error) => {
      end({ terminal: undefined, responseId: undefined });
      throw new UpstreamTransportError("network", `upstream socket send failed: ${err.message}`, err);
    });
    let first: Buffer | null;
    try {
      first = await this.next(o.headersTimeoutMs);
    } catch (err) {
      end({ terminal: undefined, responseId: undefined });
      if (o.stop?.aborted) throw o.stop.reason;
      throw new UpstreamTransportError("network", (err as Error).message, err);
    }
    if (first === null) {
      end({ terminal: undefined, responseId: undefined });
      // A turn left running on the socket would answer into the next one: the socket is done.
      this.ws.terminate();
      throw new UpstreamTransportError("timeout", "the upstream socket sent nothing in time");
    }
    const firstText = first.toString("utf8");
    const firstType = frameType(firstText);
    if (firstType === "error") {
      const parsed = (() => {
        try {
          return JSON.parse(firstText) as { status?: unknown; error?: unknown; headers?: unknown };
        } catch {
          return {};
        }
      })();
      if (typeof parsed.status === "number" && parsed.status >= 400) {
        end({ terminal: "error", responseId: undefined });
        const headers = parsed.headers && typeof parsed.headers === "object" ? (parsed.headers as UpstreamHeaders) : {};
        const body = Buffer.from(JSON.stringify({ error: parsed.error ?? { message: "upstream error" } }));
        const code = (parsed.error as { code?: unknown } | undefined)?.code;
        return {
          status: parsed.status,
          errorCode: typeof code === "string" ? code : undefined,
          headers,
          body: (async function* () {
            yield body;
          })(),
          bytes: () => Promise.resolve(body),
          discard: () => undefined,
        };
      }
    }
    const next = (ms: number): Promise<Buffer | null> => this.next(ms);
    const terminate = (): void => this.ws.terminate();
    async function* frames(): AsyncGenerator<Buffer> {
      let terminal: string | undefined;
      let responseId: string | undefined;
      try {
        let text: string | undefined = firstText;
        let type = firstType;
        for (;;) {
          if (text !== undefined && type !== undefined) {
            if (TERMINAL.has(type)) {
              terminal = type;
              if (type !== "error") responseId = responseIdOf(text);
            }
            yield asSse(type, text);
            if (terminal) return;
          }
          const got = await next(o.bodyTimeoutMs);
          if (got === null) {
            terminate();
            throw new Error("the upstream socket went quiet mid-response");
          }
          text = got.toString("utf8");
          type = frameType(text);
        }
      } finally {
        end({ terminal, responseId });
      }
    }
    return {
      status: 200,
      headers: this.upgradeHeaders,
      body: frames(),
      bytes: () => Promise.reject(new Error("a socket turn is a stream")),
      discard: () => {
        // Given up unread: whatever the upstream still sends belongs to no one, so the socket goes.
        end({ terminal: undefined, responseId: undefined });
        this.ws.terminate();
      },
    };
  }
}

/** Opens a socket; rejects with UpstreamTransportError when the upstream cannot be reached or is too slow. */
export function openResponsesSocket(o: OpenSocketOptions): Promise<OpenSocketResult> {
  return new Promise<OpenSocketResult>((resolve, reject) => {
    let settled = false;
    const ws = new WebSocket(o.url, {
      headers: o.headers,
      perMessageDeflate: true,
      handshakeTimeout: o.connectTimeoutMs,
      maxPayload: MAX_UPSTREAM_FRAME_BYTES,
    });
    const finish = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      o.signal.removeEventListener("abort", onAbort);
      fn();
    };
    const onAbort = (): void =>
      finish(() => {
        ws.terminate();
        reject(o.signal.reason);
      });
    if (o.signal.aborted) return onAbort();
    o.signal.addEventListener("abort", onAbort, { once: true });
    let upgradeHeaders: UpstreamHeaders = {};
    ws.once("upgrade", (res) => {
      upgradeHeaders = res.headers as UpstreamHeaders;
    });
    ws.once("open", () => finish(() => resolve({ kind: "open", socket: new ResponsesSocket(ws, upgradeHeaders) })));
    ws.once("unexpected-response", (_req, res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("error", () => undefined);
      res.on("end", () =>
        finish(() => {
          ws.terminate();
          resolve({ kind: "refused", status: res.statusCode ?? 502, headers: res.headers as UpstreamHeaders, body: Buffer.concat(chunks).toString("utf8") });
        }),
      );
    });
    ws.on("error", (err: Error & { code?: string }) =>
      finish(() => {
        const timeout = /timed? ?out/i.test(err.message) || err.code === "ETIMEDOUT";
        reject(new UpstreamTransportError(timeout ? "timeout" : "network", `upstream socket: ${err.message}`, err));
      }),
    );
  });
}

/** An upstream's WebSocket settings (YAML `websocket`, `websocket_max_age_ms`; docs/configuration.md#upstreams). */
export interface WebSocketSettings {
  /** Responses WebSocket turns to this upstream go over an upstream socket (Responses and Codex upstreams only). */
  enabled: boolean;
  /** Age after which the socket is replaced between turns. */
  maxAgeMs: number;
}

/** Default age after which a socket is replaced between turns: under OpenAI's 60-minute cap, so a long turn still fits. */
export const DEFAULT_SOCKET_MAX_AGE_MS = 55 * 60_000;

export function webSocketSettings(protocol: string, settings: Record<string, unknown>): WebSocketSettings {
  const age = settings.websocket_max_age_ms;
  return {
    enabled: (protocol === "openai-responses" || protocol === "codex") && settings.websocket === true,
    maxAgeMs: typeof age === "number" && Number.isInteger(age) && age > 0 ? age : DEFAULT_SOCKET_MAX_AGE_MS,
  };
}
