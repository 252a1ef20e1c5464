/**
 * The HTTP edge on node:http: routing, request ids, body limits, error
 * rendering in the client's protocol, client-disconnect propagation, metrics
 * and graceful drain. Everything protocol-specific lives in the pipeline.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { randomUUID } from "node:crypto";
import { GatewayError } from "../canonical/errors.js";
import type { ClientProtocol } from "../canonical/protocols.js";
import type { Store } from "../storage/ports.js";
import type { Logger } from "../observability/logger.js";
import type { Metrics } from "../observability/metrics.js";
import type { Exchange, PipelineDeps } from "../pipeline/exchange.js";
import { handleGenerate } from "../pipeline/handle-request.js";
import { asGatewayError } from "../pipeline/settle.js";
import { countTokens } from "../pipeline/count-tokens.js";
import { listModels } from "../pipeline/list-models.js";
import { authenticate } from "../pipeline/authenticate.js";
import { handleAdmin, type AdminDeps } from "../admin/routes.js";
import { renderError } from "../pipeline/render-error.js";
import { readBody } from "./read-body.js";
import { attachResponsesWebSocket } from "./responses-websocket.js";

export interface EdgeOptions {
  pipeline: PipelineDeps;
  admin: AdminDeps;
  store: Store;
  logger: Logger;
  metrics: Metrics;
  bodyLimit: number;
}

export interface Edge {
  server: Server;
  /** Stops accepting, lets in-flight requests finish up to `graceMs`, then cuts the rest. */
  drain(graceMs: number): Promise<void>;
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

