/**
 * Non-streamed Responses answers (docs/protocols.md#responses-output-and-usage): the upstream response
 * object → CanonicalResponse, and a CanonicalResponse → the object a client
 * expects. The stream encoder reuses `responseObject` for its terminal event.
 */
import { GatewayError } from "../../canonical/errors.js";
import type { ContentPart } from "../../canonical/request.js";
import type { CanonicalResponse } from "../../canonical/response.js";
import type { FinishReason } from "../../canonical/stream.js";
import type { Usage } from "../../canonical/usage.js";
import type { TranslationContext } from "../codec.js";
import { finishFromResponse, kindForErrorCode, statusForFinish } from "./finish-reason.js";
import { isObject, isOpenAIReasoningBlob, num, str } from "./guards.js";
import { ItemIds } from "./item-ids.js";
import { splitNamespace, upstreamNameToCanonical } from "./tool-call-names.js";
import { responsesUsageFromJson } from "./meter.js";
import { encodeUsage } from "./usage.js";
import type { OutputContentPart, OutputCustomToolCallItem, OutputFunctionCallItem, OutputItem, OutputReasoningItem, ResponseObject } from "./wire.js";
import { freeformArguments, freeformInput, freeformToolNames } from "../common/freeform-tools.js";

/**
 * What decodeResponsesResponse reads of a response object (finishFromResponse and
 * responsesUsageFromJson included). A response repeats the request's instructions and tools
 * (https://platform.openai.com/docs/api-reference/responses/object), which it never reads.
 */
export const RESPONSE_MEMBERS: readonly string[] = ["id", "model", "created_at", "status", "error", "incomplete_details", "output", "usage"];

export function decodeResponsesResponse(body: unknown, ctx: TranslationContext): CanonicalResponse {
  if (!isObject(body)) throw new GatewayError("upstream", "invalid_upstream_response", "Upstream answered with something that is not a response object.");
  if (body.status === "failed") {
    const err = isObject(body.error) ? body.error : {};
    const code = str(err.code);
    throw new GatewayError(
      kindForErrorCode(code),
      "upstream_error",
      str(err.message) ?? "Upstream response failed.",
      code === undefined ? {} : { upstreamCode: code },
    );
  }
  const content: ContentPart[] = [];
  let sawToolCall = false;
  for (const item of Array.isArray(body.output) ? body.output : []) {
    if (!isObject(item)) continue;
    if (item.type === "message" && Array.isArray(item.content)) {
      for (const p of item.content) {
        const text = isObject(p) ? (str(p.text) ?? str(p.refusal)) : undefined;
        if (text) content.push({ type: "text", text });
      }
    } else if (item.type === "function_call" || item.type === "custom_tool_call") {
      sawToolCall = true;
      content.push({
        type: "tool-call",
        callId: str(item.call_id) ?? "",
        name: upstreamNameToCanonical(str(item.name) ?? "", str(item.namespace), ctx.toolNames),
        arguments: item.type === "custom_tool_call" ? freeformArguments(str(item.input) ?? "") : (str(item.arguments) ?? ""),
      });
    } else if (item.type === "reasoning") {
      const summary = Array.isArray(item.summary) ? item.summary : [];
      const text = summary
        .map((s: unknown) => (isObject(s) ? (str(s.text) ?? "") : ""))
        .filter((t) => t)
        .join("\n\n");
      const blob = str(item.encrypted_content);
      content.push(blob ? { type: "reasoning", text, signature: blob } : { type: "reasoning", text });
    }
  }
  return {
    meta: { id: str(body.id) ?? "", model: str(body.model) ?? ctx.clientModel, created: num(body.created_at) || ctx.now },
    content,
    finishReason: finishFromResponse(body, sawToolCall),
    usage: responsesUsageFromJson(body),
  };
}

export function encodeResponsesResponse(res: CanonicalResponse, ctx: TranslationContext): ResponseObject {
  const ids = new ItemIds(res.meta.id, ctx.now);
  return responseObject({
    id: ids.responseId,
    created: res.meta.created || ctx.now,
    model: ctx.clientModel,
    output: outputItems(res.content, ids, freeformToolNames(ctx.clientRequest?.tools)),
    finish: res.finishReason,
    usage: res.usage,
  });
}

export interface ResponseObjectInput {
  id: string;
  created: number;
  model: string;
  output: OutputItem[];
  /** Undefined while the response is still in progress. */
  finish?: FinishReason;
  usage?: Usage;
  error?: { code: string; message: string };
}

export function responseObject(r: ResponseObjectInput): ResponseObject {
  const { status, incomplete } = r.error
    ? { status: "failed" as const, incomplete: null }
    : r.finish
      ? statusForFinish(r.finish)
      : { status: "in_progress" as const, incomplete: null };
  return {
    id: r.id,
    object: "response",
    created_at: r.created,
    status,
    model: r.model,
    output: r.output,
    error: r.error ?? (status === "failed" ? { code: "server_error", message: "The response failed." } : null),
    incomplete_details: incomplete,
    usage: r.usage ? encodeUsage(r.usage) : null,
  };
}

/**
 * Canonical answer content → output items; adjacent text parts share one message item,
 * and calls of the client's free-form tools become custom_tool_call items.
 */
export function outputItems(content: readonly ContentPart[], ids: ItemIds, freeform: ReadonlySet<string>): OutputItem[] {
  const out: OutputItem[] = [];
  let message: OutputContentPart[] | undefined;
  for (const p of content) {
    if (p.type === "text") {
      if (!message) {
        message = [];
        out.push({ type: "message", id: ids.next("msg"), role: "assistant", status: "completed", content: message });
      }
      message.push({ type: "output_text", text: p.text, annotations: [] });
      continue;
    }
    message = undefined;
    if (p.type === "tool-call" && freeform.has(p.name)) out.push(customToolCallItem(ids.next("ctc"), p.callId, p.name, freeformInput(p.arguments)));
    else if (p.type === "tool-call") out.push(functionCallItem(ids.next("fc"), p.callId, p.name, p.arguments, "completed"));
    else if (p.type === "reasoning") out.push(reasoningItem(ids.next("rs"), p.text, p.signature));
  }
  return out;
}

export function functionCallItem(
  id: string,
  callId: string,
  canonicalName: string,
  args: string,
  status: OutputFunctionCallItem["status"],
): OutputFunctionCallItem {
  const { namespace, name } = splitNamespace(canonicalName);
  const item: OutputFunctionCallItem = { type: "function_call", id, call_id: callId, name, arguments: args, status };
  if (namespace) item.namespace = namespace;
  return item;
}

export function customToolCallItem(id: string, callId: string, canonicalName: string, input: string): OutputCustomToolCallItem {
  const { namespace, name } = splitNamespace(canonicalName);
  const item: OutputCustomToolCallItem = { type: "custom_tool_call", id, call_id: callId, name, input };
  if (namespace) item.namespace = namespace;
  return item;
}

export function reasoningItem(id: string, text: string, signature: string | undefined): OutputReasoningItem {
  const item: OutputReasoningItem = { type: "reasoning", id, summary: text ? [{ type: "summary_text", text }] : [] };
  if (isOpenAIReasoningBlob(signature)) item.encrypted_content = signature;
  return item;
}
