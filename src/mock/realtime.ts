/**
 * OpenAI Realtime over WebSocket, mocked: `GET /v1/realtime?model=…` with an upgrade
 * (https://platform.openai.com/docs/guides/realtime-websocket, the event references at
 * https://platform.openai.com/docs/api-reference/realtime-client-events and
 * …/realtime-server-events). `session.created` on connect; `response.create` streams one
 * response (text, or audio with its transcript when the modalities ask for audio) and
 * ends with `response.done` carrying usage; `response.cancel` stops it with a `cancelled`
 * `response.done` that counts only what was sent. `OpenAI-Beta: realtime=v1` on the
 * upgrade selects the beta event names (`response.text.delta`, `response.audio.delta`);
 * without it the GA names (`response.output_text.delta`, `response.output_audio.delta`).
 *
 * Directives (`[[mock:…]]` in the response's `instructions` or the last user text item)
 * script the response: see src/mock/README.md#realtime.
 */
import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import { WebSocketServer, type RawData, type WebSocket } from "ws";
import { IdSource } from "./ids.js";
import type { MockRule, MockUpstream, RecordedRequest } from "./types.js";

/** One Realtime connection as the mock saw it. */
export interface RealtimeMockSession {
  /** The upgrade request (also in `mock.requests`). */
  request: RecordedRequest;
  model: string;
  /** The upgrade said `OpenAI-Beta: realtime=v1`. */
  beta: boolean;
  /** Every frame the client sent, as received. */
  received: Array<{ data: Buffer; isBinary: boolean }>;
  /** How the connection closed: the code the mock received or sent; 1006 for a dropped connection. */
  closed?: { code: number; reason: string };
  /** Each response's usage, as sent in its `response.done`. */
  usages: RealtimeUsage[];
}

export interface RealtimeUsage {
  total_tokens: number;
  input_tokens: number;
  output_tokens: number;
  input_token_details: { cached_tokens: number; text_tokens: number; audio_tokens: number };
  output_token_details: { text_tokens: number; audio_tokens: number };
}

/** What the host server lends the Realtime endpoint: recording and the script rules. */
export interface RealtimeHost {
  record(req: IncomingMessage): RecordedRequest;
  rule(req: RecordedRequest): MockRule | undefined;
}

type Json = Record<string, unknown>;

const sessionsOf = new WeakMap<object, RealtimeMockSession[]>();

/** The Realtime connections a mock has seen, oldest first. */
export function realtimeSessions(mock: MockUpstream): RealtimeMockSession[] {
  return sessionsOf.get(mock) ?? [];
}

/** pcm16 at 24 kHz is 48,000 bytes a second; the mock counts 10 audio tokens a second. */
const AUDIO_BYTES_PER_TOKEN = 4800;
/** Each spoken word is one audio delta of this many pcm16 bytes (50 ms of audio). */
const AUDIO_BYTES_PER_WORD = 2400;
const DEFAULT_TEXT = "Hello from the mock realtime model.";

interface Directives {
  text: string;
  audio: boolean;
  chunkDelayMs: number;
  cached: number | undefined;
  dropAfter: number | undefined;
  stallAfter: number | undefined;
  errorEvent: string | undefined;
  close: number | undefined;
  binary: boolean;
  longWord: number | undefined;
}

const KNOWN = new Set(["text", "audio", "chunk_delay", "cached", "drop_after", "stall_after", "error_event", "close", "binary", "long_word"]);

