/**
 * For any well-formed canonical stream (text, reasoning and tool blocks, possibly
 * overlapping, then usage and finish): the Anthropic client stream passes the
 * strict validator, and decoding it back yields the same text, reasoning, tool
 * calls, usage and finish reason.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { FinishReason } from "../../canonical/stream.js";
import { foldAnthropicStream } from "./response.js";
import { AnthropicStreamDecoder } from "./stream-decode.js";
import { AnthropicStreamEncoder } from "./stream-encode.js";
import { ctxFor, partsOf, runDecoder, runEncoder, streamSpecArb, summarize, summarizeByBlock, toInbound } from "./test-support.js";
import { validateAnthropicStream } from "./validate.js";

describe("Anthropic client stream properties", () => {
  it.each([false, true])("round-trips through encode → validate → decode (interleaved: %s)", (interleave) => {
    fc.assert(
      fc.property(streamSpecArb, (spec) => {
        const parts = partsOf(spec, interleave);
        const events = runEncoder(new AnthropicStreamEncoder(ctxFor()), parts);
        expect(validateAnthropicStream(events)).toEqual([]);

        const back = summarize(runDecoder(new AnthropicStreamDecoder(ctxFor()), toInbound(events)));
        const want = summarizeByBlock(parts);
        const hasTools = want.tools.length > 0;
        const finish: FinishReason = spec.finish === "stop" && hasTools ? "tool-calls" : spec.finish;
        expect(back).toEqual({ ...want, finish });

        // The folded stream is a valid message with the same number of tool calls.
        const folded = foldAnthropicStream(events.map((e) => e.data));
        expect(folded?.content.filter((b) => b.type === "tool_use")).toHaveLength(want.tools.length);
      }),
      { numRuns: 300 },
    );
  });
});
