import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { newTranslationContext } from "../codec.js";
import type { StreamPart } from "../../canonical/stream.js";
import { readDeltaEvent } from "./delta-event.js";
import { ResponsesStreamDecoder } from "./stream-decode.js";

/** The members the decoder reads, as JSON.parse gives them. */
function readByParse(data: string): Record<string, unknown> {
  const o = JSON.parse(data) as Record<string, unknown>;
  return {
    type: o.type,
    item_id: o.item_id,
    output_index: o.output_index,
    content_index: o.content_index,
    summary_index: o.summary_index,
    delta: o.delta,
  };
}

/** Text of any code points, lone surrogates included. */
const anyText = fc.string({ unit: "binary", maxLength: 16 });

/** A delta event as OpenAI writes it, each optional member there or not. */
const openAiShaped = fc
  .record({
    type: fc.constantFrom(
      "response.output_text.delta",
      "response.refusal.delta",
      "response.reasoning_summary_text.delta",
      "response.reasoning_text.delta",
      "response.function_call_arguments.delta",
    ),
    sequence_number: fc.option(fc.nat(), { nil: undefined }),
    item_id: fc.stringMatching(/^[a-z]{2,4}_[A-Za-z0-9]{1,24}$/),
    output_index: fc.nat({ max: 1000 }),
    content_index: fc.option(fc.nat({ max: 50 }), { nil: undefined }),
    summary_index: fc.option(fc.nat({ max: 50 }), { nil: undefined }),
    delta: anyText,
    logprobs: fc.option(fc.constant([] as never[]), { nil: undefined }),
    obfuscation: fc.option(fc.stringMatching(/^[A-Za-z0-9]{0,16}$/), { nil: undefined }),
  })
  // JSON.stringify leaves out the members that are undefined, and keeps the order above.
  .map((o) => JSON.stringify(o));

describe("readDeltaEvent", () => {
  it("reads what JSON.parse reads, for every delta event in OpenAI's shape", () => {
    fc.assert(
      fc.property(openAiShaped, (data) => {
        const fast = readDeltaEvent(data);
        expect(fast).toBeDefined();
        expect(fast).toEqual(readByParse(data));
      }),
      { numRuns: 2000 },
    );
  });

  it("reads escapes as JSON does: quotes, backslashes, controls, \\u escapes and surrogates", () => {
    const data = String.raw`{"type":"response.output_text.delta","sequence_number":3,"item_id":"msg_1","output_index":0,"content_index":0,"delta":"a\"b\\c\/d\b\f\n\r\t\u00e9\uD83D\ude80\ud800","logprobs":[]}`;
    expect(readDeltaEvent(data)).toEqual(readByParse(data));
    expect(readDeltaEvent(data)?.delta).toBe('a"b\\c/d\b\f\n\r\té🚀\ud800');
  });

  it.each([
    ["whitespace between members", '{"type":"response.output_text.delta", "item_id":"m","output_index":0,"delta":"x"}'],
    ["another member order", '{"type":"response.output_text.delta","output_index":0,"item_id":"m","delta":"x"}'],
    ["a member it does not know", '{"type":"response.output_text.delta","item_id":"m","output_index":0,"delta":"x","extra":1}'],
    ["logprobs asked for", '{"type":"response.output_text.delta","item_id":"m","output_index":0,"delta":"x","logprobs":[{"token":"x"}]}'],
    ["an escape in the item id", String.raw`{"type":"response.output_text.delta","item_id":"m\"1","output_index":0,"delta":"x"}`],
    ["a leading zero", '{"type":"response.output_text.delta","item_id":"m","output_index":01,"delta":"x"}'],
    ["a fraction", '{"type":"response.output_text.delta","item_id":"m","output_index":1.0,"delta":"x"}'],
    ["another event type", '{"type":"response.output_text.done","item_id":"m","output_index":0,"text":"x"}'],
    ["a text member after a delta", '{"type":"response.output_text.delta","item_id":"m","output_index":0,"delta":"x","text":"y"}'],
  ])("leaves other shapes to JSON.parse: %s", (_, data) => {
    expect(readDeltaEvent(data)).toBeUndefined();
  });

  it.each([
    ["a raw control character", '{"type":"response.output_text.delta","item_id":"m","output_index":0,"delta":"a\nb"}'],
    ["an unknown escape", String.raw`{"type":"response.output_text.delta","item_id":"m","output_index":0,"delta":"a\qb"}`],
    ["a short \\u escape", String.raw`{"type":"response.output_text.delta","item_id":"m","output_index":0,"delta":"a\u12"}`],
    ["an unclosed string", '{"type":"response.output_text.delta","item_id":"m","output_index":0,"delta":"a}'],
  ])("does not read what is not JSON (%s): JSON.parse refuses it as before", (_, data) => {
    expect(readDeltaEvent(data)).toBeUndefined();
    expect(() => JSON.parse(data)).toThrow();
  });
});

