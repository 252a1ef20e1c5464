/**
 * The passthrough lane: client and upstream speak the same protocol. The body
 * is forwarded as the original bytes with the smallest patch (docs/architecture.md#the-two-lanes, docs/architecture.md#measured-facts),
 * unknown fields intact; the answer is relayed as bytes and only observed to
 * meter usage.
 */
import { GatewayError } from "../canonical/errors.js";
import { emptyUsage, type Usage } from "../canonical/usage.js";
import type { UpstreamProtocol } from "../storage/ports.js";
import { HeldBytes, LazySseParser, oneDataLineEvent, sseData, sseFrame, type SseEvent } from "../transport/sse.js";
import { errorBody, frameSse, streamErrorEvents } from "./render-error.js";
import { clientGone, stoppedBy } from "./stop.js";
import type { ClientProtocol, TranslationWarning } from "../protocols/codec.js";
import { clientResponseHeaders } from "../upstream/headers.js";
import { errorInAnswer } from "../protocols/common/error-in-answer.js";
import { parseJsonBytes, patchBody, readMembers, type PeekedBody } from "./json-peek.js";
import { SlimEvent } from "./slim-event.js";
import { jsonBytes } from "./json-bytes.js";
import { openingHoldMs, openStream, streamFailedEarly } from "./open-stream.js";
import { eachChunk } from "./body-chunks.js";
import type { ClientRequest, LaneDriver } from "./lane.js";
import type { SendOptions } from "./attempt.js";
import type { Exchange } from "./exchange.js";
import { webSocketSettings } from "../upstream/responses-socket.js";
import type { UpstreamBody } from "../upstream/response.js";
import { SSE_HEADERS, warningsHeader, writeNow, writeTerminal } from "./write-client.js";
import { lastEventBoundary, nextEventBoundary } from "./sse-boundaries.js";
import { METERS } from "../protocols/registry.js";
import { CODEX_STRIPPED_FIELDS, codexPassthroughPatch } from "../protocols/codex/index.js";
import { withMembers } from "../canonical/shared-shape.js";

/**
 * JSON tokens whose presence anywhere in a body means an item-level Codex rule
 * may apply (role system → developer, prompt_cache_breakpoint removal). Inside
 * JSON string content a quote is escaped, so an unescaped `"system"` can only
 * be a key or a whole value: a cheap, exact-enough byte test for the slow path.
 */
const CODEX_ITEM_TOKENS = [Buffer.from('"system"'), Buffer.from('"prompt_cache_breakpoint"')];

export interface PreparedBody {
  body: Buffer;
  /** Whether the upstream will stream (the Codex backend always does). */
  upstreamStreams: boolean;
  /** Events of the answer to rewrite on the way back, undoing what the request patch added. */
  rewriter?: EventRewriter;
  /** Client fields the upstream's rules removed or overrode (the Codex backend's). */
  warnings?: TranslationWarning[];
}

/**
 * The bytes to send upstream. A Codex CLI request is already what the Codex
 * backend wants and passes untouched; anything else bound for Codex is parsed
 * and patched by the codex codec's rules.
 */
export function preparePassthroughBody(
  upstream: UpstreamProtocol,
  raw: Buffer,
  peek: PeekedBody,
  read: (name: string) => unknown,
  set: Record<string, unknown>,
): PreparedBody {
  if (upstream === "codex") {
    const instructions = read("instructions");
    const input = peek.fields.get("input");
    const clean =
      // The backend takes only a list of items; the bare-string shorthand goes the slow way.
      input !== undefined &&
      raw[input.start] === 0x5b &&
      read("store") === false &&
      read("stream") === true &&
      (instructions === undefined || typeof instructions === "string") &&
      !CODEX_STRIPPED_FIELDS.some((f) => peek.fields.has(f) && !(f === "service_tier" && read(f) === "priority")) &&
      !CODEX_ITEM_TOKENS.some((t) => raw.includes(t));
    if (clean) {
      // Codex CLI omits `instructions`, which the backend requires: one more spliced field.
      const patch = instructions === undefined ? { instructions: "", ...set } : set;
      return { body: patchBody(raw, peek, patch), upstreamStreams: true, rewriter: codexCompletedOutputRewriter() };
    }
    const parsed = parseJsonBytes(raw) as Record<string, unknown>;
    const { body, warnings } = codexPassthroughPatch(Object.assign(parsed, set));
    return { body: jsonBytes(body), upstreamStreams: true, rewriter: codexCompletedOutputRewriter(), warnings };
  }
  const streams = read("stream") === true;
  if (upstream === "openai-chat" && streams) {
    // A Chat stream reports usage only when asked (docs/protocols.md#chat-streaming). Every call is metered,
    // so ask, and take the usage chunk back out when the client did not ask for it.
    const options = read("stream_options");
    const asked = options !== null && typeof options === "object" && (options as Record<string, unknown>).include_usage === true;
    if (!asked) {
      const merged = withMembers(options !== null && typeof options === "object" ? options : {}, { include_usage: true });
      return { body: patchBody(raw, peek, withMembers(set, { stream_options: merged })), upstreamStreams: true, rewriter: chatUsageChunkRemover() };
    }
  }
  return { body: patchBody(raw, peek, set), upstreamStreams: streams };
}

