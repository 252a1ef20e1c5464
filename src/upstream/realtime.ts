/**
 * The upstream side of OpenAI Realtime over WebSocket (docs/protocols.md#realtime-over-websocket):
 * where an upstream's Realtime endpoint is, whether an upstream offers it, and dialling it.
 *
 * OpenAI's endpoint is `wss://api.openai.com/v1/realtime?model=…` with `Authorization: Bearer`
 * (https://platform.openai.com/docs/guides/realtime-websocket); the beta interface also wants
 * `OpenAI-Beta: realtime=v1`, which the gateway forwards when the client sent it. The
 * openai-node SDK builds the same URL from its HTTP base URL (`baseURL` + `/realtime`, the
 * scheme switched to ws(s)), which is what {@link realtimeUrl} does with an upstream's `base_url`.
 */
import WebSocket from "ws";
import type { IncomingHttpHeaders } from "node:http";
import { UpstreamTransportError } from "./response.js";

/** Whether an upstream serves Realtime: an `openai-responses` upstream whose settings say `realtime: true`. */
export function servesRealtime(upstream: { protocol: string; settings: Record<string, unknown> }): boolean {
  return upstream.protocol === "openai-responses" && upstream.settings.realtime === true;
}

/** The upstream's Realtime URL for a model: its base URL (`…/v1`) with `/realtime`, over ws(s). */
export function realtimeUrl(baseUrl: string, model: string): string {
  const base = baseUrl.replace(/\/+$/, "").replace(/^http/, "ws");
  return `${base}/realtime?model=${encodeURIComponent(model)}`;
}

/**
 * Client headers that reach the upstream on the upgrade: the beta opt-in (`OpenAI-Beta:
 * realtime=v1` picks the beta event names) and OpenAI's organisation and project
 * selectors. Nothing else: the client's credentials and the WebSocket handshake headers
 * are the gateway's own on this hop.
 */
const FORWARDED = ["openai-beta", "openai-organization", "openai-project"];

export function realtimeUpstreamHeaders(incoming: IncomingHttpHeaders, extra: Record<string, string>): Record<string, string> {
  const headers: Record<string, string> = { ...extra };
  for (const name of FORWARDED) {
    const v = incoming[name];
    if (typeof v === "string" && v !== "") headers[name] = v;
  }
  return headers;
}

export interface RealtimeDial {
  url: string;
  /** The upgrade request's headers, the credential's included (Credential.authorize). */
  headers: Record<string, string>;
  /** Frames above this many bytes from the upstream end the connection (1009). */
  maxPayload: number;
  /** Time allowed for the TCP connection and the 101 answer. */
  connectTimeoutMs: number;
  signal: AbortSignal;
}

/** The upstream refused the upgrade with an HTTP answer (a 401 for a bad key, a 429, a 404 for an unknown model). */
export interface RealtimeRefusal {
  ok: false;
  status: number;
  headers: Record<string, string | string[] | undefined>;
  bodyText: string;
}

/** The open socket is paused (nothing is emitted until `resume()`); the refusal is the upstream's HTTP answer. */
export type RealtimeDialResult = { ok: true; socket: WebSocket } | RealtimeRefusal;

/** Largest refusal body kept (an error envelope is small; a misconfigured URL may answer with a page). */
const MAX_REFUSAL_BYTES = 64 * 1024;

/**
 * Opens the upstream WebSocket. Resolves with the open socket or the upstream's HTTP
 * refusal; rejects with UpstreamTransportError when it cannot be reached in time, or with
 * the signal's reason once it fired.
 */
export function dialRealtime(o: RealtimeDial): Promise<RealtimeDialResult> {
  return new Promise((resolve, reject) => {
    if (o.signal.aborted) {
      reject(o.signal.reason);
      return;
    }
    // Frames are relayed as they are: compression is negotiated per hop, and a passthrough has no use for it upstream.
    const socket = new WebSocket(o.url, { headers: o.headers, maxPayload: o.maxPayload, perMessageDeflate: false, handshakeTimeout: o.connectTimeoutMs });
    let settled = false;
    const done = (): boolean => {
      if (settled) return false;
      settled = true;
      o.signal.removeEventListener("abort", onAbort);
      return true;
    };
    const onAbort = (): void => {
      if (!done()) return;
      socket.terminate();
      reject(o.signal.reason);
    };
    o.signal.addEventListener("abort", onAbort, { once: true });
    socket.once("open", () => {
      // Paused until the client's side is upgraded and listening: the upstream's first event
      // (`session.created`) often arrives with the 101 answer, and must not be emitted to nobody.
      socket.pause();
      if (done()) resolve({ ok: true, socket });
    });
    socket.once("unexpected-response", (_req, res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on("data", (c: Buffer) => {
        size += c.length;
        if (size <= MAX_REFUSAL_BYTES) chunks.push(c);
      });
      const finish = (): void => {
        if (!done()) return;
        socket.terminate();
        resolve({ ok: false, status: res.statusCode ?? 502, headers: res.headers, bodyText: Buffer.concat(chunks).toString("utf8") });
      };
      res.once("end", finish);
      res.once("error", finish);
      res.once("close", finish);
    });
    socket.once("error", (err: Error) => {
      if (!done()) return;
      const timeout = /timed out/i.test(err.message);
      reject(new UpstreamTransportError(timeout ? "timeout" : "network", `Realtime upstream: ${err.message}`, err));
    });
  });
}
