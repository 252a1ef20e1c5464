/**
 * The Responses fields only a Responses upstream (or the Codex backend) receives:
 * what `decodeResponsesRequest` kept in `extensions["openai-responses"]`, the
 * assistant `phase` of input messages, and built-in input items
 * (docs/protocols.md#responses-request).
 */
import type { CanonicalRequest } from "../../canonical/request.js";
import type { TranslationWarning } from "../codec.js";
import { DroppedFields } from "../common/dropped-fields.js";
import { messageExt } from "./extensions.js";
import { PROTOCOL } from "./wire.js";

export function responsesDroppedFields(req: CanonicalRequest): TranslationWarning[] {
  const dropped = new DroppedFields();
  for (const [key, value] of Object.entries(req.extensions?.[PROTOCOL] ?? {})) {
    switch (key) {
      // Leftovers of objects whose other members have a canonical home: name the members.
      case "text":
      case "reasoning":
        dropped.keysOf(key, value);
        break;
      // An empty string says nothing, and store:false is what the gateway asks of every upstream anyway.
      case "instructions":
        if (value !== "") dropped.field(key);
        break;
      case "store":
        if (value !== false) dropped.field(key);
        break;
      default:
        dropped.field(key);
    }
  }
  for (const m of req.messages) {
    const ext = messageExt(m);
    if (ext?.phase !== undefined) dropped.field("input[].phase");
    if (ext?.item) dropped.content(`input[type=${String(ext.item.type)}]`);
  }
  return dropped.warnings;
}