/** Upstream 4xx bodies are already in the client's protocol, except Codex's `{"detail": …}`. */
export function passthroughErrorBody(upstream: UpstreamProtocol, client: ClientProtocol, status: number, text: string, requestId: string): unknown {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  if (json && typeof json === "object" && !(upstream === "codex" && "detail" in json)) {
    // Anthropic's envelope names a request id; the client and our support need the gateway's
    // (the upstream's goes to the log line with it).
    const body = json as Record<string, unknown>;
    return typeof body.request_id === "string" ? withMembers(body, { request_id: requestId }) : body;
  }
  const detail = json && typeof json === "object" && "detail" in json ? String((json as { detail: unknown }).detail) : text.slice(0, 500);
  return errorBody(client, new GatewayError("invalid_request", "upstream_rejected", detail || `Upstream answered HTTP ${status}.`, { status }), requestId);
}

export interface RelayResult {
  usage: Usage;
  /** The upstream's terminal event arrived. */
  completed: boolean;
  /** The stream broke or carried an error after the first byte. */
  failed: boolean;
  /**
   * Why it failed: the stream broke, ended early, carried the upstream's own error event, the client
   * left, or the gateway stopped it (then `stopped` is what the client was told).
   */
  errorCode?: string;
  stopped?: GatewayError;
}

/**
 * Rewrites individual events of a relayed stream. Only the events its `triggers` find are passed
 * to `rewrite`, each decoded on its own (and its data only when read), which returns the
 * replacement frame text ("" drops the event), or undefined to keep it. Every other byte of the
 * stream goes out as it came, so a span whose events are all kept is its own bytes.
 */
export interface EventRewriter {
  /** Made once per kind of rewriter (a module constant), not per stream: a pattern is compiled when made. */
  readonly triggers: EventTriggers;
  rewrite(ev: SseEvent): string | undefined;
  /** Bytes cut out of every event, found by a byte search (no decoding). */
  readonly strip?: string;
}

/**
 * Undoes `include_usage` for a Chat client that did not ask for it: drops the
 * `choices: []` usage chunk, and the `"usage":null` member OpenAI then adds to
 * every other chunk (it sends no such member when usage was not asked for).
 */
export function chatUsageChunkRemover(): EventRewriter {
  return {
    triggers: CHAT_USAGE_CHUNK,
    rewrite: (ev) => (ev.data.includes('"choices":[]') && ev.data.includes('"usage":{') ? "" : undefined),
    strip: ',"usage":null',
  };
}

/**
 * `span` without any occurrence of `pattern`; the same buffer when there is none. `text` is the
 * span's Latin-1 view (one byte, one code unit, so positions and bytes carry over both ways), the
 * one the trigger search already made: one `replaceAll` and one copy back, where a `Buffer.indexOf`
 * for each occurrence and a join of the pieces made a native call for every chunk of a Chat
 * stream, each of which holds the pattern.
 */
function stripBytes(span: Buffer, text: string, pattern: string): Buffer {
  return text.includes(pattern) ? Buffer.from(text.replaceAll(pattern, ""), "latin1") : span;
}

