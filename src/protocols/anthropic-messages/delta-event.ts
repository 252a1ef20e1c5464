/**
 * Anthropic's `content_block_delta` events read without `JSON.parse`. An answer streams one per
 * token or two (text, thinking, tool input), so on the translate lane their parse is paid
 * hundreds of times an answer (npm run bench:codecs, section 3b; the same reasoning as
 * openai-responses/delta-event.ts).
 *
 * Anthropic writes them as `{"type":"content_block_delta","index":N,"delta":{"type":T,V:"…"}}`
 * (https://docs.anthropic.com/en/docs/build-with-claude/streaming#content-block-delta-types),
 * T and V one of `text_delta`/`text`, `thinking_delta`/`thinking`, `input_json_delta`/
 * `partial_json`, `signature_delta`/`signature`. An event in exactly that shape, without
 * whitespace, is matched by one regular expression, which checks the JSON grammar of all of it;
 * any other (a citations delta, a member more, spaces) is not, and is parsed as before.
 */
import type { JsonObject } from "../common/guards.js";
import { decodeStringContent, JSON_STRING_CONTENT } from "../common/json-string.js";
import { DELTA_VALUE_MEMBER } from "./wire.js";

const BLOCK_DELTA = new RegExp(
  String.raw`^\{"type":"content_block_delta","index":(0|[1-9]\d*),"delta":\{"type":"(text_delta|thinking_delta|input_json_delta|signature_delta)",` +
    String.raw`"(text|thinking|partial_json|signature)":"${JSON_STRING_CONTENT}"\}\}$`,
);

/**
 * `JSON.parse(data)` for a `content_block_delta` in Anthropic's shape; undefined for any other
 * event (then parse it).
 */
export function readBlockDelta(data: string): JsonObject | undefined {
  if (!data.startsWith('{"type":"content_block_delta",')) return undefined;
  const m = BLOCK_DELTA.exec(data);
  // A type with another type's member (`text_delta` carrying `thinking`) is a shape of its own: parsed.
  if (m === null || (DELTA_VALUE_MEMBER as Readonly<Record<string, string>>)[m[2]!] !== m[3]) return undefined;
  return { type: "content_block_delta", index: Number(m[1]), delta: { type: m[2], [m[3]!]: decodeStringContent(m[4]!) } };
}
