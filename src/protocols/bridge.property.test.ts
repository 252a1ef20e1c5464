/**
 * For any well-formed answer an upstream of one protocol streams, the stream a
 * client of another protocol receives passes that client protocol's strict
 * validator and carries the same text, tool calls and usage. The upstream's
 * wire events are produced by that protocol's own encoder, so every pair runs
 * real wire formats through decode → canonical → encode.
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import type { CanonicalRequest } from "../canonical/request.js";
import { newTranslationContext, type ClientProtocol, type OutboundEvent } from "./codec.js";
import { CLIENT_CODECS, UPSTREAM_CODECS } from "./registry.js";
import { validateAnthropicStream } from "./anthropic-messages/validate.js";
import { validateChatStream } from "./openai-chat/validate.js";
import { validateResponsesStream } from "./openai-responses/validate.js";
import { partsOf, runDecoder, runEncoder, streamSpecArb, summarize, toInbound } from "./anthropic-messages/test-support.js";

const PROTOCOLS: ClientProtocol[] = ["anthropic-messages", "openai-chat", "openai-responses"];
const UPSTREAM_OF = { "anthropic-messages": "anthropic", "openai-chat": "openai-chat", "openai-responses": "openai-responses" } as const;
const VALIDATE: Record<ClientProtocol, (e: OutboundEvent[]) => string[]> = {
  "anthropic-messages": validateAnthropicStream,
  "openai-chat": validateChatStream,
  "openai-responses": validateResponsesStream,
};

/** A context whose client asked for everything its protocol can report (Chat's usage chunk). */
function ctxFor(p: ClientProtocol) {
  const ctx = newTranslationContext("m", 1_700_000_000);
  const request: CanonicalRequest = { model: "m", messages: [], stream: true };
  if (p === "openai-chat") request.extensions = { "openai-chat": { stream_options: { include_usage: true } } };
  ctx.clientRequest = request;
  return ctx;
}

describe("cross-protocol stream properties", () => {
  for (const upstream of PROTOCOLS) {
    for (const client of PROTOCOLS) {
      it(`${upstream} upstream → ${client} client: valid, same text, tool calls and usage`, () => {
        fc.assert(
          fc.property(streamSpecArb, (spec) => {
            const original = partsOf(spec, false);
            const wire = runEncoder(CLIENT_CODECS[upstream].createStreamEncoder(ctxFor(upstream)), original);
            const canonical = runDecoder(UPSTREAM_CODECS[UPSTREAM_OF[upstream]].createStreamDecoder(ctxFor(upstream)), toInbound(wire));
            const emitted = runEncoder(CLIENT_CODECS[client].createStreamEncoder(ctxFor(client)), canonical);
            expect(VALIDATE[client](emitted)).toEqual([]);
            const back = summarize(runDecoder(UPSTREAM_CODECS[UPSTREAM_OF[client]].createStreamDecoder(ctxFor(client)), toInbound(emitted)));
            const want = summarize(original);
            expect(back.errors).toEqual([]);
            expect(back.text).toBe(want.text);
            expect(back.tools.map((t) => [t.name, JSON.parse(t.arguments || "{}")])).toEqual(want.tools.map((t) => [t.name, JSON.parse(t.arguments)]));
            // Every protocol carries the whole prompt, the cached part and the output (cache writes and
            // reasoning token counts have no field in some of them).
            expect(back.usage && [back.usage.inputTokens, back.usage.cachedInputTokens, back.usage.outputTokens]).toEqual([
              want.usage!.inputTokens,
              want.usage!.cachedInputTokens,
              want.usage!.outputTokens,
            ]);
          }),
          { numRuns: 150 },
        );
      });
    }
  }
});