describe("the stream decoder with and without the fast read", () => {
  /** A stream with text, reasoning and tool call deltas, written as OpenAI does. */
  const events = (delta: string): Array<[string, object]> => [
    ["response.created", { type: "response.created", response: { id: "resp_1", model: "m", created_at: 1 } }],
    ["response.output_item.added", { type: "response.output_item.added", output_index: 0, item: { type: "reasoning", id: "rs_1" } }],
    ["response.reasoning_summary_part.added", { type: "response.reasoning_summary_part.added", item_id: "rs_1", output_index: 0, summary_index: 0 }],
    [
      "response.reasoning_summary_text.delta",
      { type: "response.reasoning_summary_text.delta", sequence_number: 3, item_id: "rs_1", output_index: 0, summary_index: 0, delta },
    ],
    ["response.output_item.done", { type: "response.output_item.done", output_index: 0, item: { type: "reasoning", id: "rs_1", summary: [] } }],
    ["response.output_item.added", { type: "response.output_item.added", output_index: 1, item: { type: "message", id: "msg_1" } }],
    ["response.content_part.added", { type: "response.content_part.added", item_id: "msg_1", output_index: 1, content_index: 0 }],
    [
      "response.output_text.delta",
      { type: "response.output_text.delta", sequence_number: 7, item_id: "msg_1", output_index: 1, content_index: 0, delta, logprobs: [] },
    ],
    ["response.output_text.delta", { type: "response.output_text.delta", item_id: "msg_1", output_index: 1, content_index: 0, delta, obfuscation: "abc" }],
    ["response.output_item.done", { type: "response.output_item.done", output_index: 1, item: { type: "message", id: "msg_1", content: [] } }],
    [
      "response.output_item.added",
      { type: "response.output_item.added", output_index: 2, item: { type: "function_call", id: "fc_1", call_id: "c", name: "f" } },
    ],
    [
      "response.function_call_arguments.delta",
      { type: "response.function_call_arguments.delta", sequence_number: 11, item_id: "fc_1", output_index: 2, delta },
    ],
    ["response.completed", { type: "response.completed", response: { id: "resp_1", status: "completed", usage: { input_tokens: 1, output_tokens: 2 } } }],
  ];

  function decode(list: Array<{ event: string; data: string }>): StreamPart[] {
    const decoder = new ResponsesStreamDecoder(newTranslationContext("m", 1));
    return [...list.flatMap((e) => decoder.push(e)), ...decoder.end()];
  }

  it("gives the same parts when every event is read by JSON.parse", () => {
    fc.assert(
      fc.property(anyText, (delta) => {
        const compact = events(delta).map(([event, data]) => ({ event, data: JSON.stringify(data) }));
        // Indented, no event is in OpenAI's exact shape: all go to JSON.parse.
        const spaced = events(delta).map(([event, data]) => ({ event, data: JSON.stringify(data, null, 1) }));
        expect(compact.filter((e) => readDeltaEvent(e.data) !== undefined)).toHaveLength(4);
        expect(spaced.filter((e) => readDeltaEvent(e.data) !== undefined)).toHaveLength(0);
        const parts = decode(compact);
        expect(parts.filter((p) => p.type === "text-delta")).toHaveLength(delta === "" ? 0 : 2);
        expect(parts).toEqual(decode(spaced));
      }),
      { numRuns: 300 },
    );
  });
});
