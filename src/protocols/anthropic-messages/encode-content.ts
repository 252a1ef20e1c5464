/**
 * Canonical messages → Anthropic `system` + alternating `messages[]`
 * (docs/protocols.md#anthropic-request, docs/protocols.md#chat-and-messages, docs/protocols.md#pitfalls). Rules applied here:
 * - leading system/developer messages become `system` blocks; a later one becomes
 *   a `<system-reminder>` user text (as CPA does), unless it came from an
 *   Anthropic client as `role:"system"` and the codec keeps those;
 * - adjacent same-role content merges so roles alternate, which also groups
 *   consecutive tool results into one user message;
 * - tool_result blocks go first in their user message (the API rejects text before them);
 * - empty text blocks and empty messages are dropped;
 * - reasoning replays only with an Anthropic signature (an OpenAI "gAAAA" blob is dropped).
 */
import type { ContentPart, FilePart, ImagePart, Message, ReasoningPart, TextPart } from "../../canonical/request.js";
import type { TranslationContext } from "../codec.js";
import { sanitizeToolUseId } from "../common/tool-names.js";
import { isRecord, tryParseJson, type JsonObject } from "../common/guards.js";
import { readHints, type MessageHints } from "./hints.js";
import type {
  AnthropicDocumentBlock,
  AnthropicImageBlock,
  AnthropicMessageParam,
  AnthropicTextBlock,
  AnthropicToolResultBlock,
  AnthropicToolResultContent,
  AnthropicToolUseBlock,
} from "./wire.js";
import { isOpenAIReasoningBlob } from "../common/reasoning-blob.js";

export type InlineSystemPolicy = "preserve" | "reminder";

type Block = AnthropicMessageParam["content"] extends string | Array<infer B> ? B : never;
type TurnRole = "user" | "assistant" | "system";

interface Turn {
  role: TurnRole;
  blocks: Block[];
  /** Render as a plain string if it is still one uncached text block from one message. */
  stringHint: boolean;
  /** A preserved `role:"system"` message never merges with its neighbours. */
  sealed: boolean;
}

/** Claude accepts only these image types (docs/protocols.md#images-and-files). */
const IMAGE_TYPES = new Set(["image/jpeg", "image/png", "image/gif", "image/webp"]);

function isBlank(text: string): boolean {
  return text.trim() === "";
}

function withCache<T extends object>(block: T, cacheControl: unknown): T {
  return cacheControl === undefined ? block : (Object.assign({}, block, { cache_control: cacheControl }) as T);
}

function dataUrl(url: string): { mediaType: string; data: string } | undefined {
  const m = /^data:([^;,]+);base64,(.*)$/s.exec(url);
  return m && m[1] !== undefined && m[2] !== undefined ? { mediaType: m[1], data: m[2] } : undefined;
}

class ConversationEncoder {
  readonly turns: Turn[] = [];
  private droppedReasoning = 0;

  constructor(
    private readonly ctx: TranslationContext,
    private readonly wireName: (name: string) => string,
  ) {}

  warn(code: string, message: string, field?: string): void {
    this.ctx.warnings.push(field === undefined ? { code, message } : { code, message, field });
  }

  push(role: TurnRole, block: Block, hints: MessageHints, fresh: boolean): void {
    const last = this.turns[this.turns.length - 1];
    if (last && last.role === role && !last.sealed && role !== "system") {
      last.blocks.push(block);
      last.stringHint = last.stringHint && !fresh;
      return;
    }
    this.turns.push({ role, blocks: [block], stringHint: hints.stringContent === true, sealed: role === "system" });
  }

  text(part: TextPart): AnthropicTextBlock | undefined {
    if (isBlank(part.text)) return undefined;
    return withCache<AnthropicTextBlock>({ type: "text", text: part.text }, part.cacheControl);
  }

