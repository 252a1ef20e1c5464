/**
 * The translate lane reads an upstream stream through UpstreamEventReader. A Responses stream
 * whose response-level events repeat a real Codex request's instructions and tools must decode to
 * the same canonical parts as when every event is decoded and parsed whole, however it is cut
 * into chunks, and those big events must never be decoded whole.
 */
import fc from "fast-check";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { StreamPart } from "../canonical/stream.js";
import type { InboundEvent } from "../protocols/codec.js";
import { RESPONSE_EVENT_MEMBERS, ResponsesStreamDecoder } from "../protocols/openai-responses/index.js";
import { loadFixtureBody, testCtx, upstreamTextStream, upstreamToolCallStream } from "../protocols/openai-responses/test-support.js";
import { SseParser } from "../transport/sse.js";
import { SLIM_FROM_BYTES, UpstreamEventReader } from "./slim-event.js";

const capture = loadFixtureBody("codex/001-POST-v1_responses.json");
/** What a Responses upstream repeats of the request in its response object (plus some non-ASCII, as real prompts have). */
const ECHO = { instructions: `${String(capture.instructions)} Übersetze bitte 翻訳して`, tools: capture.tools };

type Ending = "completed" | "incomplete-length" | "incomplete-filter" | "failed" | "done";

/** The stream with the request repeated in each response-level event, before or after the response's own members, and the ending swapped. */
function echoed(events: InboundEvent[], ending: Ending, echoFirst: boolean): InboundEvent[] {
  return events.map((ev) => {
    if (ev.event === undefined || !RESPONSE_EVENT_MEMBERS.events.has(ev.event)) return ev;
    const data = JSON.parse(ev.data) as { type: string; response: Record<string, unknown> };
    let name = ev.event;
    let response = data.response;
    if (name === "response.completed" && ending !== "completed") {
      if (ending === "done") name = "response.done";
      else if (ending === "failed") {
        name = "response.failed";
        response = { ...response, status: "failed", error: { code: "server_error", message: "The model failed." } };
      } else {
        name = "response.incomplete";
        response = {
          ...response,
          status: "incomplete",
          incomplete_details: { reason: ending === "incomplete-filter" ? "content_filter" : "max_output_tokens" },
        };
      }
    }
    response = echoFirst ? { ...ECHO, ...response } : { ...response, ...ECHO };
    return { event: name, data: JSON.stringify({ ...data, type: name, response }) };
  });
}

function wire(events: InboundEvent[]): Buffer {
  return Buffer.from(events.map((e) => `event: ${e.event}\ndata: ${e.data}\n\n`).join(""));
}

/** The reference: every event decoded and parsed whole. */
function decodeWhole(bytes: Buffer): StreamPart[] {
  const parser = new SseParser();
  const decoder = new ResponsesStreamDecoder(testCtx());
  return [...[...parser.push(bytes), ...parser.end()].flatMap((ev) => decoder.push(ev)), ...decoder.end()];
}

/** As the translate lane reads it: chunks cut at `cuts`, through the reader. */
function decodeRead(bytes: Buffer, cuts: number[]): StreamPart[] {
  const reader = new UpstreamEventReader(RESPONSE_EVENT_MEMBERS);
  const decoder = new ResponsesStreamDecoder(testCtx());
  const parts: StreamPart[] = [];
  let at = 0;
  for (const cut of [...cuts.map((c) => Math.floor(c * bytes.length)).sort((a, b) => a - b), bytes.length]) {
    for (const ev of reader.push(bytes.subarray(at, cut))) parts.push(...decoder.push(ev));
    at = cut;
  }
  for (const ev of reader.end()) parts.push(...decoder.push(ev));
  return [...parts, ...decoder.end()];
}

const streams = fc.constantFrom(
  () => upstreamTextStream(),
  () => upstreamToolCallStream("shell", ['{"command":', '["ls"]}']),
);
const endings = fc.constantFrom<Ending>("completed", "incomplete-length", "incomplete-filter", "failed", "done");

