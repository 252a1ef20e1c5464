import { afterEach, describe, expect, it, vi } from "vitest";
import { readFileSync } from "node:fs";
import { parseBody } from "./request-body.js";
import fc from "fast-check";
import {
  answerFacts,
  namedEvents,
  chatUsageChunkRemover,
  codexCompletedOutputRewriter,
  preparePassthroughBody,
  relayStream,
  jointTriggers,
  jointlyTriggeredEvents,
  triggeredEvents,
  triggerPattern,
  type EventRewriter,
} from "./passthrough-lane.js";
import { captureUrl } from "../testing/real-clients.js";
import { queuedBody } from "../testing/queued-body.js";

const fixture = (path: string): Buffer => {
  const f = JSON.parse(readFileSync(captureUrl(path), "utf8")) as { body: unknown };
  return Buffer.from(JSON.stringify(f.body));
};

function prepare(upstream: "codex" | "openai-responses", raw: Buffer, set: Record<string, unknown> = {}) {
  const b = parseBody(raw);
  return preparePassthroughBody(upstream, raw, b.peek, b.read, set);
}

describe("preparePassthroughBody for the Codex backend", () => {
  it("splices only instructions and the cache key into a Codex CLI request", () => {
    const raw = fixture("codex-toolcall/002-POST-v1_responses.json");
    const { body } = prepare("codex", raw, { prompt_cache_key: "k-1" });
    const original = JSON.parse(raw.toString()) as Record<string, unknown>;
    expect(original.instructions).toBeUndefined();
    // The existing key is replaced in place and instructions inserted first: every other byte is the client's.
    const expected = `{"instructions":"",${raw.toString().slice(1)}`.replace(
      `"prompt_cache_key":${JSON.stringify(original.prompt_cache_key)}`,
      '"prompt_cache_key":"k-1"',
    );
    expect(body.toString()).toBe(expected);
    expect(JSON.parse(body.toString())).toEqual({ ...original, instructions: "", prompt_cache_key: "k-1" });
  });

  it("parses and fixes what the backend would refuse", () => {
    const raw = Buffer.from(JSON.stringify({ model: "gpt-5-codex", input: "hi", temperature: 0.2, max_output_tokens: 99, stream: true }));
    const body = JSON.parse(prepare("codex", raw).body.toString()) as Record<string, unknown>;
    expect(body).toMatchObject({ store: false, stream: true, instructions: "" });
    expect(body.temperature).toBeUndefined();
    expect(body.max_output_tokens).toBeUndefined();
    expect(body.input).toEqual([{ type: "message", role: "user", content: [{ type: "input_text", text: "hi" }] }]);
  });

  it("turns a bare-string input into a list even when nothing else needs fixing", () => {
    const raw = Buffer.from(JSON.stringify({ model: "gpt-5-codex", store: false, stream: true, instructions: "", input: "hi" }));
    const body = JSON.parse(prepare("codex", raw).body.toString()) as Record<string, unknown>;
    expect(body.input).toEqual([{ type: "message", role: "user", content: [{ type: "input_text", text: "hi" }] }]);
  });

  it("takes the slow path for item-level rules such as a system role", () => {
    const raw = Buffer.from(JSON.stringify({ model: "m", store: false, stream: true, instructions: "", input: [{ role: "system", content: "be nice" }] }));
    const body = JSON.parse(prepare("codex", raw).body.toString()) as { input: Array<{ role: string }> };
    expect(body.input[0]!.role).toBe("developer");
  });

  it("leaves other Responses upstreams' bodies alone", () => {
    const raw = Buffer.from('{"model":"m","input":"x","temperature":0.2}');
    expect(prepare("openai-responses", raw).body).toBe(raw);
  });
});

