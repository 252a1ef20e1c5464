/**
 * Per-client-protocol request builders and answer readers for the bridge tests:
 * one place that knows how each protocol spells a tool, a tool result, and
 * where text, tool calls and usage live in its answers and streams.
 */
import type { ClientProtocol } from "../protocols/codec.js";
import type { ClientEvent } from "./sse-client.js";

export interface ToolSpec {
  name: string;
  description: string;
  parameters: Record<string, unknown>;
}

export interface Turn {
  model: string;
  user: string;
  system?: string;
  tools?: ToolSpec[];
  stream: boolean;
  /** A base64 PNG sent with the user message. */
  imagePng?: string;
  /** Ask for reasoning the way this protocol's clients do. */
  reasoning?: boolean;
  /** A previous assistant tool call and its result, to continue a tool round trip. */
  toolResult?: { callId: string; name: string; arguments: string; output: string };
}

export interface Answer {
  text: string;
  toolCalls: Array<{ id: string; name: string; arguments: string }>;
  reasoning: string;
  /** Opaque reasoning replay blob the client must send back (signature / encrypted_content). */
  reasoningSignature: string | undefined;
  /** Canonical convention: input includes cached. */
  usage: { input: number; cached: number; output: number } | undefined;
  finish: string | undefined;
}

export const ENDPOINT: Record<ClientProtocol, string> = {
  "openai-chat": "/v1/chat/completions",
  "openai-responses": "/v1/responses",
  "anthropic-messages": "/v1/messages",
};

export function buildBody(p: ClientProtocol, t: Turn): Record<string, unknown> {
  switch (p) {
    case "openai-chat": {
      const messages: unknown[] = [];
      if (t.system) messages.push({ role: "system", content: t.system });
      messages.push({
        role: "user",
        content: t.imagePng
          ? [
              { type: "text", text: t.user },
              { type: "image_url", image_url: { url: `data:image/png;base64,${t.imagePng}` } },
            ]
          : t.user,
      });
      if (t.toolResult) {
        const r = t.toolResult;
        messages.push({
          role: "assistant",
          content: null,
          tool_calls: [{ id: r.callId, type: "function", function: { name: r.name, arguments: r.arguments } }],
        });
        messages.push({ role: "tool", tool_call_id: r.callId, content: r.output });
      }
      return {
        model: t.model,
        messages,
        stream: t.stream,
        ...(t.stream ? { stream_options: { include_usage: true } } : {}),
        ...(t.reasoning ? { reasoning_effort: "medium" } : {}),
        ...(t.tools ? { tools: t.tools.map((x) => ({ type: "function", function: x })) } : {}),
      };
    }
    case "openai-responses": {
      const input: unknown[] = [
        {
          role: "user",
          content: t.imagePng
            ? [
                { type: "input_text", text: t.user },
                { type: "input_image", image_url: `data:image/png;base64,${t.imagePng}` },
              ]
            : t.user,
        },
      ];
      if (t.toolResult) {
        const r = t.toolResult;
        input.push({ type: "function_call", call_id: r.callId, name: r.name, arguments: r.arguments });
        input.push({ type: "function_call_output", call_id: r.callId, output: r.output });
      }
      return {
        model: t.model,
        input,
        stream: t.stream,
        ...(t.system ? { instructions: t.system } : {}),
        ...(t.reasoning ? { reasoning: { effort: "medium", summary: "auto" }, include: ["reasoning.encrypted_content"] } : {}),
        ...(t.tools
          ? { tools: t.tools.map((x) => ({ type: "function", name: x.name, description: x.description, parameters: x.parameters, strict: false })) }
          : {}),
      };
    }
    case "anthropic-messages": {
      const messages: unknown[] = [
        {
          role: "user",
          content: t.imagePng
            ? [
                { type: "text", text: t.user },
                { type: "image", source: { type: "base64", media_type: "image/png", data: t.imagePng } },
              ]
            : t.user,
        },
      ];
      if (t.toolResult) {
        const r = t.toolResult;
        messages.push({ role: "assistant", content: [{ type: "tool_use", id: r.callId, name: r.name, input: JSON.parse(r.arguments) as unknown }] });
        messages.push({ role: "user", content: [{ type: "tool_result", tool_use_id: r.callId, content: r.output }] });
      }
      return {
        model: t.model,
        max_tokens: 4096,
        messages,
        stream: t.stream,
        ...(t.system ? { system: t.system } : {}),
        ...(t.reasoning ? { thinking: { type: "enabled", budget_tokens: 2048 } } : {}),
        ...(t.tools ? { tools: t.tools.map((x) => ({ name: x.name, description: x.description, input_schema: x.parameters })) } : {}),
      };
    }
  }
}

type J = Record<string, any>;

