/**
 * Canonical messages → Chat `messages[]` for an OpenAI-compatible upstream
 * (docs/protocols.md#chat-request, docs/protocols.md#chat-and-messages, docs/protocols.md#pitfalls):
 * - system/developer text is joined into one string per message; Claude Code's
 *   per-request billing-header block is dropped so the cached prefix stays stable (docs/protocols.md#claude-code);
 * - tool results become `tool` messages in place; results whose call is not in
 *   the history are dropped, as are calls that never got a result (both 400 on OpenAI);
 * - reasoning goes out as `reasoning_content` only when asked, never as a signature;
 * - empty text parts and empty assistant messages are not sent.
 */
import type { ContentPart, FilePart, ImagePart, Message, TextPart, ToolResultPart } from "../../canonical/request.js";
import type { TranslationContext } from "../codec.js";
import { isRecord } from "../common/guards.js";
import { PROTOCOL, type ChatMessage, type ChatToolCall, type ChatUserPart } from "./wire.js";

export type ReasoningReplay = "drop" | "replay";

export interface MessageEncodeEnv {
  ctx: TranslationContext;
  wireName: (name: string) => string;
  wireCallId: (id: string) => string;
  reasoning: ReasoningReplay;
}

const BILLING_HEADER = "x-anthropic-billing-header:";

function isBlank(s: string): boolean {
  return s.trim() === "";
}

function warn(env: MessageEncodeEnv, code: string, message: string): void {
  env.ctx.warnings.push({ code, message });
}

function dataUrl(mediaType: string, data: string): string {
  return `data:${mediaType};base64,${data}`;
}

function userPart(p: TextPart | ImagePart | FilePart, env: MessageEncodeEnv): ChatUserPart | undefined {
  if (p.type === "text") return isBlank(p.text) ? undefined : { type: "text", text: p.text };
  if (p.type === "image") {
    const url = p.source.kind === "base64" ? dataUrl(p.source.mediaType, p.source.data) : p.source.url;
    return { type: "image_url", image_url: p.detail ? { url, detail: p.detail } : { url } };
  }
  const src = p.source;
  if (src.kind === "base64" && src.mediaType.startsWith("audio/")) {
    return { type: "input_audio", input_audio: { data: src.data, format: src.mediaType.slice("audio/".length) } };
  }
  if (src.kind === "base64" && src.mediaType.startsWith("image/")) {
    return { type: "image_url", image_url: { url: dataUrl(src.mediaType, src.data) } };
  }
  if (src.kind === "url") {
    warn(env, "unsupported_media_dropped", "Chat file parts cannot reference a URL; the file was dropped.");
    return undefined;
  }
  const file: { file_data?: string; file_id?: string; filename?: string } =
    src.kind === "id" ? { file_id: src.fileId } : { file_data: dataUrl(src.mediaType, src.data) };
  if (p.filename !== undefined) file.filename = p.filename;
  else if (src.kind === "base64") file.filename = src.mediaType === "application/pdf" ? "document.pdf" : "file";
  return { type: "file", file };
}

function toolContent(r: ToolResultPart, env: MessageEncodeEnv): string {
  if (typeof r.content === "string") return r.content;
  const texts: string[] = [];
  for (const p of r.content) {
    if (p.type === "text") texts.push(p.text);
    else warn(env, "unsupported_media_dropped", "Chat tool messages hold text only; an image or file in a tool result was dropped.");
  }
  return texts.join("\n\n");
}

function systemText(m: Message, env: MessageEncodeEnv): string {
  const texts: string[] = [];
  for (const p of m.content) {
    if (p.type !== "text") warn(env, "unsupported_media_dropped", "Chat system messages hold text only; a non-text part was dropped.");
    else if (!isBlank(p.text) && !p.text.startsWith(BILLING_HEADER)) texts.push(p.text);
  }
  return texts.join("\n\n");
}

function messageName(m: Message): string | undefined {
  const ext = m.extensions?.[PROTOCOL];
  return isRecord(ext) && typeof ext.name === "string" ? ext.name : undefined;
}

function replaysReasoning(m: Message, env: MessageEncodeEnv): boolean {
  const ext = m.extensions?.[PROTOCOL];
  return env.reasoning === "replay" || (isRecord(ext) && ext.reasoningContent === true);
}

