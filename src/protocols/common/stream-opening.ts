/**
 * What the opening events of an upstream SSE stream say, before any content:
 * an upstream may answer 200 and then fail in its first events (Anthropic's
 * `event: error` with `overloaded_error`, a Responses `response.failed` or
 * `error` event, an OpenAI-compatible Chat `data: {"error": …}` chunk). Until
 * an event carries something the client would see as part of the answer
 * (text, reasoning, a tool call, a finish), nothing is lost by trying the next
 * key, so the pipeline holds these events back and asks this module about each.
 *
 * "opening" events are the ones that carry no content (Anthropic's
 * `message_start`, `ping`, an empty block start; Responses' `response.created`,
 * `in_progress`, an empty item or part being added; Chat's role-only first
 * chunk). Anything not known to be opening is content: the stream commits.
 */
import type { UpstreamProtocol } from "../../canonical/protocols.js";
import type { InboundEvent } from "../codec.js";
import { errorInAnswer, type AnswerError } from "./error-in-answer.js";

export type OpeningVerdict = { kind: "opening" } | { kind: "content" } | { kind: "error"; error: AnswerError };

const OPENING: Readonly<{ kind: "opening" }> = { kind: "opening" };
const CONTENT: Readonly<{ kind: "content" }> = { kind: "content" };

function parse(data: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(data);
    return v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

const isEmpty = (v: unknown): boolean => v === null || v === undefined || v === "" || (Array.isArray(v) && v.length === 0);

/**
 * `"content":"` and then anything but the closing quote: a `content` member holding a non-empty
 * string (inside a JSON string every quote is escaped, so these characters can only be a key and
 * the start of its value). With no `"error"` anywhere the chunk has no error member, so a chunk
 * of text, the one that ends a Chat stream's hold, is content without being parsed. A `content`
 * member somewhere else than a choice's delta would end the hold an event early, never late.
 */
const TEXT_IN_CHUNK = /"content":"[^"]/;

/**
 * The role-only first chunk as OpenAI writes it (and DeepSeek, without `refusal`), one choice:
 * matched on the characters, it opens without a parse, the chunk every Chat stream begins with.
 * Unescaped quotes cannot be inside a string, so these can only be members; a chunk that has them
 * nested somewhere else is at worst held one event longer, which loses nothing (nothing has
 * reached the client). Any other form goes to the parse.
 */
const ROLE_ONLY_CHOICE =
  /"choices":\[\{"index":0,"delta":\{"role":"assistant"(?:,"content":(?:""|null))?(?:,"refusal":null)?\}(?:,"logprobs":null)?,"finish_reason":null\}\]/;

/** A Chat chunk whose choices say nothing yet: only a role, empty strings or nulls, no finish. */
function chatOpening(o: Record<string, unknown>): boolean {
  const choices = o.choices;
  if (!Array.isArray(choices) || choices.length === 0) return false;
  for (const c of choices) {
    if (c === null || typeof c !== "object") return false;
    const choice = c as Record<string, unknown>;
    if (!isEmpty(choice.finish_reason)) return false;
    const delta = choice.delta;
    if (delta === null || typeof delta !== "object") return false;
    for (const [k, v] of Object.entries(delta)) if (k !== "role" && !isEmpty(v)) return false;
  }
  return true;
}

const RESPONSES_OPENING = new Set(["response.created", "response.in_progress", "response.queued", "codex.rate_limits"]);

/**
 * An empty message or reasoning item added, and an empty text part added, as OpenAI writes them:
 * the two events between `in_progress` and the first delta of every Responses stream, matched on
 * the characters as {@link ROLE_ONLY_CHOICE} is, so they open without a parse. The member ends
 * the data (`}}` and the end), so it is the event's own, not one nested deeper; any other form,
 * or a reasoning item that carries more, goes to the parse.
 */
const EMPTY_ITEM_ADDED = /"item":\{"id":"[^"\\]*","type":"(?:message","status":"in_progress","content":\[\],"role":"assistant"|reasoning","summary":\[\])\}\}$/;
const EMPTY_PART_ADDED = /"part":\{"type":"output_text","annotations":\[\],(?:"logprobs":\[\],)?"text":""\}\}$/;

