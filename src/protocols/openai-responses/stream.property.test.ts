/**
 * Properties of the client stream encoder: for any well-formed canonical part
 * sequence (blocks may interleave), the Responses stream passes the strict
 * validator, and decoding it back yields the same text, reasoning, tool calls,
 * usage and finish.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { ContentPart } from "../../canonical/request.js";
import type { FinishReason, StreamPart } from "../../canonical/stream.js";
import type { Usage } from "../../canonical/usage.js";
import { foldStream } from "../common/fold-stream.js";
import { isOpenAIReasoningBlob } from "./guards.js";
import { asInbound, decodeEvents, encodeParts } from "./test-support.js";
import { validateResponsesStream } from "./validate.js";

type BlockSpec =
  | { kind: "text"; chunks: string[] }
  | { kind: "reasoning"; chunks: string[]; signature: string | undefined }
  | { kind: "tool"; name: string; callId: string; chunks: string[] };

const ident = fc.stringMatching(/^[A-Za-z0-9_-]{1,24}$/);
const chunks = fc.array(fc.string({ maxLength: 12, unit: "grapheme" }), { maxLength: 5 });
const signature = fc.option(
  fc.oneof(
    fc.base64String({ minLength: 4, maxLength: 20 }).map((s) => `gAAAA${s}`),
    fc.string({ maxLength: 10 }),
  ),
  {
    nil: undefined,
  },
);

const block: fc.Arbitrary<BlockSpec> = fc.oneof(
  chunks.map((c): BlockSpec => ({ kind: "text", chunks: c })),
  fc.record({ chunks, signature }).map((r): BlockSpec => ({ kind: "reasoning", ...r })),
  fc.record({ name: ident, callId: ident, chunks }).map((r): BlockSpec => ({ kind: "tool", ...r })),
);

const usage: fc.Arbitrary<Usage> = fc.record({
  inputTokens: fc.nat(1_000_000),
  cachedInputTokens: fc.nat(1_000_000),
  cacheWriteTokens: fc.nat(10_000),
  outputTokens: fc.nat(100_000),
  reasoningTokens: fc.nat(100_000),
});

const finish = fc.constantFrom<FinishReason>("stop", "tool-calls", "length", "content-filter", "stop-sequence");

function blockParts(b: BlockSpec, id: string): StreamPart[] {
  switch (b.kind) {
    case "text":
      return [{ type: "text-start", id }, ...b.chunks.map((delta): StreamPart => ({ type: "text-delta", id, delta })), { type: "text-end", id }];
    case "reasoning": {
      const end: StreamPart = b.signature === undefined ? { type: "reasoning-end", id } : { type: "reasoning-end", id, signature: b.signature };
      return [{ type: "reasoning-start", id }, ...b.chunks.map((delta): StreamPart => ({ type: "reasoning-delta", id, delta })), end];
    }
    case "tool":
      return [
        { type: "tool-call-start", id, callId: b.callId, name: b.name },
        ...b.chunks.map((delta): StreamPart => ({ type: "tool-call-delta", id, delta })),
        { type: "tool-call-end", id, arguments: b.chunks.join("") },
      ];
  }
}

/** Merges the blocks' part lists in an order driven by `picks`, keeping each block's own order. */
function interleave(lists: StreamPart[][], picks: number[]): StreamPart[] {
  const queues = lists.map((l) => [...l]);
  const out: StreamPart[] = [];
  let k = 0;
  for (;;) {
    const live = queues.filter((q) => q.length > 0);
    if (live.length === 0) return out;
    const q = live[(picks[k++] ?? 0) % live.length]!;
    out.push(q.shift()!);
  }
}

const scenario = fc
  .record({
    blocks: fc.array(block, { maxLength: 6 }),
    picks: fc.array(fc.nat(), { maxLength: 60 }),
    sequential: fc.boolean(),
    usage,
    finish,
    usageAfterFinish: fc.boolean(),
  })
  .map((s) => {
    const lists = s.blocks.map((b, i) => blockParts(b, `b${i}`));
    const body = s.sequential ? lists.flat() : interleave(lists, s.picks);
    const tail: StreamPart[] = s.usageAfterFinish
      ? [
          { type: "finish", reason: s.finish },
          { type: "usage", usage: s.usage },
        ]
      : [
          { type: "usage", usage: s.usage },
          { type: "finish", reason: s.finish },
        ];
    const parts: StreamPart[] = [{ type: "response-start", meta: { id: "resp_prop", model: "m", created: 1 } }, ...body, ...tail];
    return { ...s, parts };
  });

/** What survives a trip through a Responses client: only OpenAI reasoning blobs. */
function expectedContent(content: ContentPart[]): ContentPart[] {
  return content.map((p) => {
    if (p.type !== "reasoning") return p;
    return isOpenAIReasoningBlob(p.signature) ? { type: "reasoning", text: p.text, signature: p.signature } : { type: "reasoning", text: p.text };
  });
}

function expectedFinish(reason: FinishReason, content: ContentPart[]): FinishReason {
  if (reason === "length" || reason === "content-filter") return reason;
  return content.some((p) => p.type === "tool-call") ? "tool-calls" : "stop";
}

describe("Responses stream encoder properties", () => {
  it("every encoded stream passes the validator and decodes back to the same answer", () => {
    fc.assert(
      fc.property(scenario, ({ parts }) => {
        const events = encodeParts(parts);
        expect(validateResponsesStream(events)).toEqual([]);
        const original = foldStream(parts);
        const back = foldStream(decodeEvents(asInbound(events)));
        expect(back.content).toEqual(expectedContent(original.content));
        expect(back.usage).toEqual(original.usage);
        expect(back.finishReason).toBe(expectedFinish(original.finishReason, original.content));
      }),
      { numRuns: 300 },
    );
  });

  it("any prefix, cut off or ended by an error, still yields a valid stream", () => {
    fc.assert(
      fc.property(scenario, fc.nat(), fc.boolean(), ({ parts }, cut, withError) => {
        const prefix = parts.slice(0, cut % (parts.length + 1));
        const input: StreamPart[] = withError ? [...prefix, { type: "error", error: { kind: "upstream", message: "boom" } }] : prefix;
        expect(validateResponsesStream(encodeParts(input))).toEqual([]);
      }),
      { numRuns: 300 },
    );
  });
});
