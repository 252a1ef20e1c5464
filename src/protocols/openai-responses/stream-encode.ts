/**
 * Canonical stream parts → Responses client events (docs/protocols.md#responses-streaming).
 * Emits our own `sequence_number` from 0, opens `response.created` +
 * `response.in_progress`, gives each block its own output item (adjacent text
 * blocks share one message item), and ends with exactly one terminal event
 * carrying the full response object. Every stream it produces passes
 * validateResponsesStream.
 */
import type { FinishReason, ResponseMeta, StreamPart } from "../../canonical/stream.js";
import type { Usage } from "../../canonical/usage.js";
import type { OutboundEvent, StreamEncoder, TranslationContext } from "../codec.js";
import { statusForFinish } from "./finish-reason.js";
import { isOpenAIReasoningBlob } from "./guards.js";
import { ItemIds } from "./item-ids.js";
import { customToolCallItem, functionCallItem, reasoningItem, responseObject } from "./response.js";
import { freeformInput, freeformToolNames } from "../common/freeform-tools.js";
import type { OutputContentPart, OutputItem, OutputMessageItem, ResponsesStreamEventType } from "./wire.js";
import { withMembers } from "../../canonical/shared-shape.js";

interface OpenItem {
  index: number;
  item: OutputItem;
  done: boolean;
  /** message: content parts still streaming. */
  openParts: number;
  /** message: close as soon as its last open part ends (another block started meanwhile). */
  closeWhenIdle: boolean;
  /** reasoning: a summary part is open. */
  summaryOpen: boolean;
  text: string;
}

/** The delta events the encoder writes out itself (emitDelta). */
type DeltaEventType = "response.output_text.delta" | "response.reasoning_summary_text.delta" | "response.function_call_arguments.delta";

/** Where in its item a delta goes: a text's content part, a reasoning summary's part. */
interface DeltaPlace {
  member: "content_index" | "summary_index";
  index: number;
}

interface Block {
  owner: OpenItem;
  contentIndex: number;
  open: boolean;
}

export class ResponsesStreamEncoder implements StreamEncoder {
  private seq = 0;
  private ids: ItemIds | undefined;
  private created = 0;
  private readonly items: OpenItem[] = [];
  private readonly blocks = new Map<string, Block>();
  private message: OpenItem | undefined;
  private usage: Usage | undefined;
  private finish: FinishReason | undefined;
  private terminal = false;

  /** The client's free-form tools: their calls' `{"input"}` JSON is collected and sent as raw text at the end. */
  private readonly freeform: ReadonlySet<string>;

  constructor(private readonly ctx: TranslationContext) {
    this.freeform = freeformToolNames(ctx.clientRequest?.tools);
  }

  push(part: StreamPart): OutboundEvent[] {
    if (this.terminal) return [];
    const out: OutboundEvent[] = [];
    if (part.type === "response-start") {
      this.start(out, part.meta);
      return out;
    }
    this.start(out, undefined);
    // After the finish only usage (or a late error) may still arrive; blocks would reopen a closed answer.
    if (this.finish && part.type !== "usage" && part.type !== "error") return out;
    switch (part.type) {
      case "text-start":
        this.textStart(out, part.id);
        break;
      case "text-delta":
        this.textDelta(out, part.id, part.delta);
        break;
      case "text-end":
        this.textEnd(out, part.id);
        break;
      case "reasoning-start":
        this.blocks.set(part.id, { owner: this.openItem(out, { type: "reasoning", id: this.started().next("rs"), summary: [] }), contentIndex: 0, open: true });
        break;
      case "reasoning-delta":
        this.reasoningDelta(out, part.id, part.delta);
        break;
      case "reasoning-end":
        this.reasoningEnd(out, part.id, part.signature);
        break;
      case "tool-call-start": {
        const item = this.freeform.has(part.name)
          ? customToolCallItem(this.started().next("ctc"), part.callId, part.name, "")
          : functionCallItem(this.started().next("fc"), part.callId, part.name, "", "in_progress");
        this.blocks.set(part.id, { owner: this.openItem(out, item), contentIndex: 0, open: true });
        break;
      }
      case "tool-call-delta":
        this.argsDelta(out, part.id, part.delta);
        break;
      case "tool-call-end":
        this.argsEnd(out, part.id, part.arguments);
        break;
      case "usage":
        this.usage = part.usage;
        if (this.finish) this.complete(out);
        break;
      case "finish":
        this.closeAll(out);
        this.finish = part.reason;
        // Chat upstreams send usage after the finish chunk; wait for it (or for end()).
        if (this.usage) this.complete(out);
        break;
      case "error":
        this.closeAll(out);
        this.terminate(out, "response.failed", { code: part.error.code ?? part.error.kind, message: part.error.message });
        break;
    }
    return out;
  }