/** An item or part added with nothing in it yet (the mark that text is about to come). */
function responsesEmptyAdd(type: string, o: Record<string, unknown>): boolean {
  if (type === "response.content_part.added") {
    const part = o.part as Record<string, unknown> | undefined;
    return part !== undefined && isEmpty(part.text);
  }
  if (type === "response.output_item.added") {
    const item = o.item as Record<string, unknown> | undefined;
    return item !== undefined && (item.type === "message" || item.type === "reasoning") && isEmpty(item.content) && isEmpty(item.summary);
  }
  return false;
}

/**
 * An empty text or thinking block started, as Anthropic writes it: matched on the characters, as
 * {@link EMPTY_ITEM_ADDED} is, so the event before a stream's first delta opens without a parse.
 */
const EMPTY_BLOCK_START = /"content_block":\{"type":"(?:text","text":""|thinking","thinking":""(?:,"signature":"")?)\}\}$/;

function anthropicEmptyBlockStart(o: Record<string, unknown>): boolean {
  const block = o.content_block as Record<string, unknown> | undefined;
  if (!block) return false;
  return (block.type === "text" && isEmpty(block.text)) || (block.type === "thinking" && isEmpty(block.thinking));
}

function errorOf(o: Record<string, unknown> | undefined, fallback: string): AnswerError {
  return (o && errorInAnswer(o)) ?? { message: fallback, code: undefined };
}

/** Classifies one event of an upstream stream that has shown no content yet. */
export function classifyOpeningEvent(protocol: UpstreamProtocol, ev: InboundEvent): OpeningVerdict {
  switch (protocol) {
    case "openai-chat": {
      const data = ev.data;
      if (data === "[DONE]") return CONTENT;
      if (!data.includes('"error"')) {
        if (TEXT_IN_CHUNK.test(data)) return CONTENT;
        if (ROLE_ONLY_CHOICE.test(data)) return OPENING;
      }
      const o = parse(data);
      if (!o) return CONTENT;
      if (o.error !== undefined && o.error !== null) return { kind: "error", error: errorOf(o, "The upstream stream failed.") };
      return chatOpening(o) ? OPENING : CONTENT;
    }
    case "anthropic": {
      // The event's name decides most events without reading their data (which may be decoded lazily).
      let o = ev.event === undefined ? parse(ev.data) : undefined;
      const type = ev.event ?? (typeof o?.type === "string" ? o.type : undefined);
      if (type === "message_start" || type === "ping") return OPENING;
      if (type !== "error" && type !== "content_block_start") return CONTENT;
      if (o === undefined && type === "content_block_start" && EMPTY_BLOCK_START.test(ev.data)) return OPENING;
      o ??= parse(ev.data);
      if (type === "error") return { kind: "error", error: errorOf(o, "The upstream stream failed.") };
      return o && anthropicEmptyBlockStart(o) ? OPENING : CONTENT;
    }
    case "openai-responses":
    case "codex": {
      // A Responses stream's opening events repeat the request's instructions and tools: named ones
      // are classified by their name, and only the few that need it have their data parsed.
      let o = ev.event === undefined ? parse(ev.data) : undefined;
      const type = ev.event ?? (typeof o?.type === "string" ? o.type : undefined);
      if (type === undefined) return CONTENT;
      if (RESPONSES_OPENING.has(type)) return OPENING;
      if (type !== "error" && type !== "response.failed" && type !== "response.content_part.added" && type !== "response.output_item.added") return CONTENT;
      if (o === undefined) {
        if (type === "response.output_item.added" && EMPTY_ITEM_ADDED.test(ev.data)) return OPENING;
        if (type === "response.content_part.added" && EMPTY_PART_ADDED.test(ev.data)) return OPENING;
      }
      o ??= parse(ev.data);
      if (type === "error") {
        // The bare `error` event carries code and message at the top level.
        const code = typeof o?.code === "string" ? o.code : undefined;
        const message = typeof o?.message === "string" && o.message ? o.message : "The upstream stream failed.";
        return { kind: "error", error: code === undefined && o ? errorOf(o, message) : { message, code } };
      }
      if (type === "response.failed") {
        const response = o?.response as Record<string, unknown> | undefined;
        return { kind: "error", error: errorOf(response, "The upstream response failed.") };
      }
      return o && responsesEmptyAdd(type, o) ? OPENING : CONTENT;
    }
  }
}
