import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { newTranslationContext, type ClientProtocol } from "../protocols/codec.js";
import { CLIENT_CODECS, UPSTREAM_CODECS } from "../protocols/registry.js";
import type { UpstreamProtocol } from "../storage/ports.js";
import { captureUrl } from "../testing/real-clients.js";
import { deepFreeze } from "./deep-freeze.js";
import { arrayItemSpans } from "./json-peek.js";
import { CONVERSATION_MEMBERS, ItemsCache } from "./items-cache.js";

const capture = (path: string): Record<string, unknown> => (JSON.parse(readFileSync(captureUrl(path), "utf8")) as { body: Record<string, unknown> }).body;
const bytesOf = (v: unknown): Buffer => Buffer.from(JSON.stringify(v));

const CAPTURES = [
  "claude/002-POST-v1_messages.json",
  "claude-toolcall/003-POST-v1_messages.json",
  "codex/001-POST-v1_responses.json",
  "codex-toolcall/002-POST-v1_responses.json",
];

/** A big text item of a conversation: `marker` differs between items of the same length. */
const userItem = (marker: string, size = 2000) => ({ role: "user", content: [{ type: "text", text: `${"对话 text ".repeat(size / 10)}${marker}` }] });

describe("ItemsCache", () => {
  it("parses every conversation member of the real captures as JSON.parse does, turn after turn, sharing the big items frozen", () => {
    for (const path of CAPTURES) {
      const body = capture(path);
      const cache = new ItemsCache(256);
      for (const name of CONVERSATION_MEMBERS) {
        if (!Array.isArray(body[name])) continue;
        const member = bytesOf(body[name]);
        const first = cache.parseArray(member) as unknown[];
        const second = cache.parseArray(Buffer.from(member)) as unknown[];
        expect(first, `${path} ${name}`).toEqual(JSON.parse(member.toString()));
        expect(second).toEqual(first);
        const spans = arrayItemSpans(member)!;
        for (let i = 0; i < spans.length; i++) {
          const big = spans[i]!.length >= 256;
          // A big item is the same frozen object on every turn; a small one is parsed afresh each time.
          expect(second[i] === first[i], `${path} ${name}[${i}]`).toBe(big || typeof first[i] !== "object");
          if (typeof first[i] === "object") expect(Object.isFrozen(first[i])).toBe(big);
        }
      }
    }
  });

  it("takes a growing conversation's earlier items from the cache and parses only the new one", () => {
    const cache = new ItemsCache();
    const [a, b, c] = [userItem("a"), userItem("b"), userItem("c")];
    const turn1 = cache.parseArray(bytesOf([a, b])) as unknown[];
    const turn2 = cache.parseArray(bytesOf([a, b, c])) as unknown[];
    expect(turn2).toEqual([a, b, c]);
    expect(turn2[0]).toBe(turn1[0]);
    expect(turn2[1]).toBe(turn1[1]);
    expect(() => {
      (turn2[0] as { role: string }).role = "assistant";
    }).toThrow(TypeError);
    expect(() => {
      ((turn2[1] as { content: Array<{ text: string }> }).content[0]!.text as unknown) = "changed";
    }).toThrow(TypeError);
  });

  it("tells apart items of the same length that differ only between the sampled bytes, and keeps both", () => {
    const cache = new ItemsCache(0);
    const a = bytesOf([userItem("a", 5000)]);
    const b = bytesOf([userItem("b", 5000)]);
    expect(a.length).toBe(b.length);
    const seen = [a, b, a, b].map((member) => {
      const parsed = cache.parseArray(member) as unknown[];
      expect(parsed).toEqual(JSON.parse(member.toString()));
      return parsed[0];
    });
    expect(seen[2]).toBe(seen[0]);
    expect(seen[3]).toBe(seen[1]);
  });

  it("gives JSON.parse's own error for a malformed item, and does not keep it", () => {
    const cache = new ItemsCache(0);
    for (const text of ['[{"role":"user","content":"hi"}, {"role": tru}]', '[{"a":1},]', '[{"a":1} {"b":2}]', '[{"a":1}', '{"a":[1]}x', "[1,2]]", '"text"']) {
      const member = Buffer.from(text);
      let expected: unknown;
      try {
        expected = JSON.parse(text);
      } catch (err) {
        expect(() => cache.parseArray(member), text).toThrow((err as Error).message);
        continue;
      }
      expect(cache.parseArray(member), text).toEqual(expected);
    }
    // The good item before the bad one was kept; the bad one, fixed, parses.
    expect(cache.parseArray(Buffer.from('[{"role":"user","content":"hi"}, {"role": true}]'))).toEqual([{ role: "user", content: "hi" }, { role: true }]);
  });

  it("parses anything but an array whole, as JSON.parse does", () => {
    const cache = new ItemsCache(0);
    for (const v of ["a system prompt", { type: "text", text: "x" }, 7, null, [], [[1, 2], { a: [3] }]]) {
      const got = cache.parseArray(bytesOf(v));
      expect(got).toEqual(v);
      if (typeof got === "object" && got !== null && !Array.isArray(got)) expect(Object.isFrozen(got)).toBe(false);
    }
    expect(cache.parseArray(Buffer.from(' [ {"a" : 1} ,\n {"b":[2]} ] '))).toEqual([{ a: 1 }, { b: [2] }]);
  });

  it("parses an item too big to keep plainly, neither copied nor frozen", () => {
    const cache = new ItemsCache(0, 3 * 1000);
    const small = { role: "user", content: "x".repeat(900) };
    const big = { role: "user", content: "x".repeat(1000) };
    const member = bytesOf([small, big]);
    const [a, b] = cache.parseArray(member) as unknown[];
    const [a2, b2] = cache.parseArray(member) as unknown[];
    expect([a2, b2]).toEqual([small, big]);
    expect(a2).toBe(a);
    expect(b2).not.toBe(b);
    expect(Object.isFrozen(b2)).toBe(false);
  });

  it("drops the least recently used items past its size", () => {
    // Of three lengths, so each has a key of its own.
    const items = ["a", "bb", "ccc"].map((m) => bytesOf([userItem(m, 1000)]));
    const cache = new ItemsCache(0, 3 * (items[1]!.length + items[2]!.length));
    const first = items.map((m) => (cache.parseArray(m) as unknown[])[0]);
    // a was dropped for c; b and c are still kept.
    expect((cache.parseArray(items[1]!) as unknown[])[0]).toBe(first[1]);
    expect((cache.parseArray(items[2]!) as unknown[])[0]).toBe(first[2]);
    const again = (cache.parseArray(items[0]!) as unknown[])[0];
    expect(again).not.toBe(first[0]);
    expect(again).toEqual(first[0]);
  });
});