  end(): OutboundEvent[] {
    if (this.terminal) return [];
    const out: OutboundEvent[] = [];
    this.start(out, undefined);
    this.closeAll(out);
    if (this.finish) this.complete(out);
    else this.terminate(out, "response.failed", { code: "stream_truncated", message: "The upstream stream ended before the response was complete." });
    return out;
  }

  private emit(out: OutboundEvent[], type: ResponsesStreamEventType, payload: Record<string, unknown>): void {
    out.push({ event: type, data: { type, sequence_number: this.seq++, ...payload }, json: undefined });
  }

  /**
   * A delta event with its JSON written out (OutboundEvent.json): one goes to the client for every
   * token or two of an answer, and the text around its one string is cheaper to write than
   * `JSON.stringify`'s walk of the event (npm run bench:codecs, section 3b). The members are those
   * `emit` gives a delta, in its order (the item, its place, the delta, `logprobs` for text), so
   * the text is what `JSON.stringify(data)` gives; a test holds every encoder to that.
   */
  private emitDelta(out: OutboundEvent[], type: DeltaEventType, item: OpenItem, place: DeltaPlace | undefined, delta: string): void {
    const seq = this.seq++;
    const data: Record<string, unknown> = { type, sequence_number: seq, item_id: item.item.id, output_index: item.index };
    let json = `{"type":"${type}","sequence_number":${seq},"item_id":${JSON.stringify(item.item.id)},"output_index":${item.index}`;
    if (place !== undefined) {
      data[place.member] = place.index;
      json += `,"${place.member}":${place.index}`;
    }
    data.delta = delta;
    json += `,"delta":${JSON.stringify(delta)}`;
    if (type === "response.output_text.delta") {
      data.logprobs = [];
      json += ',"logprobs":[]';
    }
    out.push({ event: type, data, json: `${json}}` });
  }

  private start(out: OutboundEvent[], meta: ResponseMeta | undefined): void {
    if (this.ids) return;
    this.ids = new ItemIds(meta?.id ?? "", this.ctx.now);
    this.created = meta?.created || this.ctx.now;
    const response = this.snapshot();
    this.emit(out, "response.created", { response });
    this.emit(out, "response.in_progress", { response });
  }

  /** Ids exist once `start` ran, which every push does first. */
  private started(): ItemIds {
    if (!this.ids) throw new Error("ResponsesStreamEncoder used before start");
    return this.ids;
  }

  private snapshot(finish?: FinishReason, error?: { code: string; message: string }): ReturnType<typeof responseObject> {
    const r = responseObject({
      id: this.started().responseId,
      created: this.created,
      model: this.ctx.clientModel,
      output: finish || error ? this.items.map((i) => i.item) : [],
      ...(finish ? { finish } : {}),
      ...(error ? { error } : {}),
      ...(this.usage && (finish || error) ? { usage: this.usage } : {}),
    });
    return structuredClone(r);
  }

