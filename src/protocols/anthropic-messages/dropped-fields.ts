/**
 * The Anthropic fields only an Anthropic upstream receives: what
 * `decodeAnthropicRequest` kept in `extensions["anthropic-messages"]`
 * (context_management, service_tier, container, mcp_servers, `metadata.user_id`,
 * the `output_config` members beyond effort and format …), tool fields beyond the
 * canonical ones (defer_loading, input_examples …) and content blocks the canonical
 * model cannot hold (server tool use and results …).
 *
 * `cache_control` is not reported: it marks where Anthropic should cache, and the
 * other vendors cache prefixes on their own, so nothing the client asked for is lost.
 */
import type { CanonicalRequest } from "../../canonical/request.js";
import type { TranslationWarning } from "../codec.js";
import { DroppedFields } from "../common/dropped-fields.js";
import { isRecord } from "../common/guards.js";
import { PROTOCOL, readHints } from "./hints.js";

/** `output_config` members with a canonical home (reasoning effort, a JSON schema format). */
const OUTPUT_CONFIG_MAPPED: ReadonlySet<string> = new Set(["effort", "format"]);
/** Tool members that are not lost: `type: "custom"` is a plain function tool everywhere. */
const TOOL_MAPPED: ReadonlySet<string> = new Set(["type", "cache_control"]);

export function anthropicDroppedFields(req: CanonicalRequest): TranslationWarning[] {
  const dropped = new DroppedFields();
  for (const [key, value] of Object.entries(req.extensions?.[PROTOCOL] ?? {})) {
    switch (key) {
      case "cache_control":
        break;
      case "metadata":
        dropped.keysOf(key, value);
        break;
      case "output_config": {
        dropped.keysOf(key, value, OUTPUT_CONFIG_MAPPED);
        // Only a JSON-schema format has a canonical form.
        const format = isRecord(value) ? value.format : undefined;
        if (format !== undefined && format !== null && !(isRecord(format) && format.type === "json_schema")) dropped.field("output_config.format");
        break;
      }
      default:
        dropped.field(key);
    }
  }
  for (const t of req.tools ?? []) {
    const ext = t.type === "function" ? t.extensions?.[PROTOCOL] : undefined;
    if (isRecord(ext)) for (const k of Object.keys(ext)) if (!TOOL_MAPPED.has(k)) dropped.field(`tools[].${k}`);
  }
  for (const m of req.messages) {
    for (const o of readHints(m).opaque ?? []) dropped.content(`messages[].content[type=${String(o.block.type)}]`);
  }
  return dropped.warnings;
}
