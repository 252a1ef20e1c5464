/**
 * Responses over WebSocket (`GET /v1/responses` upgrade), as Codex CLI uses it
 * with `supports_websockets` (docs/protocols.md#codex-cli-over-websocket). Each `response.create` frame is
 * one turn, run through the same pipeline as HTTP (auth, admission, lanes,
 * metering); its stream events go back as one JSON text frame each.
 *
 * The connection keeps what the public API keeps server-side (pipeline/responses-conversation.ts,
 * docs/protocols.md#websocket-to-http-upstreams): the last request and its output. A follow-up with
 * `previous_response_id` naming the last response is rebuilt into a full request (last input + last
 * output + new input) for upstreams reached over HTTP; an upstream with `websocket: true` gets the
 * turn on the connection's own upstream socket (pipeline/upstream-socket-session.ts), incrementally
 * when that socket holds the previous response. This module only dispatches frames. One response at a time.
 */
import type { IncomingHttpHeaders, IncomingMessage } from "node:http";
import { STATUS_CODES } from "node:http";
import { isUtf8 } from "node:buffer";
import type { Duplex } from "node:stream";
import { randomUUID } from "node:crypto";
import { timeOrderedHex } from "../canonical/time-ordered-id.js";
import { WebSocketServer, type RawData, type WebSocket } from "ws";
import { GatewayError } from "../canonical/errors.js";
import { ERROR_CODES, isErrorCode } from "../canonical/error-codes.js";
import { LazySseParser, undecodedData, type SseEvent } from "../transport/sse.js";
import { SlimEvent } from "../pipeline/slim-event.js";
import { jsonBytes } from "../pipeline/json-bytes.js";
import { parseJsonBytes } from "../pipeline/json-peek.js";
import type { ClientSink, ExchangeStart } from "../pipeline/exchange.js";
import type { UpstreamSocketSession } from "../pipeline/upstream-socket-session.js";
import { ResponsesConversation } from "../pipeline/responses-conversation.js";
import type { Logger } from "../observability/logger.js";
import { withMembers } from "../canonical/shared-shape.js";

export interface ResponsesWebSocketOptions {
  /** The account id the upgrade request's key belongs to; throws a GatewayError when it is not accepted. */
  /** The caller's account id; a promise when the key had to be looked up. */
  authenticate(req: IncomingMessage): string | Promise<string>;
  /** Runs one turn through the pipeline, writing to `ex.res`. */
  generate(turn: ExchangeStart): Promise<void>;
  logger: Logger;
  bodyLimit: number;
  /** Counts a connection closed for breaking RFC 6455 (the `ws` error code, a closed set). */
  countProtocolError(code: string): void;
  /**
   * The connection's upstream socket session (pipeline/upstream-socket-session.ts), used by turns
   * whose upstream has `websocket: true`; closed with the connection. Absent: every turn goes over HTTP.
   */
  openSession?(): UpstreamSocketSession;
  /** The client's address for the upgrade request (the peer, or what a trusted proxy reports); every turn carries it. */
  clientAddress?(req: IncomingMessage): string | undefined;
}

type Json = Record<string, unknown>;

interface ConnectionState {
  /** The last request and its output, for `previous_response_id` follow-ups (pipeline/responses-conversation.ts). */
  conversation: ResponsesConversation;
  busy: boolean;
}

export interface ResponsesWebSocket {
  wss: WebSocketServer;
  /**
   * The drain refuses new work from now on: upgrades are answered 503, idle connections are
   * closed (1001, going away) at once and busy ones as soon as their turn has ended, so clients
   * reconnect elsewhere.
   */
  refuseNewTurns(): void;
  /** Closes every connection (1001); peers that do not complete the closing handshake within `ms` are cut. */
  closeAll(ms: number): Promise<void>;
}

const DRAINING_MESSAGE = "This gateway node is shutting down and takes no new requests; reconnect and send the request again.";

/**
 * In-band error frame in the shape Codex reads (docs/protocols.md#codex-cli-over-websocket):
 * `headers` carries what an HTTP answer would have sent as headers (`retry-after`,
 * `x-switchyard-limit`), which Codex turns back into the headers of its HTTP error.
 */
function errorFrame(status: number, type: string, code: string, message: string, headers?: Record<string, string>): string {
  return JSON.stringify({ type: "error", status, error: { type, code, message }, ...(headers ? { headers } : {}) });
}

/**
 * A stream's `error` event as the WebSocket's in-band error frame. The gateway's own stream error
 * (`{type:"error", code, message}`, the SSE shape) carries no `status`, and Codex CLI ignores an error
 * frame without one, so it would wait for an end that never comes: it gets the code's status. An
 * upstream socket's own error frames already have the frame's shape and pass unchanged.
 */
