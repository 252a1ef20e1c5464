/**
 * A JSON string's content as a regular expression, and its decoding: for the stream decoders
 * that read a provider's per-token events off their text instead of `JSON.parse`
 * (openai-responses/delta-event.ts, anthropic-messages/delta-event.ts,
 * openai-chat/repeated-chunk.ts). The grammar is RFC 8259's: any character but `"`, `\` and
 * the controls U+0000–U+001F, or one of its escapes, so what it matches `JSON.parse` accepts.
 */

/** A JSON string's content (between its quotes), as one capturing group. */
export const JSON_STRING_CONTENT = String.raw`((?:[^"\\\x00-\x1f]|\\(?:["\\/bfnrt]|u[\dA-Fa-f]{4}))*)`;

/** The string whose JSON content {@link JSON_STRING_CONTENT} matched. */
export function decodeStringContent(content: string): string {
  // Without a backslash the content is the string itself (the grammar let no quote or control through).
  return content.includes("\\") ? (JSON.parse(`"${content}"`) as string) : content;
}