class ChatMessageWriter {
  readonly out: ChatMessage[] = [];
  private user: ChatUserPart[] = [];
  private userName: string | undefined;

  constructor(private readonly env: MessageEncodeEnv) {}

  flushUser(): void {
    if (this.user.length === 0) return;
    const only = this.user[0];
    const content: string | ChatUserPart[] = this.user.length === 1 && only?.type === "text" ? only.text : this.user;
    this.out.push(this.userName === undefined ? { role: "user", content } : { role: "user", content, name: this.userName });
    this.user = [];
  }

  userParts(m: Message): void {
    this.userName = messageName(m);
    for (const p of m.content) this.part(p);
    this.flushUser();
  }

  private part(p: ContentPart): void {
    if (p.type === "tool-result") {
      this.flushUser();
      this.out.push({ role: "tool", tool_call_id: this.env.wireCallId(p.callId), content: toolContent(p, this.env) });
    } else if (p.type === "text" || p.type === "image" || p.type === "file") {
      const part = userPart(p, this.env);
      if (part) this.user.push(part);
    }
  }

  assistant(m: Message): void {
    const texts: string[] = [];
    const reasoning: string[] = [];
    const calls: ChatToolCall[] = [];
    for (const p of m.content) {
      if (p.type === "text" && !isBlank(p.text)) texts.push(p.text);
      else if (p.type === "reasoning" && p.text !== "") reasoning.push(p.text);
      else if (p.type === "tool-call") {
        calls.push({
          id: this.env.wireCallId(p.callId),
          type: "function",
          function: { name: this.env.wireName(p.name), arguments: p.arguments.trim() === "" ? "{}" : p.arguments },
        });
      }
    }
    if (texts.length === 0 && calls.length === 0) return;
    const msg: Extract<ChatMessage, { role: "assistant" }> = { role: "assistant", content: texts.length > 0 ? texts.join("") : null };
    if (reasoning.length > 0 && replaysReasoning(m, this.env)) msg.reasoning_content = reasoning.join("");
    if (calls.length > 0) msg.tool_calls = calls;
    const name = messageName(m);
    if (name !== undefined) msg.name = name;
    this.out.push(msg);
  }

  system(m: Message): void {
    const text = systemText(m, this.env);
    if (text === "") return;
    const role = m.role === "developer" ? "developer" : "system";
    const name = messageName(m);
    this.out.push(name === undefined ? { role, content: text } : { role, content: text, name });
  }
}

/** Drops tool messages without a preceding call and tool calls without a result (docs/protocols.md#call-and-output-pairing). */
function pairToolCalls(messages: ChatMessage[], env: MessageEncodeEnv): ChatMessage[] {
  const answered = new Set<string>();
  for (const m of messages) if (m.role === "tool") answered.add(m.tool_call_id);
  const called = new Set<string>();
  const out: ChatMessage[] = [];
  for (const m of messages) {
    if (m.role === "assistant" && m.tool_calls) {
      const kept = m.tool_calls.filter((c) => answered.has(c.id));
      if (kept.length < m.tool_calls.length) warn(env, "orphan_tool_call_dropped", "A tool call without a result was not sent.");
      for (const c of kept) called.add(c.id);
      const next: typeof m = { ...m };
      if (kept.length > 0) next.tool_calls = kept;
      else delete next.tool_calls;
      if (next.tool_calls === undefined && (next.content === null || next.content === "")) continue;
      out.push(next);
    } else if (m.role === "tool" && !called.has(m.tool_call_id)) {
      warn(env, "orphan_tool_result_dropped", `A tool result for unknown call ${m.tool_call_id} was not sent.`);
    } else {
      out.push(m);
    }
  }
  return out;
}

export function encodeChatMessages(messages: readonly Message[], env: MessageEncodeEnv): ChatMessage[] {
  const w = new ChatMessageWriter(env);
  for (const m of messages) {
    if (m.role === "system" || m.role === "developer") w.system(m);
    else if (m.role === "assistant") w.assistant(m);
    else w.userParts(m);
  }
  return pairToolCalls(w.out, env);
}