describe("relayStream", () => {
  const chat = [
    'data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant","content":"hé"},"finish_reason":null}]}',
    'data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}',
    'data: {"id":"c1","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":11,"completion_tokens":3,"total_tokens":14,"prompt_tokens_details":{"cached_tokens":5}}}',
    "data: [DONE]",
  ];

  async function relay(chunks: Buffer[], eol = "\n") {
    const written: Buffer[] = [];
    const lastFlags: boolean[] = [];
    const body = (async function* () {
      yield* chunks;
    })();
    const write = async (c: Buffer | string, last?: boolean): Promise<void> => {
      written.push(Buffer.from(c));
      lastFlags.push(last === true);
    };
    const result = await relayStream("openai-chat", "openai-chat", body, write, new AbortController().signal);
    return { result, out: Buffer.concat(written).toString(), eol, written, lastFlags };
  }

  it("forwards the bytes unchanged however they are chunked, and meters usage", async () => {
    for (const eol of ["\n", "\r\n"]) {
      const text = chat.map((l) => l + eol + eol).join("");
      const bytes = Buffer.from(text);
      await fc.assert(
        fc.asyncProperty(fc.array(fc.nat({ max: bytes.length }), { maxLength: 10 }), async (cuts) => {
          const points = [...new Set(cuts)].sort((a, b) => a - b);
          const chunks = [...points, bytes.length].map((p, i, all) => bytes.subarray(i === 0 ? 0 : all[i - 1]!, p)).filter((c) => c.length > 0);
          const { result, out, written, lastFlags } = await relay(chunks);
          expect(out).toBe(text);
          expect(result).toMatchObject({ completed: true, failed: false });
          // One write is marked as the terminal event's (it is held for the end): the one that
          // completed the answer, the finish_reason's, not the usage chunk or [DONE] after it.
          expect(lastFlags.filter(Boolean)).toHaveLength(1);
          expect(written[lastFlags.indexOf(true)]!.toString()).toContain('"finish_reason":"stop"');
          expect(result.usage).toMatchObject({ inputTokens: 11, cachedInputTokens: 5, outputTokens: 3 });
        }),
        { numRuns: 40 },
      );
    }
  });

  it("finds every blank line, split anywhere between chunks, with either line ending", async () => {
    for (const eol of ["\n", "\r\n"]) {
      const text = ['data: {"a":"é"}', "data: {}", "data: [DONE]"].map((l) => l + eol + eol).join("");
      const bytes = Buffer.from(text);
      for (let i = 0; i <= bytes.length; i++) {
        for (let j = i; j <= bytes.length; j++) {
          const chunks = [bytes.subarray(0, i), bytes.subarray(i, j), bytes.subarray(j)].filter((c) => c.length > 0);
          const written: Buffer[] = [];
          const body = (async function* () {
            yield* chunks;
          })();
          await relayStream("openai-chat", "openai-chat", body, async (c) => void written.push(Buffer.from(c)), new AbortController().signal);
          expect(Buffer.concat(written).toString(), `cuts ${i},${j}`).toBe(text);
          // Each chunk's whole events go out as it arrives: the writes end where the last blank line of each prefix does.
          const ends: number[] = [];
          let at = 0;
          for (const c of chunks) {
            at += c.length;
            const prefix = bytes.subarray(0, at);
            const lf = prefix.lastIndexOf("\n\n");
            const crlf = prefix.lastIndexOf("\r\n\r\n");
            const end = Math.max(lf === -1 ? 0 : lf + 2, crlf === -1 ? 0 : crlf + 4);
            if (end > 0 && end !== ends.at(-1)) ends.push(end);
          }
          let sum = 0;
          expect(
            written.map((w) => (sum += w.length)),
            `cuts ${i},${j}`,
          ).toEqual(ends);
        }
      }
    }
  });

  it("holds back a half-sent event and ends a cut stream with an error chunk", async () => {
    const whole = chat[0] + "\n\n";
    const { result, out } = await relay([Buffer.from(whole + chat[1]!.slice(0, 30))]);
    expect(result.failed).toBe(true);
    // The half-sent event never reaches the client; the error follows the last whole one.
    const events = out.split("\n\n").filter(Boolean);
    expect(events).toHaveLength(2);
    expect(events[0]).toBe(chat[0]);
    expect(JSON.parse(events[1]!.slice("data: ".length))).toMatchObject({ error: { code: "upstream_stream_incomplete" } });
  });

  it("forwards a final event the upstream did not terminate with a blank line", async () => {
    const text = chat
      .map((l) => l + "\n\n")
      .join("")
      .replace(/\n\n$/, "");
    const { result, out } = await relay([Buffer.from(text)]);
    expect(result.completed).toBe(true);
    expect(out).toBe(text + "\n\n");
  });
});

