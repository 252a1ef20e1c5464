/**
 * Test helpers shared by the anthropic-messages and openai-chat tests:
 * well-formed canonical part sequences for property tests, and summaries that
 * compare what survives a round trip.
 */
import fc from "fast-check";
import type { FinishReason, StreamPart } from "../../canonical/stream.js";
import type { Usage } from "../../canonical/usage.js";
import { newTranslationContext, type InboundEvent, type OutboundEvent, type StreamDecoder, type StreamEncoder, type TranslationContext } from "../codec.js";

export type BlockSpec =
  | { kind: "text"; chunks: string[] }
  | { kind: "reasoning"; chunks: string[]; signature?: string }
  | { kind: "tool"; name: string; args: string; cuts: number[] };

export interface StreamSpec {
  blocks: BlockSpec[];
  usage: Usage;
  finish: Exclude<FinishReason, "error">;
  /** Random interleaving of the blocks' events (each block keeps its own order). */
  picks: number[];
}

const chunk = fc.string({ unit: "grapheme", maxLength: 12 });

const jsonArgs = fc
  .dictionary(
    fc.string({ minLength: 1, maxLength: 6 }),
    fc.oneof(fc.string({ unit: "grapheme", maxLength: 10 }), fc.integer(), fc.boolean(), fc.constant(null)),
    {
      maxKeys: 4,
    },
  )
  .map((o) => JSON.stringify(o));

const block: fc.Arbitrary<BlockSpec> = fc.oneof(
  fc.record({ kind: fc.constant("text" as const), chunks: fc.array(chunk, { maxLength: 5 }) }),
  fc.record(
    {
      kind: fc.constant("reasoning" as const),
      chunks: fc.array(chunk, { maxLength: 5 }),
      signature: fc.stringMatching(/^[A-Za-z0-9+/]{8,40}$/),
    },
    { requiredKeys: ["kind", "chunks"] },
  ),
  fc.record({
    kind: fc.constant("tool" as const),
    name: fc.stringMatching(/^[a-zA-Z][a-zA-Z0-9_-]{0,30}$/),
    args: jsonArgs,
    cuts: fc.array(fc.nat({ max: 200 }), { maxLength: 4 }),
  }),
);

export const usageArb: fc.Arbitrary<Usage> = fc
  .record({
    uncached: fc.nat({ max: 200_000 }),
    cached: fc.nat({ max: 100_000 }),
    write: fc.nat({ max: 50_000 }),
    output: fc.nat({ max: 64_000 }),
    reasoningShare: fc.nat({ max: 100 }),
  })
  .map((u) => ({
    inputTokens: u.uncached + u.cached + u.write,
    cachedInputTokens: u.cached,
    cacheWriteTokens: u.write,
    outputTokens: u.output,
    reasoningTokens: Math.floor((u.output * u.reasoningShare) / 100),
  }));

export const streamSpecArb: fc.Arbitrary<StreamSpec> = fc.record({
  blocks: fc.array(block, { maxLength: 6 }),
  usage: usageArb,
  finish: fc.constantFrom("stop", "length", "tool-calls", "content-filter", "stop-sequence", "context-window", "pause"),
  picks: fc.array(fc.nat({ max: 1000 }), { minLength: 64, maxLength: 64 }),
});

function splitAt(s: string, cuts: number[]): string[] {
  const points = [...new Set(cuts.map((c) => c % (s.length + 1)))].sort((a, b) => a - b);
  const out: string[] = [];
  let prev = 0;
  for (const p of points) {
    out.push(s.slice(prev, p));
    prev = p;
  }
  out.push(s.slice(prev));
  return out.filter((x) => x !== "");
}

function blockParts(b: BlockSpec, i: number): StreamPart[] {
  const id = `b${i}`;
  if (b.kind === "text") {
    return [{ type: "text-start", id }, ...b.chunks.map((delta): StreamPart => ({ type: "text-delta", id, delta })), { type: "text-end", id }];
  }
  if (b.kind === "reasoning") {
    const end: StreamPart = b.signature === undefined ? { type: "reasoning-end", id } : { type: "reasoning-end", id, signature: b.signature };
    return [{ type: "reasoning-start", id }, ...b.chunks.map((delta): StreamPart => ({ type: "reasoning-delta", id, delta })), end];
  }
  return [
    { type: "tool-call-start", id, callId: `call_${i}`, name: b.name },
    ...splitAt(b.args, b.cuts).map((delta): StreamPart => ({ type: "tool-call-delta", id, delta })),
    { type: "tool-call-end", id, arguments: b.args },
  ];
}

