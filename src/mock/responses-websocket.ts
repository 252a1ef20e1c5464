/**
 * Responses over WebSocket, as OpenAI (`GET /v1/responses` upgrade) and the Codex backend
 * (`/backend-api/codex/responses`, `/codex/responses`) speak it: each `response.create` text frame
 * is one response, answered with the same events as the HTTP stream, one JSON text frame each,
 * no `event:` line. One response at a time per connection. The last completed response is kept
 * in memory on the connection (store:false works), so `previous_response_id` chains on the same
 * socket only; any other id is answered with `previous_response_not_found`.
 * https://developers.openai.com/api/docs/guides/websocket-mode
 *
 * The answers come from the same protocol adapters as the HTTP routes, so directives, script rules
 * and the prompt-cache simulation behave the same. Over a socket `reset_after=N` drops the
 * connection after N events (mid-turn); `dropAll()` drops every connection (between turns);
 * `limitAfterTurns` answers a connection's next turn with `websocket_connection_limit_reached`,
 * as OpenAI does at its 60-minute cap. A script rule that matches the upgrade (method `GET`) with
 * a `status` refuses the upgrade with that HTTP error. A Codex upgrade is authenticated like the
 * Codex HTTP routes (once a login exists, an unknown or expired bearer is refused with 401).
 */
import type { IncomingMessage, Server } from "node:http";
import type { Duplex } from "node:stream";
import { WebSocketServer, type WebSocket } from "ws";
import { type HttpReply, type JsonObject, type ProtocolAdapter, type RenderContext, isObject } from "./adapter.js";
import { codex } from "./codex.js";
import { sleep } from "./deliver.js";
import type { IdSource } from "./ids.js";
import { openaiResponses } from "./openai-responses.js";
import { buildPlan } from "./plan.js";
import { parseDirectiveList, parseTextDirectives, resolveScenario, type ParsedDirectives } from "./scenario.js";
import type { MockRule, RecordedRequest, Scenario } from "./types.js";
import type { PromptCache } from "./usage.js";

const SOCKET_ADAPTERS: Readonly<Record<string, ProtocolAdapter>> = {
  "/v1/responses": openaiResponses,
  "/backend-api/codex/responses": codex,
  "/codex/responses": codex,
};

/** One upstream connection as the mock saw it. */
export interface MockSocketConnection {
  path: string;
  /** The upgrade request's headers, lower-cased. */
  headers: Record<string, string>;
  /** Every text frame received, parsed (the raw text when it was not JSON). */
  frames: unknown[];
  /** The `x-codex-turn-state` its upgrade was answered with (Codex paths). */
  turnState: string | undefined;
  /** Response ids this connection answered, in order. */
  responseIds: string[];
  open: boolean;
}

export interface MockSockets {
  /** Connections in the order they were opened (cleared by `mock.clear()`). */
  readonly connections: MockSocketConnection[];
  /** After this many turns on a connection, its next `response.create` gets `websocket_connection_limit_reached` and the socket closes. */
  limitAfterTurns: number | undefined;
  /** Holds every turn after this many events until `until` resolves (a test's gate for "mid-turn"). */
  hold: { afterEvents: number; until: Promise<void> } | undefined;
  /** Drops every open connection (TCP reset, no close frame); resolves once they are closed here. */
  dropAll(): Promise<void>;
}

export interface MockSocketDeps {
  ids: IdSource;
  cache: PromptCache;
  takeRule(req: RecordedRequest): MockRule | undefined;
  /** The Codex backend's bearer check (codex-oauth.ts): a 401 reply refuses a Codex upgrade as the HTTP routes refuse a request. */
  deny?(req: RecordedRequest, requestId: string): HttpReply | undefined;
  /** Keep frames and connections (off for benchmarks). */
  recording: boolean;
}

function headersOf(req: IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) out[k] = Array.isArray(v) ? v.join(", ") : v;
  return out;
}

/** An HTTP error reply as the in-band error frame Codex CLI reads: `{type:"error", status, error, headers?}`. */
function errorFrame(status: number, replyBody: string, headers?: Record<string, string>): string {
  let error: unknown;
  try {
    const json = JSON.parse(replyBody) as { error?: unknown; detail?: unknown };
    error = json.error ?? {
      type: status >= 500 ? "server_error" : "invalid_request_error",
      message: typeof json.detail === "string" ? json.detail : JSON.stringify(json.detail),
    };
  } catch {
    error = { type: "server_error", message: replyBody };
  }
  const kept = headers ? Object.fromEntries(Object.entries(headers).filter(([k]) => k.startsWith("x-codex-") || k === "retry-after")) : {};
  return JSON.stringify({ type: "error", status, error, ...(Object.keys(kept).length > 0 ? { headers: kept } : {}) });
}

function invalid(code: string, message: string, param: string | null = null, status = 400): string {
  return JSON.stringify({ type: "error", status, error: { type: "invalid_request_error", code, message, param } });
}

