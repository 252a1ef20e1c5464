import { afterEach, describe, expect, it, vi } from "vitest";
import fc from "fast-check";
import { LazySseParser, SseParser, oneDataLineEvent, sseData, sseFrame, undecodedData, type SseEvent } from "./sse.js";

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

describe("LazySseParser", () => {
  const plain = (events: SseEvent[]) => events.map((e) => (e.id === undefined ? { event: e.event, data: e.data } : { event: e.event, data: e.data, id: e.id }));
  const lazyAll = (chunks: Uint8Array[]): SseEvent[] => {
    const p = new LazySseParser();
    const out: SseEvent[] = [];
    for (const c of chunks) out.push(...p.push(c));
    out.push(...p.end());
    return out;
  };

  it("finds the events SseParser finds, however the bytes are chunked and whatever they hold", () => {
    const line = fc.oneof(
      fc.constantFrom("", ":", ": ping", "data", "data:", "data: ", "event:", "id", "retry: 5", "dat: x", "eventx: y"),
      // Field names past the few bytes looked at before a native search, with and without a colon.
      fc.constantFrom("eventeventevent: z", "dataxxxxxxxx: y", "averylongfieldname", "event: é", "event: a", "event: b"),
      fc.tuple(fc.constantFrom("data:", "data: ", "event: ", "event:", "id: ", ": "), fc.string({ unit: "grapheme" })).map(([f, v]) => f + v),
    );
    const stream = fc.tuple(fc.array(line, { maxLength: 12 }), fc.constantFrom("\n", "\r\n", "\r"));
    fc.assert(
      fc.property(stream, fc.array(fc.nat(), { maxLength: 10 }), ([lines, eol], cuts) => {
        const bytes = Buffer.from(lines.map((l) => l + eol).join(""));
        const chunks = split(bytes, cuts);
        expect(plain(lazyAll(chunks))).toEqual(plain(parseAll(chunks)));
      }),
    );
  });

  it("oneDataLineEvent: a single data line and its blank line give the parser's event; any other bytes give none", () => {
    const line = fc.oneof(
      fc.constantFrom("", ":", "data", "data:", "data: ", "data:  x", "dat: x", "event: a", "id: 7", "data: [DONE]"),
      fc.tuple(fc.constantFrom("data:", "data: ", "event: ", ": "), fc.string({ unit: "grapheme" })).map(([f, v]) => f + v),
    );
    fc.assert(
      fc.property(fc.array(line, { minLength: 1, maxLength: 3 }), fc.constantFrom("\n", "\r\n", "\r"), fc.boolean(), (lines, eol, blank) => {
        const bytes = Buffer.from(lines.map((l) => l + eol).join("") + (blank ? eol : ""));
        const one = oneDataLineEvent(bytes);
        if (one === undefined) return;
        // Not decoded until read, as the parser's events.
        expect(undecodedData(one)).toBeDefined();
        expect(plain([one])).toEqual(plain(lazyAll([bytes])));
      }),
      { numRuns: 500 },
    );
    // The shape nearly every Chat event has is taken, not left to the parser.
    for (const text of ['data: {"choices":[]}\n\n', "data:x\n\n", "data: \n\n", "data:\n\n"]) expect(oneDataLineEvent(Buffer.from(text))).toBeDefined();
    for (const text of ["data: a\ndata: b\n\n", "data: a\r\n\r\n", "event: e\ndata: a\n\n", "data: a\rb\n\n", "data: a\n", ": data\n\n"])
      expect(oneDataLineEvent(Buffer.from(text))).toBeUndefined();
  });

  it("also with a last line left unterminated, and bytes that are not UTF-8", () => {
    const chunks = [Buffer.from("event: a\r"), Buffer.from([0x0a, 0x64, 0x61, 0x74, 0x61, 0x3a, 0xe4, 0xb8, 0x0a, 0x0a]), Buffer.from("data: tail")];
    expect(plain(lazyAll(chunks))).toEqual(plain(parseAll(chunks)));
    expect(plain(lazyAll(chunks))).toEqual([
      { event: "a", data: "\ufffd" },
      { event: undefined, data: "tail" },
    ]);
  });

  it("decodes an event name again unless it is the ASCII bytes of the name before", () => {
    // "é" as UTF-8, then the byte 0xE9 alone (not UTF-8): one code unit each, and the second is U+FFFD, not "é" again.
    const bytes = Buffer.concat([Buffer.from("event: é\ndata: 1\n\nevent: "), Buffer.from([0xe9]), Buffer.from("\ndata: 2\n\nevent: é\ndata: 3\n\n")]);
    expect(plain(lazyAll([bytes]))).toEqual([
      { event: "é", data: "1" },
      { event: "\ufffd", data: "2" },
      { event: "é", data: "3" },
    ]);
    // The same ASCII name twice is the same string; a name of the same length is read anew.
    const [a, b, c] = lazyAll([Buffer.from("event: one\ndata: 1\n\nevent: one\ndata: 2\n\nevent: two\ndata: 3\n\n")]);
    expect([a!.event, b!.event, c!.event]).toEqual(["one", "one", "two"]);
  });

  it("offers each event to `enough` once, as it completes, and stops parsing at the first it accepts", () => {
    const line = fc.tuple(fc.constantFrom("event: ", "data: ", ": "), fc.string()).map(([f, v]) => f + v.replace(/[\r\n]/g, ""));
    const stream = fc.tuple(fc.array(fc.array(line, { minLength: 1, maxLength: 3 }), { maxLength: 8 }), fc.constantFrom("\n", "\r\n"));
    fc.assert(
      fc.property(stream, fc.nat({ max: 8 }), ([events, eol], stopAt) => {
        const bytes = Buffer.from(events.map((lines) => lines.map((l) => l + eol).join("") + eol).join(""));
        const all = plain(lazyAll([bytes]));
        const offered: SseEvent[] = [];
        const got = new LazySseParser().push(bytes, (ev) => offered.push(ev) > stopAt);
        const want = all.slice(0, stopAt + 1);
        expect(plain(got)).toEqual(want);
        expect(plain(offered)).toEqual(want);
      }),
    );
  });

  it("decodes an event's data only when it is read, once", () => {
    const [ev] = lazyAll([Buffer.from('event: response.created\ndata: {"big":"…"}\n\n')]);
    expect(ev!.event).toBe("response.created");
    expect(ev!.data).toBe('{"big":"…"}');
    expect(ev!.data).toBe(ev!.data);
  });
});

