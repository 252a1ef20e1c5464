import { describe, expect, it, vi } from "vitest";
import fc from "fast-check";
import type { MemberTree } from "../protocols/codec.js";
import {
  arrayItemSpans,
  parseJsonBytes,
  parseMembers,
  patchBody,
  peekBody,
  projectFields,
  readArrayItems,
  readField,
  readJson,
  readMembers,
} from "./json-peek.js";

describe("peekBody", () => {
  it("finds top-level fields and ignores nested ones of the same name", () => {
    const buf = Buffer.from('{"input":[{"model":"nested","t":"a\\"b}"}],"model":"gpt-5","stream":true}');
    const body = peekBody(buf)!;
    expect(readField(buf, body, "model")).toBe("gpt-5");
    expect(readField(buf, body, "stream")).toBe(true);
    expect([...body.fields.keys()]).toEqual(["input", "model", "stream"]);
  });

  it("handles non-ASCII text and escaped keys", () => {
    const buf = Buffer.from('{ "m\\u006fdel" : "模型-ü" , "x": null }');
    const body = peekBody(buf)!;
    expect(readField(buf, body, "model")).toBe("模型-ü");
    expect(readField(buf, body, "x")).toBeNull();
  });

  it("reads any field's value as JSON.parse does, and fails where it fails", () => {
    // Literals and strings are read off the bytes; whatever else, or a string with escapes or raw controls, is parsed.
    const text = fc.oneof(fc.string(), fc.string({ unit: "grapheme" }), fc.constantFrom("", "\\", '"', "\n", "\u0001", "ü", "\ud800"));
    const value = fc.oneof(
      fc.constantFrom(true, false, null, 0, -1.5e3),
      text,
      fc.json().map((j) => JSON.parse(j) as unknown),
    );
    fc.assert(
      fc.property(value, (v) => {
        const buf = Buffer.from(JSON.stringify({ a: 1, v, z: 2 }));
        expect(readField(buf, peekBody(buf)!, "v")).toEqual(v);
      }),
      { numRuns: 500 },
    );
    // Not JSON: a raw control character in a string. The scan accepts it; the read must throw as JSON.parse does.
    for (const raw of ['{"v":"a\u0001b"}', '{"v":"tab\there"}']) {
      const buf = Buffer.from(raw);
      expect(() => readField(buf, peekBody(buf)!, "v"), JSON.stringify(raw)).toThrow(SyntaxError);
    }
    // Bytes that are not UTF-8 decode to U+FFFD either way.
    const latin = Buffer.concat([Buffer.from('{"v":"'), Buffer.from([0xe9, 0x41]), Buffer.from('"}')]);
    expect(readField(latin, peekBody(latin)!, "v")).toBe(JSON.parse(latin.toString("utf8")).v);
  });

  it("reads a number's spelling as JSON.parse does, and fails where it fails", () => {
    // Integers are read off the bytes; every other spelling goes to JSON.parse, which takes or refuses it.
    const digits = fc.stringMatching(/^[0-9]{0,18}$/);
    const spelling = fc.oneof(
      fc.integer().map(String),
      fc.double({ noNaN: true, noDefaultInfinity: true }).map(String),
      fc.tuple(fc.constantFrom("", "-", "+", "--"), digits, fc.constantFrom("", ".", ".5", "e3", "E-2", "x")).map(([a, b, c]) => a + b + c),
      fc.constantFrom("0", "-0", "00", "01", "-01", "1e400", "999999999999999", "9999999999999999", "-", "123456789012345678"),
    );
    fc.assert(
      fc.property(spelling, (raw) => {
        const buf = Buffer.from(`{"v":${raw},"z":2}`);
        const peek = peekBody(buf);
        let expected: unknown;
        try {
          expected = (JSON.parse(buf.toString()) as { v: unknown }).v;
        } catch {
          // Not JSON: the scan may refuse the object, or the read must throw as JSON.parse does.
          if (peek) expect(() => readField(buf, peek, "v"), raw).toThrow(SyntaxError);
          return;
        }
        expect(Object.is(readField(buf, peek!, "v"), expected), raw).toBe(true);
      }),
      { numRuns: 1000 },
    );
  });

  it("rejects what is not a JSON object", () => {
    for (const s of ["[]", "", "{", '{"a":1,}', '{"a" 1}', '{"a":"x}', '{"a":1} trailing', "null"]) {
      expect(peekBody(Buffer.from(s)), s).toBeUndefined();
    }
  });

  it("reads keys it has met before right, however alike, and past the number it remembers", () => {
    // "0yzlaaa" and "b6apaaa" have the same 32-bit hash in the scanner's key cache (found by search).
    const keys = ["ab", "ba", "abc", "a\\u0062", "é", "x".repeat(32), "x".repeat(33), "", "tools", "toolz", "0yzlaaa", "b6apaaa"];
    for (let i = 0; i < 5000; i++) keys.push(`k${i}`);
    for (let round = 0; round < 2; round++) {
      const obj = Object.fromEntries(keys.map((k, i) => [k, i]));
      // One key written with an escape: it reads as "ab", a repeat of the first key.
      const buf = Buffer.from(JSON.stringify(obj).replace('"a\\\\u0062"', '"a\\u0062"'));
      const body = peekBody(buf)!;
      expect(body).toBeDefined();
      const parsed = JSON.parse(buf.toString()) as Record<string, number>;
      expect([...body.fields.keys()]).toEqual(Object.keys(parsed));
      for (const [k, v] of Object.entries(parsed)) expect(readField(buf, body, k)).toBe(v);
    }
  });

  it("agrees with JSON.parse on arbitrary objects", () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string(), fc.jsonValue()), (obj) => {
        const buf = Buffer.from(JSON.stringify(obj, null, 1));
        const body = peekBody(buf);
        expect(body).toBeDefined();
        const parsed = JSON.parse(buf.toString()) as Record<string, unknown>;
        for (const k of Object.keys(parsed)) expect(readField(buf, body!, k)).toEqual(parsed[k]);
      }),
    );
  });
});