function inBandError(data: string): string {
  let e: { type?: unknown; status?: unknown; code?: unknown; message?: unknown; error?: unknown };
  try {
    e = JSON.parse(data) as typeof e;
  } catch {
    return data;
  }
  if (typeof e.status === "number" || e.error !== undefined) return data;
  const code = typeof e.code === "string" ? e.code : "upstream_error";
  const status = isErrorCode(code) ? ERROR_CODES[code].status : 502;
  return errorFrame(status, status >= 500 ? "server_error" : "invalid_request_error", code, typeof e.message === "string" ? e.message : "The response failed.");
}

const DONE = Buffer.from("[DONE]");

/** What the conversation keeps of a turn's `response.completed` (ResponsesConversation.completed): the response's id and output. */
const COMPLETED_MEMBERS = { response: { id: true, output: true } } as const;

/** The `response` of a `response.completed` event, as far as the conversation reads it (a big one read off the bytes); undefined when the event is not JSON. */
function completedResponse(ev: SseEvent): Json | undefined {
  try {
    return (JSON.parse(new SlimEvent(ev, COMPLETED_MEMBERS).data) as { response?: Json }).response;
  } catch {
    return undefined;
  }
}

/** Headers an error answer keeps in its frame: the ones that tell the client what to do (not content-type and the like). */
const FRAME_HEADERS = ["retry-after", "x-switchyard-limit"];

/** A text frame's payload as one buffer (ws gives a Buffer unless its binaryType was changed). */
function frameBytes(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  return Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
}

/**
 * A ClientSink that turns the lane's SSE output into WebSocket frames, and an
 * HTTP error answer into an in-band error frame.
 */
class WebSocketTurnSink implements ClientSink {
  private status = 200;
  private headers: Record<string, string> | undefined;
  private errorBody = "";
  private readonly parser = new LazySseParser();
  private readonly closeListeners = new Set<() => void>();
  completed: Json | undefined;

  constructor(private readonly ws: WebSocket) {}

  get destroyed(): boolean {
    return this.ws.readyState !== this.ws.OPEN;
  }

  writeHead(status: number, headers?: Record<string, string | number>): this {
    this.status = status;
    for (const name of FRAME_HEADERS) {
      const v = headers?.[name];
      if (v !== undefined) (this.headers ??= {})[name] = String(v);
    }
    return this;
  }

  flushHeaders(): void {}
  // Every write is a frame of its own: there is nothing to hold.
  cork(): void {}
  uncork(): void {}

  write(chunk: Buffer | string): boolean {
    if (this.status >= 400) {
      this.errorBody += chunk.toString();
      return true;
    }
    this.forward(this.parser.push(typeof chunk === "string" ? Buffer.from(chunk) : chunk));
    return true;
  }

  end(chunk?: Buffer | string): this {
    if (chunk !== undefined) this.write(chunk);
    if (this.status >= 400) this.sendError();
    else this.forward(this.parser.end());
    for (const l of this.closeListeners) l();
    return this;
  }

  once(event: "drain" | "close", listener: () => void): this {
    if (event === "close") this.closeListeners.add(listener);
    return this;
  }

  off(event: "drain" | "close", listener: () => void): this {
    if (event === "close") this.closeListeners.delete(listener);
    return this;
  }

  /**
   * Each event's data goes out as the bytes it came in, as a text frame: decoding it only to
   * encode it again cost more than the rest of a turn, since a Responses stream's opening and
   * closing events repeat the request's instructions and tools.
   */
  private forward(events: SseEvent[]): void {
    for (const ev of events) {
      if (this.destroyed) continue;
      const bytes = undecodedData(ev);
      if (bytes ? bytes.equals(DONE) : ev.data === "[DONE]") continue;
      if (ev.event === "response.completed") this.completed = completedResponse(ev);
      if (ev.event === "error") this.ws.send(inBandError(ev.data));
      // A text frame must be UTF-8: bytes that are not are decoded (invalid sequences become U+FFFD), as before.
      else if (bytes && isUtf8(bytes)) this.ws.send(bytes, { binary: false });
      else this.ws.send(ev.data);
    }
  }

  private sendError(): void {
    let type = "api_error";
    let code = "upstream_error";
    let message = this.errorBody || `HTTP ${this.status}`;
    try {
      const e = (JSON.parse(this.errorBody) as { error?: { type?: string; code?: string; message?: string } }).error;
      type = e?.type ?? type;
      code = e?.code ?? code;
      message = e?.message ?? message;
    } catch {
      // Not JSON: keep the text.
    }
    if (!this.destroyed) this.ws.send(errorFrame(this.status, type, code, message, this.headers));
  }
}

