/**
 * The HTTP edge on node:http: routing, request ids, body limits, error
 * rendering in the client's protocol, client-disconnect propagation, metrics
 * and graceful drain. Everything protocol-specific lives in the pipeline.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Socket } from "node:net";
import { timeOrderedHex } from "../canonical/time-ordered-id.js";
import { GatewayError } from "../canonical/errors.js";
import type { ClientProtocol } from "../canonical/protocols.js";
import type { Store } from "../storage/ports.js";
import type { Logger } from "../observability/logger.js";
import type { Metrics } from "../observability/metrics.js";
import { openExchange, type Exchange, type ExchangeStart, type PipelineDeps } from "../pipeline/exchange.js";
import { handleGenerate } from "../pipeline/handle-request.js";
import { asGatewayError, failureOutcome, type Outcome } from "../pipeline/settle.js";
import { countTokens } from "../pipeline/count-tokens.js";
import { listModels } from "../pipeline/list-models.js";
import { admitCaller } from "../pipeline/admit.js";
import { authenticate } from "../pipeline/authenticate.js";
import { handleAdmin, type AdminDeps } from "../admin/routes.js";
import { renderError } from "../pipeline/render-error.js";
import { clientAddressResolver } from "../pipeline/client-address.js";
import { readBody } from "./read-body.js";
import { attachResponsesWebSocket } from "./responses-websocket.js";
import { UpstreamSocketSession } from "../pipeline/upstream-socket-session.js";
import { attachRealtimeWebSocket } from "./realtime-websocket.js";
import { RequestAbort } from "./request-abort.js";
import { GatewayRequest, GatewayResponse } from "./gateway-messages.js";

export interface EdgeOptions {
  pipeline: PipelineDeps;
  admin: AdminDeps;
  store: Store;
  logger: Logger;
  metrics: Metrics;
  bodyLimit: number;
  /** Time allowed to receive a request's head; then 408 and the connection is closed. */
  headersTimeoutMs: number;
  /** Time allowed to receive a whole request (head and body); then 408 and the connection is closed. */
  requestTimeoutMs: number;
  /** Proxies (CIDR ranges) whose X-Forwarded-For names the client (`server.trusted_proxies`); none = the socket's peer is the client. */
  trustedProxies?: readonly string[];
  /** Largest Realtime frame either side may send (`server.realtime_max_frame_bytes`); default 16 MiB. */
  realtimeMaxFrameBytes?: number;
}

export interface Edge {
  server: Server<typeof GatewayRequest, typeof GatewayResponse>;
  /**
   * The shutdown sequence (docs/deployment.md#shutdown). At once: `/readyz` fails and every new
   * answer carries `connection: close`. After `delayMs`: new data-plane requests are refused
   * (503 `server_draining`) and idle connections closed. Work in flight runs until `graceMs` after
   * the start; what is left then is stopped with an error in its client's protocol
   * (`server_shutting_down`). Only then does the listener close.
   */
  drain(graceMs: number, delayMs?: number): Promise<void>;
}

/** After the grace: how long stopped requests get to write their error event and settle, and WebSocket peers to close. */
const STOP_MS = 1000;

/** New work that arrives once the drain refuses it. The client should send it again: another node will take it. */
function drainingError(): GatewayError {
  return new GatewayError("overloaded", "server_draining", "This gateway node is shutting down and takes no new requests; send the request again.", {
    status: 503,
    // The body is left unread, and the client should reconnect (through the load balancer) anyway.
    headers: { connection: "close" },
  });
}

/** The reason work still running at the end of the grace is stopped with (the abort reason the lanes recognise). */
function shutdownError(): GatewayError {
  return new GatewayError("overloaded", "server_shutting_down", "The gateway shut down before the answer was complete; send the request again.", {
    status: 503,
    // Answered before its head (a body still arriving, say): the connection goes with the process.
    headers: { connection: "close" },
  });
}

/**
 * How often node:http checks the head and request deadlines. Its default (30 s) would let a
 * deadline slip by that much; a tenth of the shortest deadline, at most a second, keeps it close.
 */
function checkingInterval(headersMs: number, requestMs: number): number {
  return Math.max(10, Math.min(1000, Math.floor(Math.min(headersMs, requestMs) / 10)));
}