describe("relayStream on a body whose chunks have arrived (UpstreamBody.takeNow)", () => {
  const chat = [
    'data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"hé"},"finish_reason":null}]}',
    'data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":{"prompt_tokens":4,"completion_tokens":2}}',
    "data: [DONE]",
  ].map((l) => l + "\n\n");

  it("relays what is there within the call, waiting only for what has not arrived", async () => {
    const body = queuedBody(chat[0]!.slice(0, 20), chat[0]!.slice(20));
    const written: string[] = [];
    const relaying = relayStream("openai-chat", "openai-chat", body, (c) => void written.push(c.toString()), new AbortController().signal);
    // Before any turn of the microtask queue: both reads taken, the whole event written.
    expect(written).toEqual([chat[0]]);
    body.arrive(chat[1]! + chat[2]!);
    body.end();
    const result = await relaying;
    expect(written.join("")).toBe(chat.join(""));
    expect(result).toMatchObject({ completed: true, failed: false, usage: { inputTokens: 4, outputTokens: 2 } });
  });

  it("waits for a sink that asks for it, and loses nothing", async () => {
    const body = queuedBody(chat[0]!, chat[1]!, chat[2]!);
    body.end();
    const written: string[] = [];
    let release!: () => void;
    const drained = new Promise<void>((resolve) => (release = resolve));
    const relaying = relayStream(
      "openai-chat",
      "openai-chat",
      body,
      (c) => {
        written.push(c.toString());
        // The first write fills the sink: nothing more is written until it drains.
        return written.length === 1 ? drained : undefined;
      },
      new AbortController().signal,
    );
    await new Promise((resolve) => setImmediate(resolve));
    expect(written).toHaveLength(1);
    release();
    await relaying;
    expect(written.join("")).toBe(chat.join(""));
  });
});

describe("triggeredEvents (the events a meter's byte patterns find)", () => {
  const patterns = ['"usage":{', '"usage": {', "[DONE]", '"error"', '"finish_reason":"', "a.b*(c)[d]|e$^+?/-\\"];
  const pattern = triggerPattern(patterns.map((t) => Buffer.from(t)));

  /** What the relay must meter: each whole event whose own bytes hold a pattern, found by splitting on blank lines. */
  function reference(span: Buffer): string[] {
    const text = span.toString("latin1");
    const out: string[] = [];
    let start = 0;
    for (;;) {
      const lf = text.indexOf("\n\n", start);
      const crlf = text.indexOf("\r\n\r\n", start);
      const end = lf === -1 && crlf === -1 ? text.length : crlf === -1 || (lf !== -1 && lf < crlf) ? lf + 2 : crlf + 4;
      const event = text.slice(start, end);
      if (patterns.some((p) => event.includes(p))) out.push(event);
      if (end >= text.length) return out;
      start = end;
    }
  }

  it("finds the same events as a search of each event for each pattern", () => {
    // Events built from pieces that hold patterns, near-misses of them and non-ASCII text, so matches
    // fall anywhere in an event, several to an event, across pattern boundaries, and never at all.
    const piece = fc.constantFrom(
      ...patterns,
      '"usage":null',
      '"finish_reason":null',
      '"finish_reason": "stop"',
      "[DONE",
      "é",
      "日本",
      '"',
      "x",
      " ",
      "\\",
      "data: ",
      "{",
      "}",
    );
    const event = fc.array(piece, { maxLength: 8 }).map((ps) => ps.join("").replaceAll("\n", ""));
    const eol = fc.constantFrom("\n\n", "\r\n\r\n");
    fc.assert(
      fc.property(fc.array(fc.tuple(event, eol), { minLength: 1, maxLength: 8 }), (events) => {
        const span = Buffer.from(events.map(([e, end]) => e + end).join(""));
        expect(triggeredEvents(span, pattern).map((b) => b.toString("latin1"))).toEqual(reference(span));
      }),
      { numRuns: 300 },
    );
  });

  it("treats every character of a pattern as itself", () => {
    // What the pattern's characters would match as a regular expression, and its halves either side of `|`.
    const misses = ["abbbc", "ab(c)d", "a.b*(c)[d]", "e$^+?/-\\", "e+?/-\\"];
    const hit = "a.b*(c)[d]|e$^+?/-\\";
    const span = Buffer.from([...misses, hit].map((e) => `data: ${e}\n\n`).join(""));
    expect(triggeredEvents(span, pattern).map(String)).toEqual([`data: ${hit}\n\n`]);
  });
});