/**
 * The translate lane hands codecs items the cache shares between requests, deep-frozen: no codec
 * may change what it decodes, or what it was decoded from, on the way to any upstream. Bodies
 * with every kind of content each client protocol sends.
 */
const BODIES: Array<[ClientProtocol, Record<string, unknown>]> = [
  [
    "anthropic-messages",
    {
      model: "claude-x",
      max_tokens: 1024,
      system: [
        { type: "text", text: "You are a coding agent." },
        { type: "text", text: "Project rules.", cache_control: { type: "ephemeral", ttl: "1h" } },
      ],
      messages: [
        {
          role: "user",
          content: [
            { type: "text", text: "Look at this.", cache_control: { type: "ephemeral" } },
            { type: "image", source: { type: "base64", media_type: "image/png", data: "iVBORw0KGgo=" } },
            { type: "document", source: { type: "base64", media_type: "application/pdf", data: "JVBERi0=" }, title: "spec" },
          ],
        },
        {
          role: "assistant",
          content: [
            { type: "thinking", thinking: "Plan the edit.", signature: "sig-1" },
            { type: "redacted_thinking", data: "opaque" },
            { type: "text", text: "Reading the file." },
            { type: "tool_use", id: "toolu_1", name: "Read", input: { path: "/a.ts", range: [1, 20], opts: { follow: true } } },
          ],
        },
        {
          role: "user",
          content: [
            { type: "tool_result", tool_use_id: "toolu_1", content: [{ type: "text", text: "export const a = 1;" }], cache_control: { type: "ephemeral" } },
            { type: "text", text: "Now fix it." },
          ],
        },
        { role: "assistant", content: [{ type: "tool_use", id: "toolu_2", name: "Bash", input: { command: "npm test" } }] },
        { role: "user", content: [{ type: "tool_result", tool_use_id: "toolu_2", content: "fail", is_error: true }] },
      ],
      tools: [
        { name: "Read", description: "Reads a file", input_schema: { type: "object", properties: { path: { type: "string" } }, required: ["path"] } },
        { name: "Bash", description: "Runs a command", input_schema: { type: "object", properties: { command: { type: "string" } } } },
      ],
      tool_choice: { type: "auto" },
      thinking: { type: "enabled", budget_tokens: 2048 },
      metadata: { user_id: "u-1" },
      stream: true,
    },
  ],
  [
    "openai-chat",
    {
      model: "gpt-x",
      messages: [
        { role: "system", content: "You are a coding agent." },
        { role: "developer", content: [{ type: "text", text: "Project rules." }] },
        {
          role: "user",
          content: [
            { type: "text", text: "Look at this." },
            { type: "image_url", image_url: { url: "data:image/png;base64,iVBORw0KGgo=", detail: "high" } },
          ],
        },
        {
          role: "assistant",
          content: "Reading.",
          tool_calls: [{ id: "call_1", type: "function", function: { name: "read", arguments: '{"path":"/a.ts"}' } }],
        },
        { role: "tool", tool_call_id: "call_1", content: "export const a = 1;" },
        { role: "user", content: "Now fix it." },
      ],
      tools: [{ type: "function", function: { name: "read", description: "Reads", parameters: { type: "object", properties: { path: { type: "string" } } } } }],
      tool_choice: "auto",
      stream: true,
      stream_options: { include_usage: true },
      temperature: 0.2,
    },
  ],
  [
    "openai-responses",
    {
      model: "gpt-x",
      instructions: "You are a coding agent.",
      input: [
        { type: "message", role: "developer", content: [{ type: "input_text", text: "Project rules." }] },
        {
          type: "message",
          role: "user",
          content: [
            { type: "input_text", text: "Look at this." },
            { type: "input_image", image_url: "data:image/png;base64,iVBORw0KGgo=", detail: "auto" },
          ],
        },
        { type: "reasoning", id: "rs_1", summary: [{ type: "summary_text", text: "Plan." }], encrypted_content: "gAAAAB-opaque" },
        { type: "message", role: "assistant", content: [{ type: "output_text", text: "Reading.", annotations: [] }] },
        { type: "function_call", call_id: "call_1", name: "read", arguments: '{"path":"/a.ts"}' },
        { type: "function_call_output", call_id: "call_1", output: "export const a = 1;" },
        { type: "message", role: "user", content: [{ type: "input_text", text: "Now fix it." }] },
      ],
      tools: [
        { type: "function", name: "read", description: "Reads", parameters: { type: "object", properties: { path: { type: "string" } } }, strict: false },
      ],
      reasoning: { effort: "medium", summary: "auto" },
      include: ["reasoning.encrypted_content"],
      store: false,
      stream: true,
    },
  ],
];
const UPSTREAMS: UpstreamProtocol[] = ["anthropic", "openai-chat", "openai-responses", "codex"];

/** The translate lane's request side, from a body parsed once (as the lane does) to one upstream's body. */
function translate(client: ClientProtocol, json: unknown, upstream: UpstreamProtocol): unknown {
  const canonical = CLIENT_CODECS[client].decodeRequest(json);
  const ctx = newTranslationContext(canonical.model, 1_790_000_000);
  ctx.clientRequest = canonical;
  const body = UPSTREAM_CODECS[upstream].encodeRequest({ ...canonical, stream: true }, ctx);
  // Written as the lane writes it: anything still frozen in it is only read.
  return JSON.parse(JSON.stringify(body));
}

describe("codecs and shared, frozen input", () => {
  for (const [client, body] of BODIES) {
    it(`${client}: decoding a deep-frozen body and encoding it for every upstream changes nothing and gives what a fresh parse gives`, () => {
      for (const upstream of UPSTREAMS) {
        const fresh = translate(client, JSON.parse(JSON.stringify(body)), upstream);
        const frozen = deepFreeze(JSON.parse(JSON.stringify(body)) as unknown);
        expect(translate(client, frozen, upstream), `${client} → ${upstream}`).toEqual(fresh);
        expect(frozen).toEqual(body);
      }
    });
  }
});