describe("LazySseParser with reuseJoins", () => {
  const plain = (events: SseEvent[]) => events.map((e) => (e.id === undefined ? { event: e.event, data: e.data } : { event: e.event, data: e.data, id: e.id }));
  /** As its readers read it: each push's events (their data) read before the next push. */
  const readAsItGoes = (p: LazySseParser, chunks: Uint8Array[]): SseEvent[] => {
    const out: SseEvent[] = [];
    for (const c of chunks) out.push(...plain(p.push(c)));
    out.push(...plain(p.end()));
    return out;
  };
  /** A line of `n` bytes of data, as a Responses event repeating the request is one line. */
  const dataLine = (tag: string, n: number): string => `data: ${tag}${"x".repeat(n - tag.length)}`;

  it("finds the events SseParser finds, however the bytes are chunked, with the buffer going from parser to parser", () => {
    const line = fc.oneof(
      fc.constantFrom("", ": ping", "data:", "event: response.created", "id: 7"),
      fc.tuple(fc.constantFrom("data: ", "event: "), fc.string({ unit: "grapheme", maxLength: 300 })).map(([f, v]) => f + v),
    );
    const stream = fc.tuple(fc.array(line, { maxLength: 12 }), fc.constantFrom("\n", "\r\n"));
    fc.assert(
      fc.property(fc.array(fc.tuple(stream, fc.array(fc.nat(), { maxLength: 10 })), { minLength: 1, maxLength: 3 }), (streams) => {
        for (const [[lines, eol], cuts] of streams) {
          const chunks = split(Buffer.from(lines.map((l) => l + eol).join("")), cuts);
          const p = new LazySseParser({ reuseJoins: true });
          expect(readAsItGoes(p, chunks)).toEqual(plain(parseAll(chunks)));
          p.release();
        }
      }),
    );
  });

  it("keeps an open event's data line when a later line is joined before the event ends", () => {
    // Each data line arrives over two reads; the blank line ending the event only after the second.
    const first = dataLine("first", 5000);
    const second = dataLine("second", 6000);
    const bytes = Buffer.from(`event: response.created\n${first}\n${second}\n\n`);
    const at = (s: string) => bytes.indexOf(s);
    const chunks = split(bytes, [at("first") + 100, at("second") - 2, at("second") + 100]);
    const p = new LazySseParser({ reuseJoins: true });
    const events = readAsItGoes(p, chunks);
    expect(events).toEqual([{ event: "response.created", data: `${first.slice(6)}\n${second.slice(6)}` }]);
  });

  it("gives a released parser's buffer to the next parser, and keeps one an open event still views", () => {
    const joinedOf = (p: LazySseParser, line: string): Buffer => {
      const bytes = Buffer.from(`${line}\n\n`);
      const [ev] = [...p.push(bytes.subarray(0, 100)), ...p.push(bytes.subarray(100))];
      return undecodedData(ev!)!;
    };
    const a = new LazySseParser({ reuseJoins: true });
    const fromA = joinedOf(a, dataLine("a", 3000)).buffer;
    a.release();
    const b = new LazySseParser({ reuseJoins: true });
    expect(joinedOf(b, dataLine("b", 2000)).buffer).toBe(fromA);
    // Released with an event still open on a joined line: that buffer stays with the event.
    const open = Buffer.from(`${dataLine("open", 2500)}\n`);
    b.push(open.subarray(0, 100));
    b.push(open.subarray(100));
    b.release();
    const c = new LazySseParser({ reuseJoins: true });
    expect(joinedOf(c, dataLine("c", 2000)).buffer).not.toBe(fromA);
    c.release();
  });
});

