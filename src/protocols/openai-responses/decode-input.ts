/**
 * Responses `input` items → canonical messages (docs/protocols.md#responses-input-items).
 *
 * Assistant-side items that follow each other (reasoning, one message,
 * function_call …) fold into one canonical assistant message, the shape the
 * other protocols expect; a second assistant `message` item starts a new one so
 * the encoder can restore item boundaries. Consecutive function_call_output
 * items fold into one `tool` message. Unknown item and part types are rejected,
 * never dropped.
 */
import type { FilePart, ImagePart, Message, ReasoningPart, TextPart, ToolResultPart } from "../../canonical/request.js";
import { parseDataUrl } from "./data-url.js";
import { withMessageExt } from "./extensions.js";
import { invalid, isObject, optString, reqString, type JsonObject } from "./guards.js";
import { joinNamespace } from "./tool-call-names.js";
import { freeformArguments } from "../common/freeform-tools.js";

/** Items the gateway cannot translate but carries verbatim for a Responses upstream. */
export const BUILTIN_ITEM_TYPES: ReadonlySet<string> = new Set([
  "web_search_call",
  "file_search_call",
  "computer_call",
  "computer_call_output",
  "image_generation_call",
  "code_interpreter_call",
  "local_shell_call",
  "local_shell_call_output",
  "shell_call",
  "shell_call_output",
  "apply_patch_call",
  "apply_patch_call_output",
  "mcp_list_tools",
  "mcp_approval_request",
  "mcp_approval_response",
  "mcp_call",
  "tool_search_call",
  "tool_search_output",
  "item_reference",
  "compaction",
]);

type UserPart = TextPart | ImagePart | FilePart;

class InputFolder {
  readonly messages: Message[] = [];
  private assistant: Message | undefined;
  private assistantHasMessage = false;
  private tool: Message | undefined;

  assistantRun(startNew: boolean): Message {
    if (!this.assistant || startNew) {
      this.tool = undefined;
      this.assistant = { role: "assistant", content: [] };
      this.assistantHasMessage = false;
      this.messages.push(this.assistant);
    }
    return this.assistant;
  }

  assistantMessage(): Message {
    const m = this.assistantRun(this.assistantHasMessage);
    this.assistantHasMessage = true;
    return m;
  }

  toolRun(): Message {
    if (!this.tool) {
      this.assistant = undefined;
      this.tool = { role: "tool", content: [] };
      this.messages.push(this.tool);
    }
    return this.tool;
  }

  standalone(m: Message): void {
    this.assistant = undefined;
    this.tool = undefined;
    this.messages.push(m);
  }
}

export function decodeInput(input: unknown): Message[] {
  if (input === undefined || input === null) return [];
  if (typeof input === "string") return [{ role: "user", content: [{ type: "text", text: input }] }];
  if (!Array.isArray(input)) throw invalid("input", "'input' must be a string or an array of items.", "invalid_type");
  const folder = new InputFolder();
  input.forEach((raw: unknown, i) => decodeItem(raw, `input[${i}]`, folder));
  return folder.messages;
}

function decodeItem(raw: unknown, path: string, folder: InputFolder): void {
  if (!isObject(raw)) throw invalid(path, `'${path}' must be an object.`, "invalid_type");
  const type = raw.type ?? (raw.role !== undefined ? "message" : undefined);
  if (typeof type !== "string") throw invalid(`${path}.type`, `'${path}.type' is required.`, "missing_required_parameter");
  switch (type) {
    case "message":
      return decodeMessage(raw, path, folder);
    case "function_call": {
      const name = reqString(raw, "name", path);
      const args = raw.arguments === undefined ? "" : reqString(raw, "arguments", path);
      folder.assistantRun(false).content.push({
        type: "tool-call",
        callId: reqString(raw, "call_id", path),
        name: joinNamespace(optString(raw, "namespace", path), name),
        arguments: args,
      });
      return;
    }
    case "custom_tool_call":
      folder.assistantRun(false).content.push({
        type: "tool-call",
        callId: reqString(raw, "call_id", path),
        name: joinNamespace(optString(raw, "namespace", path), reqString(raw, "name", path)),
        arguments: freeformArguments(raw.input === undefined ? "" : reqString(raw, "input", path)),
        freeform: true,
      });
      return;
    case "function_call_output":
    case "custom_tool_call_output":
      folder.toolRun().content.push(decodeToolOutput(raw, path));
      return;
    case "reasoning":
      folder.assistantRun(false).content.push(decodeReasoning(raw, path));
      return;
    default:
      if (!BUILTIN_ITEM_TYPES.has(type)) throw invalid(`${path}.type`, `Unsupported input item type '${type}'.`);
      folder.standalone(withMessageExt({ role: type.endsWith("_output") ? "tool" : "assistant", content: [] }, { item: raw }));
  }
}

const ROLES = new Set(["user", "system", "developer", "assistant"]);

