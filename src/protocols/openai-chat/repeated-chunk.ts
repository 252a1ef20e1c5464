/**
 * Chat stream chunks read without `JSON.parse` when they repeat the chunk before but for their
 * text. An answer streams a chunk for every token or two, and most providers write each one as
 * the one before with another `content` (or `reasoning_content`): the same id, created, model,
 * fingerprint and the rest, byte for byte. Unlike the Responses and Anthropic events
 * (openai-responses/delta-event.ts), a Chat chunk has no one shape across providers, so the
 * shape is learnt from the stream itself.
 *
 * A chunk parsed whole whose only news is one delta text (one choice, index 0, its delta holding
 * that one member, no finish reason, no usage, no error) becomes the template: its text before
 * the delta string (the head) and after it (the tail). The template is checked once, by parsing
 * it with another string in that place and finding that string there and everything else as
 * before. A later chunk that is the head, a JSON string literal and the tail then parses to
 * the same chunk with that text (JSON's grammar: one string token for another changes nothing
 * around it), and is read so. Any other chunk is parsed, and may teach a new template.
 */
import type { JsonObject } from "../common/guards.js";
import { decodeStringContent, JSON_STRING_CONTENT } from "../common/json-string.js";

/** The delta members a template carries. */
export type DeltaMember = "content" | "reasoning_content";

/** A JSON string literal's content, as the whole of the text between the head and the tail. */
const STRING_LITERAL = new RegExp(`^"${JSON_STRING_CONTENT}"$`);

/** What the probe puts in the template's place: a string no chunk would send. */
const PROBE = "\u0000switchyard-probe";

/** Templates learnt without a chunk read by them before the reader stops learning: a stream whose chunks do not repeat (a random `obfuscation` member in each, say). */
const MAX_FRUITLESS_TEMPLATES = 4;

export class RepeatedChunks {
  #head: string | undefined;
  #tail: string | undefined;
  #member: DeltaMember = "content";
  /** Templates learnt in a row that read no chunk. */
  #fruitless = 0;

  /** The delta of `raw` when it is the template's chunk with another text; undefined otherwise (parse it). */
  read(raw: string): { member: DeltaMember; text: string } | undefined {
    const head = this.#head;
    const tail = this.#tail;
    if (head === undefined || tail === undefined) return undefined;
    if (raw.length < head.length + tail.length + 2 || !raw.startsWith(head) || !raw.endsWith(tail)) return undefined;
    const m = STRING_LITERAL.exec(raw.slice(head.length, raw.length - tail.length));
    if (m === null) return undefined;
    this.#fruitless = 0;
    return { member: this.#member, text: decodeStringContent(m[1]!) };
  }

  /** Offers a chunk `JSON.parse` read as `chunk` from `raw`: a template when its only news is one delta text. */
  learn(raw: string, chunk: JsonObject): void {
    if (this.#fruitless >= MAX_FRUITLESS_TEMPLATES) return;
    const member = onlyDeltaText(chunk);
    if (member === undefined) return;
    const template = templateOf(raw, chunk, member);
    if (template === undefined) return;
    if (this.#head !== undefined) this.#fruitless++;
    this.#head = template.head;
    this.#tail = template.tail;
    this.#member = member;
  }
}

/** The delta member of a chunk whose only news is that one text: undefined for any other chunk. */
function onlyDeltaText(chunk: JsonObject): DeltaMember | undefined {
  if (chunk.error !== undefined && chunk.error !== null) return undefined;
  if (chunk.usage !== undefined && chunk.usage !== null) return undefined;
  const choices = chunk.choices;
  if (!Array.isArray(choices) || choices.length !== 1) return undefined;
  const choice = choices[0] as JsonObject | null;
  if (choice === null || typeof choice !== "object" || choice.index !== 0) return undefined;
  if (choice.finish_reason !== undefined && choice.finish_reason !== null) return undefined;
  const delta = choice.delta as JsonObject | null;
  if (delta === null || typeof delta !== "object") return undefined;
  const keys = Object.keys(delta);
  if (keys.length !== 1) return undefined;
  const member = keys[0];
  if ((member !== "content" && member !== "reasoning_content") || typeof delta[member] !== "string") return undefined;
  return member;
}

/** The text of `raw` before and after its delta string, checked by a probe; undefined when the place cannot be told. */
function templateOf(raw: string, chunk: JsonObject, member: DeltaMember): { head: string; tail: string } | undefined {
  // Its first occurrence: every quote in it but the first follows a character other than a
  // backslash, so none of them can be inside a string. The probe below checks the place anyway.
  const key = `"delta":{"${member}":"`;
  const at = raw.indexOf(key);
  if (at === -1) return undefined;
  const start = at + key.length - 1;
  const end = stringEnd(raw, start);
  if (end === undefined) return undefined;
  const head = raw.slice(0, start);
  const tail = raw.slice(end);
  try {
    const probe = JSON.parse(`${head}${JSON.stringify(PROBE)}${tail}`) as JsonObject;
    // The chunk's text put back where the chunk's choice has it: the probe is the chunk again,
    // member order included, only if the probe's string went there and nowhere else.
    const delta = (probe.choices as JsonObject[])[0]!.delta as JsonObject;
    delta[member] = ((chunk.choices as JsonObject[])[0]!.delta as JsonObject)[member];
    return JSON.stringify(probe) === JSON.stringify(chunk) ? { head, tail } : undefined;
  } catch {
    return undefined;
  }
}

/** The index after the JSON string literal that opens at `raw[start]` (a quote); undefined when it does not close. */
function stringEnd(raw: string, start: number): number | undefined {
  for (let i = start + 1; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if (c === 0x5c) i++;
    else if (c === 0x22) return i + 1;
  }
  return undefined;
}
