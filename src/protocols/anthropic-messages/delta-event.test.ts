import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { StreamPart } from "../../canonical/stream.js";
import { newTranslationContext } from "../codec.js";
import { readBlockDelta } from "./delta-event.js";
import { AnthropicStreamDecoder } from "./stream-decode.js";

/** Text of any code points, lone surrogates included. */
const anyText = fc.string({ unit: "binary", maxLength: 16 });

const KINDS = [
  { type: "text_delta", member: "text" },
  { type: "thinking_delta", member: "thinking" },
  { type: "input_json_delta", member: "partial_json" },
  { type: "signature_delta", member: "signature" },
];

/** A content_block_delta as Anthropic writes it. */
const anthropicShaped = fc
  .record({ index: fc.nat({ max: 1000 }), kind: fc.constantFrom(...KINDS), value: anyText })
  .map(({ index, kind, value }) => JSON.stringify({ type: "content_block_delta", index, delta: { type: kind.type, [kind.member]: value } }));

describe("readBlockDelta", () => {
  it("gives what JSON.parse gives, for every content_block_delta in Anthropic's shape", () => {
    fc.assert(
      fc.property(anthropicShaped, (data) => {
        const fast = readBlockDelta(data);
        expect(fast).toBeDefined();
        expect(fast).toEqual(JSON.parse(data));
      }),
      { numRuns: 2000 },
    );
  });

  it("reads escapes as JSON does", () => {
    const data = String.raw`{"type":"content_block_delta","index":2,"delta":{"type":"text_delta","text":"a\"b\\c\/\n\u00e9\uD83D\ude80\udc00"}}`;
    expect(readBlockDelta(data)).toEqual(JSON.parse(data));
  });

  it.each([
    ["whitespace", '{"type": "content_block_delta","index":0,"delta":{"type":"text_delta","text":"x"}}'],
    ["a citations delta", '{"type":"content_block_delta","index":0,"delta":{"type":"citations_delta","citation":{"cited_text":"x"}}}'],
    ["a type with another's member", '{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","thinking":"x"}}'],
    ["a member more", '{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"x","extra":1}}'],
    ["a leading zero", '{"type":"content_block_delta","index":00,"delta":{"type":"text_delta","text":"x"}}'],
    ["another event", '{"type":"content_block_stop","index":0}'],
    ["a raw control character", '{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"a\tb"}}'],
    ["an unknown escape", String.raw`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"a\xb"}}`],
  ])("leaves other shapes to JSON.parse: %s", (_, data) => {
    expect(readBlockDelta(data)).toBeUndefined();
  });
});

describe("the stream decoder with and without the fast read", () => {
  const events = (value: string): Array<[string, object]> => [
    ["message_start", { type: "message_start", message: { id: "msg_1", model: "m", usage: { input_tokens: 3, output_tokens: 1 } } }],
    ["content_block_start", { type: "content_block_start", index: 0, content_block: { type: "thinking", thinking: "" } }],
    ["content_block_delta", { type: "content_block_delta", index: 0, delta: { type: "thinking_delta", thinking: value } }],
    ["content_block_delta", { type: "content_block_delta", index: 0, delta: { type: "signature_delta", signature: `sig${value}` } }],
    ["content_block_stop", { type: "content_block_stop", index: 0 }],
    ["content_block_start", { type: "content_block_start", index: 1, content_block: { type: "text", text: "" } }],
    ["content_block_delta", { type: "content_block_delta", index: 1, delta: { type: "text_delta", text: value } }],
    ["content_block_stop", { type: "content_block_stop", index: 1 }],
    ["content_block_start", { type: "content_block_start", index: 2, content_block: { type: "tool_use", id: "t", name: "f", input: {} } }],
    ["content_block_delta", { type: "content_block_delta", index: 2, delta: { type: "input_json_delta", partial_json: value } }],
    ["content_block_stop", { type: "content_block_stop", index: 2 }],
    ["message_delta", { type: "message_delta", delta: { stop_reason: "tool_use" }, usage: { output_tokens: 9 } }],
    ["message_stop", { type: "message_stop" }],
  ];

  function decode(list: Array<{ event: string; data: string }>): StreamPart[] {
    const decoder = new AnthropicStreamDecoder(newTranslationContext("m", 1));
    return [...list.flatMap((e) => decoder.push(e)), ...decoder.end()];
  }

  it("gives the same parts when every event is read by JSON.parse", () => {
    fc.assert(
      fc.property(anyText, (value) => {
        const compact = events(value).map(([event, data]) => ({ event, data: JSON.stringify(data) }));
        const spaced = events(value).map(([event, data]) => ({ event, data: JSON.stringify(data, null, 1) }));
        expect(compact.filter((e) => readBlockDelta(e.data) !== undefined)).toHaveLength(4);
        expect(spaced.filter((e) => readBlockDelta(e.data) !== undefined)).toHaveLength(0);
        const parts = decode(compact);
        expect(parts.filter((p) => p.type === "text-delta")).toHaveLength(value === "" ? 0 : 1);
        expect(parts).toEqual(decode(spaced));
      }),
      { numRuns: 300 },
    );
  });
});