function decodeMessage(raw: JsonObject, path: string, folder: InputFolder): void {
  const role = raw.role;
  if (typeof role !== "string" || !ROLES.has(role)) {
    throw invalid(`${path}.role`, `'${path}.role' must be one of user, system, developer, assistant.`);
  }
  const content = decodeMessageContent(raw.content, `${path}.content`);
  const phase = optString(raw, "phase", path);
  if (role === "assistant") {
    const m = folder.assistantMessage();
    m.content.push(...content);
    if (phase !== undefined) withMessageExt(m, { phase });
    return;
  }
  const m: Message = { role: role as Message["role"], content };
  if (role === "system") withMessageExt(m, { systemRole: true });
  folder.standalone(m);
}

function decodeMessageContent(content: unknown, path: string): UserPart[] {
  if (typeof content === "string") return [{ type: "text", text: content }];
  if (!Array.isArray(content)) throw invalid(path, `'${path}' must be a string or an array of content parts.`, "invalid_type");
  return content.map((p: unknown, j) => decodeContentPart(p, `${path}[${j}]`));
}

export function decodeContentPart(raw: unknown, path: string): UserPart {
  if (!isObject(raw)) throw invalid(path, `'${path}' must be an object.`, "invalid_type");
  const type = raw.type;
  switch (type) {
    case "input_text":
    case "output_text":
      return { type: "text", text: reqString(raw, "text", path) };
    case "refusal":
      return { type: "text", text: reqString(raw, "refusal", path) };
    case "input_image":
      return decodeImage(raw, path);
    case "input_file":
      return decodeFile(raw, path);
    default:
      throw invalid(`${path}.type`, `Unsupported content part type '${String(type)}'.`);
  }
}

function decodeImage(raw: JsonObject, path: string): ImagePart | FilePart {
  const url = optString(raw, "image_url", path);
  const detail = raw.detail === "auto" || raw.detail === "low" || raw.detail === "high" ? raw.detail : undefined;
  if (url !== undefined) {
    const inline = parseDataUrl(url);
    const part: ImagePart = {
      type: "image",
      source: inline ? { kind: "base64", mediaType: inline.mediaType, data: inline.data } : { kind: "url", url },
    };
    if (detail) part.detail = detail;
    return part;
  }
  const fileId = optString(raw, "file_id", path);
  // ImagePart has no file-id source; an uploaded image travels as a file reference.
  if (fileId !== undefined) return { type: "file", source: { kind: "id", fileId } };
  throw invalid(`${path}.image_url`, `'${path}' needs image_url or file_id.`, "missing_required_parameter");
}

function decodeFile(raw: JsonObject, path: string): FilePart {
  const filename = optString(raw, "filename", path);
  const fileData = optString(raw, "file_data", path);
  const fileUrl = optString(raw, "file_url", path);
  const fileId = optString(raw, "file_id", path);
  let source: FilePart["source"];
  if (fileData !== undefined) {
    const inline = parseDataUrl(fileData);
    source = inline
      ? { kind: "base64", mediaType: inline.mediaType, data: inline.data }
      : { kind: "base64", mediaType: "application/octet-stream", data: fileData };
  } else if (fileUrl !== undefined) source = { kind: "url", url: fileUrl };
  else if (fileId !== undefined) source = { kind: "id", fileId };
  else throw invalid(`${path}.file_data`, `'${path}' needs file_data, file_url or file_id.`, "missing_required_parameter");
  const part: FilePart = { type: "file", source };
  if (filename !== undefined) part.filename = filename;
  return part;
}

function decodeToolOutput(raw: JsonObject, path: string): ToolResultPart {
  const callId = reqString(raw, "call_id", path);
  const output = raw.output;
  if (typeof output === "string") return { type: "tool-result", callId, content: output };
  if (Array.isArray(output)) {
    return { type: "tool-result", callId, content: output.map((p: unknown, j) => decodeContentPart(p, `${path}.output[${j}]`)) };
  }
  throw invalid(`${path}.output`, `'${path}.output' must be a string or an array of content parts.`, "invalid_type");
}

function decodeReasoning(raw: JsonObject, path: string): ReasoningPart {
  const texts: string[] = [];
  const summary = raw.summary ?? [];
  if (!Array.isArray(summary)) throw invalid(`${path}.summary`, `'${path}.summary' must be an array.`, "invalid_type");
  summary.forEach((s: unknown, j) => {
    const sp = `${path}.summary[${j}]`;
    if (!isObject(s) || s.type !== "summary_text") throw invalid(`${sp}.type`, `Unsupported reasoning summary type.`);
    texts.push(reqString(s, "text", sp));
  });
  if (texts.length === 0 && Array.isArray(raw.content)) {
    raw.content.forEach((c: unknown, j) => {
      const cp = `${path}.content[${j}]`;
      if (!isObject(c) || c.type !== "reasoning_text") throw invalid(`${cp}.type`, `Unsupported reasoning content type.`);
      texts.push(reqString(c, "text", cp));
    });
  }
  const part: ReasoningPart = { type: "reasoning", text: texts.join("\n\n") };
  const blob = optString(raw, "encrypted_content", path);
  if (blob) part.signature = blob;
  return part;
}
