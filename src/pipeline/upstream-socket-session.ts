/**
 * Binds one client Responses WebSocket connection to one upstream socket (docs/codex.md#upstream-websocket-sessions),
 * so `previous_response_id` and the upstream's connection-local cache work as they do for Codex CLI
 * talking to OpenAI directly. Each turn still runs through the whole pipeline (admission, plan,
 * attempt, settle); the attempt hands its body here instead of POSTing it when its upstream has
 * `websocket: true`.
 *
 * What this decides, per turn:
 * - which socket: the open one when it belongs to the attempt's upstream key and is younger than
 *   the upstream's cap (`websocket_max_age_ms`; OpenAI closes a connection after 60 minutes), else
 *   a new one (the old one is closed between turns, never under a turn);
 * - which body: the client's incremental frame (`previous_response_id` + new items) only when that
 *   id is the last response on THIS socket; otherwise the full input the edge rebuilt from the
 *   items it kept, without `previous_response_id` (a new socket knows nothing of the old one's);
 * - `x-codex-turn-state` (docs/protocols.md §2.2 of the reference: replayed within a turn, never into
 *   the next): a socket opened again within the same Codex turn replays the value the previous
 *   socket's upgrade answered with; a socket opened for another turn carries none.
 */
import type { Logger } from "../observability/logger.js";
import { UpstreamTransportError, type UpstreamHeaders, type UpstreamResponse } from "../upstream/response.js";
import { openResponsesSocket, type OpenSocketResult, type ResponsesSocket, type SocketAnswer } from "../upstream/responses-socket.js";

export interface SocketSendRequest {
  /** The upstream and key the socket is bound to (object identity: the catalog's key object). */
  upstreamId: string;
  key: object;
  url: string;
  /** The upgrade's headers, credential included. */
  headers: Record<string, string>;
  /** The whole request, without `previous_response_id`. */
  full: Buffer;
  /** The client's frame as sent (without `previous_response_id`, which is `previousId`), when it chained from an earlier response. */
  chained?: { body: Buffer; previousId: string };
  /** Codex's turn id (from the frame's `client_metadata`), to tell turns apart for `x-codex-turn-state`. */
  turnId?: string;
  maxAgeMs: number;
  connectTimeoutMs: number;
  headersTimeoutMs: number;
  bodyTimeoutMs: number;
  /** Aborts the upgrade under way (the client left, or the gateway stops the request). */
  signal: AbortSignal;
  /** Aborted only when the gateway stops the request (pipeline/stop.ts): a turn on the socket ends there. A client that leaves does not end it. */
  stop?: AbortSignal;
}

export type SocketSendResult =
  | { kind: "response"; response: UpstreamResponse; chained: boolean }
  /** The upgrade was answered with an HTTP status (no socket). */
  | { kind: "refused"; status: number; headers: UpstreamHeaders; body: string };

interface Bound {
  socket: ResponsesSocket;
  upstreamId: string;
  key: object;
  openedAt: number;
  /** The last response completed on this socket: the only id a follow-up may chain from here. */
  lastResponseId: string | undefined;
}

export interface UpstreamSocketSessionOptions {
  logger: Logger;
  /** Milliseconds; injected by tests to cross the cap without waiting an hour. */
  now?: () => number;
  open?: typeof openResponsesSocket;
}

/**
 * `{"type":"response.create",` (+ `"previous_response_id":…,`) + the body's members: the body's
 * bytes are not re-encoded. The id is added here, after the lane's preparation, because the Codex
 * backend's HTTP rules strip `previous_response_id`, which its WebSocket takes.
 */
function createFrame(body: Buffer, previousId?: string): Buffer {
  const at = body.indexOf(0x7b); // "{"
  const rest = body.subarray(at + 1);
  const empty = rest.toString("latin1").trim() === "}";
  const head = `{"type":"response.create"${previousId !== undefined ? `,"previous_response_id":${JSON.stringify(previousId)}` : ""}`;
  return Buffer.concat([Buffer.from(empty ? head : `${head},`), rest]);
}

export class UpstreamSocketSession {
  #bound: Bound | undefined;
  #turnState: { turnId: string; value: string } | undefined;
  #opened = 0;
  #busy = false;
  #closed = false;
  readonly #refused = new WeakSet<object>();
  private readonly now: () => number;
  private readonly open: typeof openResponsesSocket;

  constructor(private readonly o: UpstreamSocketSessionOptions) {
    this.now = o.now ?? Date.now;
    this.open = o.open ?? openResponsesSocket;
  }

  /** Upstream sockets opened so far on this session (metrics, tests). */
  get socketsOpened(): number {
    return this.#opened;
  }

  /** The upstream behind this key refused the upgrade: later turns on this connection go over HTTP. */
  markRefused(key: object): void {
    this.#refused.add(key);
  }

  refusedBy(key: object): boolean {
    return this.#refused.has(key);
  }