export function readJsonAnswer(p: ClientProtocol, body: J): Answer {
  const a: Answer = { text: "", toolCalls: [], reasoning: "", reasoningSignature: undefined, usage: undefined, finish: undefined };
  if (p === "openai-chat") {
    const msg = body.choices[0].message as J;
    a.text = msg.content ?? "";
    a.reasoning = msg.reasoning_content ?? "";
    for (const c of (msg.tool_calls ?? []) as J[]) a.toolCalls.push({ id: c.id, name: c.function.name, arguments: c.function.arguments });
    a.finish = body.choices[0].finish_reason;
    const u = body.usage as J | undefined;
    if (u) a.usage = { input: u.prompt_tokens, cached: u.prompt_tokens_details?.cached_tokens ?? 0, output: u.completion_tokens };
  } else if (p === "openai-responses") {
    for (const item of body.output as J[]) {
      if (item.type === "message") for (const c of item.content as J[]) a.text += c.text ?? "";
      if (item.type === "function_call") a.toolCalls.push({ id: item.call_id, name: item.name, arguments: item.arguments });
      if (item.type === "reasoning") {
        a.reasoning += ((item.summary ?? []) as J[]).map((s) => s.text).join("");
        a.reasoningSignature = item.encrypted_content ?? a.reasoningSignature;
      }
    }
    a.finish = body.status;
    const u = body.usage as J | undefined;
    if (u) a.usage = { input: u.input_tokens, cached: u.input_tokens_details?.cached_tokens ?? 0, output: u.output_tokens };
  } else {
    for (const b of body.content as J[]) {
      if (b.type === "text") a.text += b.text;
      if (b.type === "tool_use") a.toolCalls.push({ id: b.id, name: b.name, arguments: JSON.stringify(b.input) });
      if (b.type === "thinking") {
        a.reasoning += b.thinking;
        a.reasoningSignature = b.signature || a.reasoningSignature;
      }
    }
    a.finish = body.stop_reason;
    const u = body.usage as J;
    const cached = u.cache_read_input_tokens ?? 0;
    a.usage = { input: u.input_tokens + cached + (u.cache_creation_input_tokens ?? 0), cached, output: u.output_tokens };
  }
  return a;
}

export function readStreamAnswer(p: ClientProtocol, events: ClientEvent[]): Answer {
  const a: Answer = { text: "", toolCalls: [], reasoning: "", reasoningSignature: undefined, usage: undefined, finish: undefined };
  if (p === "openai-chat") {
    for (const e of events) {
      if (e.data === "[DONE]") continue;
      const d = e.data as J;
      const choice = (d.choices as J[] | undefined)?.[0];
      if (choice) {
        a.text += choice.delta?.content ?? "";
        a.reasoning += choice.delta?.reasoning_content ?? "";
        for (const tc of (choice.delta?.tool_calls ?? []) as J[]) {
          const slot = (a.toolCalls[tc.index] ??= { id: "", name: "", arguments: "" });
          if (tc.id) slot.id = tc.id;
          if (tc.function?.name) slot.name = tc.function.name;
          slot.arguments += tc.function?.arguments ?? "";
        }
        if (choice.finish_reason) a.finish = choice.finish_reason;
      }
      if (d.usage) a.usage = { input: d.usage.prompt_tokens, cached: d.usage.prompt_tokens_details?.cached_tokens ?? 0, output: d.usage.completion_tokens };
    }
  } else if (p === "openai-responses") {
    const terminal = events.find((e) => ["response.completed", "response.incomplete", "response.failed"].includes(e.event ?? ""));
    if (terminal) {
      const resp = (terminal.data as J).response as J;
      const fromOutput = readJsonAnswer(p, resp);
      Object.assign(a, fromOutput);
    }
    // The streamed deltas must agree with the final object; take text from deltas.
    a.text = events
      .filter((e) => e.event === "response.output_text.delta")
      .map((e) => (e.data as J).delta as string)
      .join("");
  } else {
    const blocks: J[] = [];
    for (const e of events) {
      const d = e.data as J;
      if (e.event === "content_block_start") blocks[d.index] = { ...d.content_block, json: "" };
      if (e.event === "content_block_delta") {
        const b = blocks[d.index]!;
        if (d.delta.type === "text_delta") b.text += d.delta.text;
        if (d.delta.type === "thinking_delta") b.thinking += d.delta.thinking;
        if (d.delta.type === "signature_delta") b.signature = (b.signature ?? "") + d.delta.signature;
        if (d.delta.type === "input_json_delta") b.json += d.delta.partial_json;
      }
      if (e.event === "message_delta") {
        a.finish = d.delta.stop_reason;
        const u = d.usage as J;
        const cached = u.cache_read_input_tokens ?? 0;
        a.usage = { input: (u.input_tokens ?? 0) + cached + (u.cache_creation_input_tokens ?? 0), cached, output: u.output_tokens };
      }
    }
    for (const b of blocks) {
      if (!b) continue;
      if (b.type === "text") a.text += b.text;
      if (b.type === "thinking") {
        a.reasoning += b.thinking;
        a.reasoningSignature = b.signature || a.reasoningSignature;
      }
      if (b.type === "tool_use") a.toolCalls.push({ id: b.id, name: b.name, arguments: b.json || "{}" });
    }
  }
  return a;
}
