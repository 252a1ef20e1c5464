/** The order checks must reject broken streams, or the other tests prove nothing. */
import { describe, expect, it } from "vitest";
import { type ParsedEvent, assertAnthropicStream, assertChatStream, assertResponsesStream, parseSse } from "./stream-order.js";

const ev = (event: string | undefined, json: Record<string, unknown>): ParsedEvent => ({ event, data: JSON.stringify(json), json });
const done: ParsedEvent = { event: undefined, data: "[DONE]", json: undefined };
const chunk = (delta: Record<string, unknown>, finish: string | null = null, id = "c1") =>
  ev(undefined, { id, object: "chat.completion.chunk", choices: [{ index: 0, delta, finish_reason: finish }] });

describe("assertChatStream", () => {
  const good = [chunk({ role: "assistant", content: "" }), chunk({ content: "hi" }), chunk({}, "stop"), done];
  it("accepts a well-formed stream", () => {
    expect(assertChatStream(good)).toEqual(["role", "content", "finish:stop", "[DONE]"]);
  });
  it("rejects a missing [DONE], a changed id, content after finish and an event: line", () => {
    expect(() => assertChatStream(good.slice(0, 3))).not.toThrow();
    expect(() => assertChatStream([good[0] as ParsedEvent, done])).toThrow(/before finish_reason/);
    expect(() => assertChatStream([good[0] as ParsedEvent, chunk({ content: "x" }, null, "c2"), chunk({}, "stop"), done])).toThrow(/id changed/);
    expect(() => assertChatStream([good[0] as ParsedEvent, chunk({}, "stop"), chunk({ content: "late" }), done])).toThrow(/after finish_reason/);
    expect(() => assertChatStream([ev("message", { id: "c1" })])).toThrow(/event: line/);
  });
});

describe("assertResponsesStream", () => {
  const r = (type: string, seq: number, extra: Record<string, unknown> = {}) => ev(type, { type, sequence_number: seq, ...extra });
  const item = { id: "msg_1", type: "message" };
  const good = [
    r("response.created", 0),
    r("response.in_progress", 1),
    r("response.output_item.added", 2, { output_index: 0, item }),
    r("response.content_part.added", 3, { output_index: 0, item_id: "msg_1", content_index: 0 }),
    r("response.output_text.delta", 4, { output_index: 0, item_id: "msg_1", content_index: 0, delta: "x" }),
    r("response.content_part.done", 5, { output_index: 0, item_id: "msg_1", content_index: 0 }),
    r("response.output_item.done", 6, { output_index: 0, item }),
    r("response.completed", 7),
  ];
  it("accepts a well-formed stream", () => {
    expect(assertResponsesStream(good)).toHaveLength(8);
  });
  it("rejects gaps in sequence_number, deltas outside a part, open items and a missing terminal", () => {
    expect(() => assertResponsesStream([good[0] as ParsedEvent, r("response.in_progress", 2)])).toThrow(/sequence_number/);
    const noPart = [...good.slice(0, 3), r("response.output_text.delta", 3, { output_index: 0, item_id: "msg_1", content_index: 0 })];
    expect(() => assertResponsesStream(noPart)).toThrow(/outside its part/);
    expect(() => assertResponsesStream([...good.slice(0, 5), r("response.completed", 5)])).toThrow(/open items/);
    expect(() => assertResponsesStream(good.slice(0, 7))).toThrow(/terminal/);
    expect(() => assertResponsesStream([ev("response.completed", { type: "response.created", sequence_number: 0 })])).toThrow(/event line/);
  });
});

describe("assertAnthropicStream", () => {
  const a = (type: string, extra: Record<string, unknown> = {}) => ev(type, { type, ...extra });
  const good = [
    a("message_start", { message: {} }),
    a("content_block_start", { index: 0, content_block: { type: "text" } }),
    a("ping"),
    a("content_block_delta", { index: 0, delta: { type: "text_delta", text: "x" } }),
    a("content_block_stop", { index: 0 }),
    a("message_delta", { delta: {} }),
    a("message_stop"),
  ];
  it("accepts a well-formed stream", () => {
    expect(assertAnthropicStream(good)).toHaveLength(7);
  });
  it("rejects overlapping blocks, wrong delta kinds, stop before delta and a missing message_stop", () => {
    const overlap = [...good.slice(0, 2), a("content_block_start", { index: 1, content_block: { type: "text" } })];
    expect(() => assertAnthropicStream(overlap)).toThrow(/another is open/);
    const wrongKind = [...good.slice(0, 2), a("content_block_delta", { index: 0, delta: { type: "input_json_delta" } })];
    expect(() => assertAnthropicStream(wrongKind)).toThrow(/in a text block/);
    expect(() => assertAnthropicStream([...good.slice(0, 5), a("message_stop")])).toThrow(/before message_delta/);
    expect(() => assertAnthropicStream(good.slice(0, 6))).toThrow(/without message_stop/);
  });
});

describe("parseSse", () => {
  it("parses frames split anywhere, including inside a UTF-8 character", () => {
    const bytes = Buffer.from('event: a\ndata: {"t":"café ✓"}\n\ndata: [DONE]\n\n');
    const events = parseSse(bytes);
    expect(events.map((e) => e.json?.t ?? e.data)).toEqual(["café ✓", "[DONE]"]);
  });
});
