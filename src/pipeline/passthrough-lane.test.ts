import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { parseBody } from "./handle-request.js";
import { preparePassthroughBody } from "./passthrough-lane.js";

const fixture = (path: string): Buffer => {
  const f = JSON.parse(readFileSync(new URL(`../../../shared/fixtures/real-clients/${path}`, import.meta.url), "utf8")) as { body: unknown };
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
    const expected = `{"instructions":"",${raw.toString().slice(1)}`.replace(`"prompt_cache_key":${JSON.stringify(original.prompt_cache_key)}`, '"prompt_cache_key":"k-1"');
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
