/**
 * The client stream encoders write the JSON of their per-token events themselves
 * (OutboundEvent.json), and the transport sends that text instead of `JSON.stringify(data)`. For
 * any canonical stream, with text of any code points (quotes, backslashes, controls, lone
 * surrogates), that text must be exactly what `JSON.stringify(data)` gives.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { CanonicalRequest } from "../canonical/request.js";
import type { StreamPart } from "../canonical/stream.js";
import { newTranslationContext, type ClientProtocol, type OutboundEvent } from "./codec.js";
import { CLIENT_CODECS } from "./registry.js";
import { eventData } from "../pipeline/render-error.js";

/** Text of any code points, lone surrogates included. */
const text = fc.string({ unit: "binary", minLength: 1, maxLength: 8 });

const blockArb = fc.oneof(
  fc.record({ kind: fc.constant("text" as const), deltas: fc.array(text, { minLength: 1, maxLength: 4 }) }),
  fc.record({ kind: fc.constant("reasoning" as const), deltas: fc.array(text, { minLength: 1, maxLength: 4 }), signature: text }),
  fc.record({ kind: fc.constant("tool" as const), deltas: fc.array(text, { minLength: 1, maxLength: 4 }), name: fc.stringMatching(/^[a-z]{1,8}$/) }),
);

const specArb = fc.record({
  id: fc.string({ unit: "binary", maxLength: 12 }),
  model: fc.string({ unit: "binary", minLength: 1, maxLength: 12 }),
  created: fc.integer({ min: 1, max: 2_000_000_000 }),
  blocks: fc.array(blockArb, { minLength: 1, maxLength: 4 }),
  includeUsage: fc.boolean(),
});

type Spec = typeof specArb extends fc.Arbitrary<infer T> ? T : never;

function streamOf(spec: Spec): StreamPart[] {
  const parts: StreamPart[] = [{ type: "response-start", meta: { id: spec.id, model: "upstream", created: spec.created } }];
  spec.blocks.forEach((b, i) => {
    const id = `b${i}`;
    if (b.kind === "text") {
      parts.push({ type: "text-start", id }, ...b.deltas.map((delta) => ({ type: "text-delta" as const, id, delta })), { type: "text-end", id });
    } else if (b.kind === "reasoning") {
      parts.push({ type: "reasoning-start", id }, ...b.deltas.map((delta) => ({ type: "reasoning-delta" as const, id, delta })), {
        type: "reasoning-end",
        id,
        signature: b.signature,
      });
    } else {
      parts.push(
        { type: "tool-call-start", id, callId: `call_${i}`, name: b.name },
        ...b.deltas.map((delta) => ({ type: "tool-call-delta" as const, id, delta })),
        // More than the deltas carried: the encoders send the rest as one more delta.
        { type: "tool-call-end", id, arguments: `${b.deltas.join("")}}` },
      );
    }
  });
  parts.push({ type: "usage", usage: { inputTokens: 10, cachedInputTokens: 0, cacheWriteTokens: 0, outputTokens: 5, reasoningTokens: 0 } });
  parts.push({ type: "finish", reason: "stop" });
  return parts;
}

function encode(client: ClientProtocol, spec: Spec): OutboundEvent[] {
  const ctx = newTranslationContext(spec.model, 1_700_000_000);
  const request: CanonicalRequest = { model: spec.model, messages: [], stream: true };
  if (spec.includeUsage) request.extensions = { "openai-chat": { stream_options: { include_usage: true } } };
  ctx.clientRequest = request;
  const encoder = CLIENT_CODECS[client].createStreamEncoder(ctx);
  const out: OutboundEvent[] = [];
  for (const part of streamOf(spec)) out.push(...encoder.push(part));
  out.push(...encoder.end());
  return out;
}

describe("client stream encoders: the JSON they write is JSON.stringify's", () => {
  for (const client of ["anthropic-messages", "openai-chat", "openai-responses"] as const) {
    it(`${client}: every event written out is its data's JSON`, () => {
      let written = 0;
      fc.assert(
        fc.property(specArb, (spec) => {
          for (const ev of encode(client, spec)) {
            if (ev.json === undefined) continue;
            written++;
            expect(ev.json).toBe(JSON.stringify(ev.data));
            expect(eventData(ev)).toBe(ev.json);
          }
        }),
        { numRuns: 300 },
      );
      // Not a property that holds because nothing was written out: the deltas were.
      expect(written).toBeGreaterThan(300);
    });
  }
});