describe("jointlyTriggeredEvents (a meter's and a rewriter's patterns in one pass)", () => {
  const meter = triggerPattern(['"usage":{', "[DONE]", '"finish_reason":"'].map((t) => Buffer.from(t)));
  // `"usage":{"x` starts where the meter's `"usage":{` does: at the same place, the first pattern's match wins.
  const rewriter = triggerPattern(['"choices":[]', '"usage":{"x'].map((t) => Buffer.from(t)));
  const both = jointTriggers(meter, rewriter);

  it("finds what two searches find, each in stream order", () => {
    const piece = fc.constantFrom(
      '"usage":{',
      "[DONE]",
      '"finish_reason":"',
      '"choices":[]',
      '"usage":{"x',
      '"usage":null',
      '"choices":[{',
      "é",
      "x",
      " ",
      '"',
      "{",
    );
    const event = fc.array(piece, { maxLength: 8 }).map((ps) => "data: " + ps.join(""));
    const eol = fc.constantFrom("\n\n", "\r\n\r\n");
    fc.assert(
      fc.property(fc.array(fc.tuple(event, eol), { minLength: 1, maxLength: 8 }), (events) => {
        const span = Buffer.from(events.map(([e, end]) => e + end).join(""));
        const [byMeter, byRewriter] = jointlyTriggeredEvents(span, both);
        expect(byMeter.map(String)).toEqual(triggeredEvents(span, meter).map(String));
        expect(byRewriter.map(String)).toEqual(triggeredEvents(span, rewriter).map(String));
      }),
      { numRuns: 300 },
    );
  });

  it("gives each event that holds both patterns to both, as the same view", () => {
    const usage = 'data: {"choices":[],"usage":{"prompt_tokens":3}}\n\n';
    const span = Buffer.from(`data: {"choices":[{"finish_reason":"stop"}]}\n\n${usage}data: [DONE]\n\n`);
    const [byMeter, byRewriter] = jointlyTriggeredEvents(span, both);
    expect(byMeter.map(String)).toEqual(['data: {"choices":[{"finish_reason":"stop"}]}\n\n', usage, "data: [DONE]\n\n"]);
    expect(byRewriter.map(String)).toEqual([usage]);
    expect(byRewriter[0]!.buffer).toBe(span.buffer);
    // Made once per pair of patterns, so a stream does not compile or look up anything per span.
    expect(jointTriggers(meter, rewriter)).toBe(both);
  });
});

