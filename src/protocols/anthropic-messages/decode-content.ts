/**
 * Anthropic `system` and `messages[]` → canonical messages (docs/protocols.md#anthropic-request).
 * Unknown block types are rejected with the block's path, never dropped.
 */
import type { ContentPart, FilePart, ImagePart, Message, Role, TextPart, ToolResultPart } from "../../canonical/request.js";
import { expectArray, expectRecord, expectString, invalid, optBoolean, type JsonObject } from "../common/guards.js";
import { withHints, type MessageHints, type OpaqueBlock } from "./hints.js";
import { withMembers } from "../../canonical/shared-shape.js";

/** Known blocks the canonical model has no part for; kept verbatim for an Anthropic upstream. */
const OPAQUE_BLOCK_TYPES: ReadonlySet<string> = new Set([
  "server_tool_use",
  "web_search_tool_result",
  "web_fetch_tool_result",
  "code_execution_tool_result",
  "bash_code_execution_tool_result",
  "text_editor_code_execution_tool_result",
  "tool_search_tool_result",
  "container_upload",
  "search_result",
  "mcp_tool_use",
  "mcp_tool_result",
]);

const ASSISTANT_ONLY: ReadonlySet<string> = new Set(["tool_use", "thinking", "redacted_thinking", "server_tool_use"]);

function cache(block: JsonObject): { cacheControl?: unknown } {
  return block.cache_control === undefined ? {} : { cacheControl: block.cache_control };
}

function decodeText(block: JsonObject, path: string): TextPart {
  return { type: "text", text: expectString(block.text, `${path}.text`), ...cache(block) };
}

/** Returns undefined for a source the canonical model cannot hold (the caller keeps the block opaque). */
function decodeImage(block: JsonObject, path: string): ImagePart | undefined {
  const src = expectRecord(block.source, `${path}.source`);
  const type = expectString(src.type, `${path}.source.type`);
  if (type === "base64") {
    const mediaType = expectString(src.media_type, `${path}.source.media_type`);
    const data = expectString(src.data, `${path}.source.data`);
    return { type: "image", source: { kind: "base64", mediaType, data }, ...cache(block) };
  }
  if (type === "url") {
    return { type: "image", source: { kind: "url", url: expectString(src.url, `${path}.source.url`) }, ...cache(block) };
  }
  if (type === "file") return undefined;
  throw invalid(`${path}.source.type`, `unknown image source type "${type}"`);
}

function decodeDocument(block: JsonObject, path: string): FilePart | undefined {
  const src = expectRecord(block.source, `${path}.source`);
  const type = expectString(src.type, `${path}.source.type`);
  let source: FilePart["source"];
  if (type === "base64") {
    source = {
      kind: "base64",
      mediaType: expectString(src.media_type, `${path}.source.media_type`),
      data: expectString(src.data, `${path}.source.data`),
    };
  } else if (type === "text") {
    // Plain-text documents ride as base64 text/plain; the encoder turns them back into a text source.
    const text = expectString(src.data, `${path}.source.data`);
    source = { kind: "base64", mediaType: "text/plain", data: Buffer.from(text, "utf8").toString("base64") };
  } else if (type === "url") {
    source = { kind: "url", url: expectString(src.url, `${path}.source.url`) };
  } else if (type === "file") {
    source = { kind: "id", fileId: expectString(src.file_id, `${path}.source.file_id`) };
  } else if (type === "content") {
    return undefined;
  } else {
    throw invalid(`${path}.source.type`, `unknown document source type "${type}"`);
  }
  const part: FilePart = { type: "file", source, ...cache(block) };
  if (typeof block.title === "string") part.filename = block.title;
  return part;
}

function decodeToolResult(block: JsonObject, path: string): ToolResultPart {
  const callId = expectString(block.tool_use_id, `${path}.tool_use_id`);
  let content: ToolResultPart["content"] = "";
  if (typeof block.content === "string") {
    content = block.content;
  } else if (block.content !== undefined && block.content !== null) {
    content = expectArray(block.content, `${path}.content`).map((raw, k) => {
      const p = `${path}.content[${k}]`;
      const inner = expectRecord(raw, p);
      const type = expectString(inner.type, `${p}.type`);
      const part =
        type === "text" ? decodeText(inner, p) : type === "image" ? decodeImage(inner, p) : type === "document" ? decodeDocument(inner, p) : undefined;
      if (!part) throw invalid(`${p}.type`, `tool_result content of type "${type}" is not supported`, "unsupported_content");
      return part;
    });
  }
  const part: ToolResultPart = { type: "tool-result", callId, content, ...cache(block) };
  const isError = optBoolean(block.is_error, `${path}.is_error`);
  if (isError !== undefined) part.isError = isError;
  return part;
}

type Decoded = { part: ContentPart } | { opaque: JsonObject };

/** One block → a canonical part, or the block itself when it stays opaque. */
function decodeBlock(raw: unknown, path: string, role: string): Decoded {
  const block = expectRecord(raw, path);
  const part = decodePart(block, path, role);
  return part ? { part } : { opaque: block };
}