  image(part: ImagePart): AnthropicImageBlock | undefined {
    let source: AnthropicImageBlock["source"];
    const inline = part.source.kind === "base64" ? { mediaType: part.source.mediaType, data: part.source.data } : dataUrl(part.source.url);
    if (inline) {
      if (!IMAGE_TYPES.has(inline.mediaType)) {
        this.warn("unsupported_media_dropped", `Anthropic does not accept ${inline.mediaType} images; the image was dropped.`);
        return undefined;
      }
      source = { type: "base64", media_type: inline.mediaType, data: inline.data };
    } else if (part.source.kind === "url") {
      source = { type: "url", url: part.source.url };
    } else {
      return undefined;
    }
    return withCache<AnthropicImageBlock>({ type: "image", source }, part.cacheControl);
  }

  file(part: FilePart): AnthropicDocumentBlock | AnthropicImageBlock | undefined {
    const src = part.source;
    let source: AnthropicDocumentBlock["source"];
    if (src.kind === "base64") {
      if (src.mediaType.startsWith("image/")) {
        return this.image({ type: "image", source: src, ...(part.cacheControl === undefined ? {} : { cacheControl: part.cacheControl }) });
      }
      if (src.mediaType === "application/pdf") source = { type: "base64", media_type: src.mediaType, data: src.data };
      else if (src.mediaType === "text/plain") source = { type: "text", media_type: "text/plain", data: Buffer.from(src.data, "base64").toString("utf8") };
      else {
        this.warn("unsupported_media_dropped", `Anthropic documents do not accept ${src.mediaType}; the file was dropped.`);
        return undefined;
      }
    } else if (src.kind === "url") {
      source = { type: "url", url: src.url };
    } else {
      source = { type: "file", file_id: src.fileId };
    }
    const block: AnthropicDocumentBlock = { type: "document", source };
    if (part.filename !== undefined) block.title = part.filename;
    return withCache(block, part.cacheControl);
  }

  reasoning(part: ReasoningPart): Block | undefined {
    if (part.redacted !== undefined) return { type: "redacted_thinking", data: part.redacted };
    if (part.signature !== undefined && part.signature !== "" && !isOpenAIReasoningBlob(part.signature)) {
      return { type: "thinking", thinking: part.text, signature: part.signature };
    }
    this.droppedReasoning++;
    return undefined;
  }

  toolResultContent(content: Exclude<Extract<ContentPart, { type: "tool-result" }>["content"], string>): AnthropicToolResultContent[] | string {
    const out: AnthropicToolResultContent[] = [];
    for (const p of content) {
      const b = p.type === "text" ? this.text(p) : p.type === "image" ? this.image(p) : this.file(p);
      if (b) out.push(b);
    }
    return out.length > 0 ? out : "";
  }

  /** One canonical part → (role, block), or nothing when it is dropped. */
  part(p: ContentPart, messageRole: TurnRole): [TurnRole, Block] | undefined {
    switch (p.type) {
      case "text": {
        const b = this.text(p);
        return b && [messageRole, b];
      }
      case "image":
      case "file": {
        if (messageRole === "assistant") {
          this.warn("unsupported_media_dropped", "Anthropic assistant messages cannot hold images or documents; dropped.");
          return undefined;
        }
        const b = p.type === "image" ? this.image(p) : this.file(p);
        return b && ["user", b];
      }
      case "tool-call": {
        const parsed = p.arguments.trim() === "" ? {} : tryParseJson(p.arguments);
        if (!isRecord(parsed)) {
          this.warn("tool_arguments_invalid", `Tool call ${p.callId} had arguments that are not a JSON object; sent as {}.`);
        }
        const input: JsonObject = isRecord(parsed) ? parsed : {};
        const b: AnthropicToolUseBlock = { type: "tool_use", id: sanitizeToolUseId(p.callId), name: this.wireName(p.name), input };
        return ["assistant", withCache(b, p.cacheControl)];
      }
      case "tool-result": {
        const content = typeof p.content === "string" ? p.content : this.toolResultContent(p.content);
        const b: AnthropicToolResultBlock = { type: "tool_result", tool_use_id: sanitizeToolUseId(p.callId), content };
        if (p.isError !== undefined) b.is_error = p.isError;
        return ["user", withCache(b, p.cacheControl)];
      }
      case "reasoning": {
        const b = this.reasoning(p);
        return b && ["assistant", b];
      }
    }
  }