describe("relayStream on a Responses stream", () => {
  const instructions = "Vous êtes un agent de code. 你好。".repeat(800);
  const response = (status: string, extra: Record<string, unknown>) => ({
    id: "resp_1",
    status,
    instructions,
    tools: [{ type: "function", name: "shell" }],
    ...extra,
  });
  const frame = (type: string, data: Record<string, unknown>) => `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`;

  /** The relay's written bytes and result for `bytes` cut at `cuts`. */
  async function relayCut(bytes: Buffer, cuts: number[]) {
    const points = [...new Set([...cuts.filter((c) => c > 0 && c < bytes.length), bytes.length])].sort((a, b) => a - b);
    const chunks = points.map((p, i) => bytes.subarray(i === 0 ? 0 : points[i - 1]!, p));
    const written: Buffer[] = [];
    const body = (async function* () {
      yield* chunks;
    })();
    const result = await relayStream(
      "openai-responses",
      "openai-responses",
      body,
      async (c) => void written.push(Buffer.from(c)),
      new AbortController().signal,
    );
    return { result, out: Buffer.concat(written) };
  }

  async function relay(text: string) {
    const { result, out } = await relayCut(Buffer.from(text), []);
    return { result, out: out.toString() };
  }

  it("meters the usage of a terminal event that repeats the whole request, and forwards it unchanged", async () => {
    const usage = { input_tokens: 40100, input_tokens_details: { cached_tokens: 39000 }, output_tokens: 12, output_tokens_details: { reasoning_tokens: 4 } };
    const text =
      frame("response.created", { response: response("in_progress", { usage: null }) }) +
      frame("response.output_text.delta", { delta: "ok" }) +
      frame("response.completed", { response: response("completed", { output: [], usage }) });
    const { result, out } = await relay(text);
    expect(out).toBe(text);
    expect(result).toMatchObject({ completed: true, failed: false });
    expect(result.usage).toEqual({ inputTokens: 40100, cachedInputTokens: 39000, cacheWriteTokens: 0, outputTokens: 12, reasoningTokens: 4 });
  });

  it("joins a big event that comes in many chunks once", async () => {
    const text = frame("response.created", { response: response("in_progress", { usage: null }) }) + frame("response.output_text.delta", { delta: "ok" });
    const bytes = Buffer.from(text);
    const chunks: Buffer[] = [];
    for (let at = 0; at < bytes.length; at += 1024) chunks.push(bytes.subarray(at, at + 1024));
    let joined = 0;
    const concat = Buffer.concat;
    vi.spyOn(Buffer, "concat").mockImplementation((list: readonly Uint8Array[], length?: number) => {
      const out = concat(list, length);
      // The few bytes either side of a chunk edge, looked at for a split blank line, are not a join.
      if (out.length > 8) joined += out.length;
      return out;
    });
    const written: Buffer[] = [];
    const body = (async function* () {
      yield* chunks;
    })();
    await relayStream("openai-responses", "openai-responses", body, async (c) => void written.push(Buffer.from(c)), new AbortController().signal);
    vi.restoreAllMocks();
    expect(chunks.length).toBeGreaterThan(25);
    // The stream ends without a terminal event, so an error event follows what was relayed.
    expect(Buffer.concat(written).toString().startsWith(text)).toBe(true);
    // Joined on every chunk, the held part would be copied about chunks / 2 times over.
    expect(joined).toBeLessThanOrEqual(bytes.length);
  });

  it("forwards every byte and meters alike however the stream is cut, whatever order an event's lines come in", async () => {
    const usage = { input_tokens: 7, output_tokens: 3 };
    const big = response("in_progress", { usage: null });
    const streams = [
      frame("response.created", { response: big }) +
        frame("response.output_text.delta", { delta: "é" }) +
        frame("response.completed", { response: response("completed", { usage }) }),
      // The terminal event names itself after its data; a comment and an id line on the way.
      frame("response.created", { response: big }) +
        ": keep-alive\n\n" +
        `data: ${JSON.stringify({ type: "response.completed", response: response("completed", { usage }) })}\nid: 9\nevent: response.completed\n\n`,
      frame("response.in_progress", { response: big }) +
        frame("response.failed", { response: response("failed", { error: { code: "x", message: "boom" }, usage: null }) }),
    ];
    for (const text of streams) {
      for (const bytes of [Buffer.from(text), Buffer.from(text.replaceAll("\n", "\r\n"))]) {
        const whole = await relayCut(bytes, []);
        expect(whole.out.equals(bytes)).toBe(true);
        // Every cut inside the line naming the last event, and at each end of it.
        const name = bytes.lastIndexOf("event: response.");
        for (let at = name - 2; at < name + 30; at++) expect((await relayCut(bytes, [at])).result).toEqual(whole.result);
        await fc.assert(
          fc.asyncProperty(fc.array(fc.nat({ max: bytes.length }), { maxLength: 30 }), async (cuts) => {
            const cut = await relayCut(bytes, cuts);
            expect(cut.out.equals(bytes)).toBe(true);
            expect(cut.result).toEqual(whole.result);
          }),
          { numRuns: 40 },
        );
      }
    }
  });

  it("reads a big failed response's error as it did the whole event", async () => {
    const text = frame("response.failed", { response: response("failed", { error: { code: "server_error", message: "boom" }, usage: null }) });
    const { result } = await relay(text);
    expect(result).toMatchObject({ completed: false, failed: true, errorCode: "upstream_error" });
  });
});