/** The `data:` text of one pre-rendered SSE frame. */
function dataOf(frame: string): string {
  const at = frame.indexOf("data: ");
  return frame.slice(at + 6).replace(/\n+$/, "");
}

function ruleScenario(rule: MockRule | undefined): ParsedDirectives | undefined {
  if (!rule?.scenario) return undefined;
  if (typeof rule.scenario === "string") return parseDirectiveList(rule.scenario);
  return { scenario: { ...rule.scenario }, unknown: [] };
}

export function attachResponsesSockets(server: Server, deps: MockSocketDeps): MockSockets {
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: true });
  wss.on("error", () => undefined);
  // The Codex backend answers its upgrade with a sticky-routing token that Codex CLI replays within the turn.
  let turnStates = 0;
  const turnStateOf = new WeakMap<IncomingMessage, string>();
  wss.on("headers", (out: string[], req: IncomingMessage) => {
    if (!(req.url ?? "").includes("/codex/")) return;
    const value = `ts_${++turnStates}`;
    turnStateOf.set(req, value);
    out.push(`x-codex-turn-state: ${value}`);
  });
  const live = new Set<WebSocket>();
  const sockets: MockSockets = {
    connections: [],
    limitAfterTurns: undefined,
    hold: undefined,
    async dropAll() {
      const open = [...live];
      await Promise.all(
        open.map(
          (ws) =>
            new Promise<void>((resolve) => {
              ws.once("close", () => resolve());
              ws.terminate();
            }),
        ),
      );
    },
  };

  server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on("error", () => undefined);
    const url = req.url ?? "/";
    const path = url.split("?")[0] ?? url;
    const adapter = SOCKET_ADAPTERS[path];
    // /v1/realtime has its own upgrade listener (realtime.ts); every other unknown path is refused here.
    if (path === "/v1/realtime") return;
    if (!adapter) {
      socket.end("HTTP/1.1 404 Not Found\r\nconnection: close\r\ncontent-length: 0\r\n\r\n");
      return;
    }
    const headers = headersOf(req);
    const upgrade: RecordedRequest = { method: "GET", url, path, headers, body: Buffer.alloc(0), json: undefined, receivedAt: Date.now() };
    const refuse = (status: number, reply: HttpReply, extra: Record<string, string> = {}): void => {
      const body = Buffer.from(reply.body);
      const lines = Object.entries({ ...reply.headers, ...extra }).map(([k, v]) => `${k}: ${v}\r\n`);
      socket.end(`HTTP/1.1 ${status} Refused\r\n${lines.join("")}content-length: ${body.length}\r\nconnection: close\r\n\r\n${body.toString()}`);
    };
    const rule = deps.takeRule(upgrade);
    if (rule?.status !== undefined && rule.status >= 400)
      return refuse(rule.status, adapter.error(rule.status, undefined, deps.ids.next("req_")), rule.headers);
    const denied = adapter === codex ? deps.deny?.(upgrade, deps.ids.next("req_")) : undefined;
    if (denied) return refuse(denied.status, denied);
    wss.handleUpgrade(req, socket, head, (ws) => serve(ws, adapter, path, headers, turnStateOf.get(req)));
  });

  function serve(ws: WebSocket, adapter: ProtocolAdapter, path: string, headers: Record<string, string>, turnState: string | undefined): void {
    live.add(ws);
    const conn: MockSocketConnection = { path, headers, frames: [], turnState, responseIds: [], open: true };
    if (deps.recording) sockets.connections.push(conn);
    /** The connection-local state: the last completed response, its full input and its output items. */
    let last: { id: string; input: unknown[]; output: unknown[] } | undefined;
    let busy = false;
    let turns = 0;
    ws.on("error", () => undefined);
    ws.on("close", () => {
      conn.open = false;
      live.delete(ws);
    });
    ws.on("message", (data, isBinary) => {
      const text = data.toString();
      let frame: unknown;
      try {
        frame = JSON.parse(text);
      } catch {
        frame = undefined;
      }
      if (deps.recording) conn.frames.push(frame ?? text);
      if (isBinary || !isObject(frame)) return void ws.send(invalid("invalid_json", "Messages must be JSON text frames."));
      if (frame.type !== "response.create") return void ws.send(invalid("unknown_event_type", `Unsupported event type '${String(frame.type)}'.`, "type"));
      if (busy) return void ws.send(invalid("response_already_in_flight", "A response is already in progress on this connection.", null, 409));
      if (sockets.limitAfterTurns !== undefined && turns >= sockets.limitAfterTurns) {
        ws.send(
          invalid(
            "websocket_connection_limit_reached",
            "Responses websocket connection limit reached (60 minutes). Create a new websocket connection to continue.",
          ),
        );
        ws.close(1000);
        return;
      }
      busy = true;
      turns++;
      void respond(ws, adapter, path, headers, frame, last, conn)
        .then((done) => {
          if (done) last = done;
        })
        .finally(() => {
          busy = false;
        });
    });
  }

  async function respond(
    ws: WebSocket,
    adapter: ProtocolAdapter,
    path: string,
    headers: Record<string, string>,
    frame: JsonObject,
    last: { id: string; input: unknown[]; output: unknown[] } | undefined,
    conn: MockSocketConnection,
  ): Promise<{ id: string; input: unknown[]; output: unknown[] } | undefined> {
    const { type: _type, previous_response_id: previous, ...rest } = frame;
    const newInput = Array.isArray(rest.input) ? rest.input : typeof rest.input === "string" ? [{ role: "user", content: rest.input }] : [];
    let input = newInput;
    if (previous !== undefined && previous !== null) {
      if (!last || previous !== last.id) {
        ws.send(invalid("previous_response_not_found", `Previous response with id '${String(previous)}' not found.`, "previous_response_id"));
        return undefined;
      }
      input = [...last.input, ...last.output, ...newInput];
    }
    // Events always stream back over a socket; the adapters judge a streamed request.
    const json: JsonObject = { ...rest, input, stream: true };
    const requestId = deps.ids.next("req_");
    const recorded: RecordedRequest = { method: "WS", url: path, path, headers, body: Buffer.from(JSON.stringify(frame)), json, receivedAt: Date.now() };
    const rule = deps.takeRule(recorded);
    if (rule?.delayMs) await sleep(rule.delayMs);
    if (rule?.status !== undefined && rule.status >= 400) {
      const reply = adapter.error(rule.status, undefined, requestId, resolveScenario(ruleScenario(rule)?.scenario));
      ws.send(errorFrame(reply.status, reply.body, reply.headers));
      return undefined;
    }
    const bad = adapter.validate(recorded, json, requestId);
    if (bad) {
      ws.send(errorFrame(bad.status, bad.body, bad.headers));
      return undefined;
    }
    const facts = adapter.facts(recorded, json);
    const fromText = parseTextDirectives(facts.lastUserText);
    const header = headers["x-mock-scenario"];
    const fromHeader = header ? parseDirectiveList(header) : undefined;
    const fromRule = ruleScenario(rule);
    const unknown = [...fromText.unknown, ...(fromHeader?.unknown ?? []), ...(fromRule?.unknown ?? [])];
    if (unknown.length > 0) {
      const reply = adapter.error(400, `Unknown mock directive: ${unknown.join(", ")}`, requestId);
      ws.send(errorFrame(reply.status, reply.body));
      return undefined;
    }
    const scenario: Scenario = resolveScenario(fromText.scenario, fromHeader?.scenario, fromRule?.scenario);
    if (scenario.delayMs > 0) await sleep(scenario.delayMs);
    if (scenario.errorStatus !== undefined) {
      const reply = adapter.error(scenario.errorStatus, scenario.errorMessage, requestId, scenario);
      ws.send(errorFrame(reply.status, reply.body, reply.headers));
      return undefined;
    }
    const plan = buildPlan(adapter.protocol, facts, scenario, deps.cache);
    const ctx: RenderContext = { ids: deps.ids, created: Math.floor(Date.now() / 1000), requestId, scenario };
    const frames = adapter.renderStream(plan, facts, json, ctx).map(dataOf);
    const limit = Math.min(frames.length, scenario.resetAfter ?? frames.length);
    const output: unknown[] = [];
    let id: string | undefined;
    let completed = false;
    for (let i = 0; i < limit; i++) {
      if (i > 0 && scenario.chunkDelayMs > 0) await sleep(scenario.chunkDelayMs);
      if (sockets.hold && i === sockets.hold.afterEvents) await sockets.hold.until;
      if (ws.readyState !== ws.OPEN) return undefined;
      const data = frames[i] as string;
      // Written through before the next one, so a drop after N events really lets N out.
      await new Promise<void>((resolve) => ws.send(data, () => resolve()));
      const ev = JSON.parse(data) as { type?: string; item?: unknown; response?: { id?: string } };
      if (ev.type === "response.created" && typeof ev.response?.id === "string") id = ev.response.id;
      if (ev.type === "response.output_item.done") output.push(withoutId(ev.item));
      if (ev.type === "response.completed" || ev.type === "response.incomplete") completed = true;
    }
    if (limit < frames.length) {
      // Dropped mid-turn: no close frame, as a broken connection looks.
      ws.terminate();
      return undefined;
    }
    if (!completed || id === undefined) return undefined;
    conn.responseIds.push(id);
    return { id, input, output };
  }

  return sockets;
}

/** Output items are replayed as input; with store:false they carry no server-side id. */
function withoutId(item: unknown): unknown {
  if (!isObject(item)) return item;
  const { id: _id, ...rest } = item;
  return rest;
}
