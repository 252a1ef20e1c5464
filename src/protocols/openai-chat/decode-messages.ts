/**
 * Chat `messages[]` → canonical messages (docs/protocols.md#chat-request). Tool messages that
 * follow each other fold into one canonical `tool` message; assistant
 * `tool_calls` without an id get `call_missing_<i>_<j>` and duplicated ids are
 * dropped (docs/protocols.md#tool-names-and-call-ids). Unknown roles and part types are rejected with their path.
 */
import type { ContentPart, FilePart, ImagePart, Message, TextPart, ToolCallPart, ToolResultPart } from "../../canonical/request.js";
import { expectArray, expectRecord, expectString, invalid, optString, type JsonObject } from "../common/guards.js";
import { PROTOCOL } from "./wire.js";
import { withMembers } from "../../canonical/shared-shape.js";

/** What Chat remembers per message in `message.extensions["openai-chat"]`. */
export interface ChatMessageExt {
  /** Participant `name`. */
  name?: string;
  /** The reasoning parts came from `reasoning_content`; a Chat upstream gets them back there. */
  reasoningContent?: true;
}

export function parseDataUrl(url: string): { mediaType: string; data: string } | undefined {
  const m = /^data:([^;,]+);base64,(.*)$/s.exec(url);
  return m && m[1] !== undefined && m[2] !== undefined ? { mediaType: m[1], data: m[2] } : undefined;
}

function text(part: JsonObject, path: string): TextPart {
  return { type: "text", text: expectString(part.text, `${path}.text`) };
}

function image(part: JsonObject, path: string): ImagePart {
  const img = expectRecord(part.image_url, `${path}.image_url`);
  const url = expectString(img.url, `${path}.image_url.url`);
  const inline = parseDataUrl(url);
  const out: ImagePart = {
    type: "image",
    source: inline ? { kind: "base64", mediaType: inline.mediaType, data: inline.data } : { kind: "url", url },
  };
  if (img.detail === "auto" || img.detail === "low" || img.detail === "high") out.detail = img.detail;
  return out;
}

/** Audio has no canonical part; it rides as a file with an `audio/<format>` media type. */
function audio(part: JsonObject, path: string): FilePart {
  const a = expectRecord(part.input_audio, `${path}.input_audio`);
  const format = expectString(a.format, `${path}.input_audio.format`);
  return { type: "file", source: { kind: "base64", mediaType: `audio/${format}`, data: expectString(a.data, `${path}.input_audio.data`) } };
}

function file(part: JsonObject, path: string): FilePart {
  const f = expectRecord(part.file, `${path}.file`);
  const data = optString(f.file_data, `${path}.file.file_data`);
  const id = optString(f.file_id, `${path}.file.file_id`);
  let source: FilePart["source"];
  if (data !== undefined) {
    const inline = parseDataUrl(data);
    source = inline ? { kind: "base64", mediaType: inline.mediaType, data: inline.data } : { kind: "base64", mediaType: "application/pdf", data };
  } else if (id !== undefined) {
    source = { kind: "id", fileId: id };
  } else {
    throw invalid(`${path}.file`, "needs file_data or file_id", "missing_required_parameter");
  }
  const out: FilePart = { type: "file", source };
  const filename = optString(f.filename, `${path}.file.filename`);
  if (filename !== undefined) out.filename = filename;
  return out;
}

type Allowed = "text" | "image_url" | "input_audio" | "file" | "refusal";

function parts(content: unknown, path: string, allowed: ReadonlySet<Allowed>): Array<TextPart | ImagePart | FilePart> {
  if (typeof content === "string") return [{ type: "text", text: content }];
  return expectArray(content, path).map((raw, j) => {
    const p = `${path}[${j}]`;
    const part = expectRecord(raw, p);
    const type = expectString(part.type, `${p}.type`);
    if (!allowed.has(type as Allowed)) {
      throw invalid(`${p}.type`, `content part type "${type}" is not allowed here`, "invalid_value");
    }
    switch (type as Allowed) {
      case "text":
        return text(part, p);
      case "refusal":
        return { type: "text", text: expectString(part.refusal, `${p}.refusal`) };
      case "image_url":
        return image(part, p);
      case "input_audio":
        return audio(part, p);
      case "file":
        return file(part, p);
    }
  });
}