describe("patchBody", () => {
  it("replaces and inserts while keeping every other byte", () => {
    const src = '{"model":"a",  "input":"héllo",\n"stream":true}';
    const buf = Buffer.from(src);
    const out = patchBody(buf, peekBody(buf)!, { model: "b", prompt_cache_key: "k1" }).toString();
    expect(out).toBe('{"prompt_cache_key":"k1","model":"b",  "input":"héllo",\n"stream":true}');
    expect(JSON.parse(out)).toEqual({ prompt_cache_key: "k1", model: "b", input: "héllo", stream: true });
  });

  it("inserts into an empty object without a dangling comma", () => {
    const buf = Buffer.from("{}");
    expect(patchBody(buf, peekBody(buf)!, { a: 1 }).toString()).toBe('{"a":1}');
  });

  it("returns the same buffer when nothing changes", () => {
    const buf = Buffer.from('{"a":1}');
    expect(patchBody(buf, peekBody(buf)!, {})).toBe(buf);
  });

  it("always yields JSON equal to the patched object", () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string(), fc.jsonValue()), fc.dictionary(fc.string(), fc.jsonValue()), (obj, set) => {
        const buf = Buffer.from(JSON.stringify(obj));
        const out = patchBody(buf, peekBody(buf)!, set);
        const expected = { ...obj, ...set };
        expect(JSON.parse(out.toString())).toEqual(JSON.parse(JSON.stringify(expected)));
      }),
    );
  });
});

describe("patchBody removals", () => {
  it("cuts a member with its comma, first, middle or last, keeping the other bytes", () => {
    const src = '{ "a":1 ,\n "b":"x",  "c":[1,2] }';
    const buf = Buffer.from(src);
    const cut = (names: string[]) => patchBody(buf, peekBody(buf)!, Object.fromEntries(names.map((n) => [n, undefined]))).toString();
    expect(cut(["a"])).toBe('{ "b":"x",  "c":[1,2] }');
    expect(cut(["b"])).toBe('{ "a":1 ,\n "c":[1,2] }');
    expect(cut(["c"])).toBe('{ "a":1 ,\n "b":"x" }');
    expect(cut(["b", "c"])).toBe('{ "a":1 }');
    expect(cut(["a", "b", "c"])).toBe("{  }");
    expect(cut(["missing"])).toBe(src);
  });

  it("always yields JSON equal to the object with the fields set and removed, however it is spaced", () => {
    fc.assert(
      fc.property(
        fc.dictionary(fc.string(), fc.jsonValue(), { minKeys: 1 }),
        fc.dictionary(fc.string(), fc.jsonValue()),
        fc.integer({ min: 0, max: 3 }),
        fc.func(fc.boolean()),
        (obj, set, indent, drop) => {
          const buf = Buffer.from(JSON.stringify(obj, null, indent));
          // No prototype: assigning to a key named "__proto__" must create a member, not change the prototype.
          const patch: Record<string, unknown> = Object.assign(Object.create(null) as Record<string, unknown>, set);
          const expected: Record<string, unknown> = JSON.parse(JSON.stringify({ ...obj, ...set })) as Record<string, unknown>;
          for (const k of Object.keys(obj)) {
            if (!drop(k)) continue;
            patch[k] = undefined;
            delete expected[k];
          }
          expect(JSON.parse(patchBody(buf, peekBody(buf)!, patch).toString())).toEqual(expected);
        },
      ),
    );
  });
});

