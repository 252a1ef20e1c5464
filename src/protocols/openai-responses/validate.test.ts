import { describe, expect, it } from "vitest";
import type { OutboundEvent } from "../codec.js";
import { encodeParts } from "./test-support.js";
import { validateResponsesStream } from "./validate.js";

/** A valid encoded stream with one message and one function call, to break in different ways. */
function valid(): OutboundEvent[] {
  return encodeParts([
    { type: "response-start", meta: { id: "resp_v", model: "m", created: 1 } },
    { type: "text-start", id: "t" },
    { type: "text-delta", id: "t", delta: "hi" },
    { type: "text-end", id: "t" },
    { type: "tool-call-start", id: "c", callId: "k", name: "f" },
    { type: "tool-call-delta", id: "c", delta: "{}" },
    { type: "tool-call-end", id: "c", arguments: "{}" },
    { type: "finish", reason: "tool-calls" },
  ]);
}

function typeOf(e: OutboundEvent): string {
  return (e.data as { type: string }).type;
}

function without(events: OutboundEvent[], type: string): OutboundEvent[] {
  const i = events.findIndex((e) => typeOf(e) === type);
  return events.filter((_, j) => j !== i);
}

describe("validateResponsesStream", () => {
  it("accepts a well-formed stream", () => {
    expect(validateResponsesStream(valid())).toEqual([]);
  });

  it("accepts SSE data as JSON text", () => {
    expect(validateResponsesStream(valid().map((e) => ({ event: e.event, data: JSON.stringify(e.data) })))).toEqual([]);
  });

  it("requires response.created first", () => {
    const v = validateResponsesStream(valid().slice(1));
    expect(v.some((m) => m.includes("not response.created"))).toBe(true);
  });

  it("requires strictly increasing sequence numbers from 0", () => {
    const events = valid();
    (events[3]!.data as { sequence_number: number }).sequence_number = 1;
    expect(validateResponsesStream(events).some((m) => m.includes("not greater than"))).toBe(true);
    const shifted = valid().map((e) => ({
      ...e,
      data: { ...(e.data as object), sequence_number: (e.data as { sequence_number: number }).sequence_number + 1 },
    }));
    expect(validateResponsesStream(shifted).some((m) => m.includes("starts at 1"))).toBe(true);
  });

  it("requires every added item to be done before the terminal event", () => {
    const v = validateResponsesStream(without(valid(), "response.output_item.done"));
    expect(v.some((m) => m.includes("still open"))).toBe(true);
  });

  it("lets response.failed cut an item short, as upstreams do", () => {
    const failed = encodeParts([
      { type: "response-start", meta: { id: "resp_f", model: "m", created: 1 } },
      { type: "text-start", id: "t" },
      { type: "error", error: { kind: "upstream", message: "boom" } },
    ]);
    const cut = failed.filter((e) => !["response.output_text.done", "response.content_part.done", "response.output_item.done"].includes(typeOf(e)));
    (cut.at(-1)!.data as { response: { output: unknown[] } }).response.output = [];
    expect(validateResponsesStream(cut.map((e, i) => ({ ...e, data: { ...(e.data as object), sequence_number: i } })))).toEqual([]);
  });

  it("requires arguments.done before the function_call item's done", () => {
    const v = validateResponsesStream(without(valid(), "response.function_call_arguments.done"));
    expect(v.some((m) => m.includes("before function_call_arguments.done"))).toBe(true);
  });

  it("rejects deltas outside an open content part", () => {
    const events = valid();
    const i = events.findIndex((e) => typeOf(e) === "response.content_part.added");
    const v = validateResponsesStream(events.filter((_, j) => j !== i));
    expect(v.some((m) => m.includes("not open"))).toBe(true);
  });

  it("rejects content parts left open when their item ends", () => {
    const v = validateResponsesStream(without(valid(), "response.content_part.done"));
    expect(v.some((m) => m.includes("content part still open"))).toBe(true);
  });

  it("requires exactly one terminal event, last", () => {
    const events = valid();
    const terminal = events.at(-1)!;
    expect(validateResponsesStream(events.slice(0, -1))).toContain("no terminal event (response.completed | response.incomplete | response.failed)");
    const twice = [...events, { event: terminal.event, data: { ...(terminal.data as object), sequence_number: 999 } }];
    expect(validateResponsesStream(twice).some((m) => m.includes("after the terminal event"))).toBe(true);
  });

  it("requires the event line to match data.type", () => {
    const events = valid();
    events[1] = { ...events[1]!, event: "response.created" };
    expect(validateResponsesStream(events).some((m) => m.includes("differs from data.type"))).toBe(true);
  });

  it("checks the terminal response against the streamed items", () => {
    const events = valid();
    const last = events.at(-1)!.data as { response: { output: unknown[]; status: string } };
    last.response.output = [];
    last.response.status = "in_progress";
    const v = validateResponsesStream(events);
    expect(v.some((m) => m.includes("output has 0 items"))).toBe(true);
    expect(v.some((m) => m.includes("has status 'in_progress'"))).toBe(true);
  });

  it("checks that done texts equal their deltas", () => {
    const events = valid();
    const done = events.find((e) => typeOf(e) === "response.output_text.done")!.data as { text: string };
    done.text = "something else";
    expect(validateResponsesStream(events).some((m) => m.includes("full text differs"))).toBe(true);
  });
});