/** The canonical stream a spec describes: start, interleaved blocks, usage, finish. */
export function partsOf(spec: StreamSpec, interleave: boolean): StreamPart[] {
  const lists = spec.blocks.map(blockParts);
  const out: StreamPart[] = [{ type: "response-start", meta: { id: "resp_1", model: "upstream-model", created: 1_700_000_000 } }];
  if (!interleave) out.push(...lists.flat());
  else {
    let step = 0;
    for (;;) {
      const live = lists.filter((l) => l.length > 0);
      if (live.length === 0) break;
      const pick = live[(spec.picks[step++ % spec.picks.length] ?? 0) % live.length]!;
      out.push(pick.shift()!);
    }
  }
  out.push({ type: "usage", usage: spec.usage }, { type: "finish", reason: spec.finish });
  return out;
}

export interface Summary {
  text: string;
  reasoning: string;
  tools: Array<{ callId: string; name: string; arguments: string }>;
  usage: Usage | undefined;
  finish: FinishReason | undefined;
  errors: string[];
}

/** What a canonical stream says, block boundaries aside. */
export function summarize(parts: readonly StreamPart[]): Summary {
  const s: Summary = { text: "", reasoning: "", tools: [], usage: undefined, finish: undefined, errors: [] };
  // Tools in start order; arguments are final only at their end.
  const tools = new Map<string, { callId: string; name: string; arguments: string }>();
  for (const p of parts) {
    if (p.type === "text-delta") s.text += p.delta;
    else if (p.type === "reasoning-delta") s.reasoning += p.delta;
    else if (p.type === "tool-call-start") {
      const t = { callId: p.callId, name: p.name, arguments: "" };
      tools.set(p.id, t);
      s.tools.push(t);
    } else if (p.type === "tool-call-end") {
      const t = tools.get(p.id);
      if (t) t.arguments = p.arguments;
    } else if (p.type === "usage") s.usage = p.usage;
    else if (p.type === "finish") s.finish = p.reason;
    else if (p.type === "error") s.errors.push(p.error.message);
  }
  return s;
}

/** Client events as an upstream decoder would receive them off the wire. */
export function toInbound(events: readonly OutboundEvent[]): InboundEvent[] {
  return events.map((e) => ({ event: e.event, data: typeof e.data === "string" ? e.data : JSON.stringify(e.data) }));
}

export function runEncoder(enc: StreamEncoder, parts: readonly StreamPart[]): OutboundEvent[] {
  const out: OutboundEvent[] = [];
  for (const p of parts) out.push(...enc.push(p));
  out.push(...enc.end());
  return out;
}

export function runDecoder(dec: StreamDecoder, events: readonly InboundEvent[]): StreamPart[] {
  const out: StreamPart[] = [];
  for (const e of events) out.push(...dec.push(e));
  out.push(...dec.end());
  return out;
}

/** Parses an SSE transcript (`event:`/`data:` lines) into inbound events. */
export function sse(text: string): InboundEvent[] {
  const out: InboundEvent[] = [];
  for (const frame of text.trim().split(/\n\n+/)) {
    let event: string | undefined;
    const data: string[] = [];
    for (const line of frame.split("\n")) {
      if (line.startsWith("event:")) event = line.slice(6).trim();
      else if (line.startsWith("data:")) data.push(line.slice(5).trimStart());
    }
    out.push({ event, data: data.join("\n") });
  }
  return out;
}

export function ctxFor(model = "client-model"): TranslationContext {
  return newTranslationContext(model, 1_700_000_000);
}

/** The Claude Code captures committed beside this codec (see __fixtures__/README.md). */
export const FIXTURES = new URL("./__fixtures__/", import.meta.url);

/** Like `summarize`, but text and reasoning joined block by block in start order (how Anthropic serialises them). */
export function summarizeByBlock(parts: readonly StreamPart[]): Summary {
  const s = summarize(parts);
  const order: string[] = [];
  const text = new Map<string, string>();
  const reasoning = new Map<string, string>();
  for (const p of parts) {
    if (p.type === "text-start" || p.type === "reasoning-start" || p.type === "tool-call-start") order.push(p.id);
    if (p.type === "text-delta") text.set(p.id, (text.get(p.id) ?? "") + p.delta);
    if (p.type === "reasoning-delta") reasoning.set(p.id, (reasoning.get(p.id) ?? "") + p.delta);
  }
  s.text = order.map((id) => text.get(id) ?? "").join("");
  s.reasoning = order.map((id) => reasoning.get(id) ?? "").join("");
  return s;
}
