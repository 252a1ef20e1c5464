/**
 * What this protocol remembers about a message beyond the canonical model, in
 * `message.extensions["anthropic-messages"]`, so an Anthropic upstream gets the
 * client's body back unchanged. Other protocols ignore it.
 */
import type { Message } from "../../canonical/request.js";
import { isRecord, type JsonObject } from "../common/guards.js";
import { withMembers } from "../../canonical/shared-shape.js";

export const PROTOCOL = "anthropic-messages";

/** A protocol-only block and the number of canonical parts that preceded it in its message. */
export interface OpaqueBlock {
  at: number;
  block: JsonObject;
}

export interface MessageHints {
  /** A `role:"system"` entry of `messages[]` (mid-conversation system, not the top-level `system`). */
  inlineSystem?: true;
  /** The content was a plain string rather than blocks. */
  stringContent?: true;
  /** Server-tool and other protocol-only blocks kept verbatim. */
  opaque?: OpaqueBlock[];
}

export function readHints(m: Message): MessageHints {
  const h = m.extensions?.[PROTOCOL];
  return isRecord(h) ? (h as MessageHints) : {};
}

export function withHints(m: Message, hints: MessageHints): Message {
  if (!hints.inlineSystem && !hints.stringContent && !hints.opaque?.length) return m;
  return withMembers(m, { extensions: withMembers(m.extensions ?? {}, { [PROTOCOL]: hints }) });
}