  private openItem(out: OutboundEvent[], item: OutputItem): OpenItem {
    if (item.type !== "message") this.releaseMessage(out);
    const open: OpenItem = { index: this.items.length, item, done: false, openParts: 0, closeWhenIdle: false, summaryOpen: false, text: "" };
    this.items.push(open);
    this.emit(out, "response.output_item.added", { output_index: open.index, item: structuredClone(item) });
    return open;
  }

  /** The current message item takes no more text; it closes now or when its last part ends. */
  private releaseMessage(out: OutboundEvent[]): void {
    const m = this.message;
    this.message = undefined;
    if (!m) return;
    if (m.openParts === 0) this.closeItem(out, m);
    else m.closeWhenIdle = true;
  }

  private textStart(out: OutboundEvent[], id: string): void {
    this.message ??= this.openItem(out, { type: "message", id: this.started().next("msg"), role: "assistant", status: "in_progress", content: [] });
    const msg = this.message.item as OutputMessageItem;
    const part: OutputContentPart = { type: "output_text", text: "", annotations: [] };
    msg.content.push(part);
    this.message.openParts++;
    const block: Block = { owner: this.message, contentIndex: msg.content.length - 1, open: true };
    this.blocks.set(id, block);
    this.emit(out, "response.content_part.added", this.partRef(block, { part: structuredClone(part) }));
  }

  private partRef(b: Block, extra: Record<string, unknown>): Record<string, unknown> {
    return { item_id: b.owner.item.id, output_index: b.owner.index, content_index: b.contentIndex, ...extra };
  }

  private textDelta(out: OutboundEvent[], id: string, delta: string): void {
    const b = this.blocks.get(id);
    const part = b?.open ? textPart(b) : undefined;
    if (!b || !part || delta === "") return;
    part.text += delta;
    this.emitDelta(out, "response.output_text.delta", b.owner, { member: "content_index", index: b.contentIndex }, delta);
  }

  private textEnd(out: OutboundEvent[], id: string): void {
    const b = this.blocks.get(id);
    const part = b?.open ? textPart(b) : undefined;
    if (!b || !part) return;
    b.open = false;
    this.emit(out, "response.output_text.done", this.partRef(b, { text: part.text, logprobs: [] }));
    this.emit(out, "response.content_part.done", this.partRef(b, { part: structuredClone(part) }));
    b.owner.openParts--;
    if (b.owner.closeWhenIdle && b.owner.openParts === 0) this.closeItem(out, b.owner);
  }

  private reasoningDelta(out: OutboundEvent[], id: string, delta: string): void {
    const b = this.blocks.get(id);
    if (!b?.open || delta === "") return;
    const ref = { item_id: b.owner.item.id, output_index: b.owner.index, summary_index: 0 };
    if (!b.owner.summaryOpen) {
      b.owner.summaryOpen = true;
      this.emit(out, "response.reasoning_summary_part.added", withMembers(ref, { part: { type: "summary_text", text: "" } }));
    }
    b.owner.text += delta;
    this.emitDelta(out, "response.reasoning_summary_text.delta", b.owner, { member: "summary_index", index: ref.summary_index }, delta);
  }

  private reasoningEnd(out: OutboundEvent[], id: string, signature: string | undefined): void {
    const b = this.blocks.get(id);
    if (!b?.open) return;
    b.open = false;
    const o = b.owner;
    if (o.summaryOpen) {
      const ref = { item_id: o.item.id, output_index: o.index, summary_index: 0 };
      this.emit(out, "response.reasoning_summary_text.done", withMembers(ref, { text: o.text }));
      this.emit(out, "response.reasoning_summary_part.done", withMembers(ref, { part: { type: "summary_text", text: o.text } }));
      o.summaryOpen = false;
    }
    // docs/protocols.md#reasoning-signatures: only an OpenAI blob can be replayed by a Responses client.
    o.item = reasoningItem(o.item.id, o.text, isOpenAIReasoningBlob(signature) ? signature : undefined);
    this.closeItem(out, o);
  }

