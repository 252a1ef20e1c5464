import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { CACHED_STRING_FROM, jsonBytes, jsonPieces, RawJson } from "./json-bytes.js";

const stringified = (v: unknown): Buffer => Buffer.from(JSON.stringify(v));

/** Strings that stress the cuts: pairs, lone halves, quotes, controls, non-ASCII. */
const awkwardString = fc
  .array(fc.constantFrom("a", "é", "配", "😀", "\ud83d", "\ude00", '"', "\\", "\n", "\u0001", "\u2028", " "), { maxLength: 80 })
  .map((xs) => xs.join(""));

/** Strings long enough to be written from the cache of their bytes. */
const longAwkwardString = awkwardString.map((s) => `${s}${"x😀é\n".repeat(CACHED_STRING_FROM / 4)}`);

const awkwardJson = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: "small" },
    awkwardString,
    longAwkwardString,
    fc.jsonValue({ maxDepth: 1 }),
    fc.array(tie("value"), { maxLength: 5 }),
    fc.dictionary(awkwardString, tie("value"), { maxKeys: 5 }),
  ),
})).value;

describe("jsonBytes", () => {
  it("writes the bytes Buffer.from(JSON.stringify(v)) writes, however small the pieces", () => {
    fc.assert(
      fc.property(awkwardJson, fc.constantFrom(16, 40, 200, 32_768), (v, below) => {
        // Three times: a long string is written, then kept, then written from what was kept.
        for (let i = 0; i < 3; i++) expect(jsonBytes(v, below).equals(stringified(v))).toBe(true);
      }),
      { numRuns: 400 },
    );
  });

  it("keeps every piece below the limit", () => {
    // The limit is above the longest text of a number (24 units), which is never cut.
    fc.assert(
      fc.property(awkwardJson, fc.constantFrom(32, 40, 200), (v, below) => {
        // Strings: a long string's bytes (from the cache) are a Buffer, outside V8's heap.
        for (const p of jsonPieces(v, below)) if (typeof p === "string") expect(p.length).toBeLessThan(below);
      }),
      { numRuns: 400 },
    );
  });

  it("cuts a long string between the halves of no pair", () => {
    // With 16-unit pieces the slices are two units long; an emoji at an odd offset straddles every cut.
    const s = `x${"😀".repeat(40)}\ud83d`;
    expect(jsonBytes({ s }, 16).toString()).toBe(JSON.stringify({ s }));
    expect(jsonPieces({ s }, 16).join("")).not.toMatch(/\\ude00/);
  });

  it("skips what JSON.stringify skips and calls toJSON with the member's key", () => {
    const keys: string[] = [];
    const dated = { toJSON: (key: string) => (keys.push(key), "at") };
    const v = { a: undefined, b: () => 1, c: Symbol("c"), d: [undefined, () => 1, , 1], e: dated, f: [dated], g: new Date(0), h: -0, i: null };
    expect(jsonBytes(v, 16).toString()).toBe(JSON.stringify(v));
    expect(keys).toEqual(["e", "0", "e", "0"]);
  });

  it("writes a big body with no piece near the large-object line", () => {
    const text = "Read the file, then 改 the code — carefully. ".repeat(3000);
    const body = {
      model: "gpt-5",
      input: [{ type: "message", role: "user", content: [{ type: "input_text", text }] }],
      tools: Array.from({ length: 40 }, (_, i) => ({ type: "function", name: `t${i}`, parameters: { type: "object", description: text.slice(0, 2500) } })),
    };
    // Strings only: a long string's cached bytes are a Buffer, outside V8's heap.
    const pieces = jsonPieces(body).filter((p) => typeof p === "string");
    expect(Math.max(...pieces.map((p) => p.length))).toBeLessThan(32_768);
    expect(jsonBytes(body).equals(stringified(body))).toBe(true);
  });

  it("throws where Buffer.from(JSON.stringify(v)) throws", () => {
    const cyclic: Record<string, unknown> = { a: { b: 1 } };
    (cyclic.a as Record<string, unknown>).self = cyclic;
    expect(() => jsonBytes(cyclic)).toThrow(TypeError);
    expect(() => jsonBytes({ n: 1n })).toThrow(TypeError);
    expect(() => jsonBytes(undefined)).toThrow(TypeError);
    expect(() => jsonBytes(() => 1)).toThrow(TypeError);
    // Deep in the walk a long string leads it into: each level holds the string, and two ways down.
    const long = "é".repeat(CACHED_STRING_FROM);
    const walked: Record<string, unknown> = { text: long };
    walked.left = walked;
    walked.right = walked;
    expect(() => jsonBytes({ input: [walked] })).toThrow(TypeError);
  });

  it("writes a long string met before, at any depth, from the bytes kept for it", () => {
    const text = `Déjà 改 the "code"\n${"x".repeat(CACHED_STRING_FROM)}`;
    const body = (t: string) => ({ input: [{ type: "message", content: [{ type: "input_text", text: t }] }], note: t.slice(0, 100) });
    const kept = (pieces: Array<string | Buffer>): Buffer[] => pieces.filter((p): p is Buffer => Buffer.isBuffer(p));
    // Met once: written as any string is.
    expect(kept(jsonPieces(body(text)))).toEqual([]);
    const second = kept(jsonPieces(body(text)));
    expect(second.map((b) => b.toString())).toEqual([JSON.stringify(text)]);
    // A string of the same text made anew finds the same bytes.
    const again = kept(jsonPieces(body(text.split("").join(""))));
    expect(again).toHaveLength(1);
    expect(again[0]).toBe(second[0]);
    expect(jsonBytes(body(text)).equals(stringified(body(text)))).toBe(true);
  });

  it("places a RawJson's bytes as they are at the top and in the top's members, and its value deeper", () => {
    const raw = new RawJson(Buffer.from('[{"a":"é"}, 1]'));
    const body = { model: "m", tools: raw, nested: { deeper: [raw] } };
    expect(jsonBytes(body).toString()).toBe('{"model":"m","tools":[{"a":"é"}, 1],"nested":{"deeper":[[{"a":"é"},1]]}}');
    // The same when a long string leads the writing into the container that holds it.
    const long = "l".repeat(CACHED_STRING_FROM);
    const walked = { nested: { deeper: [raw, long] } };
    expect(jsonBytes(walked).toString()).toBe(`{"nested":{"deeper":[[{"a":"é"},1],"${long}"]}}`);
    expect(jsonBytes(raw, 16).toString()).toBe('[{"a":"é"}, 1]');
    expect(JSON.stringify(body)).toBe('{"model":"m","tools":[{"a":"é"},1],"nested":{"deeper":[[{"a":"é"},1]]}}');
  });

  it("writes bare values and empty containers", () => {
    for (const v of [1, "s", null, true, [], {}, [[]], { a: {} }]) expect(jsonBytes(v).toString()).toBe(JSON.stringify(v));
  });
});
