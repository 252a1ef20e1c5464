import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { PromptDigests, promptDigest } from "./affinity.js";
import { parseBody } from "./request-body.js";
import type { ClientProtocol } from "../canonical/protocols.js";

const text = fc.string({ unit: fc.constantFrom("a", "b", " ", "é", "工", '"', "\\", "\n"), minLength: 1, maxLength: 60 });
const content = fc.oneof(text, fc.array(fc.record({ type: fc.constant("text"), text }), { minLength: 1, maxLength: 3 }));
const message = fc.record({ role: fc.constantFrom("system", "developer", "user", "assistant", "tool"), content });

/** A body of `protocol` with a leading prompt and a conversation, as its clients send them. */
const body = fc.record({
  protocol: fc.constantFrom<ClientProtocol>("openai-chat", "anthropic-messages", "openai-responses"),
  system: fc.option(fc.oneof(text, fc.array(fc.record({ type: fc.constant("text"), text }), { minLength: 1, maxLength: 3 })), { nil: undefined }),
  messages: fc.array(message, { maxLength: 5 }),
  inputString: fc.option(text, { nil: undefined }),
});

type Generated = typeof body extends fc.Arbitrary<infer T> ? T : never;

function json(g: Generated): Record<string, unknown> {
  if (g.protocol === "anthropic-messages") return { model: "m", ...(g.system !== undefined ? { system: g.system } : {}), messages: g.messages };
  if (g.protocol === "openai-chat") return { model: "m", messages: g.messages };
  const instructions = typeof g.system === "string" ? { instructions: g.system } : {};
  return { model: "m", ...instructions, input: g.inputString ?? g.messages };
}

/** The body with one character of its JSON text changed, where a string holds it, if the result is still a JSON object. */
function nudged(bytes: string, at: number): string | undefined {
  const i = at % bytes.length;
  if (bytes[i] !== "a" && bytes[i] !== "b") return undefined;
  const out = `${bytes.slice(0, i)}${bytes[i] === "a" ? "b" : "a"}${bytes.slice(i + 1)}`;
  return out;
}

describe("PromptDigests", () => {
  it("gives the digest promptDigest computes, for any body, repeated, nudged by one character or not", () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(body, fc.nat(), fc.nat({ max: 3 })), { minLength: 1, maxLength: 8 }), (turns) => {
        const digests = new PromptDigests();
        const sent: Array<[ClientProtocol, string]> = [];
        for (const [g, at, repeats] of turns) {
          const base = JSON.stringify(json(g));
          sent.push([g.protocol, base]);
          const near = nudged(base, at);
          if (near !== undefined) sent.push([g.protocol, near]);
          for (let r = 0; r < repeats; r++) sent.push([g.protocol, base]);
        }
        // Everything twice more, so every source has been kept by the time it comes back.
        for (const [protocol, text] of [...sent, ...sent, ...sent]) {
          const raw = Buffer.from(text);
          expect(digests.of(protocol, parseBody(raw))).toBe(promptDigest(protocol, parseBody(raw)));
        }
      }),
      { numRuns: 200 },
    );
  });

  it("keeps a digest the second time its sources come, and computes it afresh when they change", () => {
    const digests = new PromptDigests();
    const system = `You are terse. ${"Keep to the point. ".repeat(1000)}`;
    const turn = (first: string, later: string[]): Buffer =>
      Buffer.from(
        JSON.stringify({
          model: "m",
          messages: [{ role: "system", content: system }, { role: "user", content: first }, ...later.map((t) => ({ role: "assistant", content: t }))],
        }),
      );
    const one = digests.of("openai-chat", parseBody(turn("hello", [])));
    expect(digests.hits).toBe(0);
    expect(digests.of("openai-chat", parseBody(turn("hello", ["hi"])))).toBe(one);
    expect(digests.hits).toBe(0);
    // A later turn of the same conversation: same system prompt and first user message.
    expect(digests.of("openai-chat", parseBody(turn("hello", ["hi", "more"])))).toBe(one);
    expect(digests.hits).toBe(1);
    // Another conversation with the same system prompt.
    const other = digests.of("openai-chat", parseBody(turn("hellp", [])));
    expect(other).not.toBe(one);
    expect(other).toBe(promptDigest("openai-chat", parseBody(turn("hellp", []))));
    expect(digests.hits).toBe(1);
  });

  it("never answers one protocol with another's digest of the same bytes", () => {
    const digests = new PromptDigests();
    const prompt = `You review code. ${"Be exact. ".repeat(500)}`;
    const items = [{ role: "user", content: "Explain this." }];
    // Anthropic's `system` and Responses' `instructions`, then the same list: the same source bytes,
    // digested differently (the one as its text, the other as its JSON).
    const messages = Buffer.from(JSON.stringify({ model: "m", system: prompt, messages: items }));
    const responses = Buffer.from(JSON.stringify({ model: "m", instructions: prompt, input: items }));
    const digest = (protocol: "anthropic-messages" | "openai-responses", raw: Buffer) => promptDigest(protocol, parseBody(raw));
    expect(digest("openai-responses", responses)).not.toBe(digest("anthropic-messages", messages));
    for (let i = 0; i < 3; i++) expect(digests.of("anthropic-messages", parseBody(messages))).toBe(digest("anthropic-messages", messages));
    expect(digests.hits).toBe(1);
    expect(digests.of("openai-responses", parseBody(responses))).toBe(digest("openai-responses", responses));
  });
});