function decodePart(block: JsonObject, path: string, role: string): ContentPart | undefined {
  const type = expectString(block.type, `${path}.type`);
  if (role === "system" && type !== "text") throw invalid(`${path}.type`, "system content must be text blocks");
  if (ASSISTANT_ONLY.has(type) && role !== "assistant") {
    throw invalid(`${path}.type`, `"${type}" blocks are only allowed in assistant messages`);
  }
  if (type === "tool_result" && role !== "user") {
    throw invalid(`${path}.type`, `"tool_result" blocks are only allowed in user messages`);
  }
  switch (type) {
    case "text":
      return decodeText(block, path);
    case "image":
      return decodeImage(block, path);
    case "document":
      return decodeDocument(block, path);
    case "tool_use": {
      const input = expectRecord(block.input, `${path}.input`);
      return {
        type: "tool-call",
        callId: expectString(block.id, `${path}.id`),
        name: expectString(block.name, `${path}.name`),
        arguments: JSON.stringify(input),
        ...cache(block),
      };
    }
    case "tool_result":
      return decodeToolResult(block, path);
    case "thinking": {
      const text = expectString(block.thinking, `${path}.thinking`);
      return typeof block.signature === "string" && block.signature !== ""
        ? { type: "reasoning", text, signature: block.signature }
        : { type: "reasoning", text };
    }
    case "redacted_thinking":
      return { type: "reasoning", text: "", redacted: expectString(block.data, `${path}.data`) };
    default:
      if (OPAQUE_BLOCK_TYPES.has(type)) return undefined;
      throw invalid(`${path}.type`, `unknown content block type "${type}"`, "unknown_content_block");
  }
}

/**
 * Splits a user message's blocks into runs: tool results become a canonical
 * `tool` message, everything else stays `user`. Encoders merge them back.
 */
function messagesFromBlocks(role: Role, decoded: Decoded[], base: MessageHints): Message[] {
  const out: Message[] = [];
  let cur: { role: Role; content: ContentPart[]; opaque: OpaqueBlock[] } | undefined;
  for (const item of decoded) {
    const itemRole: Role = role === "user" && "part" in item && item.part.type === "tool-result" ? "tool" : role;
    if (!cur || cur.role !== itemRole) {
      if (cur) out.push(finish(cur, base));
      cur = { role: itemRole, content: [], opaque: [] };
    }
    if ("part" in item) cur.content.push(item.part);
    else cur.opaque.push({ at: cur.content.length, block: item.opaque });
  }
  if (cur) out.push(finish(cur, base));
  if (out.length === 0) out.push(withHints({ role, content: [] }, base));
  return out;
}

function finish(cur: { role: Role; content: ContentPart[]; opaque: OpaqueBlock[] }, base: MessageHints): Message {
  const hints: MessageHints = { ...base };
  if (cur.opaque.length) hints.opaque = cur.opaque;
  return withHints({ role: cur.role, content: cur.content }, hints);
}

export function decodeMessages(raw: unknown): Message[] {
  const list = expectArray(raw, "messages");
  const out: Message[] = [];
  list.forEach((entry, i) => {
    const path = `messages[${i}]`;
    const msg = expectRecord(entry, path);
    const role = msg.role;
    if (role !== "user" && role !== "assistant" && role !== "system") {
      throw invalid(`${path}.role`, `must be "user", "assistant" or "system"`);
    }
    const base: MessageHints = role === "system" ? { inlineSystem: true } : {};
    if (typeof msg.content === "string") {
      out.push(withHints({ role, content: [{ type: "text", text: msg.content }] }, withMembers(base, { stringContent: true })));
      return;
    }
    const blocks = expectArray(msg.content, `${path}.content`);
    const decoded = blocks.map((b, j) => decodeBlock(b, `${path}.content[${j}]`, role));
    out.push(...messagesFromBlocks(role, decoded, base));
  });
  return out;
}

/** Top-level `system` (string or text blocks) → one leading system message. */
/** Claude Code's per-request attribution system block. */
export const BILLING_HEADER = "x-anthropic-billing-header:";

export function decodeSystem(raw: unknown): Message | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (typeof raw === "string") {
    return withHints({ role: "system", content: [{ type: "text", text: raw }] }, { stringContent: true });
  }
  const blocks = expectArray(raw, "system");
  const content = blocks
    .map((b, i) => {
      const block = expectRecord(b, `system[${i}]`);
      if (block.type !== "text") throw invalid(`system[${i}].type`, 'system blocks must be of type "text"');
      return decodeText(block, `system[${i}]`);
    })
    // Claude Code's attribution block carries a per-request hash (`cch=…`): forwarded to another
    // vendor it would change the cached prefix on every request (docs/protocols.md#claude-code). Anthropic
    // upstreams get it untouched on the passthrough lane, which never decodes.
    .filter((p) => !p.text.startsWith(BILLING_HEADER));
  if (content.length === 0) return undefined;
  return { role: "system", content };
}