describe("relayStream with a rewriter", () => {
  afterEach(() => vi.restoreAllMocks());
  const instructions = "Vous êtes un agent de code. 你好。".repeat(800);
  const item = { type: "message", id: "msg_1", role: "assistant", content: [{ type: "output_text", text: "done" }] };
  const usage = { input_tokens: 900, input_tokens_details: { cached_tokens: 0 }, output_tokens: 2, output_tokens_details: { reasoning_tokens: 0 } };
  // `data:` without its optional space: a re-framed event would come out with one.
  const frame = (type: string, data: Record<string, unknown>) => `event: ${type}\ndata:${JSON.stringify({ type, ...data })}\n\n`;
  const codexStream = (output: unknown[]) =>
    frame("response.created", { response: { id: "resp_1", status: "in_progress", instructions, output: [] } }) +
    frame("response.output_item.done", { output_index: 0, item }) +
    frame("response.completed", { response: { id: "resp_1", status: "completed", instructions, output, usage } });

  async function relay(upstream: "codex" | "openai-chat", text: string | Buffer, rewriter: EventRewriter) {
    const written: Buffer[] = [];
    const body = (async function* () {
      yield Buffer.isBuffer(text) ? text : Buffer.from(text);
    })();
    const client = upstream === "codex" ? "openai-responses" : "openai-chat";
    const result = await relayStream(upstream, client, body, async (c) => void written.push(Buffer.from(c)), new AbortController().signal, rewriter);
    return { result, out: Buffer.concat(written).toString(), written };
  }

  it("forwards a span it changes nothing in as its own bytes, without decoding the big completed event", async () => {
    const text = codexStream([item]);
    const bytes = Buffer.from(text);
    const decoded: number[] = [];
    const toString = Buffer.prototype.toString;
    vi.spyOn(Buffer.prototype, "toString").mockImplementation(function (this: Buffer, ...args: unknown[]) {
      const [, start = 0, end = this.length] = args as [string?, number?, number?];
      // Only decodes of the stream's own bytes count (the test runner decodes source maps too).
      if (this.buffer === bytes.buffer) decoded.push(Math.min(end, this.length) - start);
      return toString.apply(this, args as Parameters<Buffer["toString"]>);
    });
    const { result, out } = await relay("codex", bytes, codexCompletedOutputRewriter());
    vi.restoreAllMocks();
    expect(out).toBe(text);
    expect(result).toMatchObject({ completed: true, failed: false, usage: { inputTokens: 900, outputTokens: 2 } });
    expect(instructions.length).toBeGreaterThan(10_000);
    expect(decoded.length).toBeGreaterThan(0);
    expect(Math.max(...decoded)).toBeLessThan(2048);
  });

  it("fills an empty output from the items and re-frames that span", async () => {
    const { out } = await relay("codex", codexStream([]), codexCompletedOutputRewriter());
    const completed = out.split("\n\n").find((f) => f.startsWith("event: response.completed"))!;
    const data = JSON.parse(completed.slice(completed.indexOf("data: ") + 6)) as { response: { output: unknown[]; instructions: string } };
    expect(data.response.output).toEqual([item]);
    expect(data.response.instructions).toBe(instructions);
  });

  it("strips from a kept span's bytes and drops the event it removes", async () => {
    const chunk = (choices: string, extra: string) => `data: {"id":"c1","object":"chat.completion.chunk","choices":${choices}${extra}}\n\n`;
    const text = chunk('[{"index":0,"delta":{"content":"[]"},"finish_reason":"stop"}]', ',"usage":null') + "data: [DONE]\n\n";
    // The first span holds the trigger's bytes in its text but no usage: kept, with only the null usage cut out.
    const kept = await relay("openai-chat", text.replace('"content":"[]"', '"content":"\\"choices\\":[]"'), chatUsageChunkRemover());
    expect(kept.out).toBe(text.replace('"content":"[]"', '"content":"\\"choices\\":[]"').replace(',"usage":null', ""));
    const usageChunk = chunk("[]", ',"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}');
    const dropped = await relay("openai-chat", text.replace("data: [DONE]", usageChunk.trimEnd() + "\n\ndata: [DONE]"), chatUsageChunkRemover());
    expect(dropped.out).toBe(text.replace(',"usage":null', ""));
    expect(dropped.result.usage).toMatchObject({ inputTokens: 3, outputTokens: 1 });
  });

  it("with a strip, writes a replaced event's frame as its UTF-8 bytes, stripped as the bytes around it", async () => {
    const chunk = (content: string) => `data: {"choices":[{"index":0,"delta":{"content":"${content}"}}],"usage":null}\n\n`;
    const text = chunk("Grüße ") + chunk("MARK") + chunk("你好") + "data: [DONE]\n\n";
    const rewriter: EventRewriter = {
      triggers: { kind: "bytes", pattern: triggerPattern([Buffer.from("MARK")]) },
      rewrite: (ev) => `data: ${ev.data.replace("MARK", "Größe 大")}\n\n`,
      strip: ',"usage":null',
    };
    const { out } = await relay("openai-chat", text, rewriter);
    expect(out).toBe((chunk("Grüße ") + chunk("Größe 大") + chunk("你好") + "data: [DONE]\n\n").replaceAll(',"usage":null', ""));
  });

  it("splices out the one Chat event it drops and decodes none of the text events around it", async () => {
    const chunk = (choices: string, usage: string) => `data: {"id":"c1","object":"chat.completion.chunk","choices":${choices},"usage":${usage}}\n\n`;
    const texts = Array.from({ length: 200 }, (_, i) => chunk(`[{"index":0,"delta":{"content":"word ${i} é "},"finish_reason":null}]`, "null")).join("");
    const finish = chunk('[{"index":0,"delta":{},"finish_reason":"stop"}]', "null");
    const usage = chunk("[]", '{"prompt_tokens":3,"completion_tokens":200,"total_tokens":203}');
    const bytes = Buffer.from(texts + finish + usage + "data: [DONE]\n\n");
    const decodes: number[] = [];
    const toString = Buffer.prototype.toString;
    vi.spyOn(Buffer.prototype, "toString").mockImplementation(function (this: Buffer, ...args: unknown[]) {
      const [encoding, start = 0, end = this.length] = args as [string?, number?, number?];
      if (this.buffer === bytes.buffer && encoding !== "latin1") decodes.push(Math.min(end, this.length) - start);
      return toString.apply(this, args as Parameters<Buffer["toString"]>);
    });
    // The null usage is cut out of the span's Latin-1 view in one pass, not searched for chunk by chunk
    // in the bytes (the event parser's searches for one byte do not count).
    let searches = 0;
    const indexOf = Buffer.prototype.indexOf;
    vi.spyOn(Buffer.prototype, "indexOf").mockImplementation(function (this: Buffer, ...args: unknown[]) {
      if (this.buffer === bytes.buffer && typeof args[0] !== "number") searches++;
      return indexOf.apply(this, args as Parameters<Buffer["indexOf"]>);
    });
    // The pieces around the dropped event are put together as text and copied out once, not joined as buffers.
    const concat = vi.spyOn(Buffer, "concat");
    const { result, out, written } = await relay("openai-chat", bytes, chatUsageChunkRemover());
    const joins = concat.mock.calls.filter(([list]) => list !== written).length;
    vi.restoreAllMocks();
    expect(searches).toBe(0);
    expect(joins).toBe(0);
    expect(out).toBe((texts + finish + "data: [DONE]\n\n").replaceAll(',"usage":null', ""));
    expect(result).toMatchObject({ completed: true, failed: false, usage: { inputTokens: 3, outputTokens: 200 } });
    // What the meter and the rewriter read: the usage chunk (twice), the finish chunk and [DONE]; never a text event.
    expect(decodes.length).toBeLessThanOrEqual(4);
    expect(Math.max(...decodes)).toBeLessThan(usage.length);
  });
});

