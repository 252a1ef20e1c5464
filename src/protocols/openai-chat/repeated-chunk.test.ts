import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { StreamPart } from "../../canonical/stream.js";
import { newTranslationContext } from "../codec.js";
import { RepeatedChunks } from "./repeated-chunk.js";
import { ChatStreamDecoder } from "./stream-decode.js";

/** Text of any code points, lone surrogates included. */
const anyText = fc.string({ unit: "binary", maxLength: 12 });

/** What providers put around a chunk's choices: their own members, in their own order. */
const frameArb = fc.record({
  id: fc.string({ unit: "binary", maxLength: 10 }),
  model: fc.string({ unit: "binary", maxLength: 10 }),
  created: fc.nat(),
  fingerprint: fc.option(fc.string({ maxLength: 8 }), { nil: undefined }),
  usageNull: fc.boolean(),
  logprobs: fc.boolean(),
});

type Frame = typeof frameArb extends fc.Arbitrary<infer T> ? T : never;

function chunk(f: Frame, delta: object, finish: string | null = null, extra?: object): object {
  const choice = f.logprobs ? { index: 0, delta, logprobs: null, finish_reason: finish } : { index: 0, delta, finish_reason: finish };
  return {
    id: f.id,
    object: "chat.completion.chunk",
    created: f.created,
    model: f.model,
    ...(f.fingerprint === undefined ? {} : { system_fingerprint: f.fingerprint }),
    choices: [choice],
    ...(f.usageNull ? { usage: null } : {}),
    ...extra,
  };
}

/** A stream: the role, reasoning, then text, then the finish, as providers send them. */
function stream(f: Frame, reasoning: string[], text: string[], extra?: (i: number) => object): string[] {
  const chunks = [chunk(f, { role: "assistant", content: "" })];
  for (const r of reasoning) chunks.push(chunk(f, { reasoning_content: r }));
  for (const t of text) chunks.push(chunk(f, { content: t }));
  chunks.push(chunk(f, {}, "stop"));
  return [...chunks.map((c, i) => JSON.stringify(extra ? Object.assign(c, extra(i)) : c)), "[DONE]"];
}

function decode(datas: string[]): StreamPart[] {
  const decoder = new ChatStreamDecoder(newTranslationContext("m", 1));
  return [...datas.flatMap((data) => decoder.push({ event: undefined, data })), ...decoder.end()];
}

