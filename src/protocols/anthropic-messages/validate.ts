/**
 * Strict event-order validator for Anthropic Messages streams the gateway emits
 * (docs/architecture.md#codecs-and-validators; docs/protocols.md#anthropic-streaming). Returns every violation found; an empty
 * list means the stream is valid. Stricter than the API's own clients on
 * purpose: whatever passes here parses in every Anthropic SDK.
 */
import { isRecord, tryParseJson } from "../common/guards.js";

const DELTAS_OF: Record<string, ReadonlySet<string>> = {
  text: new Set(["text_delta", "citations_delta"]),
  thinking: new Set(["thinking_delta", "signature_delta"]),
  redacted_thinking: new Set(),
  tool_use: new Set(["input_json_delta"]),
  server_tool_use: new Set(["input_json_delta"]),
};

const STOP_REASONS = new Set(["end_turn", "max_tokens", "stop_sequence", "tool_use", "pause_turn", "refusal", "model_context_window_exceeded"]);

const TOOL_ID = /^[a-zA-Z0-9_-]+$/;

function isCount(v: unknown): boolean {
  return typeof v === "number" && Number.isInteger(v) && v >= 0;
}

function checkUsage(u: unknown, where: string, problems: string[]): void {
  if (!isRecord(u)) {
    problems.push(`${where}: usage missing`);
    return;
  }
  if (!isCount(u.output_tokens)) problems.push(`${where}: usage.output_tokens must be a non-negative integer`);
  for (const k of ["input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens"]) {
    if (u[k] !== undefined && u[k] !== null && !isCount(u[k])) problems.push(`${where}: usage.${k} must be a non-negative integer`);
  }
}

interface Open {
  index: number;
  type: string;
  signed: boolean;
  json: string;
}