describe("readArrayItems", () => {
  it("parses elements lazily and stops where the caller stops", () => {
    // The third element is malformed: a caller that stops after two never reaches it.
    const buf = Buffer.from('{"messages":[ {"role":"system","content":"s"}, {"role":"user","content":"ü"} , {"role":"user","content":tru} ]}');
    const empty = Buffer.from('{"messages":[]}');
    expect([...readArrayItems(empty, peekBody(empty)!, "messages")]).toEqual([]);
    const it = readArrayItems(buf, peekBody(buf)!, "messages");
    expect(it.next().value).toEqual({ role: "system", content: "s" });
    expect(it.next().value).toEqual({ role: "user", content: "ü" });
  });

  it("yields nothing for a field that is not an array", () => {
    const buf = Buffer.from('{"input":"just text"}');
    expect([...readArrayItems(buf, peekBody(buf)!, "input")]).toEqual([]);
  });

  it("agrees with JSON.parse on arbitrary arrays", () => {
    fc.assert(
      fc.property(fc.array(fc.jsonValue()), (arr) => {
        const buf = Buffer.from(JSON.stringify({ a: arr }, null, 2));
        expect([...readArrayItems(buf, peekBody(buf)!, "a")]).toEqual(JSON.parse(JSON.stringify(arr)));
      }),
    );
  });
});

describe("arrayItemSpans", () => {
  it("gives each element's bytes of any JSON array, as JSON.parse reads them", () => {
    fc.assert(
      fc.property(fc.array(fc.jsonValue({ maxDepth: 3 }), { maxLength: 8 }), fc.constantFrom("", " ", "\n  "), (items, ws) => {
        const text = `${ws}[${ws}${items.map((v) => JSON.stringify(v)).join(`${ws},${ws}`)}${ws}]${ws}`;
        const spans = arrayItemSpans(Buffer.from(text));
        expect(spans?.map((b) => JSON.parse(b.toString()) as unknown)).toEqual(JSON.parse(text));
      }),
      { numRuns: 300 },
    );
  });

  it("gives nothing for anything but one well-formed array", () => {
    for (const text of ['{"a":[1]}', '"[1]"', "[1,2", "[1,]", "[1 2]", "[1]]", "[1] x", "", "7"]) {
      expect(arrayItemSpans(Buffer.from(text)), text).toBeUndefined();
    }
  });
});

