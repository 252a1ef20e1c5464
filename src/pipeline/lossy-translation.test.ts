/**
 * A client field the upstream's protocol cannot carry is named in `x-switchyard-warnings`,
 * for every client protocol against every upstream of another protocol, and the field
 * really is absent upstream. Same-protocol upstreams get the fields and no warning.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { ClientProtocol } from "../protocols/codec.js";
import { ACME_KEY, startStack, type Stack } from "../testing/stack.js";

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(() => stack.close());
beforeEach(() => {
  stack.mock.clear();
  stack.mock.reset();
});

const UPSTREAM_MODEL = { "openai-chat": "chat-lossy", "openai-responses": "resp-lossy", anthropic: "claude-lossy", codex: "codex-lossy" } as const;
type Upstream = keyof typeof UPSTREAM_MODEL;

interface ClientCase {
  path: string;
  /** A body carrying fields only this protocol has, for `model`. */
  body(model: string): Record<string, unknown>;
  /** The header entries those fields produce on an upstream of another protocol. */
  warnings: string[];
  /** Top-level body fields that must not reach such an upstream. */
  absent: string[];
  /** Upstreams that speak the client's protocol. */
  native: Upstream[];
}

const CASES: Record<ClientProtocol, ClientCase> = {
  "openai-chat": {
    path: "/v1/chat/completions",
    body: (model) => ({
      model,
      stream: true,
      messages: [{ role: "user", content: "hi", name: "ada" }],
      logprobs: true,
      top_logprobs: 2,
      seed: 7,
      n: 1,
      frequency_penalty: 0.5,
      stream_options: { include_usage: true },
    }),
    warnings: [
      "unsupported_parameter:logprobs",
      "unsupported_parameter:top_logprobs",
      "unsupported_parameter:seed",
      "unsupported_parameter:frequency_penalty",
      "unsupported_parameter:messages[].name",
    ],
    absent: ["logprobs", "top_logprobs", "seed", "frequency_penalty"],
    native: ["openai-chat"],
  },
  "openai-responses": {
    path: "/v1/responses",
    body: (model) => ({
      model,
      stream: true,
      input: [
        { role: "user", content: "hi" },
        { role: "assistant", content: [{ type: "output_text", text: "hello" }], phase: "commentary" },
        { role: "user", content: "again" },
      ],
      store: false,
      text: { verbosity: "low" },
      service_tier: "priority",
      client_metadata: { turn: "1" },
      top_logprobs: 3,
    }),
    warnings: [
      "unsupported_parameter:text.verbosity",
      "unsupported_parameter:service_tier",
      "unsupported_parameter:client_metadata",
      "unsupported_parameter:top_logprobs",
      "unsupported_parameter:input[].phase",
    ],
    absent: ["service_tier", "client_metadata", "top_logprobs"],
    native: ["openai-responses", "codex"],
  },
  "anthropic-messages": {
    path: "/v1/messages",
    body: (model) => ({
      model,
      max_tokens: 256,
      stream: true,
      messages: [{ role: "user", content: "hi" }],
      metadata: { user_id: "user-7" },
      context_management: { edits: [{ type: "clear_thinking_20251015", keep: "all" }] },
      service_tier: "standard_only",
      output_config: { effort: "high", task_budget: 5 },
      tools: [{ name: "lookup", input_schema: { type: "object", properties: {} }, defer_loading: true }],
    }),
    warnings: [
      "unsupported_parameter:metadata.user_id",
      "unsupported_parameter:context_management",
      "unsupported_parameter:service_tier",
      "unsupported_parameter:output_config.task_budget",
      "unsupported_parameter:tools[].defer_loading",
    ],
    absent: ["context_management", "service_tier", "output_config"],
    native: ["anthropic"],
  },
};

async function send(path: string, body: unknown): Promise<{ status: number; warnings: string[]; text: string }> {
  const res = await fetch(`${stack.gw.url}${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${ACME_KEY}`, "content-type": "application/json", "anthropic-version": "2023-06-01" },
    body: JSON.stringify(body),
  });
  const header = res.headers.get("x-switchyard-warnings");
  return { status: res.status, warnings: header ? header.split(", ") : [], text: await res.text() };
}

for (const [client, c] of Object.entries(CASES) as Array<[ClientProtocol, ClientCase]>) {
  describe(`${client} client`, () => {
    for (const upstream of Object.keys(UPSTREAM_MODEL) as Upstream[]) {
      if (c.native.includes(upstream)) {
        it(`→ ${upstream}: the fields reach the upstream and nothing is reported`, async () => {
          const r = await send(c.path, c.body(UPSTREAM_MODEL[upstream]));
          expect(r.status, r.text).toBe(200);
          expect(r.warnings).toEqual([]);
          const seen = stack.mock.requests.at(-1)!.json as Record<string, unknown>;
          for (const field of c.absent) expect(seen, field).toHaveProperty(field);
        });
        continue;
      }
      it(`→ ${upstream}: every field it cannot carry is named in x-switchyard-warnings`, async () => {
        const r = await send(c.path, c.body(UPSTREAM_MODEL[upstream]));
        expect(r.status, r.text).toBe(200);
        expect(r.warnings).toEqual(expect.arrayContaining(c.warnings));
        const seen = stack.mock.requests.at(-1)!.json as Record<string, unknown>;
        for (const field of c.absent) expect(seen, field).not.toHaveProperty(field);
      });
    }
  });
}

describe("fields the gateway honours itself are not reported", () => {
  it("a Chat client's stream_options and n=1, a Responses client's store:false and empty instructions", async () => {
    const chat = await send("/v1/chat/completions", {
      model: "claude-lossy",
      stream: true,
      n: 1,
      stream_options: { include_usage: true },
      messages: [{ role: "user", content: "hi" }],
    });
    expect(chat.status, chat.text).toBe(200);
    expect(chat.warnings).toEqual([]);
    const responses = await send("/v1/responses", { model: "claude-lossy", stream: true, store: false, instructions: "", input: "hi" });
    expect(responses.status, responses.text).toBe(200);
    expect(responses.warnings).toEqual([]);
  });
});

describe("the header stays a valid header whatever the client's field names", () => {
  it("percent-encodes characters a header cannot hold", async () => {
    const r = await send("/v1/chat/completions", { model: "claude-lossy", messages: [{ role: "user", content: "hi" }], "größe, x": 1 });
    expect(r.status, r.text).toBe(200);
    expect(r.warnings).toEqual(["unsupported_parameter:gr%C3%B6%C3%9Fe%2C%20x"]);
  });
});

describe("the Codex backend's body rules on the passthrough lane", () => {
  it("name the fields they remove", async () => {
    const r = await send("/v1/responses", { model: "codex-lossy", stream: true, store: false, input: "hi", temperature: 0.2, max_output_tokens: 100 });
    expect(r.status, r.text).toBe(200);
    expect(r.warnings).toEqual(expect.arrayContaining(["unsupported_parameter:temperature", "unsupported_parameter:max_output_tokens"]));
    const seen = stack.mock.requests.at(-1)!.json as Record<string, unknown>;
    expect(seen).not.toHaveProperty("temperature");
  });
});
