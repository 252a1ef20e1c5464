import { describe, expect, it } from "vitest";
import { validateAnthropicStream } from "./validate.js";

type Ev = { event?: string; data: unknown };
const e = (data: Record<string, unknown>): Ev => ({ event: String(data.type), data });
const messageStart = e({
  type: "message_start",
  message: {
    id: "msg_1",
    type: "message",
    role: "assistant",
    model: "m",
    content: [],
    stop_reason: null,
    stop_sequence: null,
    usage: { input_tokens: 1, output_tokens: 0 },
  },
});
const textStart = (index: number): Ev => e({ type: "content_block_start", index, content_block: { type: "text", text: "" } });
const textDelta = (index: number): Ev => e({ type: "content_block_delta", index, delta: { type: "text_delta", text: "x" } });
const stop = (index: number): Ev => e({ type: "content_block_stop", index });
const messageDelta = e({ type: "message_delta", delta: { stop_reason: "end_turn", stop_sequence: null }, usage: { output_tokens: 1 } });
const messageStop = e({ type: "message_stop" });

describe("validateAnthropicStream", () => {
  it("accepts a well-formed stream with pings", () => {
    expect(validateAnthropicStream([messageStart, e({ type: "ping" }), textStart(0), textDelta(0), stop(0), messageDelta, messageStop])).toEqual([]);
  });

  it("accepts an error as the only event", () => {
    expect(validateAnthropicStream([e({ type: "error", error: { type: "api_error", message: "x" } })])).toEqual([]);
  });

  const bad: Array<[string, Ev[], string]> = [
    ["message_stop before message_start", [messageStop], "before message_start"],
    ["a repeated message_start", [messageStart, messageStart, messageDelta, messageStop], "repeated"],
    ["an unclosed block", [messageStart, textStart(0), messageDelta, messageStop], "still open"],
    ["nested blocks", [messageStart, textStart(0), textStart(1), stop(1), stop(0), messageDelta, messageStop], "still open"],
    ["skipped indexes", [messageStart, textStart(1), stop(1), messageDelta, messageStop], "expected 0"],
    ["a delta for another block", [messageStart, textStart(0), textDelta(1), stop(0), messageDelta, messageStop], "not the open block"],
    [
      "a signature on a text block",
      [
        messageStart,
        textStart(0),
        e({ type: "content_block_delta", index: 0, delta: { type: "signature_delta", signature: "s" } }),
        stop(0),
        messageDelta,
        messageStop,
      ],
      "signature_delta in a text block",
    ],
    [
      "thinking after the signature",
      [
        messageStart,
        e({ type: "content_block_start", index: 0, content_block: { type: "thinking", thinking: "", signature: "" } }),
        e({ type: "content_block_delta", index: 0, delta: { type: "signature_delta", signature: "s" } }),
        e({ type: "content_block_delta", index: 0, delta: { type: "thinking_delta", thinking: "t" } }),
        stop(0),
        messageDelta,
        messageStop,
      ],
      "nothing may follow signature_delta",
    ],
    [
      "tool input that is not JSON",
      [
        messageStart,
        e({ type: "content_block_start", index: 0, content_block: { type: "tool_use", id: "t1", name: "f", input: {} } }),
        e({ type: "content_block_delta", index: 0, delta: { type: "input_json_delta", partial_json: '{"a":' } }),
        stop(0),
        messageDelta,
        messageStop,
      ],
      "does not parse",
    ],
    ["an event name that differs from data.type", [{ event: "message_begin", data: messageStart.data }, messageDelta, messageStop], "differs"],
    ["anything after message_stop", [messageStart, messageDelta, messageStop, e({ type: "ping" })], "nothing may follow"],
    ["a missing message_stop", [messageStart, messageDelta], "did not end"],
    ["message_stop without message_delta", [messageStart, messageStop], "without message_delta"],
    ["a block after message_delta", [messageStart, messageDelta, textStart(0), stop(0), messageStop], "after message_delta"],
    ["events after an error", [messageStart, e({ type: "error", error: { type: "api_error", message: "x" } }), messageStop], "nothing may follow an error"],
  ];
  it.each(bad)("rejects %s", (_name, events, needle) => {
    const problems = validateAnthropicStream(events);
    expect(problems.join("\n")).toContain(needle);
  });
});
