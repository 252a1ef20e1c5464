/**
 * OpenAI Realtime over WebSocket (`GET /v1/realtime?model=…` upgrade), relayed to an
 * upstream that serves it (docs/protocols.md#realtime-over-websocket). The upgrade is
 * answered only once the session is admitted and the upstream's own upgrade succeeded,
 * so every refusal is an HTTP answer in OpenAI's error format. Then frames pass both ways
 * unchanged, text and binary, each side paused while the other's send buffer is full;
 * the pipeline (pipeline/realtime.ts) counts each `response.done` as one request.
 *
 * Close codes: the client's close reaches the upstream with the same code; an upstream
 * that closes normally (1000, 1001) is closed the same way to the client; one that breaks
 * the connection or closes with any other code gets an `error` event (OpenAI's shape) and
 * 1011; a frame over `server.realtime.max_frame_bytes` ends the connection with 1009
 * (either side); a refused next response (docs/governance.md#realtime-sessions) an `error`
 * event and 1008; the gateway's shutdown 1001.
 */
import type { IncomingMessage } from "node:http";
import type { UpgradeSource } from "./responses-websocket.js";
import { STATUS_CODES } from "node:http";
import type { Duplex } from "node:stream";
import { randomUUID } from "node:crypto";
import { WebSocketServer, type RawData, type WebSocket } from "ws";
import { GatewayError } from "../canonical/errors.js";
import type { Logger } from "../observability/logger.js";
import type { PipelineDeps } from "../pipeline/exchange.js";
import { authenticate } from "../pipeline/authenticate.js";
import { openRealtime, realtimeAuthHeaders, realtimeModel, REALTIME_SUBPROTOCOL, type RealtimeSession } from "../pipeline/realtime.js";
import { renderError } from "../pipeline/render-error.js";
import { withMembers } from "../canonical/shared-shape.js";

export interface RealtimeWebSocketOptions {
  pipeline: PipelineDeps;
  logger: Logger;
  /** Largest frame either side may send (`server.realtime.max_frame_bytes`); a larger one closes the connection with 1009. */
  maxFrameBytes: number;
  /** The client's address for the upgrade request (the peer, or what a trusted proxy reports). */
  clientAddress(req: IncomingMessage): string | undefined;
  /** Counts a connection closed for breaking RFC 6455 (the `ws` error code). */
  countProtocolError(code: string): void;
}

export interface RealtimeWebSocket {
  /** Takes an upgrade request for `/v1/realtime`. */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  /** The drain began: new sessions are refused (503), idle ones closed (1001) at once and busy ones after their response. */
  refuseNewSessions(): void;
  /** Resolves once no session has a response under way (the drain waits for this within its grace). */
  quiet(): Promise<void>;
  /** Closes every session (an `error` event, then 1001); a response under way is cancelled upstream and gets `ms` to report its usage. */
  closeAll(ms: number): Promise<void>;
}

/** A send buffer above this pauses the other side's reading until it drains below {@link LOW_WATER}. */
const HIGH_WATER = 4 * 1024 * 1024;
const LOW_WATER = 1024 * 1024;
/** How long a response under way gets to report its usage after the client left (its `response.cancel` was sent upstream). */
const CANCEL_GRACE_MS = 5000;

/** Codes a close frame may carry (RFC 6455 §7.4; 1005, 1006 and 1015 are never sent). */
function sendableCode(code: number): boolean {
  return (code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) || (code >= 3000 && code <= 4999);
}

/** An OpenAI Realtime `error` server event (https://platform.openai.com/docs/api-reference/realtime-server-events/error). */
function errorEvent(err: GatewayError): string {
  const body = renderError("openai-chat", err, "").body as { error: Record<string, unknown> };
  return JSON.stringify({
    type: "error",
    event_id: `event_${randomUUID().replaceAll("-", "").slice(0, 24)}`,
    error: withMembers(body.error, { event_id: null }),
  });
}