/**
 * The upgrade request's headers as a turn's request headers. `openai-beta:
 * responses_websockets=…` says the client speaks Responses over a WebSocket;
 * the upstream is reached over HTTP, so that token must not reach it (other
 * beta tokens stay).
 */
export function turnHeaders(upgrade: IncomingHttpHeaders): IncomingHttpHeaders {
  const beta = upgrade["openai-beta"];
  if (typeof beta !== "string" || !beta.includes("responses_websockets")) return upgrade;
  const rest = beta
    .split(",")
    .map((t) => t.trim())
    .filter((t) => t && !t.startsWith("responses_websockets"));
  const headers = { ...upgrade };
  if (rest.length > 0) headers["openai-beta"] = rest.join(", ");
  else delete headers["openai-beta"];
  return headers;
}

/** What a WebSocket endpoint needs of the HTTP server: its upgrade requests (whatever request class the server makes). */
export interface UpgradeSource {
  on(event: "upgrade", listener: (req: IncomingMessage, socket: Duplex, head: Buffer) => void): unknown;
}

export function attachResponsesWebSocket(server: UpgradeSource, o: ResponsesWebSocketOptions): ResponsesWebSocket {
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: true, maxPayload: o.bodyLimit });
  const states = new Map<WebSocket, ConnectionState>();
  let refusing = false;
  const goAway = (ws: WebSocket): void => ws.close(1001, "server shutting down");

  // A peer that breaks the WebSocket protocol must cost only its own connection: every emitter
  // on this path has an 'error' listener, since an unhandled 'error' event ends the process.
  wss.on("error", (err) => o.logger.error({ err }, "websocket server error"));

  server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    // node:http hands the socket over without its own error listener; a reset while we answer must not throw.
    socket.on("error", (err) => o.logger.debug({ err }, "upgrade socket error"));
    const path = (req.url ?? "").split("?")[0];
    // Realtime has its own handler (edge/realtime-websocket.ts), called by the edge for that path.
    if (path === "/v1/realtime") return;
    if (path !== "/v1/responses") {
      socket.end("HTTP/1.1 404 Not Found\r\nconnection: close\r\ncontent-length: 0\r\n\r\n");
      return;
    }
    if (refusing) {
      const body = JSON.stringify({ error: { message: DRAINING_MESSAGE, type: "server_error", code: "server_draining", param: null } });
      socket.end(
        `HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
      );
      return;
    }
    const refuse = (err: unknown): void => {
      const e = err instanceof GatewayError ? err : new GatewayError("authentication", "invalid_api_key", "Invalid API key.");
      // A manage-only key is known but may not call models (403); a key that cannot be looked up now is a 503.
      const type = e.status === 403 ? "permission_error" : e.kind === "authentication" ? "authentication_error" : "server_error";
      const body = JSON.stringify({ error: { message: e.message, type, code: e.code, param: null } });
      socket.end(
        `HTTP/1.1 ${e.status} ${STATUS_CODES[e.status] ?? "Unauthorized"}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
      );
    };
    const upgrade = (accountId: string): void => wss.handleUpgrade(req, socket, head, (ws) => serve(ws, req, accountId));
    let found: string | Promise<string>;
    try {
      found = o.authenticate(req);
    } catch (err) {
      refuse(err);
      return;
    }
    if (typeof found === "string") upgrade(found);
    else found.then(upgrade, refuse);
  });

  function serve(ws: WebSocket, upgrade: IncomingMessage, accountId: string): void {
    const state: ConnectionState = { conversation: new ResponsesConversation(), busy: false };
    states.set(ws, state);
    const connection = new AbortController();
    const session = o.openSession?.();
    ws.on("close", () => {
      states.delete(ws);
      connection.abort();
      session?.close();
    });
    // `ws` has already sent the close frame with the matching code (1002, 1007, 1009) and is closing
    // the socket; all that is left is to say so.
    ws.on("error", (err: Error & { code?: string }) => {
      const code = typeof err.code === "string" && err.code.startsWith("WS_ERR_") ? err.code : "other";
      o.countProtocolError(code);
      o.logger.warn({ code, reason: err.message, account: accountId }, "websocket connection closed on a protocol error");
    });
    ws.on("message", (data, isBinary) => {
      if (isBinary) {
        ws.send(errorFrame(400, "invalid_request_error", "invalid_frame", "Send response.create requests as JSON text frames."));
        return;
      }
      if (refusing && !state.busy) {
        // Raced the drain's closing of idle connections: refuse in band, then go.
        ws.send(errorFrame(503, "server_error", "server_draining", DRAINING_MESSAGE));
        goAway(ws);
        return;
      }
      void turn(ws, upgrade, state, frameBytes(data), connection.signal, session)
        .catch((err: unknown) => {
          o.logger.error({ err }, "websocket turn failed");
          if (ws.readyState === ws.OPEN) ws.send(errorFrame(500, "server_error", "internal_error", "The gateway failed to handle this request."));
        })
        .finally(() => {
          // The drain closes a busy connection once its turn has ended.
          if (refusing && !state.busy && ws.readyState === ws.OPEN) goAway(ws);
        });
    });
  }

  async function turn(
    ws: WebSocket,
    upgrade: IncomingMessage,
    state: ConnectionState,
    bytes: Buffer,
    signal: AbortSignal,
    session: UpstreamSocketSession | undefined,
  ): Promise<void> {
    let frame: Json;
    try {
      // A turn carries the whole conversation: read as bytes, since a decoded string past 64 K units is slow (json-peek.ts).
      const v: unknown = parseJsonBytes(bytes);
      if (!v || typeof v !== "object" || Array.isArray(v)) throw new Error("not an object");
      frame = v as Json;
    } catch {
      ws.send(errorFrame(400, "invalid_request_error", "invalid_json", "Each frame must be a JSON object."));
      return;
    }
    const kind = frame.type;
    if (kind !== "response.create" && kind !== "response.append") {
      ws.send(errorFrame(400, "invalid_request_error", "unsupported_frame", `Unsupported frame type '${String(kind)}'; send response.create.`));
      return;
    }
    if (state.busy) {
      ws.send(errorFrame(409, "invalid_request_error", "response_already_in_flight", "A response is already in progress on this connection."));
      return;
    }
    const { type: _type, stream: _stream, background: _background, generate, previous_response_id: previous, ...rest } = frame;
    const planned = state.conversation.turn(rest, previous);
    if (planned.kind === "unknown_previous") {
      ws.send(
        errorFrame(
          400,
          "invalid_request_error",
          "previous_response_not_found",
          `Previous response '${String(previous)}' is not known on this connection; send the full input.`,
        ),
      );
      return;
    }
    const { body, chained } = planned;
    if (generate === false) {
      // Warm-up (docs/protocols.md#responses-over-websocket): a response id to chain from, no model output.
      const id = `resp_${randomUUID().replaceAll("-", "")}`;
      const response = {
        id,
        object: "response",
        created_at: Math.floor(Date.now() / 1000),
        status: "completed",
        model: body.model ?? null,
        output: [],
        usage: null,
      };
      ws.send(JSON.stringify({ type: "response.created", sequence_number: 0, response: withMembers(response, { status: "in_progress" }) }));
      ws.send(JSON.stringify({ type: "response.completed", sequence_number: 1, response }));
      state.conversation.completed(body, id, []);
      return;
    }
    state.busy = true;
    const sink = new WebSocketTurnSink(ws);
    try {
      const raw = jsonBytes(withMembers(body, { stream: true }));
      if (raw.length > o.bodyLimit) {
        ws.send(errorFrame(413, "invalid_request_error", "request_too_large", `The request exceeds the ${o.bodyLimit}-byte limit.`));
        return;
      }
      await o.generate({
        id: `req_${timeOrderedHex()}`,
        protocol: "openai-responses",
        route: "/v1/responses",
        headers: turnHeaders(upgrade.headers),
        clientAddress: o.clientAddress ? o.clientAddress(upgrade) : upgrade.socket.remoteAddress,
        query: "",
        body: raw,
        res: sink,
        signal,
        startedAt: performance.now(),
        socketTurn: session
          ? {
              session,
              chained: chained ? { body: jsonBytes(withMembers(chained.fields, { stream: true })), previousId: chained.previousId } : undefined,
            }
          : undefined,
      });
    } finally {
      state.busy = false;
    }
    const done = sink.completed;
    if (done && typeof done.id === "string") state.conversation.completed(body, done.id, done.output);
  }

  return {
    wss,
    refuseNewTurns() {
      refusing = true;
      for (const [ws, state] of states) if (!state.busy) goAway(ws);
    },
    async closeAll(ms) {
      const open = [...wss.clients];
      const closed = Promise.all(open.map((ws) => (ws.readyState === ws.CLOSED ? undefined : new Promise((resolve) => ws.once("close", resolve)))));
      for (const ws of open) goAway(ws);
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([closed, new Promise((resolve) => (timer = setTimeout(resolve, ms)))]);
      clearTimeout(timer);
      for (const ws of open) if (ws.readyState !== ws.CLOSED) ws.terminate();
    },
  };
}