describe("projectFields", () => {
  const tree: MemberTree = { type: true, error: true, response: { usage: true, error: true } };

  /** What a full parse shows of the members `tree` names. */
  function pick(value: unknown, t: MemberTree): unknown {
    const out: Record<string, unknown> = {};
    for (const [name, sub] of Object.entries(t)) {
      if (!Object.hasOwn(value as object, name)) continue;
      const v = (value as Record<string, unknown>)[name];
      out[name] = sub !== true && v !== null && typeof v === "object" && !Array.isArray(v) ? pick(v, sub) : v;
    }
    return out;
  }

  it("keeps exactly the named members, as a full parse reads them, from any object", () => {
    const member = fc.oneof(fc.jsonValue(), fc.dictionary(fc.constantFrom("usage", "error", "output", "x"), fc.jsonValue()));
    const object = fc.dictionary(fc.constantFrom("type", "error", "response", "sequence_number", "réponse"), member);
    fc.assert(
      fc.property(object, fc.boolean(), (value, spaced) => {
        const text = JSON.stringify(value, null, spaced ? 1 : undefined);
        // Against the text's own parse, not `value`: the text has no -0 (JSON.stringify writes it as 0).
        expect(JSON.parse(projectFields(Buffer.from(text), tree)!)).toEqual(pick(JSON.parse(text), tree));
      }),
    );
  });

  it("reads a big terminal event's usage without the rest", () => {
    const instructions = "Ünïcode instructions ".repeat(2000);
    const event = { type: "response.completed", response: { instructions, tools: [{ name: "x" }], usage: { input_tokens: 5 }, output: [] } };
    const projected = projectFields(Buffer.from(JSON.stringify(event)), tree)!;
    expect(JSON.parse(projected)).toEqual({ type: "response.completed", response: { usage: { input_tokens: 5 } } });
    expect(projected.length).toBeLessThan(100);
  });

  it("keeps a repeated member's last value, as JSON.parse does, when it descends into it too", () => {
    const text = '{"type":"a","response":{"usage":1,"x":0},"type":"b","response":{"x":3,"usage":{"n":2}},"pad":[1]}';
    expect(JSON.parse(projectFields(Buffer.from(text), tree)!)).toEqual(pick(JSON.parse(text), tree));
  });

  it("is undefined for what is not one object", () => {
    expect(projectFields(Buffer.from("[1]"), tree)).toBeUndefined();
    expect(projectFields(Buffer.from('{"type":1} x'), tree)).toBeUndefined();
  });
});

describe("parseJsonBytes", () => {
  /** What JSON.parse of the whole text does: the value, or the error's message. */
  const outcome = (parse: () => unknown): { value: string } | { error: string } => {
    try {
      return { value: JSON.stringify(parse()) };
    } catch (err) {
      return { error: (err as Error).message };
    }
  };

  it("equals JSON.parse of the decoded text for any JSON, compact or indented, taken apart down to every leaf", () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.boolean(), (value, indent) => {
        const text = JSON.stringify(value, null, indent ? 2 : undefined);
        const parsed = parseJsonBytes(Buffer.from(text), 0);
        // Same members in the same order, compared through the text: both sides write -0 as 0.
        expect(JSON.stringify(parsed)).toBe(JSON.stringify(JSON.parse(text)));
        expect(parsed).toEqual(JSON.parse(text));
      }),
    );
  });

  it("answers malformed text exactly as JSON.parse does: the same value or the same error", () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.nat(), fc.constantFrom("", "}", "]", ",", '"', "x", " "), (value, at, insert) => {
        const text = JSON.stringify(value);
        const cut = at % (text.length + 1);
        // One character replaced by another (or dropped): usually malformed, sometimes still valid.
        const broken = text.slice(0, cut) + insert + text.slice(cut + 1);
        expect(outcome(() => parseJsonBytes(Buffer.from(broken), 0))).toEqual(outcome(() => JSON.parse(broken)));
      }),
    );
  });

  it("keeps a repeated key at its first place with its last value, and __proto__ as a member, as JSON.parse does", () => {
    const text = '{"a":1,"__proto__":{"x":1},"b":[{"c":2,"c":3}],"a":4}';
    const parsed = parseJsonBytes(Buffer.from(text), 0) as Record<string, unknown>;
    expect(JSON.stringify(parsed)).toBe(JSON.stringify(JSON.parse(text)));
    expect(Object.getPrototypeOf(parsed)).toBe(Object.prototype);
    expect(Object.keys(parsed)).toEqual(["a", "__proto__", "b"]);
  });

  it("never decodes a big body as one string: JSON.parse only ever sees its members", () => {
    // A Claude Code-sized body whose non-ASCII text decodes to over 65,536 UTF-16 units.
    const tools = Array.from({ length: 40 }, (_, i) => ({ name: `tool_${i}`, description: `Outil n°${i}: 読み書きする ${"ça marche ".repeat(200)}` }));
    const body = { model: "claude-opus-4-8", system: [{ type: "text", text: "Sé concis." }], tools, stream: true };
    const bytes = Buffer.from(JSON.stringify(body));
    expect(bytes.toString("utf8").length).toBeGreaterThan(65_536);
    const parse = vi.spyOn(JSON, "parse");
    try {
      expect(parseJsonBytes(bytes)).toEqual(body);
      const longest = Math.max(...parse.mock.calls.map(([text]) => String(text).length));
      expect(longest).toBeLessThan(65_536);
    } finally {
      parse.mockRestore();
    }
  });
});