function refuseUpgrade(socket: Duplex, err: GatewayError): void {
  const { status, body } = renderError("openai-chat", err, "");
  const text = JSON.stringify(body);
  const extra = Object.entries(err.headers ?? {})
    .filter(([k]) => k !== "connection")
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join("");
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? "Error"}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(text)}\r\n${extra}connection: close\r\n\r\n${text}`,
  );
}

interface Live {
  client: WebSocket;
  session: RealtimeSession;
  /** The session is being closed by the gateway: the close that follows is not the client's. */
  closing: boolean;
}

export function attachRealtimeWebSocket(_server: UpgradeSource, o: RealtimeWebSocketOptions): RealtimeWebSocket {
  const wss = new WebSocketServer({
    noServer: true,
    // Frames are relayed as received; compressing them again per hop costs CPU a passthrough should not spend.
    perMessageDeflate: false,
    maxPayload: o.maxFrameBytes,
    // A browser offers `realtime` beside its key's subprotocol; the answer names `realtime`, never the key.
    handleProtocols: (offered) => (offered.has(REALTIME_SUBPROTOCOL) ? REALTIME_SUBPROTOCOL : false),
  });
  wss.on("error", (err) => o.logger.error({ err }, "realtime websocket server error"));
  const live = new Set<Live>();
  let refusing = false;
  const quietWaiters: Array<() => void> = [];

  function checkQuiet(): void {
    if ([...live].some((l) => l.session.responding)) return;
    for (const wake of quietWaiters.splice(0)) wake();
  }

  function upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on("error", (err) => o.logger.debug({ err }, "realtime upgrade socket error"));
    if (refusing) {
      refuseUpgrade(
        socket,
        new GatewayError("overloaded", "server_draining", "This gateway node is shutting down and takes no new sessions; connect again.", { status: 503 }),
      );
      return;
    }
    // The client leaving while the session is opened (the upstream upgrade may take a while) stops it.
    const ac = new AbortController();
    const onGone = (): void => ac.abort();
    socket.once("close", onGone);
    void open(req, ac.signal)
      .then((session) => {
        socket.off("close", onGone);
        if (ac.signal.aborted || socket.destroyed) {
          session.end({ by: "client" });
          session.upstream.close(1000);
          return;
        }
        wss.handleUpgrade(req, socket, head, (client) => serve(client, session));
      })
      .catch((err: unknown) => {
        socket.off("close", onGone);
        const e = err instanceof GatewayError ? err : new GatewayError("internal", "internal_error", "The gateway failed to open the Realtime session.");
        if (!(err instanceof GatewayError)) o.logger.error({ err }, "realtime session failed to open");
        if (!socket.destroyed) refuseUpgrade(socket, e);
      });
  }

  async function open(req: IncomingMessage, signal: AbortSignal): Promise<RealtimeSession> {
    const headers = realtimeAuthHeaders(req.headers);
    const found = authenticate(headers, o.pipeline.principals);
    const principal = found instanceof Promise ? await found : found;
    const url = req.url ?? "";
    const q = url.indexOf("?");
    const model = realtimeModel(q === -1 ? "" : url.slice(q));
    return openRealtime(o.pipeline, { principal, model, headers, clientAddress: o.clientAddress(req), signal, maxFrameBytes: o.maxFrameBytes });
  }

  function serve(client: WebSocket, session: RealtimeSession): void {
    const upstream = session.upstream;
    const l: Live = { client, session, closing: false };
    live.add(l);
    o.logger.info({ session: session.id, model: session.served, upstream: upstream.url }, "realtime session opened");

    /** Ends the session from the gateway's side: an error event when there is one to give, then `code` to the client (the upstream follows from the client's close). */
    const endByGateway = (code: number, err: GatewayError | undefined, reason: string): void => {
      if (l.closing) return;
      l.closing = true;
      if (err && client.readyState === client.OPEN) client.send(errorEvent(err));
      client.close(code, reason);
    };

    session.onRefused = (err) => {
      o.logger.info({ session: session.id, code: err.code }, "realtime session ended: the next response was refused");
      endByGateway(1008, err, err.code);
      void finish(l, { by: "gateway", error: err }, 1000);
    };

    relay(client, upstream, (data) => data);
    relay(upstream, client, (data, isBinary) => {
      if (!isBinary) session.serverFrame(data);
      return data;
    });
    upstream.on("message", (_data, isBinary) => {
      // After a response's done the drain may close a session it left busy.
      if (!isBinary && refusing && !session.responding && !l.closing) endByGateway(1001, undefined, "server shutting down");
      if (quietWaiters.length > 0 && !session.responding) checkQuiet();
    });

    let upstreamError: (Error & { code?: string }) | undefined;
    upstream.on("error", (err: Error & { code?: string }) => {
      upstreamError = err;
      o.logger.warn({ session: session.id, err: err.message, code: err.code }, "realtime upstream connection error");
    });
    client.on("error", (err: Error & { code?: string }) => {
      const code = typeof err.code === "string" && err.code.startsWith("WS_ERR_") ? err.code : "other";
      o.countProtocolError(code);
      o.logger.warn({ session: session.id, code, reason: err.message }, "realtime client connection closed on a protocol error");
    });

    upstream.on("close", (code, reason) => {
      if (l.closing || client.readyState === client.CLOSED) {
        session.end({ by: "client" });
        return;
      }
      const tooLarge = upstreamError?.code === "WS_ERR_UNSUPPORTED_MESSAGE_LENGTH";
      if (tooLarge) {
        const err = new GatewayError("upstream", "realtime_frame_too_large", `The upstream sent a frame over the gateway's ${o.maxFrameBytes}-byte limit.`);
        session.end({ by: "upstream", error: err });
        endByGateway(1009, err, "frame too large");
        return;
      }
      if (code === 1000 || code === 1001) {
        // A normal end (the upstream ended the session, e.g. its maximum duration): closed alike, with its reason.
        session.end({ by: "upstream", error: new GatewayError("upstream", "upstream_closed", "The upstream ended the Realtime session.") });
        l.closing = true;
        client.close(code, reason);
        return;
      }
      const err = new GatewayError(
        "upstream",
        "upstream_closed",
        `The upstream closed the Realtime session abnormally (WebSocket code ${code}${reason.length > 0 ? `: ${reason.toString("utf8").slice(0, 120)}` : ""}).`,
      );
      session.end({ by: "upstream", error: err });
      endByGateway(1011, err, "upstream failure");
    });

    client.on("close", (code, reason) => {
      live.delete(l);
      checkQuiet();
      o.logger.info({ session: session.id, code, responses: session.responses }, "realtime session closed");
      if (upstream.readyState === upstream.CLOSED) return;
      // The client left (or the gateway closed it): a response under way is cancelled upstream and
      // reports what it used in its response.done, which is settled before the upstream is closed.
      const upstreamCode = l.closing ? 1000 : sendableCode(code) ? code : 1000;
      void finish(l, { by: "client" }, upstreamCode, l.closing ? undefined : reason);
    });
    // The dial left the upstream paused until both sides are wired (upstream/realtime.ts).
    upstream.resume();
  }

  /** Cancels a response under way upstream, waits for its `response.done`, then ends the session and closes the upstream. */
  async function finish(l: Live, how: Parameters<RealtimeSession["end"]>[0], code: number, reason?: Buffer, ms = CANCEL_GRACE_MS): Promise<void> {
    const { session } = l;
    const upstream = session.upstream;
    if (session.responding && upstream.readyState === upstream.OPEN) {
      session.interrupt(how);
      upstream.send(JSON.stringify({ type: "response.cancel" }));
      await session.responseDone(ms);
    }
    session.end(how);
    if (upstream.readyState === upstream.OPEN || upstream.readyState === upstream.CONNECTING) upstream.close(code, reason);
  }

  return {
    upgrade,
    refuseNewSessions() {
      refusing = true;
      for (const l of live) if (!l.session.responding && !l.closing) closeGoingAway(l);
    },
    quiet() {
      if (![...live].some((l) => l.session.responding)) return Promise.resolve();
      return new Promise((resolve) => quietWaiters.push(resolve));
    },
    async closeAll(ms) {
      const open = [...live];
      const closed = Promise.all(
        open.map((l) => (l.client.readyState === l.client.CLOSED ? undefined : new Promise((resolve) => l.client.once("close", resolve)))),
      );
      // The error event first: a response under way is cancelled next, and its client should know why.
      for (const l of open) if (!l.closing && l.client.readyState === l.client.OPEN) l.client.send(errorEvent(shuttingDown()));
      await Promise.all(open.map((l) => finish(l, { by: "gateway", error: shuttingDown() }, 1001, undefined, ms).then(() => closeGoingAway(l))));
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([closed, new Promise((resolve) => (timer = setTimeout(resolve, ms)))]);
      clearTimeout(timer);
      for (const l of open) {
        if (l.client.readyState !== l.client.CLOSED) l.client.terminate();
        if (l.session.upstream.readyState !== l.session.upstream.CLOSED) l.session.upstream.terminate();
      }
    },
  };

  function closeGoingAway(l: Live): void {
    if (l.closing) return;
    l.closing = true;
    l.client.close(1001, "server shutting down");
  }
}

function shuttingDown(): GatewayError {
  return new GatewayError("overloaded", "server_shutting_down", "The gateway is shutting down; connect again to continue.", { status: 503 });
}

/**
 * Relays every frame from `from` to `to` unchanged (text stays text, binary stays binary),
 * pausing `from` while `to`'s send buffer is above the high-water mark.
 */
function relay(from: WebSocket, to: WebSocket, tap: (data: Buffer, isBinary: boolean) => Buffer): void {
  const resumeWhenDrained = (): void => {
    if (from.isPaused && to.bufferedAmount <= LOW_WATER) from.resume();
  };
  from.on("message", (raw: RawData, isBinary) => {
    // Tapped even when `to` is gone: a response.done that arrives after the client left is still billed.
    const data = tap(Array.isArray(raw) ? Buffer.concat(raw) : Buffer.isBuffer(raw) ? raw : Buffer.from(raw), isBinary);
    if (to.readyState !== to.OPEN) return;
    to.send(data, { binary: isBinary }, resumeWhenDrained);
    if (to.bufferedAmount > HIGH_WATER && !from.isPaused) from.pause();
  });
}
