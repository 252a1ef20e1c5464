/**
 * For any well-formed canonical stream: the Chat client stream passes the
 * strict validator, and decoding it back yields the same text, reasoning, tool
 * calls (ids, names, arguments), usage and — within Chat's coarser vocabulary —
 * finish reason.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { FinishReason } from "../../canonical/stream.js";
import { ctxFor, partsOf, runDecoder, runEncoder, streamSpecArb, summarize, toInbound } from "../anthropic-messages/test-support.js";
import { ChatStreamDecoder } from "./stream-decode.js";
import { ChatStreamEncoder } from "./stream-encode.js";
import { validateChatStream } from "./validate.js";

/** What survives Chat: stop-sequence and pause become stop, context-window becomes length. */
function viaChat(reason: FinishReason, hasTools: boolean): FinishReason {
  const r: FinishReason = reason === "stop-sequence" || reason === "pause" ? "stop" : reason === "context-window" ? "length" : reason;
  return r === "stop" && hasTools ? "tool-calls" : r;
}

describe("Chat client stream properties", () => {
  it.each([
    [false, true],
    [true, true],
    [true, false],
  ])("round-trips through encode → validate → decode (interleaved: %s, include_usage: %s)", (interleave, includeUsage) => {
    fc.assert(
      fc.property(streamSpecArb, (spec) => {
        const parts = partsOf(spec, interleave);
        const events = runEncoder(new ChatStreamEncoder(ctxFor(), { includeUsage }), parts);
        expect(validateChatStream(events)).toEqual([]);

        const back = summarize(runDecoder(new ChatStreamDecoder(ctxFor()), toInbound(events)));
        const want = summarize(parts);
        expect(back).toEqual({
          ...want,
          usage: includeUsage ? want.usage : undefined,
          finish: viaChat(spec.finish, want.tools.length > 0),
        });
      }),
      { numRuns: 300 },
    );
  });
});
