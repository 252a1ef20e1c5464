/**
 * What this protocol keeps in canonical `extensions` so a Responses client's
 * request can be re-encoded for a Responses upstream without loss.
 */
import type { Message } from "../../canonical/request.js";
import { PROTOCOL } from "./wire.js";
import { isObject } from "./guards.js";
import { withMembers } from "../../canonical/shared-shape.js";

/** Per-message extension, stored under `message.extensions["openai-responses"]`. */
export interface ResponsesMessageExt {
  /** This system message is the request's `instructions` string. */
  instructions?: true;
  /** The client sent role "system" (the encoder otherwise writes "developer"). */
  systemRole?: true;
  /** Assistant message `phase` (Codex: "commentary" | "final_answer"). */
  phase?: string;
  /** A built-in item (web_search_call, custom_tool_call, compaction …) carried verbatim; the message has no content. */
  item?: Record<string, unknown>;
}

export function messageExt(m: Message): ResponsesMessageExt | undefined {
  const ext = m.extensions?.[PROTOCOL];
  return isObject(ext) ? (ext as ResponsesMessageExt) : undefined;
}

export function withMessageExt(m: Message, ext: ResponsesMessageExt): Message {
  m.extensions = withMembers(m.extensions ?? {}, { [PROTOCOL]: withMembers(messageExt(m) ?? {}, ext) });
  return m;
}

/**
 * Request-level keys read from `extensions["openai-responses"]`. Anything the
 * canonical model has no field for lands here verbatim (include, store,
 * client_metadata, prompt_cache_retention, service_tier, truncation,
 * previous_response_id, …) plus these structured leftovers:
 * - `text`: the `text` object minus `format` (e.g. verbosity)
 * - `reasoning`: the `reasoning` object minus effort/summary (e.g. context, mode)
 * - `tool_choice`: a tool_choice the canonical model cannot express (allowed_tools, custom, mcp …)
 * - `instructions`: an empty instructions string (non-empty ones become a system message)
 */
export type ResponsesRequestExt = Record<string, unknown>;
