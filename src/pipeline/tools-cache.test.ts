import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import fc from "fast-check";
import { newTranslationContext, type ClientProtocol } from "../protocols/codec.js";
import { CLIENT_CODECS, UPSTREAM_CODECS } from "../protocols/registry.js";
import type { UpstreamProtocol } from "../storage/ports.js";
import { captureUrl } from "../testing/real-clients.js";
import { ItemsCache } from "./items-cache.js";
import { jsonBytes } from "./json-bytes.js";
import { parseJsonBytes } from "./json-peek.js";
import { parseBody } from "./request-body.js";
import { TOOLS_CACHED_FROM, ToolsCache } from "./tools-cache.js";

const capture = (path: string): Buffer => {
  const f = JSON.parse(readFileSync(captureUrl(path), "utf8")) as { body: unknown };
  return Buffer.from(JSON.stringify(f.body));
};

const CLIENT_BODIES: Array<[ClientProtocol, string]> = [
  ["anthropic-messages", "claude/002-POST-v1_messages.json"],
  ["anthropic-messages", "claude-toolcall/003-POST-v1_messages.json"],
  ["openai-responses", "codex/001-POST-v1_responses.json"],
  ["openai-responses", "codex-toolcall/002-POST-v1_responses.json"],
];
const UPSTREAMS: UpstreamProtocol[] = ["anthropic", "openai-chat", "openai-responses", "codex"];

/** The translate lane's request side, with or without the cache. */
function upstreamBytes(raw: Buffer, client: ClientProtocol, upstream: UpstreamProtocol, cache?: ToolsCache): Buffer {
  const body = parseBody(raw);
  const { json, tools } = cache ? cache.parse(body) : { json: parseJsonBytes(raw), tools: undefined };
  const canonical = CLIENT_CODECS[client].decodeRequest(json);
  const ctx = newTranslationContext(canonical.model, 1_790_000_000);
  ctx.clientRequest = canonical;
  const encoded = UPSTREAM_CODECS[upstream].encodeRequest({ ...canonical, stream: true }, ctx) as Record<string, unknown>;
  return cache ? cache.bodyBytes(encoded, tools, upstream) : jsonBytes(encoded);
}

describe("ToolsCache", () => {
  it("gives the translate lane the bytes it writes without it, on the first turn and the ones that repeat the tools", () => {
    // With the items cache too, every item of the conversation is deep-frozen: a codec that changed its input would throw.
    for (const withItems of [false, true]) {
      for (const [client, path] of CLIENT_BODIES) {
        const raw = capture(path);
        const cache = new ToolsCache(0, undefined, withItems ? new ItemsCache(0) : undefined);
        for (const upstream of UPSTREAMS) {
          const plain = upstreamBytes(raw, client, upstream);
          for (let turn = 0; turn < 3; turn++) {
            expect(upstreamBytes(Buffer.from(raw), client, upstream, cache).equals(plain), `${path} → ${upstream}, items ${withItems}`).toBe(true);
          }
        }
      }
    }
  });

  it("parses a repeated tool list once and shares it frozen", () => {
    const raw = capture("claude/002-POST-v1_messages.json");
    expect(parseBody(raw).bytes("tools")!.length).toBeGreaterThan(TOOLS_CACHED_FROM);
    const cache = new ToolsCache();
    const first = cache.parse(parseBody(raw));
    const second = cache.parse(parseBody(Buffer.from(raw)));
    const tools = (first.json as { tools: Array<Record<string, unknown>> }).tools;
    expect((second.json as { tools: unknown }).tools).toBe(tools);
    expect(second.tools).toBe(first.tools);
    expect(first.json).toEqual(JSON.parse(raw.toString()));
    expect(() => {
      tools[0]!.name = "changed";
    }).toThrow(TypeError);
    expect(() => {
      (tools[0]!.input_schema as Record<string, unknown>).type = "changed";
    }).toThrow(TypeError);
  });

  it("leaves a small tool list to the plain parse", () => {
    const raw = Buffer.from(JSON.stringify({ model: "m", tools: [{ name: "t", input_schema: { type: "object" } }] }));
    const cache = new ToolsCache();
    const parsed = cache.parse(parseBody(raw));
    expect(parsed.tools).toBeUndefined();
    expect(Object.isFrozen((parsed.json as { tools: unknown }).tools)).toBe(false);
  });

  it("tells apart lists of the same length that differ only between the sampled bytes", () => {
    const tools = (letter: string) =>
      Array.from({ length: 40 }, (_, i) => ({ name: `tool_${i}`, description: `${"x".repeat(300)}${i === 20 ? letter : "x"}` }));
    const a = Buffer.from(JSON.stringify({ model: "m", tools: tools("a") }));
    const b = Buffer.from(JSON.stringify({ model: "m", tools: tools("b") }));
    expect(a.length).toBe(b.length);
    const cache = new ToolsCache(0);
    for (const raw of [a, b, a, b]) expect(cache.parse(parseBody(raw)).json).toEqual(JSON.parse(raw.toString()));
  });

  it("writes an encoded tools value afresh whenever it differs from the one the bytes were written from", () => {
    const jsonTool = fc.dictionary(fc.string({ maxLength: 6 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 });
    fc.assert(
      fc.property(fc.array(jsonTool, { minLength: 1, maxLength: 6 }), fc.array(fc.nat(), { maxLength: 4 }), (list, edits) => {
        const raw = Buffer.from(JSON.stringify({ model: "m", tools: list }));
        const cache = new ToolsCache(0);
        const { json, tools } = cache.parse(parseBody(raw));
        const parsed = (json as { tools: Array<Record<string, unknown>> }).tools;
        // The upstream codec's output: new objects around the shared, frozen parts, changed a little per request.
        let wire: unknown[] = parsed.map((t) => ({ ...t }));
        for (const edit of [-1, ...edits]) {
          if (edit >= 0) {
            // Edits 0-2 build new objects, as a codec does; 3 changes the last request's objects in place.
            if (edit % 5 !== 3) wire = wire.map((t) => ({ ...(t as object) }));
            const i = edit % wire.length;
            const t = wire[i] as Record<string, unknown>;
            if (edit % 5 === 0) t[`k${edit}`] = edit;
            else if (edit % 5 === 1) delete t[Object.keys(t)[0] ?? ""];
            else if (edit % 5 === 2) wire.reverse();
            else if (edit % 5 === 3) t.name = `in place ${edit}`;
            else wire[i] = Object.fromEntries(Object.entries(t).reverse());
          }
          const body = { model: "m", tools: wire, stream: true };
          expect(cache.bodyBytes(body, tools, "openai-responses").equals(jsonBytes(body))).toBe(true);
        }
      }),
      { numRuns: 300 },
    );
  });

  it("writes a body as jsonBytes does when the tools hold what it cannot copy", () => {
    const raw = Buffer.from(JSON.stringify({ model: "m", tools: [{ name: "t" }] }));
    const cache = new ToolsCache(0);
    const { tools } = cache.parse(parseBody(raw));
    const body = { model: "m", tools: [{ name: "t", at: new Date(0) }] };
    for (let i = 0; i < 2; i++) expect(cache.bodyBytes(body, tools, "anthropic").toString()).toBe(JSON.stringify(body));
  });
});