/**
 * Found without its leading quote, as the Chat meter's search is (ProtocolMeter.triggerSearch), so
 * the joint search of both begins no alternative at a quote; `rewrite` checks the exact bytes.
 */
const CHAT_USAGE_CHUNK: EventTriggers = { kind: "bytes", pattern: /choices":\[\]/g };

/** What the Codex rewriter reads of a terminal event before deciding to decode it whole. */
const RESPONSE_OUTPUT = { response: { output: true } } as const;

/**
 * The Codex backend may send `response.completed` (or `.incomplete`) with an empty `output`
 * (docs/protocols.md#codex-answers-and-errors); Codex CLI copes, but SDK clients read the final object.
 * This fills it from the `response.output_item.done` events seen on the way.
 */
export function codexCompletedOutputRewriter(): EventRewriter {
  const items = new Map<number, unknown>();
  return {
    triggers: CODEX_OUTPUT_EVENTS,
    rewrite(ev) {
      if (ev.event === "response.output_item.done") {
        try {
          const d = JSON.parse(ev.data) as { output_index?: unknown; item?: unknown };
          if (typeof d.output_index === "number") items.set(d.output_index, d.item);
        } catch {
          // Forwarded as is; the client sees what the upstream sent.
        }
        return undefined;
      }
      if ((ev.event !== "response.completed" && ev.event !== "response.incomplete") || items.size === 0) return undefined;
      try {
        // The event repeats the request's instructions and tools: its output is read off the bytes, and
        // the whole event decoded only when the output is to be filled.
        const peeked = JSON.parse(new SlimEvent(ev, RESPONSE_OUTPUT).data) as { response?: { output?: unknown[] } };
        if (!peeked.response || (Array.isArray(peeked.response.output) && peeked.response.output.length > 0)) return undefined;
        const d = JSON.parse(ev.data) as { response: { output?: unknown[] } };
        d.response.output = [...items.entries()].sort((a, b) => a[0] - b[0]).map(([, item]) => item);
        return sseFrame(ev.event, JSON.stringify(d));
      } catch {
        return undefined;
      }
    },
  };
}

/**
 * How a relay finds the events a protocol's meter or a rewriter acts on: by byte patterns (as one
 * expression, see {@link triggerPattern}), or by event names (see {@link namedEvents}).
 */
export type EventTriggers = { kind: "bytes"; pattern: RegExp } | { kind: "names"; names: readonly Buffer[] };

const CODEX_OUTPUT_EVENTS: EventTriggers = {
  kind: "names",
  names: ["response.output_item.done", "response.completed", "response.incomplete"].map((t) => Buffer.from(t)),
};

const meterTriggerBuffers = new Map<UpstreamProtocol, EventTriggers>();

/** The meter's triggers as Buffers, made once per protocol: Buffer's search and compare take Buffers. */
function meterTriggers(protocol: UpstreamProtocol): EventTriggers {
  let triggers = meterTriggerBuffers.get(protocol);
  if (!triggers) {
    const meter = METERS[protocol];
    triggers = meter.triggerEvents
      ? { kind: "names", names: meter.triggerEvents.map((n) => Buffer.from(n)) }
      : { kind: "bytes", pattern: meter.triggerSearch ?? triggerPattern(meter.triggers) };
    meterTriggerBuffers.set(protocol, triggers);
  }
  return triggers;
}

/**
 * The whole events the held bytes and `chunk` complete, as one span (undefined when none); the
 * rest is held. Held as transport/sse.ts holds a line: a big event over many chunks (a Responses
 * event repeating the request, split into TLS records) is joined once, and each chunk searched once.
 */
function wholeEvents(held: HeldBytes, chunk: Buffer): Buffer | undefined {
  let cut = lastEventBoundary(chunk);
  if (held.length > 0) {
    // A blank line split between the held bytes and the chunk: at most three bytes on each side.
    const tail = held.tail(3);
    const straddled = lastEventBoundary(Buffer.concat([tail, chunk.subarray(0, 3)])) - tail.length;
    if (straddled > cut) cut = straddled;
  }
  if (cut <= 0) {
    held.hold(chunk);
    return undefined;
  }
  const at = held.length + cut;
  const buf = held.joinedWith(chunk);
  if (at < buf.length) held.hold(buf.subarray(at));
  return buf.subarray(0, at);
}

/**
 * The byte patterns as one regular expression over a Latin-1 view of the bytes, where each
 * character is one byte, so a match's index is its byte offset. One pass of it beats a
 * `Buffer.indexOf` per pattern, which builds its search tables on every call and cannot skip
 * far on JSON's frequent quotes: the Chat meter's six searches of each span were 5.9 % of the
 * gateway's busy time in a profile of `npm run bench`'s stream-1k at 50 connections
 * (docs/architecture.md#the-two-lanes).
 */
export function triggerPattern(patterns: readonly Uint8Array[]): RegExp {
  const alternatives = patterns.map((p) =>
    Buffer.from(p.buffer, p.byteOffset, p.byteLength)
      .toString("latin1")
      .replace(/[\\^$.*+?()[\]{}|/-]/g, "\\$&"),
  );
  return new RegExp(alternatives.join("|"), "g");
}

/**
 * The events of `span` (whole events) that hold a match of `pattern` (a {@link triggerPattern}),
 * in stream order, as views. The meter acts on no other event (ProtocolMeter.triggers), so the
 * rest are never parsed: an upstream that sends a whole answer in one read costs what one that
 * sends event by event does.
 */
export function triggeredEvents(span: Buffer, pattern: RegExp, text: string = span.toString("latin1")): Buffer[] {
  const events: Buffer[] = [];
  // Shared between calls, and safe so: nothing here awaits.
  pattern.lastIndex = 0;
  for (let m = pattern.exec(text); m !== null; m = pattern.exec(text)) {
    const start = lastEventBoundary(span, m.index);
    const end = nextEventBoundary(span, start + 1);
    events.push(span.subarray(start, end));
    // The rest of this event needs no search: it is metered already.
    pattern.lastIndex = end;
  }
  return events;
}

/** Two {@link triggerPattern}s and the one expression that finds both (see {@link jointTriggers}). */
export interface JointTriggers {
  readonly first: RegExp;
  readonly second: RegExp;
  /** The first's alternatives in a group, so a match says which of the two it is. */
  readonly joint: RegExp;
}

/** Joint triggers by their two parts: made once per pair (the parts are module constants), not per stream. */
const jointTriggersMade = new WeakMap<RegExp, WeakMap<RegExp, JointTriggers>>();

/** The joint triggers of two {@link triggerPattern}s (escaped literals, which hold no groups of their own). */
export function jointTriggers(first: RegExp, second: RegExp): JointTriggers {
  let bySecond = jointTriggersMade.get(first);
  if (!bySecond) jointTriggersMade.set(first, (bySecond = new WeakMap()));
  let made = bySecond.get(second);
  if (!made) bySecond.set(second, (made = { first, second, joint: new RegExp(`(${first.source})|${second.source}`, "g") }));
  return made;
}

/**
 * {@link triggeredEvents} for two patterns in one pass over `text` (the span's Latin-1 view): the
 * events each finds, in stream order, as two separate searches would. A Chat stream whose usage
 * the client did not ask for is searched for the meter's triggers and the remover's: a second pass
 * over the whole span was the largest single part of what the remover cost (docs/architecture.md#the-two-lanes).
 * The first match in an event names one pattern; the other is looked for in the rest of that
 * event only.
 */
export function jointlyTriggeredEvents(span: Buffer, { first, second, joint }: JointTriggers, text: string = span.toString("latin1")): [Buffer[], Buffer[]] {
  const byFirst: Buffer[] = [];
  const bySecond: Buffer[] = [];
  // Shared between calls, and safe so: nothing here awaits.
  joint.lastIndex = 0;
  for (let m = joint.exec(text); m !== null; m = joint.exec(text)) {
    const start = lastEventBoundary(span, m.index);
    const end = nextEventBoundary(span, start + 1);
    const view = span.subarray(start, end);
    const isFirst = m[1] !== undefined;
    // At the same place the group wins, so the other may match there too (a longer literal), or later.
    const other = isFirst ? second : first;
    other.lastIndex = 0;
    const both = other.test(text.slice(m.index, end));
    if (isFirst || both) byFirst.push(view);
    if (!isFirst || both) bySecond.push(view);
    joint.lastIndex = end;
  }
  return [byFirst, bySecond];
}

const LF = 0x0a;
const CR = 0x0d;
const EVENT_FIELD = Buffer.from("event:");

/** Whether the line `span[start, end)` is an `event:` line naming one of `names` (a prefix is enough). */
function namesEvent(span: Buffer, start: number, end: number, names: readonly Buffer[]): boolean {
  if (end - start < EVENT_FIELD.length || !bytesAt(span, start, EVENT_FIELD)) return false;
  let at = start + EVENT_FIELD.length;
  if (span[at] === 0x20) at++;
  for (const name of names) if (end - at >= name.length && bytesAt(span, at, name)) return true;
  return false;
}

/**
 * Whether `span` holds `token` from `at` (the caller checked the length). Compared in a loop:
 * `Buffer.compare` validates its five arguments and crosses into C++ on every call, which for
 * a field name and a few event names, on every line of a stream, cost about 40 µs a Responses
 * stream in a profile at 50 connections (bench/README.md#where-the-cpu-goes).
 */
function bytesAt(span: Uint8Array, at: number, token: Uint8Array): boolean {
  for (let i = 0; i < token.length; i++) if (span[at + i] !== token[i]) return false;
  return true;
}

/**
 * The events of `span` (whole events) whose `event:` line names one of `names`, in stream order,
 * as views: for a meter that acts on events by name (ProtocolMeter.triggerEvents), found line by
 * line, so a big event's data line is skipped over, never searched.
 */
export function namedEvents(span: Buffer, names: readonly Buffer[]): Buffer[] {
  const out: Buffer[] = [];
  let start = 0;
  let named = false;
  for (let i = 0; i < span.length;) {
    let j = span.indexOf(LF, i);
    if (j === -1) j = span.length;
    const end = j > i && span[j - 1] === CR ? j - 1 : j;
    if (end === i) {
      if (named) out.push(span.subarray(start, j + 1));
      named = false;
      start = j + 1;
    } else if (!named && span[i] === 0x65 && namesEvent(span, i, end, names)) {
      named = true;
    }
    i = j + 1;
  }
  return out;
}

function isJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

/** The events of whole events' bytes. A fresh parser: whole events need no state across spans. */
function eventsOf(span: Buffer): SseEvent[] {
  const one = oneDataLineEvent(span);
  if (one !== undefined) return [one];
  const parser = new LazySseParser();
  const events = parser.push(span);
  for (const ev of parser.end()) events.push(ev);
  return events;
}

function frameOf(ev: SseEvent): string {
  return ev.event !== undefined ? sseFrame(ev.event, ev.data) : sseData(ev.data);
}

/**
 * Relays an upstream SSE stream to the client. Only whole events are written,
 * so if the upstream breaks mid-event the client still gets a well-formed
 * protocol error event and a cleanly ended stream. Without a rewriter the
 * original bytes are written; with one, the spans holding an event it changes are re-framed event by event.
 */
export async function relayStream(
  upstream: UpstreamProtocol,
  client: ClientProtocol,
  body: UpstreamBody,
  /**
   * `last` is set on the write that holds the stream's terminal event (the meter's completion).
   * Returns a promise only when the relay must wait (a full sink, a client gone).
   */
  write: (chunk: Buffer | string, last?: boolean) => Promise<void> | undefined,
  signal: AbortSignal,
  rewrite?: EventRewriter,
): Promise<RelayResult> {
  const meter = METERS[upstream];
  const observer = meter.createStreamMeter();
  const members = meter.eventMembers;
  const triggers = meterTriggers(upstream);
  const held = new HeldBytes();
  let failed = false;
  let failure: GatewayError | undefined;
  const observeSpan = (span: Buffer): SseEvent[] => {
    const events = eventsOf(span);
    for (const ev of events) observer.observe(members ? new SlimEvent(ev, members) : ev);
    return events;
  };
  const strip = rewrite?.strip;
  /** `bytes` without the rewriter's `strip`; `text` is their Latin-1 view when already made. */
  const cut = (bytes: Buffer, text?: string): Buffer => (strip === undefined ? bytes : stripBytes(bytes, text ?? bytes.toString("latin1"), strip));
  /** Events framed anew, as the rewriter (if any) changes them. */
  const reframe = (events: SseEvent[]): string => {
    let out = "";
    for (const ev of events) out += rewrite?.rewrite(ev) ?? frameOf(ev);
    return strip === undefined ? out : out.replaceAll(strip, "");
  };
  /**
   * The span as the rewriter leaves it: each of the `touched` events (views of the span) it replaces
   * or drops is spliced out, and the bytes around them go out as they came. A Chat stream whose
   * usage chunk is dropped was decoded and framed anew whole before, every event of it. With a
   * `strip`, the pieces are put together as Latin-1 text (the span's view, and the frames' UTF-8
   * bytes as such), cut once and copied once into the buffer that goes out; a buffer for each
   * piece and a join of them cost three copies of the answer.
   */
  const rewriteSpan = (span: Buffer, latin1: string | undefined, touched: readonly Buffer[]): Buffer => {
    const text = strip === undefined ? undefined : (latin1 ?? span.toString("latin1"));
    let parts: Buffer[] | undefined;
    let joined: string | undefined;
    let from = 0;
    for (const view of touched) {
      const events = eventsOf(view);
      const replaced = events.map((ev) => rewrite!.rewrite(ev));
      if (replaced.every((r) => r === undefined)) continue;
      let frames = "";
      for (let i = 0; i < events.length; i++) frames += replaced[i] ?? frameOf(events[i]!);
      const at = view.byteOffset - span.byteOffset;
      if (text === undefined) {
        (parts ??= []).push(span.subarray(from, at));
        if (frames.length > 0) parts.push(Buffer.from(frames));
      } else {
        joined = (joined ?? "") + text.slice(from, at);
        if (frames.length > 0) joined += Buffer.from(frames).toString("latin1");
      }
      from = at + view.length;
    }
    if (joined !== undefined) return Buffer.from((joined + text!.slice(from)).replaceAll(strip!, ""), "latin1");
    if (parts === undefined) return cut(span, text);
    parts.push(span.subarray(from));
    return Buffer.concat(parts);
  };
  // Both by bytes (a Chat stream whose usage the client did not ask for): one search finds both.
  const rewriteTriggers = rewrite?.triggers;
  const joint = triggers.kind === "bytes" && rewriteTriggers?.kind === "bytes" ? jointTriggers(triggers.pattern, rewriteTriggers.pattern) : undefined;
  /** Most events carry nothing to meter or rewrite: only events holding a trigger are decoded at all. */
  const forward = (span: Buffer): Promise<void> | undefined => {
    const before = observer.completed;
    let text: string | undefined;
    const found = (t: EventTriggers): Buffer[] =>
      t.kind === "names" ? namedEvents(span, t.names) : triggeredEvents(span, t.pattern, (text ??= span.toString("latin1")));
    let metered: Buffer[];
    let touched: Buffer[] | undefined;
    if (joint) {
      [metered, touched] = jointlyTriggeredEvents(span, joint, (text = span.toString("latin1")));
    } else {
      metered = found(triggers);
      touched = rewriteTriggers && found(rewriteTriggers);
    }
    for (const event of metered) observeSpan(event);
    const out = touched !== undefined && touched.length > 0 ? rewriteSpan(span, text, touched) : cut(span, text);
    return out.length > 0 ? write(out, !before && observer.completed) : undefined;
  };
  try {
    // Chunks already received are relayed within the call, and a write waited for only when the
    // sink asks: a stream that arrived whole goes out without a turn of the microtask queue.
    await eachChunk(body, (chunk) => {
      const whole = wholeEvents(held, chunk);
      return whole && forward(whole);
    });
    const pending = held.take();
    if (pending) {
      // The upstream closed without a final blank line. Forward what is there only if it
      // is whole (some servers end on `data: [DONE]` alone); half an event is dropped.
      const events = observeSpan(pending);
      if (events.every((ev) => ev.data === "[DONE]" || isJson(ev.data))) await write(reframe(events));
    }
    if (!observer.completed && !observer.errorMessage) {
      failed = true;
      failure = new GatewayError("upstream", "upstream_stream_incomplete", "The upstream stream ended before the response was complete.");
    }
  } catch (err) {
    if (clientGone(signal)) return { usage: observer.usage, completed: false, failed: true, errorCode: "client_closed" };
    failed = true;
    // Stopped by the gateway (shutdown): the client is still there and is told why, in its protocol.
    failure = stoppedBy(signal) ?? new GatewayError("upstream", "upstream_stream_broken", `The upstream stream broke: ${(err as Error).message}`);
  }
  if (observer.errorMessage) failed = true;
  if (failure && !clientGone(signal)) {
    await write(frameSse(streamErrorEvents(client, failure)))?.catch(() => undefined);
  }
  const errorCode = failure ? failure.code : failed ? "upstream_error" : undefined;
  return { usage: observer.usage, completed: observer.completed && !failed, failed, errorCode, stopped: stoppedBy(signal) };
}

/** The body fields this lane sets: the session's cache key where the upstream takes one, and none where it does not. */
function cacheKeyPatch(sendsCacheKey: boolean, request: ClientRequest): Record<string, unknown> {
  if (sendsCacheKey) return request.affinity.key ? { prompt_cache_key: request.affinity.key } : {};
  // An upstream that rejects the field gets none, not even the client's.
  return request.body.peek.fields.has("prompt_cache_key") ? { prompt_cache_key: undefined } : {};
}

/**
 * What the attempt needs to send a Responses WebSocket turn on the connection's upstream socket, when
 * the upstream takes one (`websocket: true`): the client's incremental frame prepared with the same
 * patch as the full body, and Codex's turn id for `x-codex-turn-state`.
 */
function socketTurn(
  ex: Exchange,
  request: ClientRequest,
  upstream: { protocol: UpstreamProtocol; settings: Record<string, unknown> },
  patch: Record<string, unknown>,
): SendOptions["socket"] {
  const turn = ex.socketTurn;
  if (!turn || !webSocketSettings(upstream.protocol, upstream.settings).enabled) return undefined;
  const c = request.chained;
  const chained = c
    ? { body: preparePassthroughBody(upstream.protocol, c.body.raw, c.body.peek, c.body.read, patch).body, previousId: c.previousId }
    : undefined;
  return { session: turn.session, chained, turnId: codexTurnId(request.body.read("client_metadata")) };
}

/** Codex's turn id, from the `x-codex-turn-metadata` JSON that its frames mirror in `client_metadata` (docs/protocols.md#codex-cli-over-websocket). */
function codexTurnId(metadata: unknown): string | undefined {
  if (!metadata || typeof metadata !== "object") return undefined;
  const raw = (metadata as Record<string, unknown>)["x-codex-turn-metadata"];
  if (typeof raw !== "string") return undefined;
  try {
    const id = (JSON.parse(raw) as { turn_id?: unknown }).turn_id;
    return typeof id === "string" && id !== "" ? id : undefined;
  } catch {
    return undefined;
  }
}

/** The top-level members a non-streamed answer is checked and metered by (errorInAnswer, the protocols' usageFromJson). */
const ANSWER_FACTS: ReadonlySet<string> = new Set(["usage", "error", "type"]);

/**
 * Those members of an answer, read off its bytes (`json-peek` `readMembers`), the rest only
 * scanned: a coding agent's answer is tens of KB of text, and decoding and parsing all of it only
 * to read `usage` cost more than the rest of the lane; a short answer's parse is cold code on
 * the request path (docs/architecture.md#measured-facts). An answer that is not a well-formed
 * object is parsed whole, so it still gives JSON.parse's result or error.
 */
export function answerFacts(raw: Buffer): unknown {
  return readMembers(raw, ANSWER_FACTS);
}

export const runPassthrough: LaneDriver = async (deps, ex, attempt, request) => {
  const upstream = attempt.target.upstream;
  // A mapped model goes upstream under its served name; the answer carries that name too
  // on this lane (docs/routing.md#what-the-client-sees).
  const patch =
    attempt.planned.model === request.model
      ? cacheKeyPatch(attempt.target.sendsCacheKey, request)
      : withMembers(cacheKeyPatch(attempt.target.sendsCacheKey, request), { model: attempt.planned.model });
  const prepared = preparePassthroughBody(upstream.protocol, request.body.raw, request.body.peek, request.body.read, patch);
  const socket = socketTurn(ex, request, upstream, patch);
  const sent = await attempt.send({ body: prepared.body, stream: request.stream, query: ex.query, affinityKey: request.affinity.key, socket });
  if (!sent.ok) {
    if (sent.retryable) return { kind: "retry", error: sent.error };
    deps.logger.info(
      { requestId: ex.id, upstream: upstream.name, status: sent.status, upstreamRequestId: sent.headers["request-id"] ?? sent.headers["x-request-id"] },
      "upstream refused the request",
    );
    const errBody = passthroughErrorBody(upstream.protocol, ex.protocol, sent.status, sent.bodyText, ex.id);
    const json = JSON.stringify(errBody);
    ex.res.writeHead(sent.status, { "content-type": "application/json", ...clientResponseHeaders(sent.headers) });
    ex.res.end(json);
    return { kind: "done", outcome: { status: sent.status, usage: emptyUsage(), errorCode: "upstream_rejected" } };
  }
  const response = sent.response;
  const passHeaders = clientResponseHeaders(response.headers);
  const warnings = warningsHeader(prepared.warnings ?? []);
  if (warnings) {
    passHeaders["x-switchyard-warnings"] = warnings;
    deps.logger.info({ requestId: ex.id, warnings: prepared.warnings }, "client fields removed for the upstream");
  }
  if (request.stream) {
    // Nothing goes to the client until the stream shows content: an error before it is a failed attempt.
    const opening = openStream(upstream.protocol, response.body, openingHoldMs(attempt));
    const opened = opening instanceof Promise ? await opening : opening;
    if (opened.kind === "failed") return streamFailedEarly(ex, attempt, opened, () => response.discard());
    ex.res.writeHead(response.status, withMembers(SSE_HEADERS, passHeaders));
    // No flushHeaders: the stream has shown content, so the first event follows at once and
    // the head goes out in the same write (one syscall per stream fewer on loopback-heavy paths).
    // On an upstream socket a client that leaves does not stop the read: the upstream goes on until
    // its terminal event either way, and that event carries the usage the record must show.
    const write = (chunk: Buffer | string, last?: boolean): Promise<void> | undefined =>
      socket && ex.res.destroyed ? undefined : last ? writeTerminal(ex.res, chunk) : writeNow(ex.res, chunk);
    const relay = await relayStream(upstream.protocol, ex.protocol, opened.body, write, ex.signal, prepared.rewriter);
    attempt.finish(relay.completed && !clientGone(ex.signal) ? "ok" : relay.failed && !ex.signal.aborted ? "broken" : "neutral");
    ex.res.end();
    if (socket && clientGone(ex.signal)) return { kind: "done", outcome: { status: 499, usage: relay.usage, errorCode: "client_closed" } };
    if (!relay.failed) return { kind: "done", outcome: { status: response.status, usage: relay.usage } };
    const status = relay.stopped?.status ?? (clientGone(ex.signal) ? 499 : 502);
    return { kind: "done", outcome: { status, usage: relay.usage, errorCode: relay.stopped?.code ?? relay.errorCode } };
  }
  let raw: Buffer;
  try {
    raw = await response.bytes();
  } catch (err) {
    attempt.finish("neutral");
    if (ex.signal.aborted) throw err;
    return { kind: "retry", error: new GatewayError("upstream", "upstream_body_broken", "The upstream broke off its answer.") };
  }
  let usage = emptyUsage();
  try {
    const json = answerFacts(raw);
    const failure = errorInAnswer(json);
    if (failure) return { kind: "retry", error: attempt.errorInAnswer(failure) };
    usage = METERS[upstream.protocol].usageFromJson(json);
  } catch {
    deps.logger.warn({ requestId: ex.id, upstream: upstream.name }, "upstream answer is not JSON; usage not metered");
  }
  attempt.finish("ok");
  ex.res.writeHead(response.status, {
    "content-type": String(response.headers["content-type"] ?? "application/json"),
    "content-length": raw.length,
    ...passHeaders,
  });
  ex.res.end(raw);
  return { kind: "done", outcome: { status: response.status, usage } };
};