function parseDirectives(texts: readonly string[]): Directives | { unknown: string[] } {
  const d: Directives = {
    text: DEFAULT_TEXT,
    audio: false,
    chunkDelayMs: 0,
    cached: undefined,
    dropAfter: undefined,
    stallAfter: undefined,
    errorEvent: undefined,
    close: undefined,
    binary: false,
    longWord: undefined,
  };
  const unknown: string[] = [];
  for (const text of texts) {
    for (const m of text.matchAll(/\[\[mock:([^\]]*)\]\]/g)) {
      const list = m[1]!;
      // `text=` takes the rest of its list, commas included.
      const t = list.indexOf("text=");
      const head = t === -1 ? list : list.slice(0, t);
      if (t !== -1) d.text = list.slice(t + 5);
      for (const raw of head.split(",")) {
        const item = raw.trim();
        if (!item) continue;
        const eq = item.indexOf("=");
        const name = eq === -1 ? item : item.slice(0, eq);
        const value = eq === -1 ? undefined : item.slice(eq + 1);
        if (!KNOWN.has(name)) {
          unknown.push(name);
          continue;
        }
        const n = value === undefined ? undefined : Number(value);
        if (name === "audio") d.audio = true;
        else if (name === "binary") d.binary = true;
        else if (name === "chunk_delay") d.chunkDelayMs = n ?? 0;
        else if (name === "cached") d.cached = n;
        else if (name === "drop_after") d.dropAfter = n ?? 0;
        else if (name === "stall_after") d.stallAfter = n ?? 0;
        else if (name === "error_event") d.errorEvent = value ?? "server_error";
        else if (name === "close") d.close = n ?? 1011;
        else if (name === "long_word") d.longWord = n ?? 0;
      }
    }
  }
  return unknown.length > 0 ? { unknown } : d;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function textTokens(text: string): number {
  return Math.ceil(text.length / 4);
}

/**
 * Serves `/v1/realtime` upgrades on `server`. Returns `upgrade`, which answers true when
 * it took the request, and `closeAll`, which cuts every connection (the server's own
 * close does not see upgraded sockets).
 */