/** Resolves with `p` or after `ms`, whichever is first, leaving no timer behind. */
async function within(p: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([p, new Promise<void>((resolve) => (timer = setTimeout(resolve, Math.max(0, ms))))]);
  clearTimeout(timer);
}

const GENERATE_ROUTES: Record<string, ClientProtocol> = {
  "/v1/chat/completions": "openai-chat",
  "/v1/responses": "openai-responses",
  "/v1/messages": "anthropic-messages",
};

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (status === 204) {
    res.writeHead(204, headers);
    res.end();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text), ...headers });
  res.end(text);
}

/** The protocol to answer errors in, for routes outside the three generate endpoints. */
function guessProtocol(path: string, req: IncomingMessage): ClientProtocol {
  if (path.startsWith("/v1/messages") || req.headers["anthropic-version"] !== undefined) return "anthropic-messages";
  return "openai-chat";
}

/** Routes that serve model traffic: refused once the drain stops taking new work. */
function isDataPlane(path: string): boolean {
  return GENERATE_ROUTES[path] !== undefined || path === "/v1/messages/count_tokens" || path === "/v1/models";
}

/** What the access line says about how a request ended, filled in as the request runs. */
interface RequestTrace {
  /** The generate exchange, once the body is read. */
  ex?: Exchange;
  /** How a generate request ended (a stream that broke after its 200 head included). */
  outcome?: Pick<Outcome, "status" | "errorCode">;
  /** The error answered, for requests that failed before any outcome. */
  failure?: GatewayError;
}