  message(m: Message): void {
    const hints = readHints(m);
    const role: TurnRole = m.role === "assistant" ? "assistant" : "user";
    const opaque = hints.opaque ?? [];
    let fresh = true;
    const emit = (r: TurnRole, b: Block): void => {
      this.push(r, b, hints, fresh);
      fresh = false;
    };
    for (let k = 0; k <= m.content.length; k++) {
      for (const o of opaque) if (o.at === k) emit(role, o.block as Block);
      const p = m.content[k];
      if (!p) continue;
      const out = this.part(p, role);
      if (out) emit(out[0], out[1]);
    }
  }

  systemMessage(m: Message, policy: InlineSystemPolicy): void {
    const hints = readHints(m);
    const texts = m.content.filter((p): p is TextPart => p.type === "text" && !isBlank(p.text));
    if (texts.length === 0) return;
    if (hints.inlineSystem && policy === "preserve") {
      const blocks = texts.map((t) => withCache<AnthropicTextBlock>({ type: "text", text: t.text }, t.cacheControl));
      this.turns.push({ role: "system", blocks, stringHint: hints.stringContent === true, sealed: true });
      return;
    }
    const text = `<system-reminder>\n${texts.map((t) => t.text).join("\n\n")}\n</system-reminder>`;
    this.push("user", { type: "text", text }, {}, true);
  }

  finish(): void {
    if (this.droppedReasoning > 0) {
      this.warn("reasoning_dropped", `${this.droppedReasoning} reasoning part(s) without an Anthropic signature were not replayed.`);
    }
  }
}

function render(turn: Turn): AnthropicMessageParam {
  let blocks = turn.blocks;
  if (turn.role === "user") {
    // Stable: tool results first, everything else after, each in its original order.
    blocks = [...blocks.filter((b) => b.type === "tool_result"), ...blocks.filter((b) => b.type !== "tool_result")];
  }
  const only = blocks[0];
  if (turn.stringHint && blocks.length === 1 && only?.type === "text" && !("cache_control" in only)) {
    return { role: turn.role, content: (only as AnthropicTextBlock).text };
  }
  return { role: turn.role, content: blocks };
}

export interface EncodedConversation {
  system?: string | AnthropicTextBlock[];
  messages: AnthropicMessageParam[];
}

function isSystemRole(m: Message): boolean {
  return m.role === "system" || m.role === "developer";
}

export function encodeConversation(
  messages: readonly Message[],
  ctx: TranslationContext,
  wireName: (name: string) => string,
  policy: InlineSystemPolicy,
): EncodedConversation {
  const enc = new ConversationEncoder(ctx, wireName);
  let i = 0;
  const system: AnthropicTextBlock[] = [];
  let systemString = false;
  for (; i < messages.length; i++) {
    const m = messages[i];
    if (!m || !isSystemRole(m) || (readHints(m).inlineSystem && policy === "preserve")) break;
    for (const p of m.content) {
      if (p.type !== "text") {
        enc.warn("unsupported_media_dropped", "Anthropic system prompts hold text only; a non-text part was dropped.", "system");
      } else if (!isBlank(p.text)) {
        system.push(withCache<AnthropicTextBlock>({ type: "text", text: p.text }, p.cacheControl));
      }
    }
    systemString = i === 0 && readHints(m).stringContent === true;
  }
  for (; i < messages.length; i++) {
    const m = messages[i];
    if (!m) continue;
    if (isSystemRole(m)) enc.systemMessage(m, policy);
    else enc.message(m);
  }
  enc.finish();
  const out: EncodedConversation = { messages: enc.turns.map(render) };
  const first = system[0];
  if (systemString && system.length === 1 && first && first.cache_control === undefined) out.system = first.text;
  else if (system.length > 0) out.system = system;
  return out;
}