const TEXT_ONLY: ReadonlySet<Allowed> = new Set(["text"]);
const USER_PARTS: ReadonlySet<Allowed> = new Set(["text", "image_url", "input_audio", "file"]);
const ASSISTANT_PARTS: ReadonlySet<Allowed> = new Set(["text", "refusal"]);

function toolCalls(raw: unknown, path: string, i: number, seen: Set<string>): ToolCallPart[] {
  if (raw === undefined || raw === null) return [];
  const out: ToolCallPart[] = [];
  expectArray(raw, path).forEach((entry, j) => {
    const p = `${path}[${j}]`;
    const call = expectRecord(entry, p);
    const type = call.type ?? "function";
    if (type !== "function") throw invalid(`${p}.type`, `tool call type "${String(type)}" is not supported`, "invalid_value");
    const fn = expectRecord(call.function, `${p}.function`);
    const callId = optString(call.id, `${p}.id`) || `call_missing_${i}_${j}`;
    if (seen.has(callId)) return;
    seen.add(callId);
    out.push({
      type: "tool-call",
      callId,
      name: expectString(fn.name, `${p}.function.name`),
      arguments: optString(fn.arguments, `${p}.function.arguments`) ?? "",
    });
  });
  return out;
}

function withExt(m: Message, ext: ChatMessageExt): Message {
  return Object.keys(ext).length > 0 ? withMembers(m, { extensions: { [PROTOCOL]: ext } }) : m;
}

export function decodeChatMessages(raw: unknown): Message[] {
  const list = expectArray(raw, "messages");
  const out: Message[] = [];
  const seenCalls = new Set<string>();
  let toolRun: Message | undefined;
  list.forEach((entry, i) => {
    const path = `messages[${i}]`;
    const msg = expectRecord(entry, path);
    const role = msg.role;
    const ext: ChatMessageExt = {};
    const name = optString(msg.name, `${path}.name`);
    if (name !== undefined) ext.name = name;
    if (role === "tool") {
      const result: ToolResultPart = {
        type: "tool-result",
        callId: expectString(msg.tool_call_id, `${path}.tool_call_id`),
        content: typeof msg.content === "string" ? msg.content : (parts(msg.content, `${path}.content`, TEXT_ONLY) as TextPart[]),
      };
      if (!toolRun) {
        toolRun = { role: "tool", content: [] };
        out.push(toolRun);
      }
      toolRun.content.push(result);
      return;
    }
    toolRun = undefined;
    if (role === "system" || role === "developer") {
      out.push(withExt({ role, content: parts(msg.content, `${path}.content`, TEXT_ONLY) }, ext));
    } else if (role === "user") {
      out.push(withExt({ role, content: parts(msg.content, `${path}.content`, USER_PARTS) }, ext));
    } else if (role === "assistant") {
      const content: ContentPart[] = [];
      const reasoning = optString(msg.reasoning_content, `${path}.reasoning_content`);
      if (reasoning !== undefined) {
        content.push({ type: "reasoning", text: reasoning });
        ext.reasoningContent = true;
      }
      if (msg.content !== undefined && msg.content !== null) content.push(...parts(msg.content, `${path}.content`, ASSISTANT_PARTS));
      const refusal = optString(msg.refusal, `${path}.refusal`);
      if (refusal) content.push({ type: "text", text: refusal });
      content.push(...toolCalls(msg.tool_calls, `${path}.tool_calls`, i, seenCalls));
      out.push(withExt({ role, content }, ext));
    } else {
      throw invalid(`${path}.role`, `must be "system", "developer", "user", "assistant" or "tool"`, "invalid_value");
    }
  });
  return out;
}