describe("parseMembers", () => {
  const names = ["id", "output", "usage", "error", "type"];
  const filler = fc.string({ minLength: 4000, maxLength: 6000, unit: "grapheme" });

  /** What JSON.parse shows of `names`, in the order they are asked for. */
  function pick(value: Record<string, unknown>): Record<string, unknown> {
    return Object.fromEntries(names.filter((n) => Object.hasOwn(value, n)).map((n) => [n, value[n]]));
  }

  it("gives the named members as JSON.parse does, and nothing else, from a big object", () => {
    const object = fc.record(
      {
        id: fc.jsonValue(),
        output: fc.jsonValue(),
        usage: fc.jsonValue(),
        instructions: filler,
        tools: fc.array(fc.jsonValue(), { maxLength: 4 }),
        type: fc.jsonValue(),
      },
      { requiredKeys: ["instructions"] },
    );
    fc.assert(
      fc.property(object, fc.boolean(), (value, spaced) => {
        const text = JSON.stringify(value, null, spaced ? 2 : undefined);
        const parsed = JSON.parse(text) as Record<string, unknown>;
        expect(parseMembers(Buffer.from(text), names)).toEqual(pick(parsed));
      }),
      { numRuns: 50 },
    );
  });

  it("parses a short object whole, and anything not one object as JSON.parse would", () => {
    const short = '{"id":"r","instructions":"x","usage":{"input_tokens":1}}';
    expect(parseMembers(Buffer.from(short), names)).toEqual(JSON.parse(short));
    const big = `[${JSON.stringify("x".repeat(5000))}]`;
    expect(parseMembers(Buffer.from(big), names)).toEqual(JSON.parse(big));
    const broken = `{"id":"r","instructions":${JSON.stringify("x".repeat(5000))}`;
    expect(() => parseMembers(Buffer.from(broken), names)).toThrow(SyntaxError);
    expect(() => parseMembers(Buffer.from(`{"usage":{"input_tokens":1,},"pad":"${"x".repeat(5000)}"}`), names)).toThrow(SyntaxError);
  });
});

/** JSON.parse's verdict on `text`: its value, or that it throws. */
function verdict(text: string): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch {
    return { ok: false };
  }
}

/** Same values (-0 kept apart from 0), same key order, plain objects and arrays only. */
function expectSame(got: unknown, want: unknown): void {
  // Not toStrictEqual: it compares `constructor` by identity, and JSON has objects with a `constructor` member.
  expect(got).toEqual(want);
  expect(JSON.stringify(got)).toBe(JSON.stringify(want));
  const shapes = (v: unknown): unknown =>
    v !== null && typeof v === "object"
      ? [Object.getPrototypeOf(v) === (Array.isArray(v) ? Array.prototype : Object.prototype), Object.values(v).map(shapes)]
      : typeof v;
  expect(shapes(got)).toEqual(shapes(want));
}

