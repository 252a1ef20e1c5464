/**
 * Model mapping end to end: one line of gateway config sends an Anthropic-protocol
 * request for a Claude model to a GPT upstream, and the Anthropic client sees the name
 * it asked for. Account mappings from the YAML apply the same way, nearest account first.
 */
import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { ACME_KEY, startStack, TEAM_KEY, type Stack } from "../testing/stack.js";

const BOT_KEY = "sk-test-bot-0000000000000000003";
const GPT_ONLY_KEY = "sk-test-gptonly-00000000000000004";

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({
    extraYaml: `  - name: bot
    parent: acme
    models: ["gpt-5.4*", "claude-*", "gpt-4o*"]
    model_map: ["claude-opus-*=gpt-4o-mini"]
    keys: [${BOT_KEY}]
  - name: gpt-only
    models: ["gpt-5.4"]
    keys: [${GPT_ONLY_KEY}]
model_map: ["claude-*=gpt-5.4", "ghost-*=nowhere-1"]
`,
  });
});
afterAll(() => stack.close());
beforeEach(() => stack.fresh());

const anthropic = (key: string): Anthropic => new Anthropic({ apiKey: key, baseURL: stack.gw.url, maxRetries: 0 });

describe("claude-*=gpt-5.4 in one line of config", () => {
  it("sends an Anthropic request for claude-sonnet-4-5 to the GPT upstream; the client sees its own model name", async () => {
    const msg = await anthropic(ACME_KEY).messages.create({ model: "claude-sonnet-4-5", max_tokens: 64, messages: [{ role: "user", content: "hello" }] });
    expect(msg.model).toBe("claude-sonnet-4-5");
    expect(msg.content[0]).toMatchObject({ type: "text" });
    const seen = stack.mock.requests.at(-1)!;
    expect(seen.path).toBe("/v1/responses");
    expect((seen.json as { model: string }).model).toBe("gpt-5.4");
    expect(stack.usage.at(-1)).toMatchObject({ model: "claude-sonnet-4-5", servedModel: "gpt-5.4", upstream: "responses", lane: "translate", status: 200 });
  });

  it("streams with the client's own model name in message_start", async () => {
    const stream = anthropic(ACME_KEY).messages.stream({ model: "claude-sonnet-4-5", max_tokens: 64, messages: [{ role: "user", content: "hello" }] });
    const final = await stream.finalMessage();
    expect(final.model).toBe("claude-sonnet-4-5");
    expect((stack.mock.requests.at(-1)!.json as { model: string }).model).toBe("gpt-5.4");
  });

  it("stores the requested and the served model on the usage record", async () => {
    await anthropic(ACME_KEY).messages.create({ model: "claude-haiku-4-5", max_tokens: 16, messages: [{ role: "user", content: "hi" }] });
    const acme = (await stack.gw.store.accounts.getByName("acme"))!;
    // The batcher writes within moments; wait for the row itself, not for a time.
    let row: { upstreamModel?: string | null } | undefined;
    for (let i = 0; i < 300 && !row; i++) {
      row = (await stack.gw.store.usage.listByAccount(acme.id)).find((r) => r.model === "claude-haiku-4-5");
      if (!row) await new Promise((r) => setTimeout(r, 10));
    }
    expect(row).toMatchObject({ upstreamModel: "gpt-5.4" });
  });

  it("names the rule when a mapped model is served nowhere", async () => {
    const e = await anthropic(ACME_KEY)
      .messages.create({ model: "ghost-1", max_tokens: 16, messages: [{ role: "user", content: "hi" }] })
      .catch((err: unknown) => err as { status: number; message: string });
    expect(e).toMatchObject({ status: 404 });
    expect((e as { message: string }).message).toContain("The model 'ghost-1' (mapped to 'nowhere-1' by the rule 'ghost-*=nowhere-1') is not served");
  });

  it("leaves a model no rule names alone", async () => {
    const openai = new OpenAI({ apiKey: ACME_KEY, baseURL: `${stack.gw.url}/v1`, maxRetries: 0 });
    const res = await openai.chat.completions.create({ model: "gpt-4o", messages: [{ role: "user", content: "hi" }] });
    expect(res.model).toBe("gpt-4o");
    expect((stack.mock.requests.at(-1)!.json as { model: string }).model).toBe("gpt-4o");
    expect(stack.usage.at(-1)).toMatchObject({ model: "gpt-4o", servedModel: "gpt-4o" });
  });
});