export function createEdge(o: EdgeOptions): Edge {
  let inFlight = 0;
  let draining = false;
  let drained: (() => void) | undefined;

  async function route(req: IncomingMessage, res: ServerResponse, id: string, path: string, query: string, signal: AbortSignal): Promise<void> {
    const method = req.method ?? "GET";
    const protocol = GENERATE_ROUTES[path];
    if (protocol && method === "POST") {
      await generate(req, res, id, path, query, protocol, signal);
      return;
    }
    if (path === "/v1/messages/count_tokens" && method === "POST") {
      const ex = await exchange(req, res, id, path, query, "anthropic-messages", signal);
      const r = await countTokens(o.pipeline, ex);
      sendJson(res, r.status, r.body, r.estimate ? { "x-switchyard-estimate": "true" } : {});
      return;
    }
    if (path === "/v1/models" && method === "GET") {
      const principal = authenticate(req.headers, o.pipeline.principals.snapshot);
      sendJson(res, 200, listModels(o.pipeline.catalog.snapshot, principal, req.headers));
      return;
    }
    if (path.startsWith("/admin/v1/")) {
      const result = await handleAdmin(o.admin, method, path, req, async () => {
        const raw = await readBody(req, o.bodyLimit);
        if (raw.length === 0) return undefined;
        try {
          return JSON.parse(raw.toString("utf8")) as unknown;
        } catch (err) {
          throw new GatewayError("invalid_request", "invalid_json", `The request body is not valid JSON: ${(err as Error).message}.`);
        }
      });
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
    try {
      return authenticate(req.headers, o.pipeline.principals.snapshot);
    } catch (err) {
      res.setHeader("connection", "close");
      throw err;
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
    const principal = authenticateBeforeBody(req, res);
    const body = await readBody(req, o.bodyLimit);
    return { id, protocol, route: path, headers: req.headers, query, body, res, signal, startedAt, principal };
  }

  async function generate(
    req: IncomingMessage,
    res: ServerResponse,
    id: string,
    path: string,
    query: string,
    protocol: ClientProtocol,
    signal: AbortSignal,
  ): Promise<void> {
    await handleGenerate(o.pipeline, await exchange(req, res, id, path, query, protocol, signal));
  }

  /**
   * One WebSocket turn through the pipeline (which settles it). An error
   * before the first byte is written to the turn's sink in the client's
   * protocol, where the HTTP path lets it propagate to the edge's handler.
   */
  async function runTurn(ex: Exchange): Promise<void> {
    // WebSocket turns are not HTTP requests; count them so a drain waits for them too.
    inFlight++;
    let status = 500;
    try {
      status = (await handleGenerate(o.pipeline, ex)).status;
    } catch (err) {
      const failure = asGatewayError(err, ex.signal);
      status = failure.status;
      if (!(err instanceof GatewayError)) o.logger.error({ requestId: ex.id, err }, "unhandled error");
      const rendered = renderError(ex.protocol, failure, ex.id);
      status = rendered.status;
      ex.res.writeHead(rendered.status, { "content-type": "application/json" });
      ex.res.end(JSON.stringify(rendered.body));
    } finally {
      const route = "ws:/v1/responses";
      const seconds = (performance.now() - ex.startedAt) / 1000;
      o.metrics.requests.inc({ route, status: String(status) });
      o.metrics.duration.observe({ route }, seconds);
      // One line per turn, like an HTTP request's, so a WebSocket session is traceable by request id.
      o.logger.info({ requestId: ex.id, method: "WS", path: "/v1/responses", status, ms: Math.round(seconds * 1000) }, "request");
      inFlight--;
      if (draining && inFlight === 0) drained?.();
    }
  }

  const server = createServer({ keepAliveTimeout: 65_000, requestTimeout: 0, headersTimeout: 60_000 }, (req, res) => {
    const started = performance.now();
    const id = `req_${randomUUID().replaceAll("-", "")}`;
    const url = req.url ?? "/";
    const q = url.indexOf("?");
    const path = q === -1 ? url : url.slice(0, q);
    const query = q === -1 ? "" : url.slice(q);
    const routeLabel =
      GENERATE_ROUTES[path] || path === "/v1/messages/count_tokens" || path === "/v1/models" ? path : path.startsWith("/admin/") ? "admin" : "other";
    res.setHeader("x-request-id", id);
    // Neither emitter may throw an unhandled 'error' (a reset mid-body, a write after the end):
    // readBody and the client-disconnect signal already see those, so only log them here.
    req.on("error", (err) => o.logger.debug({ requestId: id, err }, "request stream error"));
    res.on("error", (err) => o.logger.debug({ requestId: id, err }, "response stream error"));
    const ac = new AbortController();
    res.on("close", () => {
      if (!res.writableFinished) ac.abort();
    });
    inFlight++;
    o.metrics.inFlight.inc();
    const origWrite = res.writeHead.bind(res);
    let firstByte = false;
    res.writeHead = ((...args: Parameters<ServerResponse["writeHead"]>) => {
      if (!firstByte) {
        firstByte = true;
        o.metrics.ttfb.observe({ route: routeLabel }, (performance.now() - started) / 1000);
      }
      return origWrite(...args);
    }) as ServerResponse["writeHead"];
    route(req, res, id, path, query, ac.signal)
      .catch((err: unknown) => {
        const gerr = asGatewayError(err, ac.signal);
        if (!(err instanceof GatewayError) && !ac.signal.aborted) o.logger.error({ requestId: id, err }, "unhandled error");
        if (res.headersSent || res.destroyed) {
          res.end();
          return;
        }
        const protocol = path.startsWith("/admin/") ? "admin" : (GENERATE_ROUTES[path] ?? guessProtocol(path, req));
        const rendered = renderError(protocol, gerr, id);
        sendJson(res, rendered.status, rendered.body, gerr.headers ?? {});
      })
      .finally(() => {
        const seconds = (performance.now() - started) / 1000;
        const status = ac.signal.aborted && !res.writableFinished ? 499 : res.statusCode;
        o.metrics.requests.inc({ route: routeLabel, status: String(status) });
        o.metrics.duration.observe({ route: routeLabel }, seconds);
        o.metrics.inFlight.dec();
        if (routeLabel !== "other" || status >= 400) {
          o.logger.info({ requestId: id, method: req.method, path, status, ms: Math.round(seconds * 1000) }, "request");
        }
        inFlight--;
        if (draining && inFlight === 0) drained?.();
      });
  });

  const wss = attachResponsesWebSocket(server, {
    authenticate: (req) => authenticate(req.headers, o.pipeline.principals.snapshot).account.id,
    generate: runTurn,
    logger: o.logger,
    bodyLimit: o.bodyLimit,
    countProtocolError: (code) => o.metrics.websocketProtocolErrors.inc({ code }),
  });

  return {
    server,
    async drain(graceMs: number): Promise<void> {
      draining = true;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      if (inFlight > 0) {
        await Promise.race([new Promise<void>((resolve) => (drained = resolve)), new Promise((r) => setTimeout(r, graceMs).unref())]);
      }
      for (const ws of wss.clients) ws.close(1001, "server shutting down");
      server.closeAllConnections();
      await closed;
    },
  };
}