describe("UpstreamEventReader with a Responses stream decoder", () => {
  afterEach(() => vi.restoreAllMocks());

  it("decodes to the same parts as whole events, however the stream is cut", () => {
    fc.assert(
      fc.property(streams, endings, fc.boolean(), fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 6 }), (make, ending, first, cuts) => {
        const bytes = wire(echoed(make(), ending, first));
        expect(decodeRead(bytes, cuts)).toEqual(decodeWhole(bytes));
      }),
      { numRuns: 60 },
    );
  });

  it("decodes streams read in turns, each reader giving its join buffer to the next when done, to the same parts", () => {
    // As concurrent translated streams read: pushes alternate between two readers, and a third starts once one is done.
    const stream = fc.tuple(streams, endings, fc.boolean(), fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 1, maxLength: 6 }));
    fc.assert(
      fc.property(fc.array(stream, { minLength: 3, maxLength: 3 }), (specs) => {
        const runs = specs.map(([make, ending, first, cuts]) => {
          const bytes = wire(echoed(make(), ending, first));
          // Also cut inside the first event's data line and just after it, before the blank line ending the event:
          // the event is then still open on a joined line when the other reader joins one.
          const line = bytes.indexOf("data: ");
          const held = [line + 1000, bytes.indexOf("\n", line) + 1];
          const points = [...new Set([...held, ...cuts.map((c) => Math.floor(c * bytes.length))])].sort((a, b) => a - b).concat(bytes.length);
          return { bytes, chunks: points.map((p, i) => bytes.subarray(i === 0 ? 0 : points[i - 1], p)), parts: [] as StreamPart[] };
        });
        const read = (run: (typeof runs)[number], reader: UpstreamEventReader, decoder: ResponsesStreamDecoder, chunk: Buffer | undefined): void => {
          for (const ev of chunk ? reader.push(chunk) : reader.end()) run.parts.push(...decoder.push(ev));
        };
        const [a, b, c] = runs as [(typeof runs)[number], (typeof runs)[number], (typeof runs)[number]];
        const readers = [a, b].map(() => ({ reader: new UpstreamEventReader(RESPONSE_EVENT_MEMBERS), decoder: new ResponsesStreamDecoder(testCtx()) }));
        for (let i = 0; i < Math.max(a.chunks.length, b.chunks.length); i++) {
          if (i < a.chunks.length) read(a, readers[0]!.reader, readers[0]!.decoder, a.chunks[i]);
          if (i < b.chunks.length) read(b, readers[1]!.reader, readers[1]!.decoder, b.chunks[i]);
        }
        read(a, readers[0]!.reader, readers[0]!.decoder, undefined);
        readers[0]!.reader.release();
        const third = { reader: new UpstreamEventReader(RESPONSE_EVENT_MEMBERS), decoder: new ResponsesStreamDecoder(testCtx()) };
        for (const chunk of c.chunks) read(c, third.reader, third.decoder, chunk);
        read(b, readers[1]!.reader, readers[1]!.decoder, undefined);
        read(c, third.reader, third.decoder, undefined);
        for (const [run, decoder] of [
          [a, readers[0]!.decoder],
          [b, readers[1]!.decoder],
          [c, third.decoder],
        ] as const) {
          expect([...run.parts, ...decoder.end()]).toEqual(decodeWhole(run.bytes));
        }
      }),
      { numRuns: 40 },
    );
  });

  it("reads what the decoder needs of the response events: id, model, time, usage, finish and error", () => {
    const parts = decodeRead(wire(echoed(upstreamTextStream(), "incomplete-filter", true)), []);
    expect(parts[0]).toEqual({ type: "response-start", meta: { id: "resp_abc123", model: "gpt-5", created: 1_700_000_100 } });
    expect(parts).toContainEqual({
      type: "usage",
      usage: { inputTokens: 1200, cachedInputTokens: 1024, cacheWriteTokens: 0, outputTokens: 300, reasoningTokens: 200 },
    });
    expect(parts.at(-1)).toEqual({ type: "finish", reason: "content-filter" });
    const failed = decodeRead(wire(echoed(upstreamTextStream(), "failed", false)), [0.5]);
    expect(failed.at(-1)).toEqual({ type: "error", error: { kind: "upstream", code: "server_error", message: "The model failed." } });
  });

  it("never decodes a response event whole", () => {
    const bytes = wire(echoed(upstreamTextStream(), "completed", true));
    const decoded: number[] = [];
    const toString = Buffer.prototype.toString;
    vi.spyOn(Buffer.prototype, "toString").mockImplementation(function (this: Buffer, ...args: unknown[]) {
      const [, start = 0, end = this.length] = args as [string?, number?, number?];
      decoded.push(Math.min(end, this.length) - start);
      return toString.apply(this, args as Parameters<Buffer["toString"]>);
    });
    decodeRead(bytes, [0.3, 0.6]);
    // Each response event holds about 17 KB of the capture's instructions and tools; only their small members are decoded.
    expect(JSON.stringify(ECHO).length).toBeGreaterThan(8 * SLIM_FROM_BYTES);
    expect(decoded.length).toBeGreaterThan(0);
    expect(Math.max(...decoded)).toBeLessThan(SLIM_FROM_BYTES);
  });
});
