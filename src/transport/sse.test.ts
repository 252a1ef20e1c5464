import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { SseParser, sseData, sseFrame, type SseEvent } from "./sse.js";

function parseAll(chunks: Uint8Array[]): SseEvent[] {
  const p = new SseParser();
  const out: SseEvent[] = [];
  for (const c of chunks) out.push(...p.push(c));
  out.push(...p.end());
  return out;
}

/** Splits bytes at the given cut points (any byte offset, including inside a UTF-8 character). */
function split(buf: Buffer, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => c % (buf.length + 1)))].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let at = 0;
  for (const p of points) {
    out.push(buf.subarray(at, p));
    at = p;
  }
  out.push(buf.subarray(at));
  return out;
}

describe("SseParser", () => {
  it("parses event and data lines, comments, multi-line data and a final unterminated event", () => {
    const text = ': keep-alive\n\nevent: message_start\ndata: {"a":1}\n\ndata: line1\ndata: line2\nid: 7\n\nevent: ping\ndata: {}';
    expect(parseAll([Buffer.from(text)])).toEqual([
      { event: "message_start", data: '{"a":1}' },
      { event: undefined, data: "line1\nline2", id: "7" },
      { event: "ping", data: "{}" },
    ]);
  });

  it("accepts CRLF and CR line endings, even split between chunks", () => {
    expect(parseAll([Buffer.from("data: a\r"), Buffer.from("\n\r\ndata: b\r\r")])).toEqual([
      { event: undefined, data: "a" },
      { event: undefined, data: "b" },
    ]);
  });

  it("yields the same events for any line ending, however the bytes are chunked", () => {
    const payload = fc.array(fc.record({ event: fc.constantFrom("a", "message_delta"), data: fc.string({ unit: "grapheme" }) }), { maxLength: 6 });
    fc.assert(
      fc.property(payload, fc.constantFrom("\n", "\r\n", "\r"), fc.array(fc.nat(), { maxLength: 12 }), (events, eol, cuts) => {
        const text = events.map((e) => `event: ${e.event}${eol}data: ${JSON.stringify(e.data)}${eol}${eol}`).join("");
        const parsed = parseAll(split(Buffer.from(text), cuts));
        expect(parsed).toEqual(events.map((e) => ({ event: e.event, data: JSON.stringify(e.data) })));
      }),
    );
  });

  it("yields the same events however the bytes are chunked", () => {
    const payload = fc.array(
      fc.record({
        event: fc.option(fc.constantFrom("message_delta", "response.output_text.delta"), { nil: undefined }),
        data: fc.string({ unit: "grapheme" }),
      }),
      { maxLength: 8 },
    );
    fc.assert(
      fc.property(payload, fc.array(fc.nat(), { maxLength: 12 }), (events, cuts) => {
        const frames = events.map((e) => {
          const json = JSON.stringify({ text: e.data });
          return e.event ? sseFrame(e.event, json) : sseData(json);
        });
        const buf = Buffer.from(frames.join(""));
        const parsed = parseAll(split(buf, cuts));
        expect(parsed).toEqual(events.map((e) => ({ event: e.event, data: JSON.stringify({ text: e.data }) })));
      }),
    );
  });
});
