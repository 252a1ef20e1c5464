import { afterEach, describe, expect, it } from "vitest";
import fc from "fast-check";
import { SEEN_FROM, SeenValues } from "./seen-values.js";
import { peekBody, projectFields, useSeenValues } from "./json-peek.js";

/** A tool list of about `bytes` bytes, with escapes and non-ASCII text in it, numbered `n`. */
function toolsJson(bytes: number, n = 0): string {
  const tools: unknown[] = [];
  for (let i = 0; JSON.stringify(tools).length < bytes; i++) {
    tools.push({
      name: `tool_${n}_${i}`,
      description: `Runs "step" ${i} — déjà vu 工具 \\ ${"x".repeat(200)}`,
      input_schema: { type: "object", properties: { a: { type: "string" } } },
    });
  }
  return JSON.stringify(tools);
}

/** A SeenValues that counts the containers it stepped over. */
class CountingSeen extends SeenValues {
  hits = 0;
  override endOf(buf: Uint8Array, start: number): number {
    const end = super.endOf(buf, start);
    if (end >= 0) this.hits++;
    return end;
  }
}

describe("SeenValues", () => {
  it("keeps a container the second time it is walked, and finds only its exact bytes", () => {
    const seen = new SeenValues();
    const tools = Buffer.from(toolsJson(SEEN_FROM * 2));
    const body = Buffer.concat([Buffer.from('{"tools":'), tools, Buffer.from("}")]);
    const start = 9;
    expect(seen.endOf(body, start)).toBe(-1);
    seen.walked(body, start, start + tools.length);
    expect(seen.endOf(body, start)).toBe(-1);
    seen.walked(body, start, start + tools.length);
    expect(seen.endOf(body, start)).toBe(start + tools.length);

    // The same list at another offset of another buffer.
    const elsewhere = Buffer.concat([Buffer.from('{"model":"m", "tools": '), tools, Buffer.from("}")]);
    expect(seen.endOf(elsewhere, 23)).toBe(23 + tools.length);

    // One byte changed anywhere, or the list cut short: not found.
    for (const at of [100, tools.length >> 1, tools.length - 2]) {
      const changed = Buffer.from(body);
      changed[start + at] = changed[start + at] === 0x61 ? 0x62 : 0x61;
      expect(seen.endOf(changed, start), `byte ${at}`).toBe(-1);
    }
    expect(seen.endOf(body.subarray(0, body.length - 2), start)).toBe(-1);

    seen.clear();
    expect(seen.endOf(body, start)).toBe(-1);
  });

  it("never keeps a container shorter than SEEN_FROM", () => {
    const seen = new SeenValues();
    const small = Buffer.from(toolsJson(SEEN_FROM - 600));
    expect(small.length).toBeLessThan(SEEN_FROM);
    const padded = Buffer.concat([small, Buffer.alloc(SEEN_FROM, 0x20)]);
    for (let i = 0; i < 3; i++) seen.walked(padded, 0, small.length);
    expect(seen.endOf(padded, 0)).toBe(-1);
  });

  it("keeps four lists that start alike, the newest first, and lets the oldest go for a fifth", () => {
    const seen = new SeenValues();
    const base = toolsJson(SEEN_FROM * 2, 1);
    // Same first bytes, different tails: a client that adds one tool at the end.
    const lists = [0, 1, 2, 3, 4].map((k) => Buffer.from(`${base.slice(0, -1)},{"name":"extra_${k}"}]`));
    for (const list of lists) {
      seen.walked(list, 0, list.length);
      seen.walked(list, 0, list.length);
    }
    expect(seen.endOf(lists[0]!, 0)).toBe(-1);
    for (const list of lists.slice(1)) expect(seen.endOf(list, 0)).toBe(list.length);
  });

  it("stays within its byte budget", () => {
    const seen = new SeenValues(3 * SEEN_FROM * 2);
    const lists = [0, 1, 2, 3, 4, 5].map((k) => Buffer.from(toolsJson(SEEN_FROM * 2, k + 10)));
    for (const list of lists) {
      seen.walked(list, 0, list.length);
      seen.walked(list, 0, list.length);
    }
    const found = lists.filter((list) => seen.endOf(list, 0) === list.length).length;
    expect(found).toBeGreaterThan(0);
    expect(found).toBeLessThan(lists.length);
  });
});

describe("json-peek with the cache", () => {
  const counting = new CountingSeen();
  const had = useSeenValues(counting);
  afterEach(() => {
    useSeenValues(had);
  });

  it("steps over a repeated tools and system member, and walks messages every time", () => {
    useSeenValues(counting);
    const body = Buffer.from(
      `{"model":"claude","system":${toolsJson(SEEN_FROM + 100, 2)},"messages":${toolsJson(SEEN_FROM * 2, 3)},"tools":${toolsJson(SEEN_FROM * 3, 4)}}`,
    );
    const first = peekBody(body);
    expect(peekBody(body)).toEqual(first);
    counting.hits = 0;
    expect(peekBody(body)).toEqual(first);
    expect(counting.hits).toBe(2);
  });

  it("gives the same fields with the cache as without it, whatever changes between requests", () => {
    const tools = toolsJson(SEEN_FROM * 2, 5);
    const variant = fc.record({
      at: fc.nat({ max: tools.length - 1 }),
      edit: fc.constantFrom("none", "letter", "quote", "bracket", "cut", "escape"),
      before: fc.constantFrom("", " ", '"a":1,'),
    });
    fc.assert(
      fc.property(fc.array(variant, { minLength: 1, maxLength: 6 }), (variants) => {
        useSeenValues(new SeenValues());
        for (const v of variants) {
          let t = tools;
          if (v.edit === "letter") t = `${t.slice(0, v.at)}q${t.slice(v.at + 1)}`;
          else if (v.edit === "quote") t = `${t.slice(0, v.at)}"${t.slice(v.at)}`;
          else if (v.edit === "bracket") t = `${t.slice(0, v.at)}]${t.slice(v.at)}`;
          else if (v.edit === "cut") t = t.slice(0, v.at);
          else if (v.edit === "escape") t = `${t.slice(0, v.at)}\\${t.slice(v.at)}`;
          const body = Buffer.from(`{${v.before}"tools":${t},"model":"m"}`);
          const cached = peekBody(body);
          const cache = useSeenValues(undefined);
          const walked = peekBody(body);
          useSeenValues(cache);
          expect(cached).toEqual(walked);
        }
      }),
      { numRuns: 300 },
    );
  });

  it("steps over tools echoed inside an answer too, with the same projection", () => {
    useSeenValues(counting);
    const event = Buffer.from(`{"type":"response.completed","response":{"id":"r1","tools":${toolsJson(SEEN_FROM * 2, 6)},"usage":{"input_tokens":3}}}`);
    const tree = { response: { usage: true } } as const;
    const first = projectFields(event, tree);
    projectFields(event, tree);
    counting.hits = 0;
    expect(projectFields(event, tree)).toBe(first);
    expect(JSON.parse(first!)).toEqual({ response: { usage: { input_tokens: 3 } } });
    expect(counting.hits).toBe(1);
  });
});