export function validateAnthropicStream(events: ReadonlyArray<{ event?: string | undefined; data: unknown }>): string[] {
  const problems: string[] = [];
  let started = false;
  let stopped = false;
  let errored = false;
  let deltaSeen = false;
  let nextIndex = 0;
  let open: Open | undefined;

  events.forEach((e, i) => {
    const at = `event ${i}`;
    const data = typeof e.data === "string" ? tryParseJson(e.data) : e.data;
    if (!isRecord(data) || typeof data.type !== "string") {
      problems.push(`${at}: data must be an object with a string type`);
      return;
    }
    const type = data.type;
    const where = `${at} (${type})`;
    if (e.event !== type) problems.push(`${where}: event name "${String(e.event)}" differs from data.type`);
    if (stopped || errored) {
      problems.push(`${where}: nothing may follow ${errored ? "an error" : "message_stop"}`);
      return;
    }
    if (type === "error") {
      errored = true;
      if (!isRecord(data.error) || typeof data.error.type !== "string" || typeof data.error.message !== "string") {
        problems.push(`${where}: error needs error.type and error.message`);
      }
      return;
    }
    if (type === "ping") {
      if (!started) problems.push(`${where}: ping before message_start`);
      return;
    }
    if (type === "message_start") {
      if (started) problems.push(`${where}: message_start repeated`);
      else if (i !== 0) problems.push(`${where}: message_start must be the first event`);
      started = true;
      const m = data.message;
      if (!isRecord(m)) {
        problems.push(`${where}: message missing`);
        return;
      }
      if (m.type !== "message" || m.role !== "assistant") problems.push(`${where}: message must be type "message", role "assistant"`);
      if (typeof m.id !== "string" || m.id === "") problems.push(`${where}: message.id missing`);
      if (typeof m.model !== "string") problems.push(`${where}: message.model missing`);
      if (!Array.isArray(m.content) || m.content.length !== 0) problems.push(`${where}: message.content must be []`);
      if (m.stop_reason !== null) problems.push(`${where}: message.stop_reason must be null`);
      checkUsage(m.usage, where, problems);
      return;
    }
    if (!started) {
      problems.push(`${where}: before message_start`);
      started = true;
    }
    switch (type) {
      case "content_block_start": {
        if (deltaSeen) problems.push(`${where}: content block after message_delta`);
        if (open) problems.push(`${where}: block ${open.index} still open`);
        const block = data.content_block;
        if (data.index !== nextIndex) problems.push(`${where}: index ${String(data.index)}, expected ${nextIndex}`);
        if (!isRecord(block) || typeof block.type !== "string") {
          problems.push(`${where}: content_block missing`);
          return;
        }
        if (!(block.type in DELTAS_OF)) problems.push(`${where}: unknown block type "${block.type}"`);
        if (block.type === "text" && block.text !== "") problems.push(`${where}: text block must start empty`);
        if (block.type === "thinking" && block.thinking !== "") problems.push(`${where}: thinking block must start empty`);
        if (block.type === "redacted_thinking" && typeof block.data !== "string") problems.push(`${where}: redacted_thinking needs data`);
        if (block.type === "tool_use") {
          if (typeof block.id !== "string" || !TOOL_ID.test(block.id)) problems.push(`${where}: tool_use id must match ${TOOL_ID.source}`);
          if (typeof block.name !== "string" || block.name === "") problems.push(`${where}: tool_use needs a name`);
          if (!isRecord(block.input) || Object.keys(block.input).length > 0) problems.push(`${where}: tool_use input must start as {}`);
        }
        open = { index: typeof data.index === "number" ? data.index : nextIndex, type: block.type, signed: false, json: "" };
        nextIndex = open.index + 1;
        return;
      }
      case "content_block_delta": {
        if (!open || data.index !== open.index) {
          problems.push(`${where}: delta for index ${String(data.index)} which is not the open block`);
          return;
        }
        const d = data.delta;
        if (!isRecord(d) || typeof d.type !== "string") {
          problems.push(`${where}: delta missing`);
          return;
        }
        if (!DELTAS_OF[open.type]?.has(d.type)) problems.push(`${where}: ${d.type} in a ${open.type} block`);
        if (open.signed) problems.push(`${where}: nothing may follow signature_delta but the block stop`);
        if (d.type === "signature_delta") {
          open.signed = true;
          if (typeof d.signature !== "string" || d.signature === "") problems.push(`${where}: empty signature`);
        }
        if (d.type === "text_delta" && typeof d.text !== "string") problems.push(`${where}: text_delta.text must be a string`);
        if (d.type === "thinking_delta" && typeof d.thinking !== "string") problems.push(`${where}: thinking_delta.thinking must be a string`);
        if (d.type === "input_json_delta") {
          if (typeof d.partial_json !== "string") problems.push(`${where}: partial_json must be a string`);
          else open.json += d.partial_json;
        }
        return;
      }
      case "content_block_stop": {
        if (!open || data.index !== open.index) {
          problems.push(`${where}: stop for index ${String(data.index)} which is not the open block`);
          return;
        }
        if ((open.type === "tool_use" || open.type === "server_tool_use") && open.json !== "") {
          const parsed = tryParseJson(open.json);
          if (!isRecord(parsed)) problems.push(`${where}: tool input JSON does not parse to an object`);
        }
        open = undefined;
        return;
      }
      case "message_delta": {
        if (open) problems.push(`${where}: block ${open.index} still open`);
        if (deltaSeen) problems.push(`${where}: message_delta repeated`);
        deltaSeen = true;
        const d = data.delta;
        if (!isRecord(d) || (d.stop_reason !== null && !STOP_REASONS.has(String(d.stop_reason)))) {
          problems.push(`${where}: delta.stop_reason must be a known stop reason or null`);
        }
        if (isRecord(d) && d.stop_sequence !== null && typeof d.stop_sequence !== "string") {
          problems.push(`${where}: delta.stop_sequence must be a string or null`);
        }
        checkUsage(data.usage, where, problems);
        return;
      }
      case "message_stop":
        if (open) problems.push(`${where}: block ${open.index} still open`);
        if (!deltaSeen) problems.push(`${where}: message_stop without message_delta`);
        stopped = true;
        return;
      default:
        problems.push(`${where}: unknown event type`);
    }
  });
  if (!stopped && !errored) problems.push("stream did not end with message_stop or error");
  return problems;
}