export function attachRealtime(
  mock: MockUpstream,
  host: RealtimeHost,
): { upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean; closeAll(): void } {
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, handleProtocols: (p) => (p.has("realtime") ? "realtime" : false) });
  wss.on("error", () => undefined);
  const sessions: RealtimeMockSession[] = [];
  sessionsOf.set(mock, sessions);
  const ids = new IdSource();

  function upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean {
    const url = req.url ?? "";
    const q = url.indexOf("?");
    const path = q === -1 ? url : url.slice(0, q);
    if (path !== "/v1/realtime") return false;
    socket.on("error", () => undefined);
    const recorded = host.record(req);
    const refuse = (status: number, message: string, code: string | null, type = "invalid_request_error"): void => {
      const body = JSON.stringify({ error: { message, type, code, param: null } });
      socket.end(
        `HTTP/1.1 ${status} Error\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
      );
    };
    const rule = host.rule(recorded);
    if (rule?.status !== undefined && rule.status >= 400) {
      const codes: Record<number, [string | null, string]> = {
        401: ["invalid_api_key", "invalid_request_error"],
        403: [null, "invalid_request_error"],
        404: ["model_not_found", "invalid_request_error"],
        429: ["rate_limit_exceeded", "requests"],
      };
      const [code, type] = codes[rule.status] ?? [null, rule.status >= 500 ? "server_error" : "invalid_request_error"];
      refuse(rule.status, `Scripted failure (HTTP ${rule.status}).`, code, type);
      return true;
    }
    const auth = recorded.headers.authorization;
    if (!auth || !/^Bearer\s+\S/.test(auth)) {
      refuse(401, "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth.", null);
      return true;
    }
    const model = new URLSearchParams(q === -1 ? "" : url.slice(q)).get("model");
    if (!model) {
      refuse(400, "Missing required parameter: 'model'.", "missing_required_parameter");
      return true;
    }
    const beta = /realtime=v1/.test(recorded.headers["openai-beta"] ?? "");
    wss.handleUpgrade(req, socket, head, (ws) => {
      const s: RealtimeMockSession = { request: recorded, model, beta, received: [], usages: [] };
      sessions.push(s);
      new Conversation(ws, s, ids).start();
    });
    return true;
  }

  return {
    upgrade,
    closeAll() {
      for (const ws of wss.clients) ws.terminate();
    },
  };
}

interface Item {
  id: string;
  role: "user" | "assistant" | "system";
  text: string;
  audioBytes: number;
}

/** One connection's state: the session, the conversation, the response under way. */
class Conversation {
  private session: Json;
  private readonly items: Item[] = [];
  private audioBuffer = 0;
  private active: { id: string; cancel: () => void } | undefined;
  private lastInputTokens = 0;

  constructor(
    private readonly ws: WebSocket,
    private readonly s: RealtimeMockSession,
    private readonly ids: IdSource,
  ) {
    this.session = s.beta
      ? {
          id: ids.next("sess_"),
          object: "realtime.session",
          model: s.model,
          modalities: ["text", "audio"],
          instructions: "",
          voice: "alloy",
          input_audio_format: "pcm16",
          output_audio_format: "pcm16",
          turn_detection: null,
          tools: [],
          tool_choice: "auto",
          temperature: 0.8,
          max_response_output_tokens: "inf",
        }
      : {
          type: "realtime",
          object: "realtime.session",
          id: ids.next("sess_"),
          model: s.model,
          output_modalities: ["audio"],
          instructions: "",
          tools: [],
          tool_choice: "auto",
          max_output_tokens: "inf",
        };
  }

  start(): void {
    this.ws.on("error", () => undefined);
    this.ws.on("close", (code, reason) => {
      this.s.closed ??= { code, reason: reason.toString("utf8") };
      this.active?.cancel();
    });
    this.ws.on("message", (data: RawData, isBinary) => this.onMessage(Buffer.isBuffer(data) ? data : Buffer.from(data as ArrayBuffer), isBinary));
    this.send({ type: "session.created", session: this.session });
  }

  private send(ev: Json): void {
    if (this.ws.readyState !== this.ws.OPEN) return;
    this.ws.send(JSON.stringify({ ...ev, event_id: this.ids.next("event_") }));
  }

  private error(type: string, code: string | null, message: string, eventId: unknown = null): void {
    this.send({ type: "error", error: { type, code, message, param: null, event_id: eventId } });
  }

  private onMessage(data: Buffer, isBinary: boolean): void {
    this.s.received.push({ data, isBinary });
    if (isBinary) {
      this.error("invalid_request_error", "invalid_value", "Binary frames are not supported; send client events as JSON text.");
      return;
    }
    let ev: Json;
    try {
      const v: unknown = JSON.parse(data.toString("utf8"));
      if (!v || typeof v !== "object" || Array.isArray(v)) throw new Error("not an object");
      ev = v as Json;
    } catch {
      this.error("invalid_request_error", "invalid_json", "The client event is not valid JSON.");
      return;
    }
    switch (ev.type) {
      case "session.update": {
        const patch = ev.session && typeof ev.session === "object" ? (ev.session as Json) : {};
        this.session = { ...this.session, ...patch };
        this.send({ type: "session.updated", session: this.session });
        return;
      }
      case "conversation.item.create": {
        const item = (ev.item ?? {}) as Json;
        const id = typeof item.id === "string" ? item.id : this.ids.next("item_");
        const content = Array.isArray(item.content) ? (item.content as Json[]) : [];
        const text = content.map((c) => (typeof c.text === "string" ? c.text : "")).join("");
        const role = item.role === "assistant" || item.role === "system" ? item.role : "user";
        const previous = this.items.at(-1)?.id ?? null;
        this.items.push({ id, role, text, audioBytes: 0 });
        this.send({ type: "conversation.item.created", previous_item_id: previous, item: { ...item, id, object: "realtime.item", status: "completed" } });
        return;
      }
      case "input_audio_buffer.append": {
        if (typeof ev.audio === "string") this.audioBuffer += Buffer.from(ev.audio, "base64").length;
        return;
      }
      case "input_audio_buffer.clear":
        this.audioBuffer = 0;
        this.send({ type: "input_audio_buffer.cleared" });
        return;
      case "input_audio_buffer.commit": {
        if (this.audioBuffer === 0) {
          this.error("invalid_request_error", "input_audio_buffer_commit_empty", "Error committing input audio buffer: buffer is empty.", ev.event_id ?? null);
          return;
        }
        const id = this.ids.next("item_");
        const previous = this.items.at(-1)?.id ?? null;
        this.items.push({ id, role: "user", text: "", audioBytes: this.audioBuffer });
        this.audioBuffer = 0;
        this.send({ type: "input_audio_buffer.committed", previous_item_id: previous, item_id: id });
        this.send({
          type: "conversation.item.created",
          previous_item_id: previous,
          item: { id, object: "realtime.item", type: "message", status: "completed", role: "user", content: [{ type: "input_audio", transcript: null }] },
        });
        return;
      }
      case "response.create":
        if (this.active) {
          this.error(
            "invalid_request_error",
            "conversation_already_has_active_response",
            `Conversation already has an active response in progress: ${this.active.id}. Wait until the response is finished before creating a new one.`,
            ev.event_id ?? null,
          );
          return;
        }
        void this.respond((ev.response ?? {}) as Json);
        return;
      case "response.cancel":
        if (!this.active) {
          this.error("invalid_request_error", "response_cancel_not_active", "Cancellation failed: no active response found.", ev.event_id ?? null);
          return;
        }
        this.active.cancel();
        return;
      default:
        this.error(
          "invalid_request_error",
          "invalid_value",
          `Invalid value: '${String(ev.type)}'. Supported values are client events of the Realtime API.`,
          ev.event_id ?? null,
        );
    }
  }

  private wantsAudio(response: Json): boolean {
    const of = (v: unknown): boolean => Array.isArray(v) && v.includes("audio");
    if (this.s.beta) return of(response.modalities ?? this.session.modalities);
    return of(response.output_modalities ?? this.session.output_modalities);
  }

  private async respond(response: Json): Promise<void> {
    const lastUser = [...this.items].reverse().find((i) => i.role === "user" && i.text !== "");
    const texts = [typeof response.instructions === "string" ? response.instructions : "", lastUser?.text ?? ""];
    const parsed = parseDirectives(texts);
    if ("unknown" in parsed) {
      this.error("invalid_request_error", "unknown_mock_directive", `Unknown mock directive: ${parsed.unknown.join(", ")}`);
      return;
    }
    const d = parsed;
    if (d.errorEvent !== undefined) {
      this.error("server_error", d.errorEvent, "The server had an error while processing your request.");
      return;
    }
    if (d.close !== undefined) {
      this.s.closed = { code: d.close, reason: "mock close" };
      this.ws.close(d.close, "mock close");
      return;
    }
    if (d.binary && this.ws.readyState === this.ws.OPEN) this.ws.send(Buffer.from("mock-binary-frame"), { binary: true });

    const audio = d.audio || this.wantsAudio(response);
    const beta = this.s.beta;
    const names = beta
      ? { text: "response.text", audio: "response.audio", transcript: "response.audio_transcript", textPart: "text", audioPart: "audio" }
      : {
          text: "response.output_text",
          audio: "response.output_audio",
          transcript: "response.output_audio_transcript",
          textPart: "output_text",
          audioPart: "output_audio",
        };
    const responseId = this.ids.next("resp_");
    const itemId = this.ids.next("item_");
    let cancelled = false;
    let wake: (() => void) | undefined;
    this.active = {
      id: responseId,
      cancel: () => {
        cancelled = true;
        wake?.();
      },
    };
    const words = d.text.split(/(?<= )/).filter((w) => w !== "");
    // A first word of N characters: one delta frame larger than anything the client sent (frame-limit tests).
    if (d.longWord !== undefined) words.unshift(`${"x".repeat(d.longWord)} `);
    const base = { object: "realtime.response", id: responseId, conversation_id: "conv_mock", output_modalities: audio ? ["audio"] : ["text"] };
    let sent = 0;
    let emittedWords = 0;
    /** Sends one event of the response, honouring drop/stall/delay; false once the response must stop. */
    const step = async (ev: Json): Promise<boolean> => {
      if (cancelled || this.ws.readyState !== this.ws.OPEN) return false;
      if (d.dropAfter !== undefined && sent >= d.dropAfter) {
        this.s.closed = { code: 1006, reason: "mock drop" };
        this.ws.terminate();
        return false;
      }
      if (d.stallAfter !== undefined && sent >= d.stallAfter) {
        // Held until response.cancel (or the connection ends): a deterministic "mid-response".
        await new Promise<void>((resolve) => {
          wake = resolve;
          if (cancelled) resolve();
        });
        return false;
      }
      if (d.chunkDelayMs > 0 && sent > 0) await sleep(d.chunkDelayMs);
      if (cancelled || this.ws.readyState !== this.ws.OPEN) return false;
      this.send(ev);
      sent++;
      return true;
    };
    const ids = { response_id: responseId, item_id: itemId, output_index: 0, content_index: 0 };
    const part = audio ? { type: names.audioPart, transcript: "" } : { type: names.textPart, text: "" };
    const run = async (): Promise<void> => {
      if (!(await step({ type: "response.created", response: { ...base, status: "in_progress", status_details: null, output: [], usage: null } }))) return;
      const item = { id: itemId, object: "realtime.item", type: "message", status: "in_progress", role: "assistant", content: [] };
      if (!(await step({ type: "response.output_item.added", response_id: responseId, output_index: 0, item }))) return;
      if (!(await step({ type: "conversation.item.created", previous_item_id: this.items.at(-1)?.id ?? null, item }))) return;
      if (!(await step({ type: "response.content_part.added", ...ids, part }))) return;
      for (const w of words) {
        if (audio) {
          if (!(await step({ type: `${names.audio}.delta`, ...ids, delta: Buffer.alloc(AUDIO_BYTES_PER_WORD).toString("base64") }))) return;
          if (!(await step({ type: `${names.transcript}.delta`, ...ids, delta: w }))) return;
        } else if (!(await step({ type: `${names.text}.delta`, ...ids, delta: w }))) return;
        emittedWords++;
      }
      if (audio) {
        if (!(await step({ type: `${names.audio}.done`, ...ids }))) return;
        if (!(await step({ type: `${names.transcript}.done`, ...ids, transcript: d.text }))) return;
      } else if (!(await step({ type: `${names.text}.done`, ...ids, text: d.text }))) return;
    };
    await run();
    this.active = undefined;
    if (this.ws.readyState !== this.ws.OPEN) return;
    // Complete, or cancelled part-way: either way response.done reports what was produced.
    const said = words.slice(0, emittedWords).join("");
    const content = audio ? [{ type: names.audioPart, transcript: said }] : [{ type: names.textPart, text: said }];
    const status = cancelled ? "cancelled" : "completed";
    const doneItem = { id: itemId, object: "realtime.item", type: "message", status: cancelled ? "incomplete" : "completed", role: "assistant", content };
    if (!cancelled) {
      this.send({ type: "response.content_part.done", ...ids, part: content[0] });
      this.send({ type: "response.output_item.done", response_id: responseId, output_index: 0, item: doneItem });
    }
    const usage = this.usage(audio, emittedWords, said, d.cached);
    this.items.push({ id: itemId, role: "assistant", text: said, audioBytes: audio ? emittedWords * AUDIO_BYTES_PER_WORD : 0 });
    this.s.usages.push(usage);
    this.send({
      type: "response.done",
      response: {
        ...base,
        status,
        status_details: cancelled ? { type: "cancelled", reason: "client_cancelled" } : null,
        output: emittedWords > 0 ? [doneItem] : [],
        usage,
      },
    });
  }

  /** Input: every item of the conversation so far (text by length, audio by duration), the instructions; cached: the previous response's input. */
  private usage(audio: boolean, words: number, said: string, cached: number | undefined): RealtimeUsage {
    const instructions = typeof this.session.instructions === "string" ? this.session.instructions : "";
    let text = textTokens(instructions);
    let audioIn = 0;
    for (const i of this.items) {
      text += textTokens(i.text);
      audioIn += Math.ceil(i.audioBytes / AUDIO_BYTES_PER_TOKEN);
    }
    const input = text + audioIn;
    const cachedTokens = Math.min(input, cached ?? this.lastInputTokens);
    this.lastInputTokens = input;
    const outText = audio ? 0 : textTokens(said);
    const outAudio = audio ? Math.ceil((words * AUDIO_BYTES_PER_WORD) / AUDIO_BYTES_PER_TOKEN) : 0;
    return {
      total_tokens: input + outText + outAudio,
      input_tokens: input,
      output_tokens: outText + outAudio,
      input_token_details: { cached_tokens: cachedTokens, text_tokens: text, audio_tokens: audioIn },
      output_token_details: { text_tokens: outText, audio_tokens: outAudio },
    };
  }
}