describe("Chat chunks that repeat the one before but for their text", () => {
  it("decode as when every chunk is parsed", () => {
    fc.assert(
      fc.property(frameArb, fc.array(anyText, { maxLength: 4 }), fc.array(anyText, { minLength: 1, maxLength: 6 }), (f, reasoning, text) => {
        const repeating = stream(f, reasoning, text);
        // A member that differs on every chunk: none repeats another, all are parsed.
        const parsed = stream(f, reasoning, text, (i) => ({ n: i }));
        const parts = decode(repeating);
        expect(parts).toEqual(decode(parsed));
        expect(parts.filter((p) => p.type === "text-delta").map((p) => (p as { delta: string }).delta)).toEqual(text.filter((t) => t !== ""));
      }),
      { numRuns: 500 },
    );
  });

  it("are read off a template that a parsed chunk taught, and escapes decoded as JSON does", () => {
    const f: Frame = { id: "chatcmpl-1", model: "kimi-k2", created: 7, fingerprint: "fp_1", usageNull: true, logprobs: true };
    const repeats = new RepeatedChunks();
    const first = chunk(f, { content: "Hel" }) as { choices: Array<{ delta: object }> };
    repeats.learn(JSON.stringify(first), first as never);
    expect(repeats.read(JSON.stringify(chunk(f, { content: "lo" })))).toEqual({ member: "content", text: "lo" });
    const escaped = String.raw`a\"b\\c\/d\n\u00e9\ud83d\ude80`;
    const raw = JSON.stringify(chunk(f, { content: "X" })).replace('"X"', `"${escaped}"`);
    expect(repeats.read(raw)).toEqual({ member: "content", text: JSON.parse(`"${escaped}"`) as string });
  });

  it.each([
    ["another id", (f: Frame) => JSON.stringify(chunk({ ...f, id: "chatcmpl-2" }, { content: "x" }))],
    ["a finish reason", (f: Frame) => JSON.stringify(chunk(f, { content: "x" }, "stop"))],
    // As long as `null`: the text between the head and the tail is still one string.
    ["a finish reason of the tail's length", (f: Frame) => JSON.stringify(chunk(f, { content: "x" }, "ab"))],
    ["two members in the delta", (f: Frame) => JSON.stringify(chunk(f, { content: "x", role: "assistant" }))],
    ["the reasoning member", (f: Frame) => JSON.stringify(chunk(f, { reasoning_content: "x" }))],
    ["a second string in the text's place", (f: Frame) => JSON.stringify(chunk(f, { content: "X" })).replace('"X"', '"a","role":"b"')],
    ["a raw control character", (f: Frame) => JSON.stringify(chunk(f, { content: "X" })).replace('"X"', '"a\nb"')],
    ["an unknown escape", (f: Frame) => JSON.stringify(chunk(f, { content: "X" })).replace('"X"', String.raw`"a\qb"`)],
  ])("are not read when they differ otherwise: %s", (_, make) => {
    const f: Frame = { id: "chatcmpl-1", model: "m", created: 7, fingerprint: undefined, usageNull: false, logprobs: false };
    const repeats = new RepeatedChunks();
    const first = chunk(f, { content: "Hel" });
    repeats.learn(JSON.stringify(first), first as never);
    expect(repeats.read(make(f))).toBeUndefined();
  });

  it.each([
    ["a finish reason", { choices: [{ index: 0, delta: { content: "a" }, finish_reason: "stop" }] }],
    ["usage", { choices: [{ index: 0, delta: { content: "a" } }], usage: { prompt_tokens: 1 } }],
    ["an error", { error: { message: "x" }, choices: [{ index: 0, delta: { content: "a" } }] }],
    [
      "two choices",
      {
        choices: [
          { index: 0, delta: { content: "a" } },
          { index: 1, delta: { content: "b" } },
        ],
      },
    ],
    ["tool calls", { choices: [{ index: 0, delta: { tool_calls: [{ index: 0, function: { arguments: "{" } }] } }] }],
    ["a number for text", { choices: [{ index: 0, delta: { content: 5 } }] }],
    // The first `"delta":{"content":"` is not the choice's: the probe finds the place is another.
    ["the key elsewhere first", { meta: { delta: { content: "a" } }, choices: [{ index: 0, delta: { content: "b" } }] }],
  ])("teach no template when a chunk says more than its text: %s", (_, body) => {
    const repeats = new RepeatedChunks();
    const raw = JSON.stringify(body);
    repeats.learn(raw, body as never);
    expect(repeats.read(raw)).toBeUndefined();
  });

  it("are no longer looked for once templates keep teaching nothing (a member that changes on every chunk)", () => {
    const f: Frame = { id: "chatcmpl-1", model: "m", created: 7, fingerprint: undefined, usageNull: false, logprobs: false };
    const teach = (repeats: RepeatedChunks, n: number): void => {
      const c = chunk(f, { content: "a" }, null, { obfuscation: `pad${n}` });
      repeats.learn(JSON.stringify(c), c as never);
    };
    const repeat = JSON.stringify(chunk(f, { content: "b" }, null, { obfuscation: "pad9" }));
    const few = new RepeatedChunks();
    for (let n = 0; n < 4; n++) teach(few, n);
    teach(few, 9);
    expect(few.read(repeat)).toEqual({ member: "content", text: "b" });
    const many = new RepeatedChunks();
    for (let n = 0; n < 5; n++) teach(many, n);
    teach(many, 9);
    expect(many.read(repeat)).toBeUndefined();
  });

  it("decode a chunk whose key appears elsewhere first by parsing it", () => {
    const chunks = [
      { choices: [{ index: 0, delta: { role: "assistant" } }] },
      { meta: { delta: { content: "a" } }, choices: [{ index: 0, delta: { content: "b" } }] },
      { meta: { delta: { content: "a" } }, choices: [{ index: 0, delta: { content: "c" } }] },
      { choices: [{ index: 0, delta: {}, finish_reason: "stop" }] },
    ].map((c) => JSON.stringify(c));
    expect(decode(chunks).filter((p) => p.type === "text-delta")).toEqual([
      { type: "text-delta", id: "t0", delta: "b" },
      { type: "text-delta", id: "t0", delta: "c" },
    ]);
  });
});