describe("admission and token counting under a mapping", () => {
  it("admits by the served model: an account allowed only gpt-5.4 may ask for a Claude name mapped to it", async () => {
    const msg = await anthropic(GPT_ONLY_KEY).messages.create({ model: "claude-haiku-4-5", max_tokens: 16, messages: [{ role: "user", content: "hi" }] });
    expect(msg.model).toBe("claude-haiku-4-5");
    expect(stack.usage.at(-1)).toMatchObject({ servedModel: "gpt-5.4", status: 200 });
    // A name no rule maps is still judged as it is.
    const refused = await anthropic(GPT_ONLY_KEY)
      .messages.create({ model: "gpt-4o", max_tokens: 16, messages: [{ role: "user", content: "hi" }] })
      .catch((e: unknown) => e);
    expect(refused).toMatchObject({ status: 403 });
  });

  it("counts tokens for the served model: estimated locally, not asked of the Anthropic upstream", async () => {
    for (const key of [ACME_KEY, GPT_ONLY_KEY]) {
      const res = await fetch(`${stack.gw.url}/v1/messages/count_tokens`, {
        method: "POST",
        headers: { "x-api-key": key, "content-type": "application/json", "anthropic-version": "2023-06-01" },
        body: JSON.stringify({ model: "claude-sonnet-4-5", messages: [{ role: "user", content: "hello there" }] }),
      });
      expect(res.status).toBe(200);
      expect(res.headers.get("x-switchyard-estimate")).toBe("true");
    }
    expect(stack.mock.requests.filter((r) => r.path.endsWith("/count_tokens"))).toEqual([]);
  });
});

describe("account mappings", () => {
  it("apply before the gateway's, and inherited ones after the account's own", async () => {
    await anthropic(BOT_KEY).messages.create({ model: "claude-opus-4-1", max_tokens: 16, messages: [{ role: "user", content: "hi" }] });
    expect(stack.mock.requests.at(-1)).toMatchObject({ path: "/v1/chat/completions" });
    expect((stack.mock.requests.at(-1)!.json as { model: string }).model).toBe("gpt-4o-mini");
    await anthropic(BOT_KEY).messages.create({ model: "claude-sonnet-4-5", max_tokens: 16, messages: [{ role: "user", content: "hi" }] });
    expect((stack.mock.requests.at(-1)!.json as { model: string }).model).toBe("gpt-5.4");
  });

  it("skip a gateway rule toward a model the account may not use", async () => {
    // team may use gpt-4o* and claude-*: the gateway's claude-*=gpt-5.4 is not for it.
    const msg = await anthropic(TEAM_KEY).messages.create({ model: "claude-sonnet-4-5", max_tokens: 16, messages: [{ role: "user", content: "hi" }] });
    expect(msg.model).toBe("claude-sonnet-4-5");
    expect(stack.mock.requests.at(-1)).toMatchObject({ path: "/v1/messages" });
    expect((stack.mock.requests.at(-1)!.json as { model: string }).model).toBe("claude-sonnet-4-5");
  });

  it("send the served name upstream on the passthrough lane too", async () => {
    const openai = new OpenAI({ apiKey: BOT_KEY, baseURL: `${stack.gw.url}/v1`, maxRetries: 0 });
    await openai.responses.create({ model: "claude-sonnet-4-5", input: "hi" });
    expect(stack.mock.requests.at(-1)).toMatchObject({ path: "/v1/responses" });
    expect((stack.mock.requests.at(-1)!.json as { model: string }).model).toBe("gpt-5.4");
    expect(stack.usage.at(-1)).toMatchObject({ lane: "passthrough", servedModel: "gpt-5.4" });
  });
});

describe("model_map_echo: served", () => {
  let served: Stack;
  beforeAll(async () => {
    served = await startStack({ extraYaml: `model_map: ["claude-*=gpt-5.4"]\nmodel_map_echo: served\n` });
  });
  afterAll(() => served.close());

  it("answers with the served model's name when configured so", async () => {
    const client = new Anthropic({ apiKey: ACME_KEY, baseURL: served.gw.url, maxRetries: 0 });
    const msg = await client.messages.create({ model: "claude-haiku-4-5", max_tokens: 16, messages: [{ role: "user", content: "hi" }] });
    expect(msg.model).toBe("gpt-5.4");
  });
});