describe("readJson", () => {
  const text = fc.oneof(fc.string(), fc.string({ unit: "grapheme" }), fc.constantFrom("", "\\", '"', "\n", "\u0001", "ü", "\ud800", "日本語"));
  const value = fc.oneof(
    fc.jsonValue(),
    fc.letrec((tie) => ({
      v: fc.oneof(
        { depthSize: "small" },
        text,
        fc.integer(),
        fc.double({ noNaN: true, noDefaultInfinity: true }),
        fc.constantFrom(true, false, null, 0, -1, 1e21, 123456789012345),
        fc.array(tie("v"), { maxLength: 4 }),
        fc.dictionary(fc.oneof(text, fc.constantFrom("__proto__", "constructor", "1", "0", "a")), tie("v"), { maxKeys: 4 }),
      ),
    })).v,
  );

  it("gives JSON.parse's value for any JSON text, however it is spaced", () => {
    fc.assert(
      fc.property(value, fc.constantFrom(undefined, 1, 2, "\t", " \r\n"), (v, space) => {
        const s = JSON.stringify(v, null, space as never) ?? "null";
        expectSame(readJson(Buffer.from(s)), JSON.parse(s));
        expectSame(readJson(Buffer.from(` \n${s}\t `)), JSON.parse(s));
      }),
      { numRuns: 1000 },
    );
  });

  it("takes what JSON.parse takes and throws where it throws, for texts one edit away from JSON", () => {
    const edit = fc.record({
      at: fc.nat(),
      kind: fc.constantFrom("insert", "delete", "replace"),
      ch: fc.constantFrom(...',:[]{}"\\ \t\n\u00010-.e+tfn1a\u00e9'),
    });
    fc.assert(
      fc.property(value, edit, (v, e) => {
        const s = JSON.stringify(v) ?? "null";
        const at = e.at % (s.length + 1);
        const t =
          e.kind === "insert"
            ? s.slice(0, at) + e.ch + s.slice(at)
            : e.kind === "delete"
              ? s.slice(0, at) + s.slice(at + 1)
              : s.slice(0, at) + e.ch + s.slice(at + 1);
        // What JSON.parse makes of these bytes (a lone surrogate an edit left raw is U+FFFD once encoded).
        const buf = Buffer.from(t);
        const want = verdict(buf.toString("utf8"));
        if (want.ok) expectSame(readJson(buf), want.value);
        else expect(() => readJson(buf), t).toThrow(SyntaxError);
      }),
      { numRuns: 3000 },
    );
  });

  it("keeps a repeated key at its first place with its last value, and `__proto__` as an own property", () => {
    expectSame(readJson(Buffer.from('{"a":1,"b":2,"a":{"c":3}}')), JSON.parse('{"a":1,"b":2,"a":{"c":3}}'));
    const proto = readJson(Buffer.from('{"__proto__":{"polluted":true},"x":1}')) as Record<string, unknown>;
    expect(Object.getPrototypeOf(proto)).toBe(Object.prototype);
    expect(Object.keys(proto)).toEqual(["__proto__", "x"]);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it("refuses raw control characters in keys and strings, as JSON.parse does", () => {
    for (const t of ['{"a\u0001":1}', '{"a\tb":1}', '["x\ny"]', '{"k":"\u001f"}'])
      expect(() => readJson(Buffer.from(t)), JSON.stringify(t)).toThrow(SyntaxError);
    expectSame(readJson(Buffer.from('{"a\\tb":"\\u0001"}')), { "a\tb": "\u0001" });
  });

  it("reads values nested deeper than it recurses, and strings longer than one decode", () => {
    // JSON.parse takes 50,000 levels; a reader recursing all the way down would overflow the stack.
    // Walked by hand: a structural compare (and JSON.stringify) would overflow it themselves.
    const levels = 50_000;
    let inner = readJson(Buffer.from(`${"[".repeat(levels)}1${"]".repeat(levels)}`));
    let depth = 0;
    while (Array.isArray(inner) && inner.length === 1) [inner, depth] = [inner[0], depth + 1];
    expect([depth, inner]).toEqual([levels, 1]);
    const deepObject = `${'{"a":'.repeat(100)}null${"}".repeat(100)}`;
    expectSame(readJson(Buffer.from(deepObject)), JSON.parse(deepObject));
    const long = JSON.stringify({ text: "é".repeat(70_000), n: [1.5, -0, 2] });
    expectSame(readJson(Buffer.from(long)), JSON.parse(long));
  });
});

describe("readMembers", () => {
  it("gives the named members of any object as JSON.parse would, the rest only scanned", () => {
    const names = new Set(["usage", "error", "type"]);
    fc.assert(
      fc.property(
        fc.dictionary(fc.constantFrom("usage", "error", "type", "id", "tools", "usage ", "Type"), fc.jsonValue(), { maxKeys: 6 }),
        fc.boolean(),
        (o, pretty) => {
          const s = JSON.stringify(o, null, pretty ? 2 : undefined);
          const parsed = JSON.parse(s) as Record<string, unknown>;
          const want = Object.fromEntries(Object.entries(parsed).filter(([k]) => names.has(k)));
          expect(readMembers(Buffer.from(s), names)).toStrictEqual(want);
        },
      ),
      { numRuns: 500 },
    );
  });

  it("parses what is not an object whole, so it gives JSON.parse's value or error", () => {
    const names = new Set(["usage"]);
    expect(readMembers(Buffer.from("[1,2]"), names)).toEqual([1, 2]);
    expect(() => readMembers(Buffer.from('{"usage": {"input_tokens": 1}'), names)).toThrow(SyntaxError);
    expect(() => readMembers(Buffer.from('{"usage": {"input_tokens": tru}}'), names)).toThrow(SyntaxError);
    expect(() => readMembers(Buffer.from("<html>bad gateway</html>"), names)).toThrow(SyntaxError);
  });
});