  /**
   * Sends one turn on the bound socket, opening (or replacing) it first when needed. Rejects
   * with UpstreamTransportError when the upstream cannot be reached; the caller classifies.
   */
  async send(req: SocketSendRequest): Promise<SocketSendResult> {
    if (this.#closed) throw new UpstreamTransportError("network", "the client connection is closed");
    const bound = this.#usable(req);
    if (!bound) return this.#sendFull(req, undefined);
    const chained = req.chained && bound.lastResponseId === req.chained.previousId ? req.chained.body : undefined;
    let answer: SocketAnswer;
    try {
      answer = await this.#turn(bound, chained ?? req.full, req, chained ? req.chained?.previousId : undefined);
    } catch (err) {
      // The socket broke between turns and we learnt it only now (its close still on the way): the
      // frame reached no one, so a new socket takes the full input, once.
      if (!(err instanceof UpstreamTransportError) || err.kind !== "network" || req.signal.aborted) throw err;
      this.o.logger.info({ upstream: req.upstreamId, reason: err.message }, "upstream socket broke between turns; opening a new one");
      this.#drop();
      return this.#sendFull(req, undefined);
    }
    // The upstream lost the chained response (evicted, or a server that keeps none): the full input, once.
    if (chained && isError(answer, "previous_response_not_found")) {
      this.o.logger.info({ upstream: req.upstreamId }, "upstream socket lost the previous response; resending the full input");
      return this.#sendFull(req, this.#usable(req));
    }
    if (isError(answer, "websocket_connection_limit_reached")) return this.#sendFull(req, undefined, true);
    return { kind: "response", response: answer, chained: chained !== undefined };
  }

  async #sendFull(req: SocketSendRequest, bound: Bound | undefined, limitSeen = false): Promise<SocketSendResult> {
    if (limitSeen) {
      this.o.logger.info({ upstream: req.upstreamId }, "upstream socket reached its connection limit; opening a new one");
      this.#drop();
    }
    for (let replaced = limitSeen; ; replaced = true) {
      let b = bound;
      if (!b) {
        const opened = await this.#connect(req);
        if (opened.kind === "refused") return opened;
        b = opened.bound;
      }
      const answer = await this.#turn(b, req.full, req);
      // Past the upstream's own connection cap (reached before ours): a new socket, once.
      if (!replaced && isError(answer, "websocket_connection_limit_reached")) {
        this.o.logger.info({ upstream: req.upstreamId }, "upstream socket reached its connection limit; opening a new one");
        this.#drop();
        bound = undefined;
        continue;
      }
      return { kind: "response", response: answer, chained: false };
    }
  }

  /** The bound socket when this request may use it; otherwise it is closed and forgotten. */
  #usable(req: SocketSendRequest): Bound | undefined {
    const b = this.#bound;
    if (!b) return undefined;
    if (b.socket.usable && b.upstreamId === req.upstreamId && b.key === req.key && this.now() - b.openedAt < req.maxAgeMs) return b;
    this.#drop();
    return undefined;
  }

  #drop(): void {
    this.#bound?.socket.close();
    this.#bound = undefined;
  }

  async #connect(req: SocketSendRequest): Promise<{ kind: "open"; bound: Bound } | Extract<OpenSocketResult, { kind: "refused" }>> {
    const headers = { ...req.headers };
    // The client's own turn state belongs to the turn it connected in: only the first socket may carry it.
    if (this.#opened > 0) delete headers["x-codex-turn-state"];
    const kept = this.#turnState;
    if (kept && req.turnId !== undefined && req.turnId === kept.turnId) headers["x-codex-turn-state"] = kept.value;
    const opened = await this.open({ url: req.url, headers, connectTimeoutMs: req.connectTimeoutMs, signal: req.signal });
    if (opened.kind === "refused") return opened;
    this.#opened++;
    const socket = opened.socket;
    if (this.#closed) {
      socket.close();
      throw new UpstreamTransportError("network", "the client connection is closed");
    }
    const state = socket.upgradeHeaders["x-codex-turn-state"];
    this.#turnState = typeof state === "string" && req.turnId !== undefined ? { turnId: req.turnId, value: state } : undefined;
    const bound: Bound = { socket, upstreamId: req.upstreamId, key: req.key, openedAt: this.now(), lastResponseId: undefined };
    socket.onClose(() => {
      if (this.#bound === bound) this.#bound = undefined;
    });
    this.#bound = bound;
    return { kind: "open", bound };
  }

  async #turn(b: Bound, body: Buffer, req: SocketSendRequest, previousId?: string): Promise<SocketAnswer> {
    this.#busy = true;
    b.lastResponseId = undefined;
    return b.socket.turn(createFrame(body, previousId), {
      headersTimeoutMs: req.headersTimeoutMs,
      bodyTimeoutMs: req.bodyTimeoutMs,
      stop: req.stop,
      onEnd: (end) => {
        this.#busy = false;
        // Only a response the upstream finished can be chained from.
        b.lastResponseId = end.terminal === "response.completed" || end.terminal === "response.incomplete" ? end.responseId : undefined;
        if (this.#closed) b.socket.close();
      },
    });
  }

  /** The client connection closed: the socket goes now, or when the turn on it has been read to its end. */
  close(): void {
    this.#closed = true;
    if (!this.#busy) this.#drop();
    else this.o.logger.info("client left during an upstream socket turn; reading the answer to its end for the usage record");
  }
}

/** An answer that is the upstream's in-band error with this code (as the head, before any event). */
function isError(answer: SocketAnswer, code: string): boolean {
  return answer.status >= 400 && answer.errorCode === code;
}
