/**
 * Canonical messages → Responses `input` items (docs/protocols.md#messages-to-responses,
 * docs/protocols.md#chat-and-responses, docs/protocols.md#pitfalls).
 * Stateless-safe: no item ids (store:false would turn them into lookups),
 * reasoning only as OpenAI encrypted blobs, orphan tool outputs dropped.
 */
import type { ContentPart, FilePart, ImagePart, Message, ToolResultPart } from "../../canonical/request.js";
import type { TranslationContext } from "../codec.js";
import { shortenCallId } from "../common/tool-names.js";
import { toDataUrl } from "./data-url.js";
import { messageExt } from "./extensions.js";
import { isOpenAIReasoningBlob } from "./guards.js";
import { splitNamespace } from "./tool-call-names.js";
import { freeformInput } from "../common/freeform-tools.js";
import type { FunctionCallItem, FunctionCallOutputItem, InputContentPart, InputItem, MessageItem, OutputContentPart } from "./wire.js";
import { withMembers } from "../../canonical/shared-shape.js";

export interface InputEncoding {
  /** Original client tool name → name sent upstream. */
  shortNames: Map<string, string>;
  /** Canonical names of the request's free-form tools: their calls and outputs are `custom_tool_call*` items. */
  freeform: ReadonlySet<string>;
  ctx: TranslationContext;
}

type WireRole = MessageItem["role"];

/** Collects the parts of one wire message until a tool call, tool output or reasoning item closes it. */
class ItemWriter {
  readonly items: InputItem[] = [];
  private open: MessageItem | undefined;
  /** Wire call id → whether it is a free-form (custom tool) call. */
  private readonly calls = new Map<string, boolean>();

  constructor(private readonly enc: InputEncoding) {}

  part(role: WireRole, part: InputContentPart | OutputContentPart, phase: string | undefined): void {
    if (!this.open || this.open.role !== role) {
      this.close();
      this.open = { type: "message", role, content: [] };
      if (phase !== undefined) this.open.phase = phase;
    }
    this.open.content.push(part);
  }

  close(): void {
    if (this.open && this.open.content.length > 0) this.items.push(this.open);
    this.open = undefined;
  }

  item(item: InputItem): void {
    this.close();
    this.items.push(item);
  }

  call(callId: string, canonicalName: string, args: string, freeformCall: boolean): void {
    const id = shortenCallId(callId);
    const freeform = freeformCall || this.enc.freeform.has(canonicalName);
    this.calls.set(id, freeform);
    const { namespace, name } = splitNamespace(canonicalName);
    if (freeform) {
      const input = freeformInput(args);
      this.item(
        namespace
          ? { type: "custom_tool_call", call_id: id, name, namespace, input }
          : { type: "custom_tool_call", call_id: id, name: this.enc.shortNames.get(name) ?? name, input },
      );
      return;
    }
    const item: FunctionCallItem = namespace
      ? { type: "function_call", call_id: id, name, namespace, arguments: args }
      : { type: "function_call", call_id: id, name: this.enc.shortNames.get(name) ?? name, arguments: args };
    this.item(item);
  }

  // docs/protocols.md#call-and-output-pairing: an output without its call makes the upstream answer 400.
  output(result: ToolResultPart): void {
    const id = shortenCallId(result.callId);
    if (!this.calls.has(id)) {
      this.enc.ctx.warnings.push({
        code: "orphan_tool_result",
        message: `Dropped a tool result for call '${result.callId}' that has no preceding call.`,
      });
      return;
    }
    const item: FunctionCallOutputItem = { type: "function_call_output", call_id: id, output: encodeToolOutput(result) };
    this.item(this.calls.get(id) ? withMembers(item, { type: "custom_tool_call_output" as const }) : item);
  }
}

export function encodeInput(messages: readonly Message[], enc: InputEncoding): InputItem[] {
  const w = new ItemWriter(enc);
  for (const m of messages) {
    const ext = messageExt(m);
    if (ext?.item) {
      w.item(stripItemId(ext.item));
      continue;
    }
    switch (m.role) {
      case "system":
      case "developer":
        encodeInstructionMessage(m, ext?.systemRole ? "system" : "developer", w, enc);
        break;
      case "user":
      case "tool":
        encodeUserSide(m, w, enc);
        break;
      case "assistant":
        encodeAssistant(m, ext?.phase, w, enc);
        break;
    }
    w.close();
  }
  w.close();
  return w.items;
}