  private argsDelta(out: OutboundEvent[], id: string, delta: string): void {
    const b = this.blocks.get(id);
    if (b?.open && b.owner.item.type === "custom_tool_call") {
      b.owner.text += delta;
      return;
    }
    if (!b?.open || b.owner.item.type !== "function_call" || delta === "") return;
    b.owner.item.arguments += delta;
    this.emitDelta(out, "response.function_call_arguments.delta", b.owner, undefined, delta);
  }

  private argsEnd(out: OutboundEvent[], id: string, args: string | undefined): void {
    const b = this.blocks.get(id);
    if (b?.open && b.owner.item.type === "custom_tool_call") return this.customEnd(out, b, args ?? b.owner.text);
    const item = b?.owner.item;
    if (!b?.open || item?.type !== "function_call") return;
    b.open = false;
    // Clients that only read deltas must still see the whole arguments (docs/protocols.md#missing-deltas).
    if (args !== undefined && args.startsWith(item.arguments) && args.length > item.arguments.length) {
      this.emitDelta(out, "response.function_call_arguments.delta", b.owner, undefined, args.slice(item.arguments.length));
    }
    if (args !== undefined) item.arguments = args;
    item.status = "completed";
    this.emit(out, "response.function_call_arguments.done", {
      item_id: item.id,
      output_index: b.owner.index,
      arguments: item.arguments,
      name: item.name,
    });
    this.closeItem(out, b.owner);
  }

  /** The input arrives as `{"input": …}` JSON fragments; only the finished text can be sent. */
  private customEnd(out: OutboundEvent[], b: Block, args: string): void {
    const item = b.owner.item;
    if (item.type !== "custom_tool_call") return;
    b.open = false;
    item.input = freeformInput(args);
    const ref = { item_id: item.id, output_index: b.owner.index };
    if (item.input !== "") this.emit(out, "response.custom_tool_call_input.delta", withMembers(ref, { delta: item.input }));
    this.emit(out, "response.custom_tool_call_input.done", withMembers(ref, { input: item.input }));
    this.closeItem(out, b.owner);
  }

  private closeItem(out: OutboundEvent[], o: OpenItem): void {
    if (o.done) return;
    o.done = true;
    if (o.item.type === "message") o.item.status = "completed";
    if (this.message === o) this.message = undefined;
    this.emit(out, "response.output_item.done", { output_index: o.index, item: structuredClone(o.item) });
  }

  /** Ends every block still open, in output order, so the terminal event follows closed items only. */
  private closeAll(out: OutboundEvent[]): void {
    for (const [id, b] of this.blocks) {
      if (!b.open) continue;
      const t = b.owner.item.type;
      if (t === "message") this.textEnd(out, id);
      else if (t === "reasoning") this.reasoningEnd(out, id, undefined);
      else this.argsEnd(out, id, undefined);
    }
    this.releaseMessage(out);
    for (const o of this.items) this.closeItem(out, o);
  }

  private complete(out: OutboundEvent[]): void {
    const finish = this.finish ?? "stop";
    const { status } = statusForFinish(finish);
    const type = status === "failed" ? "response.failed" : status === "incomplete" ? "response.incomplete" : "response.completed";
    if (type === "response.failed") this.terminate(out, type, { code: "server_error", message: "The upstream reported an error." });
    else this.terminate(out, type, undefined);
  }

  private terminate(out: OutboundEvent[], type: ResponsesStreamEventType, error: { code: string; message: string } | undefined): void {
    this.terminal = true;
    this.emit(out, type, { response: this.snapshot(error ? undefined : (this.finish ?? "stop"), error) });
  }
}

function textPart(b: Block): Extract<OutputContentPart, { type: "output_text" }> | undefined {
  const item = b.owner.item;
  if (item.type !== "message") return undefined;
  const part = item.content[b.contentIndex];
  return part?.type === "output_text" ? part : undefined;
}
