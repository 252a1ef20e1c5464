/**
 * Folds a canonical stream into a complete answer: how a non-streaming client
 * is served from a streaming-only upstream (the Codex backend,
 * docs/protocols.md#codex-answers-and-errors), and how tests compare streams. Blocks land in `content` in the order
 * they started.
 */
import { GatewayError, streamErrorToGatewayError } from "../../canonical/errors.js";
import type { ContentPart, ReasoningPart, TextPart, ToolCallPart } from "../../canonical/request.js";
import type { CanonicalResponse } from "../../canonical/response.js";
import type { FinishReason, ResponseMeta, StreamPart } from "../../canonical/stream.js";
import { emptyUsage, type Usage } from "../../canonical/usage.js";

export class StreamFolder {
  private meta: ResponseMeta = { id: "", model: "", created: 0 };
  private readonly content: ContentPart[] = [];
  private readonly blocks = new Map<string, TextPart | ReasoningPart | ToolCallPart>();
  private usage: Usage | undefined;
  private finishReason: FinishReason | undefined;
  private stopSequence: string | undefined;
  private error: GatewayError | undefined;

  push(part: StreamPart): void {
    switch (part.type) {
      case "response-start":
        this.meta = part.meta;
        if (part.usage) this.usage = part.usage;
        break;
      case "text-start":
        this.open(part.id, { type: "text", text: "" });
        break;
      case "reasoning-start":
        this.open(part.id, { type: "reasoning", text: "" });
        break;
      case "tool-call-start":
        this.open(part.id, { type: "tool-call", callId: part.callId, name: part.name, arguments: "" });
        break;
      case "text-delta":
      case "reasoning-delta": {
        const b = this.blocks.get(part.id);
        if (b && (b.type === "text" || b.type === "reasoning")) b.text += part.delta;
        break;
      }
      case "tool-call-delta": {
        const b = this.blocks.get(part.id);
        if (b?.type === "tool-call") b.arguments += part.delta;
        break;
      }
      case "tool-call-end": {
        const b = this.blocks.get(part.id);
        if (b?.type === "tool-call") b.arguments = part.arguments;
        break;
      }
      case "reasoning-end": {
        const b = this.blocks.get(part.id);
        if (b?.type === "reasoning") {
          if (part.signature !== undefined) b.signature = part.signature;
          if (part.redacted !== undefined) b.redacted = part.redacted;
        }
        break;
      }
      case "text-end":
        break;
      case "usage":
        this.usage = part.usage;
        break;
      case "finish":
        this.finishReason = part.reason;
        if (part.stopSequence !== undefined) this.stopSequence = part.stopSequence;
        break;
      case "error":
        this.error ??= streamErrorToGatewayError(part.error);
        break;
    }
  }

  /** The folded answer. Throws the stream's error, if it carried one, as a GatewayError. */
  result(): CanonicalResponse {
    if (this.error) throw this.error;
    const res: CanonicalResponse = {
      meta: this.meta,
      content: this.content,
      finishReason: this.finishReason ?? "stop",
      usage: this.usage ?? emptyUsage(),
    };
    if (this.stopSequence !== undefined) res.stopSequence = this.stopSequence;
    return res;
  }

  private open(id: string, block: TextPart | ReasoningPart | ToolCallPart): void {
    this.blocks.set(id, block);
    this.content.push(block);
  }
}

export function foldStream(parts: Iterable<StreamPart>): CanonicalResponse {
  const folder = new StreamFolder();
  for (const p of parts) folder.push(p);
  return folder.result();
}