describe("answerFacts (a non-streamed answer's usage, error and type, without parsing the rest)", () => {
  const facts = (o: Record<string, unknown>) => Object.fromEntries(["usage", "error", "type"].filter((k) => k in o).map((k) => [k, o[k]]));

  it("reads the top-level members only, whatever the text and nested objects hold", () => {
    const answer = {
      id: "msg_1",
      type: "message",
      content: [
        { type: "text", text: 'the log said "usage": {"input_tokens": 999} and "error": "boom". '.repeat(80) },
        { type: "tool_use", id: "t1", name: "usage", input: { usage: { input_tokens: 5 }, error: { message: "nested" } } },
      ],
      usage: { input_tokens: 12, output_tokens: 3, cache_read_input_tokens: 4 },
    };
    const raw = Buffer.from(JSON.stringify(answer, null, 1));
    expect(raw.length).toBeGreaterThan(4096);
    expect(answerFacts(raw)).toEqual({ type: "message", usage: answer.usage });
  });

  it("agrees with parsing the whole answer, for any object, short or long", () => {
    fc.assert(
      fc.property(
        fc.dictionary(fc.constantFrom("usage", "error", "type", "output", "id", "usage ", "error_code"), fc.jsonValue()),
        fc.boolean(),
        fc.boolean(),
        (o, pretty, long) => {
          const answer = long ? { ...o, text: "réponse ".repeat(600) } : o;
          const raw = Buffer.from(JSON.stringify(answer, null, pretty ? 2 : undefined));
          const expected = facts(JSON.parse(raw.toString()) as Record<string, unknown>);
          expect(answerFacts(raw)).toEqual(expected);
        },
      ),
    );
  });

  it("parses what is not an object at the top level whole, so malformed answers still throw", () => {
    expect(answerFacts(Buffer.from("[1,2]"))).toEqual([1, 2]);
    expect(() => answerFacts(Buffer.from('{"usage": {"input_tokens": 1}'))).toThrow(SyntaxError);
    expect(() => answerFacts(Buffer.from("<html>bad gateway</html>"))).toThrow(SyntaxError);
  });
});

