/**
 * Every client protocol against every upstream protocol, through the real
 * gateway and the mock upstream: text, streaming, tool round trips (with a
 * tool name over OpenAI's 64-character limit), reasoning, cached-token usage
 * and upstream errors. Every stream the gateway emits must pass the client
 * protocol's strict validator.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { ClientProtocol } from "../protocols/codec.js";
import { laneFor } from "../routing/plan.js";
import { ACME_KEY, startStack, type Stack } from "../testing/stack.js";
import { readSse, validateStream } from "../testing/sse-client.js";
import { buildBody, ENDPOINT, readJsonAnswer, readStreamAnswer, type Answer, type ToolSpec, type Turn } from "../testing/client-shapes.js";

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(() => stack.close());
beforeEach(() => {
  stack.fresh();
});

const CLIENTS: ClientProtocol[] = ["openai-chat", "openai-responses", "anthropic-messages"];
const UPSTREAMS = [
  { name: "openai-chat", model: "chat-bridge" },
  { name: "openai-responses", model: "resp-bridge" },
  { name: "anthropic", model: "claude-bridge" },
  { name: "codex", model: "codex-bridge" },
] as const;

const LONG_TOOL = `mcp__${"corporate_knowledge_base_".repeat(3)}server__search_documents_by_title`;
const TOOLS: ToolSpec[] = [
  { name: LONG_TOOL, description: "search", parameters: { type: "object", properties: { query: { type: "string" } }, required: ["query"] } },
  { name: "get_weather", description: "weather", parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] } },
];

async function call(client: ClientProtocol, turn: Turn): Promise<{ status: number; answer: Answer; problems: string[]; raw: unknown }> {
  const res = await fetch(`${stack.gw.url}${ENDPOINT[client]}`, {
    method: "POST",
    headers: { authorization: `Bearer ${ACME_KEY}`, "content-type": "application/json", "anthropic-version": "2023-06-01" },
    body: JSON.stringify(buildBody(client, turn)),
  });
  if (res.status !== 200) return { status: res.status, answer: undefined as never, problems: [], raw: await res.json() };
  if (turn.stream) {
    const events = await readSse(res);
    return { status: 200, answer: readStreamAnswer(client, events), problems: validateStream(client, events), raw: events };
  }
  const json = (await res.json()) as Record<string, unknown>;
  return { status: 200, answer: readJsonAnswer(client, json), problems: [], raw: json };
}

for (const client of CLIENTS) {
  for (const upstream of UPSTREAMS) {
    const passthrough = laneFor(client, upstream.name) === "passthrough";
    describe(`${client} client → ${upstream.name} upstream (${passthrough ? "passthrough" : "translate"})`, () => {
      for (const stream of [false, true]) {
        it(`answers text (${stream ? "stream" : "json"}) with usage`, async () => {
          const r = await call(client, { model: upstream.model, system: "Be brief.", user: "Say hello", stream });
          expect(r.status, JSON.stringify(r.raw)).toBe(200);
          expect(r.problems).toEqual([]);
          expect(r.answer.text).toMatch(/mock/i);
          expect(r.answer.usage?.input).toBeGreaterThan(0);
          expect(r.answer.usage?.output).toBeGreaterThan(0);
          expect(["stop", "end_turn", "completed"]).toContain(r.answer.finish);
        });
      }

      it("round-trips a tool call whose name exceeds 64 characters", async () => {
        const first = await call(client, { model: upstream.model, user: "find the doc [[mock:tool_call]]", tools: TOOLS, stream: true });
        expect(first.problems).toEqual([]);
        expect(first.answer.toolCalls).toHaveLength(1);
        const tc = first.answer.toolCalls[0]!;
        expect(tc.name).toBe(LONG_TOOL);
        expect(JSON.parse(tc.arguments)).toHaveProperty("query");
        expect(["tool_calls", "tool_use", "completed"]).toContain(first.answer.finish);
        const sent = stack.mock.requests.at(-1)!.body.toString();
        // Translated to an OpenAI-protocol upstream, the name is shortened (and mapped back above);
        // the passthrough lane forwards the client's own tools untouched.
        if (upstream.name !== "anthropic" && !passthrough) expect(sent).not.toContain(LONG_TOOL);

        const second = await call(client, {
          model: upstream.model,
          user: "find the doc [[mock:tool_call]]",
          tools: TOOLS,
          stream: false,
          toolResult: { callId: tc.id, name: tc.name, arguments: tc.arguments, output: "found: handbook.pdf" },
        });
        expect(second.status, JSON.stringify(second.raw)).toBe(200);
        expect(second.answer.toolCalls).toEqual([]);
        // The upstream saw the result tied to the same call.
        const upstreamBody = stack.mock.requests.at(-1)!.body.toString();
        expect(upstreamBody).toContain("found: handbook.pdf");
      });

      it("streams parallel tool calls", async () => {
        const r = await call(client, { model: upstream.model, user: "both [[mock:parallel_tools]]", tools: TOOLS, stream: true });
        expect(r.problems).toEqual([]);
        expect(r.answer.toolCalls.map((t) => t.name)).toEqual([LONG_TOOL, "get_weather"]);
        expect(new Set(r.answer.toolCalls.map((t) => t.id)).size).toBe(2);
      });

      it("reports cached input tokens in the client's convention", async () => {
        const r = await call(client, { model: upstream.model, user: `${"a long prompt ".repeat(60)} [[mock:cached=64]]`, stream: true });
        expect(r.problems).toEqual([]);
        expect(r.answer.usage?.cached).toBe(64);
        expect(r.answer.usage!.input).toBeGreaterThanOrEqual(64);
      });

      it("carries reasoning", async () => {
        const r = await call(client, { model: upstream.model, user: "think [[mock:reasoning]]", stream: true, reasoning: true });
        expect(r.problems).toEqual([]);
        expect(r.answer.text).toMatch(/mock/i);
        expect(r.answer.reasoning.length).toBeGreaterThan(0);
      });

      it("carries an inline image in the upstream's own shape", async () => {
        const png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";
        const r = await call(client, { model: upstream.model, user: "what is this?", imagePng: png, stream: false });
        expect(r.status, JSON.stringify(r.raw)).toBe(200);
        const sent = stack.mock.requests.at(-1)!.json as Record<string, unknown>;
        const text = JSON.stringify(sent);
        expect(text).toContain(png);
        const shape = { anthropic: '"type":"image"', "openai-chat": '"image_url"', "openai-responses": '"input_image"', codex: '"input_image"' }[upstream.name];
        expect(text).toContain(shape);
      });

      it("reports a truncated answer with the client's own stop reason", async () => {
        const r = await call(client, { model: upstream.model, user: "long [[mock:max_tokens]]", stream: true });
        expect(r.problems).toEqual([]);
        const expected = { "openai-chat": "length", "openai-responses": "incomplete", "anthropic-messages": "max_tokens" }[client];
        expect(r.answer.finish).toBe(expected);
      });

      it("maps an upstream 400 into the client's error format", async () => {
        stack.mock.script({ status: 400, times: 1 });
        const r = await call(client, { model: upstream.model, user: "x", stream: false });
        expect(r.status).toBe(400);
        if (client === "anthropic-messages") expect(r.raw).toMatchObject({ type: "error", error: { type: "invalid_request_error" } });
        else expect(r.raw).toMatchObject({ error: { type: "invalid_request_error" } });
      });

      it("ends a stream that fails upstream with the client's error event", async () => {
        const r = await call(client, { model: upstream.model, user: "x [[mock:stream_error]]", stream: true });
        expect(r.status).toBe(200);
        expect(r.problems).toEqual([]);
        const events = r.raw as Array<{ event?: string; data: unknown }>;
        const last = events.at(-1)!;
        if (client === "anthropic-messages") expect(last.event).toBe("error");
        else if (client === "openai-responses") expect(["response.failed", "error"]).toContain(last.event);
        else expect(JSON.stringify(events.slice(-2))).toContain('"error"');
      });
    });
  }
}

describe("Codex namespaced tools on upstreams without namespaces", () => {
  const namespaceTool = {
    type: "namespace",
    name: "multi_agent_v1",
    description: "agents",
    tools: [
      { type: "function", name: "close_agent", description: "close", strict: false, parameters: { type: "object", properties: { id: { type: "string" } } } },
    ],
  };

  for (const model of ["chat-bridge", "claude-bridge"]) {
    it(`calls and continues a namespaced tool through ${model}`, async () => {
      const post = (body: unknown) =>
        fetch(`${stack.gw.url}/v1/responses`, {
          method: "POST",
          headers: { authorization: `Bearer ${ACME_KEY}`, "content-type": "application/json" },
          body: JSON.stringify(body),
        });
      const first = (await (await post({ model, input: "close it [[mock:tool_call]]", tools: [namespaceTool] })).json()) as {
        output: Array<Record<string, string>>;
      };
      const call = first.output.find((o) => o.type === "function_call")!;
      expect(call).toMatchObject({ namespace: "multi_agent_v1", name: "close_agent" });
      const upstreamTools = JSON.stringify((stack.mock.requests.at(-1)!.json as { tools: unknown }).tools);
      expect(upstreamTools).toContain("multi_agent_v1_close_agent");

      const second = await post({
        model,
        tools: [namespaceTool],
        input: [
          { role: "user", content: "close it [[mock:tool_call]]" },
          { type: "function_call", call_id: call.call_id, namespace: "multi_agent_v1", name: "close_agent", arguments: call.arguments },
          { type: "function_call_output", call_id: call.call_id, output: "closed" },
        ],
      });
      expect(second.status).toBe(200);
      const sent = JSON.stringify(stack.mock.requests.at(-1)!.json);
      expect(sent).toContain('"multi_agent_v1_close_agent"');
      expect(sent).not.toContain("multi_agent_v1.close_agent");
      expect(sent).toContain("closed");
    });
  }
});

describe("reasoning replay across protocols", () => {
  for (const model of ["codex-bridge", "resp-bridge"]) {
    it(`hands an Anthropic client OpenAI's encrypted reasoning as the thinking signature, and sends it back next turn (${model})`, async () => {
      const tools = [{ name: "Bash", description: "run", input_schema: { type: "object", properties: { command: { type: "string" } } } }];
      const post = (messages: unknown[]) =>
        fetch(`${stack.gw.url}/v1/messages`, {
          method: "POST",
          headers: { "x-api-key": ACME_KEY, "anthropic-version": "2023-06-01", "content-type": "application/json" },
          body: JSON.stringify({ model, max_tokens: 4096, thinking: { type: "enabled", budget_tokens: 2048 }, tools, messages }),
        });
      const user = { role: "user", content: "ls [[mock:reasoning,tool_call]]" };
      const first = (await (await post([user])).json()) as { content: Array<Record<string, any>> };
      const thinking = first.content.find((b) => b.type === "thinking")!;
      const toolUse = first.content.find((b) => b.type === "tool_use")!;
      expect(thinking.signature).toMatch(/^gAAAA/);
      const second = await post([
        user,
        { role: "assistant", content: first.content },
        { role: "user", content: [{ type: "tool_result", tool_use_id: toolUse.id, content: "a.txt" }] },
      ]);
      expect(second.status).toBe(200);
      const input = (stack.mock.requests.at(-1)!.json as { input: Array<Record<string, unknown>> }).input;
      const reasoning = input.find((i) => i.type === "reasoning");
      expect(reasoning?.encrypted_content).toBe(thinking.signature);
      // The replayed reasoning sits before the call it led to.
      expect(input.findIndex((i) => i.type === "reasoning")).toBeLessThan(input.findIndex((i) => i.type === "function_call"));
    });
  }
});

describe("prompt caching on Anthropic for OpenAI-protocol clients", () => {
  for (const client of ["openai-chat", "openai-responses"] as const) {
    it(`marks a cache breakpoint so the second turn of a ${client} session reads the cache`, async () => {
      const system = `You are a careful assistant. ${"Rules. ".repeat(300)}`;
      const first = await call(client, { model: "claude-bridge", system, user: "first question", stream: false });
      expect(first.status, JSON.stringify(first.raw)).toBe(200);
      expect((stack.mock.requests.at(-1)!.json as { cache_control?: unknown }).cache_control).toEqual({ type: "ephemeral" });
      const second = await call(client, { model: "claude-bridge", system, user: "first question", stream: false });
      expect(second.answer.usage!.cached).toBeGreaterThan(0);
    });
  }
});

describe("Codex free-form tools (apply_patch) on every upstream", () => {
  const GRAMMAR = 'start: begin_patch hunk+ end_patch\nbegin_patch: "*** Begin Patch" LF\nend_patch: "*** End Patch" LF?\n%import common.LF\n';
  const applyPatch = { type: "custom", name: "apply_patch", description: "Edit files.", format: { type: "grammar", syntax: "lark", definition: GRAMMAR } };
  const exec = {
    type: "function",
    name: "exec_command",
    strict: false,
    parameters: { type: "object", properties: { cmd: { type: "string" } }, required: ["cmd"] },
  };
  const post = (body: Record<string, unknown>) =>
    fetch(`${stack.gw.url}/v1/responses`, {
      method: "POST",
      headers: { authorization: `Bearer ${ACME_KEY}`, "content-type": "application/json" },
      body: JSON.stringify({ store: false, tools: [applyPatch, exec], tool_choice: { type: "custom", name: "apply_patch" }, ...body }),
    });
  type Item = Record<string, string>;

  for (const up of UPSTREAMS) {
    for (const stream of [false, true]) {
      it(`${up.name}, ${stream ? "streaming" : "JSON"}: the call comes back as custom_tool_call with raw text, and its output goes back as the upstream's tool result`, async () => {
        // The custom tool_choice forces the call: upstreams without free-form tools get it as a named function choice.
        const first = await post({ model: up.model, stream, input: "edit the file" });
        expect(first.status, first.status === 200 ? "" : await first.clone().text()).toBe(200);
        let output: Item[];
        if (stream) {
          const events = await readSse(first);
          expect(validateStream("openai-responses", events)).toEqual([]);
          const kinds = events.map((e) => (e.data as { type: string }).type);
          expect(kinds).toContain("response.custom_tool_call_input.done");
          expect(kinds).not.toContain("response.function_call_arguments.delta");
          output = (events.at(-1)!.data as { response: { output: Item[] } }).response.output;
        } else {
          output = ((await first.json()) as { output: Item[] }).output;
        }
        const call = output.find((o) => o.type === "custom_tool_call")!;
        expect(call).toMatchObject({ name: "apply_patch" });
        expect(call.id).toMatch(/^ctc_/);
        expect(typeof call.input).toBe("string");
        expect(call.input).not.toMatch(/^\{/);
        expect(output.some((o) => o.type === "function_call")).toBe(false);

        const seen = stack.mock.requests.at(-1)!.json as Record<string, unknown>;
        const upstreamTools = JSON.stringify(seen.tools);
        if (up.name === "openai-responses" || up.name === "codex") {
          // Same family: the tool goes up as the custom tool it is, and the patch text is the mock's own.
          expect(seen.tools).toEqual([applyPatch, exec]);
          expect(seen.tool_choice).toEqual({ type: "custom", name: "apply_patch" });
          expect(call.input).toContain("*** Begin Patch");
        } else {
          // No free-form tools there: one string field whose description carries the grammar.
          expect(upstreamTools).toContain('"apply_patch"');
          expect(upstreamTools).toContain('"input"');
          expect(upstreamTools).toContain("Begin Patch");
          expect(upstreamTools).not.toContain('"custom"');
          expect(JSON.stringify(seen.tool_choice)).toContain('"apply_patch"');
        }

        stack.mock.clear();
        const second = await post({
          model: up.model,
          stream,
          input: [
            { role: "user", content: "edit the file" },
            { type: "custom_tool_call", call_id: call.call_id, name: "apply_patch", input: call.input },
            { type: "custom_tool_call_output", call_id: call.call_id, output: "Done: 1 file added" },
          ],
        });
        expect(second.status, second.status === 200 ? "" : await second.clone().text()).toBe(200);
        if (stream) expect(validateStream("openai-responses", await readSse(second))).toEqual([]);
        else await second.json();
        const history = stack.mock.requests.at(-1)!.json as Record<string, unknown>;
        const sent = JSON.stringify(history);
        expect(sent).toContain("Done: 1 file added");
        switch (up.name) {
          case "openai-chat": {
            const messages = history.messages as Array<Record<string, unknown>>;
            const assistant = messages.find((m) => m.role === "assistant")!;
            const tc = (assistant.tool_calls as Array<{ id: string; function: { name: string; arguments: string } }>)[0]!;
            expect(tc.function.name).toBe("apply_patch");
            expect(JSON.parse(tc.function.arguments)).toEqual({ input: call.input });
            expect(messages.find((m) => m.role === "tool")).toMatchObject({ tool_call_id: tc.id, content: "Done: 1 file added" });
            break;
          }
          case "anthropic": {
            const messages = history.messages as Array<{ role: string; content: Array<Record<string, unknown>> }>;
            const use = messages.flatMap((m) => m.content).find((b) => b.type === "tool_use")!;
            expect(use).toMatchObject({ name: "apply_patch", input: { input: call.input } });
            const result = messages.flatMap((m) => m.content).find((b) => b.type === "tool_result")!;
            expect(result.tool_use_id).toBe(use.id);
            break;
          }
          default: {
            const items = history.input as Item[];
            expect(items.find((i) => i.type === "custom_tool_call")).toMatchObject({ call_id: call.call_id, name: "apply_patch", input: call.input });
            expect(items.find((i) => i.type === "custom_tool_call_output")).toMatchObject({ call_id: call.call_id, output: "Done: 1 file added" });
            expect(items.some((i) => i.type === "function_call" || i.type === "function_call_output")).toBe(false);
          }
        }
      });
    }
  }
});