export function createEdge(o: EdgeOptions): Edge {
  const clientAddressOf = clientAddressResolver(o.trustedProxies ?? []);
  let inFlight = 0;
  /** Shutdown has begun: readiness fails and new answers close their connection. */
  let draining = false;
  /** New data-plane work is refused (after the drain delay). */
  let refusing = false;
  /** Every HTTP request and WebSocket turn in flight, to stop at the end of the grace. */
  const running = new Set<RequestAbort>();
  const idleWaiters: Array<() => void> = [];
  /** Sockets with a request in progress, by its id (for the timeout log line). */
  const requestOn = new WeakMap<object, string>();
  /** Sockets node:http closed because the head or the whole request did not arrive in time. */
  const timedOut = new WeakSet<object>();

  function begin(ac: RequestAbort): void {
    inFlight++;
    running.add(ac);
  }

  function end(ac: RequestAbort): void {
    running.delete(ac);
    inFlight--;
    if (inFlight === 0) for (const wake of idleWaiters.splice(0)) wake();
  }

  /** Resolves once nothing is in flight. */
  function settled(): Promise<void> {
    return inFlight === 0 ? Promise.resolve() : new Promise((resolve) => idleWaiters.push(resolve));
  }

  async function route(
    req: IncomingMessage,
    res: ServerResponse,
    id: string,
    path: string,
    query: string,
    signal: AbortSignal,
    trace: RequestTrace,
  ): Promise<void> {
    const method = req.method ?? "GET";
    if (refusing && isDataPlane(path)) throw drainingError();
    const protocol = GENERATE_ROUTES[path];
    if (protocol && method === "POST") {
      trace.ex = await exchange(req, res, id, path, query, protocol, signal);
      trace.outcome = await handleGenerate(o.pipeline, trace.ex);
      return;
    }
    if (path === "/v1/messages/count_tokens" && method === "POST") {
      const ex = await exchange(req, res, id, path, query, "anthropic-messages", signal);
      const r = await countTokens(o.pipeline, ex);
      sendJson(res, r.status, r.body, r.estimate ? { "x-switchyard-estimate": "true" } : {});
      return;
    }
    if (path === "/v1/models" && method === "GET") {
      const principal = await authenticate(req.headers, o.pipeline.principals);
      // A suspended account, or a caller outside the chain's address or origin lists, learns nothing, as on every other route.
      const origin = typeof req.headers.origin === "string" ? req.headers.origin : undefined;
      await admitCaller(principal, { clientAddress: clientAddressOf(req.socket.remoteAddress, req.headers), origin });
      sendJson(res, 200, listModels(o.pipeline.catalog.snapshot, principal, req.headers));
      return;
    }
    if (path.startsWith("/admin/v1/")) {
      const result = await handleAdmin(
        o.admin,
        method,
        path,
        req,
        async () => {
          const raw = await readBody(req, o.bodyLimit);
          if (raw.length === 0) return undefined;
          try {
            return JSON.parse(raw.toString("utf8")) as unknown;
          } catch (err) {
            throw new GatewayError("invalid_request", "invalid_json", `The request body is not valid JSON: ${(err as Error).message}.`);
          }
        },
        query,
        { requestId: id, clientIp: req.socket.remoteAddress },
      );
      if (result?.contentType !== undefined) {
        const text = String(result.body);
        res.writeHead(result.status, { "content-type": result.contentType, "content-length": Buffer.byteLength(text) });
        res.end(text);
        return;
      }
      if (result) {
        sendJson(res, result.status, result.body);
        return;
      }
    }
    if ((path === "/" || path === "") && (method === "HEAD" || method === "GET")) {
      res.writeHead(200, { "content-type": "text/plain" });
      res.end(method === "HEAD" ? undefined : "switchyard\n");
      return;
    }
    if (path === "/healthz") return sendJson(res, 200, { status: "ok" });
    if (path === "/readyz") {
      if (draining) return sendJson(res, 503, { status: "draining" });
      try {
        await o.store.ping();
        return sendJson(res, 200, { status: "ready" });
      } catch (err) {
        return sendJson(res, 503, { status: "unavailable", reason: (err as Error).message });
      }
    }
    if (path === "/metrics" && method === "GET") {
      const text = await o.metrics.registry.metrics();
      res.writeHead(200, { "content-type": o.metrics.registry.contentType });
      res.end(text);
      return;
    }
    if (protocol || path === "/v1/messages/count_tokens" || path === "/v1/models") {
      throw new GatewayError("invalid_request", "method_not_allowed", `${method} is not supported on ${path}.`, { status: 405 });
    }
    throw new GatewayError("not_found", "unknown_route", `No route for ${method} ${path}.`);
  }

  /**
   * From the headers alone, before a byte of the body is read: a caller without
   * a valid key cannot make the gateway buffer anything. The connection is
   * closed after the answer, since the unread body is still on it.
   */
  function authenticateBeforeBody(req: IncomingMessage, res: ServerResponse): ReturnType<typeof authenticate> {
    const refused = (err: unknown): never => {
      res.setHeader("connection", "close");
      throw err;
    };
    try {
      // A cached key answers synchronously; only a key the cache must load waits.
      const found = authenticate(req.headers, o.pipeline.principals);
      return found instanceof Promise ? found.catch(refused) : found;
    } catch (err) {
      return refused(err);
    }
  }

  async function exchange(
    req: IncomingMessage,
    res: ServerResponse,
    id: string,
    path: string,
    query: string,
    protocol: ClientProtocol,
    signal: AbortSignal,
  ): Promise<Exchange> {
    const startedAt = performance.now();
    const found = authenticateBeforeBody(req, res);
    const principal = found instanceof Promise ? await found : found;
    const body = await readBody(req, o.bodyLimit, signal);
    const clientAddress = clientAddressOf(req.socket.remoteAddress, req.headers);
    return openExchange({ id, protocol, route: path, headers: req.headers, clientAddress, query, body, res, signal, startedAt, principal });
  }

  /**
   * One WebSocket turn through the pipeline (which settles it). An error
   * before the first byte is written to the turn's sink in the client's
   * protocol, where the HTTP path lets it propagate to the edge's handler.
   */
  async function runTurn(turn: ExchangeStart): Promise<void> {
    // The turn's own signal: the connection closing ends it (client gone), and so does the end of a
    // shutdown's grace (stopped, with the reason as an error event on the still-open connection).
    const ac = new RequestAbort();
    const onGone = (): void => ac.abort(turn.signal.reason);
    if (turn.signal.aborted) onGone();
    else turn.signal.addEventListener("abort", onGone, { once: true });
    const ex = openExchange(turn, ac.signal);
    // WebSocket turns are not HTTP requests; count them so a drain waits for them too.
    begin(ac);
    let outcome: Pick<Outcome, "status" | "errorCode"> = { status: 500 };
    try {
      outcome = await handleGenerate(o.pipeline, ex);
    } catch (err) {
      const failure = asGatewayError(err, ex.signal);
      outcome = failureOutcome(err, ex);
      if (!(err instanceof GatewayError)) o.logger.error({ requestId: ex.id, err }, "unhandled error");
      const rendered = renderError(ex.protocol, failure, ex.id);
      // The error's headers (retry-after, x-switchyard-limit) travel in the error frame, where Codex reads them.
      ex.res.writeHead(rendered.status, { "content-type": "application/json", ...failure.headers });
      ex.res.end(JSON.stringify(rendered.body));
    } finally {
      turn.signal.removeEventListener("abort", onGone);
      const route = "ws:/v1/responses";
      const seconds = (performance.now() - ex.startedAt) / 1000;
      o.metrics.http.finished(route, outcome.status, seconds);
      // One line per turn, like an HTTP request's, so a WebSocket session is traceable by request id.
      // A turn has no HTTP status of its own: `status` is how it ended.
      o.logger.info(
        {
          requestId: ex.id,
          method: "WS",
          path: "/v1/responses",
          status: outcome.status,
          outcome: outcome.status,
          errorCode: outcome.errorCode,
          attempts: ex.attempts ?? 0,
          ms: Math.round(seconds * 1000),
        },
        "request",
      );
      end(ac);
    }
  }

  // The server's listeners, made once: each reads its request's own fields (gateway-messages.ts).
  function onRequestError(this: GatewayRequest, err: Error): void {
    o.logger.debug({ requestId: this.requestId, err }, "request stream error");
  }
  function onResponseError(this: GatewayResponse, err: Error): void {
    o.logger.debug({ requestId: this.req.requestId, err }, "response stream error");
  }
  function onResponseClose(this: GatewayResponse): void {
    if (!this.writableFinished) this.abortOnClose?.abort();
    // A keep-alive connection whose answer ended during the drain is idle now: close it. (Answers
    // given during the drain say `connection: close` and need no help; this keeps the scan to the few before.)
    if (refusing && this.getHeader("connection") !== "close") server.closeIdleConnections();
  }
  function recordFirstByte(res: GatewayResponse): void {
    o.metrics.http.firstByte(res.routeLabel, (performance.now() - res.startedAt) / 1000);
  }

  const server = createServer(
    {
      IncomingMessage: GatewayRequest,
      ServerResponse: GatewayResponse,
      keepAliveTimeout: 65_000,
      headersTimeout: o.headersTimeoutMs,
      requestTimeout: o.requestTimeoutMs,
      connectionsCheckingInterval: checkingInterval(o.headersTimeoutMs, o.requestTimeoutMs),
    },
    async (req, res) => {
      const started = performance.now();
      const id = `req_${timeOrderedHex()}`;
      const url = req.url ?? "/";
      const q = url.indexOf("?");
      const path = q === -1 ? url : url.slice(0, q);
      const query = q === -1 ? "" : url.slice(q);
      const routeLabel =
        GENERATE_ROUTES[path] || path === "/v1/messages/count_tokens" || path === "/v1/models" ? path : path.startsWith("/admin/") ? "admin" : "other";
      // Every head carries it as `x-request-id` (GatewayResponse.writeHead).
      res.requestId = id;
      // While draining, every answer ends its connection, so clients reconnect (through the load balancer) elsewhere.
      if (draining) res.setHeader("connection", "close");
      requestOn.set(req.socket, id);
      req.requestId = id;
      // Neither emitter may throw an unhandled 'error' (a reset mid-body, a write after the end):
      // readBody and the client-disconnect signal already see those, so only log them here.
      req.on("error", onRequestError);
      res.on("error", onResponseError);
      const ac = new RequestAbort();
      res.abortOnClose = ac;
      res.on("close", onResponseClose);
      begin(ac);
      o.metrics.http.started();
      res.startedAt = started;
      res.routeLabel = routeLabel;
      res.onHead = recordFirstByte;
      const trace: RequestTrace = {};
      // One async function with try/catch/finally, not route().catch().finally(): two promises and two closures fewer a request.
      try {
        await route(req, res, id, path, query, ac.signal, trace);
      } catch (err: unknown) {
        const gerr = asGatewayError(err, ac.signal);
        trace.failure = gerr;
        if (trace.ex) trace.outcome = failureOutcome(err, trace.ex);
        if (!(err instanceof GatewayError) && !ac.signal.aborted) o.logger.error({ requestId: id, err }, "unhandled error");
        if (res.headersSent || res.destroyed) {
          res.end();
          return;
        }
        const protocol = path.startsWith("/admin/") ? "admin" : (GENERATE_ROUTES[path] ?? guessProtocol(path, req));
        const rendered = renderError(protocol, gerr, id);
        sendJson(res, rendered.status, rendered.body, gerr.headers ?? {});
      } finally {
        if (requestOn.get(req.socket) === id) requestOn.delete(req.socket);
        const seconds = (performance.now() - started) / 1000;
        // node:http answered 408 itself and closed the connection: the request did not arrive in time.
        const timeout = timedOut.has(req.socket);
        const status = timeout ? 408 : ac.signal.aborted && !res.writableFinished ? 499 : res.statusCode;
        // How the request really ended: a stream that failed after its 200 head ends in the
        // failure's status, which is what the status label and the access line report.
        const ended = timeout
          ? { status: 408, errorCode: "request_timeout" }
          : (trace.outcome ?? { status, errorCode: trace.failure?.code ?? (status === 499 ? "client_closed" : undefined) });
        o.metrics.http.finished(routeLabel, ended.status, seconds);
        o.metrics.http.stopped();
        if (routeLabel !== "other" || ended.status >= 400) {
          o.logger.info(
            {
              requestId: id,
              method: req.method,
              path,
              status,
              outcome: ended.status,
              errorCode: ended.errorCode,
              attempts: trace.ex?.attempts,
              ms: Math.round(seconds * 1000),
            },
            "request",
          );
        }
        end(ac);
      }
    },
  );

  server.on("connection", (socket: Socket) => {
    socket.on("error", (err: NodeJS.ErrnoException) => {
      if (err.code !== "ERR_HTTP_REQUEST_TIMEOUT") return;
      timedOut.add(socket);
      // With a request under way, its access line tells (408, request_timeout); before one, this is the only trace.
      if (!requestOn.has(socket)) {
        o.logger.info({ remote: socket.remoteAddress, headersTimeoutMs: o.headersTimeoutMs }, "request head not received in time; connection closed");
      }
    });
  });

  const ws = attachResponsesWebSocket(server, {
    authenticate: (req) => {
      const found = authenticate(req.headers, o.pipeline.principals);
      return found instanceof Promise ? found.then((p) => p.account.id) : found.account.id;
    },
    generate: runTurn,
    logger: o.logger,
    bodyLimit: o.bodyLimit,
    countProtocolError: (code) => o.metrics.websocketProtocolErrors.inc({ code }),
    openSession: () => new UpstreamSocketSession({ logger: o.logger }),
    clientAddress: (req) => clientAddressOf(req.socket.remoteAddress, req.headers),
  });

  const realtime = attachRealtimeWebSocket(server, {
    pipeline: o.pipeline,
    logger: o.logger,
    maxFrameBytes: o.realtimeMaxFrameBytes ?? 16 * 1024 * 1024,
    clientAddress: (req) => clientAddressOf(req.socket.remoteAddress, req.headers),
    countProtocolError: (code) => o.metrics.websocketProtocolErrors.inc({ code }),
  });
  server.on("upgrade", (req: IncomingMessage, socket: Socket, head: Buffer) => {
    const url = req.url ?? "";
    const q = url.indexOf("?");
    const path = q === -1 ? url : url.slice(0, q);
    if (path === "/v1/realtime") realtime.upgrade(req, socket, head);
  });

  return {
    server,
    async drain(graceMs: number, delayMs = 0): Promise<void> {
      const start = performance.now();
      draining = true;
      // Readiness fails from now on; a load balancer needs a few probes to notice, and until
      // then new requests are still served rather than refused.
      if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, Math.min(delayMs, graceMs)));
      refusing = true;
      server.closeIdleConnections();
      ws.refuseNewTurns();
      realtime.refuseNewSessions();
      // Realtime sessions are not requests: the grace waits for their responses under way, not for the sessions to end.
      await within(
        Promise.all([settled(), realtime.quiet()]).then(() => undefined),
        graceMs - (performance.now() - start),
      );
      if (inFlight > 0) {
        o.logger.warn({ inFlight }, "shutdown grace is over; stopping what is still running");
        const reason = shutdownError();
        for (const ac of running) ac.abort(reason);
        await within(settled(), STOP_MS);
      }
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      await Promise.all([ws.closeAll(STOP_MS), realtime.closeAll(STOP_MS)]);
      server.closeAllConnections();
      // Requests whose client could not take its error event end as their connection goes; let them settle.
      await within(settled(), STOP_MS);
      await closed;
    },
  };
}