function encodeInstructionMessage(m: Message, role: WireRole, w: ItemWriter, enc: InputEncoding): void {
  for (const p of m.content) {
    const wire = inputPart(p);
    if (wire) w.part(role, wire, undefined);
    else if (!isEmptyText(p)) dropped(enc, p, m.role);
  }
}

function encodeUserSide(m: Message, w: ItemWriter, enc: InputEncoding): void {
  for (const p of m.content) {
    if (p.type === "tool-result") w.output(p);
    else {
      const wire = inputPart(p);
      if (wire) w.part("user", wire, undefined);
      else if (!isEmptyText(p)) dropped(enc, p, m.role);
    }
  }
}

function encodeAssistant(m: Message, phase: string | undefined, w: ItemWriter, enc: InputEncoding): void {
  for (const p of m.content) {
    switch (p.type) {
      case "text":
        if (p.text !== "") w.part("assistant", { type: "output_text", text: p.text }, phase);
        break;
      case "tool-call":
        w.call(p.callId, p.name, p.arguments, p.freeform === true);
        break;
      case "reasoning":
        // docs/protocols.md#reasoning-signatures: only OpenAI blobs may go back; other providers' signatures are dropped.
        if (isOpenAIReasoningBlob(p.signature)) {
          w.item({ type: "reasoning", summary: p.text ? [{ type: "summary_text", text: p.text }] : [], encrypted_content: p.signature });
        }
        break;
      case "tool-result":
        w.output(p);
        break;
      default:
        dropped(enc, p, m.role);
    }
  }
}

function isEmptyText(p: ContentPart): boolean {
  return p.type === "text" && p.text === "";
}

function dropped(enc: InputEncoding, p: ContentPart, role: string): void {
  enc.ctx.warnings.push({ code: "content_dropped", message: `A ${p.type} part in a ${role} message has no Responses equivalent and was dropped.` });
}

function inputPart(p: ContentPart): InputContentPart | undefined {
  switch (p.type) {
    case "text":
      return p.text === "" ? undefined : { type: "input_text", text: p.text };
    case "image":
      return imagePart(p);
    case "file":
      return filePart(p);
    default:
      return undefined;
  }
}

function imagePart(p: ImagePart): InputContentPart {
  const url = p.source.kind === "base64" ? toDataUrl(p.source.mediaType, p.source.data) : p.source.url;
  return p.detail ? { type: "input_image", image_url: url, detail: p.detail } : { type: "input_image", image_url: url };
}

function filePart(p: FilePart): InputContentPart {
  const s = p.source;
  if (s.kind === "base64") {
    return { type: "input_file", file_data: toDataUrl(s.mediaType, s.data), filename: p.filename ?? defaultFilename(s.mediaType) };
  }
  const out: Extract<InputContentPart, { type: "input_file" }> =
    s.kind === "url" ? { type: "input_file", file_url: s.url } : { type: "input_file", file_id: s.fileId };
  if (p.filename !== undefined) out.filename = p.filename;
  return out;
}

function defaultFilename(mediaType: string): string {
  return mediaType === "application/pdf" ? "document.pdf" : "file";
}

function encodeToolOutput(r: ToolResultPart): FunctionCallOutputItem["output"] {
  // Responses has no error flag on outputs (docs/protocols.md#messages-to-responses); the prefix tells the model.
  const prefix = r.isError ? "Error: " : "";
  if (typeof r.content === "string") return prefix + r.content;
  const parts: InputContentPart[] = [];
  for (const p of r.content) {
    const wire = inputPart(p);
    if (wire) parts.push(wire);
  }
  if (prefix) {
    const first = parts[0];
    if (first?.type === "input_text") first.text = prefix + first.text;
    else parts.unshift({ type: "input_text", text: prefix.trimEnd() });
  }
  return parts;
}

/** Built-in items keep everything but their storage id; `item_reference` is nothing but an id. */
function stripItemId(item: Record<string, unknown>): Record<string, unknown> {
  if (item.type === "item_reference" || !("id" in item)) return item;
  const { id: _id, ...rest } = item;
  return rest;
}