describe("a long line over many chunks", () => {
  afterEach(() => vi.restoreAllMocks());

  /** The parser's events for `chunks`, and how many bytes it joined with Buffer.concat on the way. */
  function parseCountingJoins(parser: SseParser | LazySseParser, chunks: Uint8Array[]): { events: SseEvent[]; joined: number } {
    let joined = 0;
    const concat = Buffer.concat;
    vi.spyOn(Buffer, "concat").mockImplementation((list: readonly Uint8Array[], length?: number) => {
      const out = concat(list, length);
      joined += out.length;
      return out;
    });
    const events: SseEvent[] = [];
    for (const c of chunks) events.push(...parser.push(c));
    events.push(...parser.end());
    vi.restoreAllMocks();
    return { events, joined };
  }

  it("is joined once, when its terminator comes, by either parser", () => {
    const data = JSON.stringify({ type: "response.completed", response: { instructions: "Réponds en français. ".repeat(5000) } });
    const bytes = Buffer.from(`event: response.completed\ndata: ${data}\n\n`);
    const chunks = split(
      bytes,
      Array.from({ length: Math.floor(bytes.length / 1024) }, (_, i) => (i + 1) * 1024),
    );
    for (const parser of [new SseParser(), new LazySseParser()]) {
      const { events, joined } = parseCountingJoins(parser, chunks);
      expect(chunks.length).toBeGreaterThan(100);
      expect(events.map((e) => e.data)).toEqual([data]);
      // Joined per chunk, the held tail would be copied about chunks / 2 times over.
      expect(joined).toBeLessThanOrEqual(bytes.length);
    }
  });

  it("joins only the line the held bytes began: the rest of the chunk that ends it is read in place", () => {
    // Two events as a Responses stream's opening ones: each longer than a read, each read ending inside one.
    const first = JSON.stringify({ type: "response.created", response: { instructions: "Réponds en français. ".repeat(3000) } });
    const second = JSON.stringify({ type: "response.in_progress", response: { instructions: "Antworte auf Deutsch. ".repeat(3000) } });
    const lineOne = `data: ${first}\n`;
    const bytes = Buffer.from(`${lineOne}\ndata: ${second}\n\n`);
    const one = Buffer.byteLength(lineOne);
    // Reads of 40 KB: the second ends the first line and holds most of the second line.
    const cuts = [40_000, one + 40_000];
    expect(one).toBeGreaterThan(40_000);
    expect(bytes.length - one).toBeGreaterThan(40_000);
    for (const parser of [new SseParser(), new LazySseParser()]) {
      const { events, joined } = parseCountingJoins(parser, split(bytes, cuts));
      expect(events.map((e) => e.data)).toEqual([first, second]);
      // Each line is joined once, alone: joining the second read whole would copy about 40 KB more.
      expect(joined).toBeLessThanOrEqual(bytes.length);
    }
  });
});