describe("namedEvents (the events a meter acts on by name, found line by line)", () => {
  const NAMES = ["response.completed", "response.failed", "message_delta"];
  /** The same, by decoding the span and reading its lines as strings. */
  function reference(span: Buffer, names: readonly string[]): string[] {
    const out: string[] = [];
    let start = 0;
    let named = false;
    const text = span.toString("latin1");
    for (let i = 0; i < text.length;) {
      let j = text.indexOf("\n", i);
      if (j === -1) j = text.length;
      const line = text.slice(i, j).replace(/\r$/, "");
      if (line === "") {
        if (named) out.push(text.slice(start, j + 1));
        named = false;
        start = j + 1;
      } else if (!named && line.startsWith("event:")) {
        const name = line.slice(line[6] === " " ? 7 : 6);
        named = names.some((n) => name.startsWith(n));
      }
      i = j + 1;
    }
    return out;
  }

  it("agrees with reading the lines as strings, near-misses and line endings included", () => {
    // Names, their prefixes and one-byte neighbours; `event:` with and without its space; data lines starting with an e.
    const name = fc.constantFrom(...NAMES, "response.complete", "response.completeD", "response.completed.extra", "message_deltA", "ping", "");
    const event = fc.record({
      field: fc.constantFrom("event: ", "event:", "evenT: ", "events: ", "e"),
      name,
      data: fc.constantFrom('{"type":"x"}', "event: response.completed", "é"),
      eol: fc.constantFrom("\n", "\r\n"),
    });
    fc.assert(
      fc.property(fc.array(event, { maxLength: 12 }), (events) => {
        const span = Buffer.from(events.map((e) => `${e.field}${e.name}${e.eol}data: ${e.data}${e.eol}${e.eol}`).join(""));
        const got = namedEvents(
          span,
          NAMES.map((n) => Buffer.from(n)),
        ).map((b) => b.toString("latin1"));
        expect(got).toEqual(reference(span, NAMES));
      }),
      { numRuns: 500 },
    );
  });
});
