/**
 * The Chat fields only a Chat upstream receives: what `decodeChatRequest` kept in
 * `extensions["openai-chat"]` (logprobs, seed, penalties, audio and prediction
 * options, a tool_choice the canonical model cannot hold …) and the
 * participant `name` of messages.
 */
import type { CanonicalRequest } from "../../canonical/request.js";
import type { TranslationWarning } from "../codec.js";
import { DroppedFields } from "../common/dropped-fields.js";
import { isRecord } from "../common/guards.js";
import { PROTOCOL } from "./wire.js";

/**
 * Kept in the extension for the gateway's own use whatever the upstream: the stream
 * encoder honours `stream_options.include_usage` itself.
 */
const ANSWERED_BY_GATEWAY: ReadonlySet<string> = new Set(["stream_options"]);

export function chatDroppedFields(req: CanonicalRequest): TranslationWarning[] {
  const dropped = new DroppedFields();
  for (const key of Object.keys(req.extensions?.[PROTOCOL] ?? {})) if (!ANSWERED_BY_GATEWAY.has(key)) dropped.field(key);
  for (const m of req.messages) {
    const ext = m.extensions?.[PROTOCOL];
    if (isRecord(ext) && ext.name !== undefined) dropped.field("messages[].name");
  }
  return dropped.warnings;
}
