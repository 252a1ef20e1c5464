/**
 * A complete (non-streamed) answer: what a non-stream fold of a stream produces,
 * and what a non-streaming upstream answer decodes into.
 */
import type { ContentPart } from "./request.js";
import type { FinishReason, ResponseMeta } from "./stream.js";
import type { Usage } from "./usage.js";

export interface CanonicalResponse {
  meta: ResponseMeta;
  /** Assistant output in order: text, reasoning and tool-call parts. */
  content: ContentPart[];
  finishReason: FinishReason;
  stopSequence?: string;
  usage: Usage;
}
