/**
 * The Responses stream's delta events read without `JSON.parse`. An answer streams one delta
 * event per token or two (text, reasoning summary, function call arguments), so on the
 * translate lane their parse is paid hundreds of times an answer (`npm run bench:codecs`
 * section 3b times the conversion of a stream of 200 deltas, and compares two builds).
 *
 * OpenAI writes these events with their members in one order
 * (https://platform.openai.com/docs/api-reference/responses-streaming/response/output_text/delta):
 * `type`, `sequence_number`, `item_id`, `output_index`, `content_index` (text) or
 * `summary_index` (reasoning summary), `delta`, `logprobs` (text, always `[]` unless asked for),
 * and an `obfuscation` padding after them when the stream is padded (OpenAI's default; the Codex
 * backend too, docs/protocols.md). An event in exactly that
 * shape, every optional member in its place and no whitespace, is matched by one regular
 * expression, which checks the JSON grammar of all of it; any other event (another order, an
 * escape in an id, logprobs asked for) is not matched and is parsed as before. Either way the
 * decoder reads the same values.
 */
import type { JsonObject } from "./guards.js";
import { decodeStringContent, JSON_STRING_CONTENT } from "../common/json-string.js";

/** A JSON number as the events write indexes: no sign, no fraction, no leading zero. */
const INDEX = String.raw`(0|[1-9]\d*)`;
/** A string's content without escapes (ids, the obfuscation padding): an event with escapes there goes to `JSON.parse`. */
const PLAIN = String.raw`[^"\\\x00-\x1f]*`;

const DELTA_EVENT = new RegExp(
  String.raw`^\{"type":"(response\.(?:output_text|refusal|reasoning_summary_text|reasoning_text|function_call_arguments|custom_tool_call_input)\.delta)"` +
    String.raw`(?:,"sequence_number":(?:0|[1-9]\d*))?` +
    `,"item_id":"(${PLAIN})"` +
    `,"output_index":${INDEX}` +
    `(?:,"content_index":${INDEX})?` +
    `(?:,"summary_index":${INDEX})?` +
    `,"delta":"${JSON_STRING_CONTENT}"` +
    String.raw`(?:,"logprobs":\[\])?` +
    `(?:,"obfuscation":"${PLAIN}")?` +
    String.raw`\}$`,
);

/**
 * The members the stream decoder reads of a delta event (`type`, `item_id`, `output_index`,
 * `content_index`, `summary_index`, `delta`), with the values `JSON.parse(data)` gives them;
 * undefined when `data` is not a delta event in OpenAI's shape (then parse it).
 */
export function readDeltaEvent(data: string): JsonObject | undefined {
  // Every delta event's type starts so; anything else is not tried.
  if (!data.startsWith('{"type":"response.') || !data.endsWith("}")) return undefined;
  const m = DELTA_EVENT.exec(data);
  if (m === null) return undefined;
  return {
    type: m[1],
    item_id: m[2],
    output_index: Number(m[3]),
    content_index: m[4] === undefined ? undefined : Number(m[4]),
    summary_index: m[5] === undefined ? undefined : Number(m[5]),
    delta: decodeStringContent(m[6]!),
  };
}
