/**
 * OpenAI Responses API wire shapes (docs/protocols.md#openai-responses). These describe what we
 * emit and what we read; decoders still treat incoming JSON as `unknown` and
 * check it field by field, because clients and upstreams drift.
 */

export const PROTOCOL = "openai-responses";

// ── request ────────────────────────────────────────────────────────────────

export type InputContentPart =
  | { type: "input_text"; text: string }
  | { type: "input_image"; image_url?: string; file_id?: string; detail?: "auto" | "low" | "high" }
  | { type: "input_file"; file_data?: string; file_url?: string; file_id?: string; filename?: string };

export type OutputContentPart = { type: "output_text"; text: string; annotations?: unknown[]; logprobs?: unknown[] } | { type: "refusal"; refusal: string };

export interface MessageItem {
  type: "message";
  id?: string;
  role: "user" | "system" | "developer" | "assistant";
  content: Array<InputContentPart | OutputContentPart>;
  status?: string;
  /** Codex assistant messages: "commentary" | "final_answer". */
  phase?: string;
}

export interface FunctionCallItem {
  type: "function_call";
  id?: string;
  call_id: string;
  name: string;
  /** Codex namespaced tools (`{type:"namespace",name,tools}`) call back with their namespace. */
  namespace?: string;
  arguments: string;
  status?: string;
}

export interface FunctionCallOutputItem {
  type: "function_call_output";
  id?: string;
  call_id: string;
  output: string | InputContentPart[];
}

export interface SummaryText {
  type: "summary_text";
  text: string;
}

export interface ReasoningItem {
  type: "reasoning";
  id?: string;
  summary: SummaryText[];
  content?: Array<{ type: "reasoning_text"; text: string }>;
  encrypted_content?: string | null;
}

export type InputItem = MessageItem | FunctionCallItem | FunctionCallOutputItem | ReasoningItem | Record<string, unknown>;

export interface FunctionToolWire {
  type: "function";
  name: string;
  description?: string;
  parameters: Record<string, unknown>;
  strict: boolean;
}

export type ToolChoiceWire = "auto" | "none" | "required" | { type: "function"; name: string } | Record<string, unknown>;

export interface TextFormatWire {
  type: "text" | "json_object" | "json_schema";
  name?: string;
  schema?: Record<string, unknown>;
  strict?: boolean;
  description?: string;
}

/** The request body as we build it; unknown fields from extensions ride along. */
export interface ResponsesRequestBody {
  model: string;
  instructions?: string;
  input: InputItem[];
  tools?: Array<FunctionToolWire | Record<string, unknown>>;
  tool_choice?: ToolChoiceWire;
  parallel_tool_calls?: boolean;
  reasoning?: { effort?: string; summary?: string; [k: string]: unknown };
  text?: { format?: TextFormatWire; verbosity?: string; [k: string]: unknown };
  include?: string[];
  store?: boolean;
  stream?: boolean;
  max_output_tokens?: number;
  temperature?: number;
  top_p?: number;
  user?: string;
  metadata?: Record<string, string>;
  prompt_cache_key?: string;
  [k: string]: unknown;
}

// ── response ───────────────────────────────────────────────────────────────

export interface OutputMessageItem {
  type: "message";
  id: string;
  role: "assistant";
  status: "in_progress" | "completed" | "incomplete";
  content: OutputContentPart[];
  phase?: string;
}

export interface OutputFunctionCallItem {
  type: "function_call";
  id: string;
  call_id: string;
  name: string;
  namespace?: string;
  arguments: string;
  status: "in_progress" | "completed" | "incomplete";
}

export interface OutputReasoningItem {
  type: "reasoning";
  id: string;
  summary: SummaryText[];
  encrypted_content?: string;
}

/** A free-form tool's call: raw text, no JSON arguments. */
export interface OutputCustomToolCallItem {
  type: "custom_tool_call";
  id: string;
  call_id: string;
  name: string;
  namespace?: string;
  input: string;
}

export type OutputItem = OutputMessageItem | OutputFunctionCallItem | OutputCustomToolCallItem | OutputReasoningItem;

export interface ResponsesUsage {
  input_tokens: number;
  input_tokens_details: { cached_tokens: number; cache_write_tokens?: number };
  output_tokens: number;
  output_tokens_details: { reasoning_tokens: number };
  total_tokens: number;
}

export type ResponseStatus = "completed" | "failed" | "in_progress" | "cancelled" | "queued" | "incomplete";

export interface ResponseObject {
  id: string;
  object: "response";
  created_at: number;
  status: ResponseStatus;
  model: string;
  output: OutputItem[];
  error: { code: string; message: string } | null;
  incomplete_details: { reason: "max_output_tokens" | "content_filter" } | null;
  usage: ResponsesUsage | null;
}

/** Stream events we emit (docs/protocols.md#responses-streaming). Every one also carries `sequence_number`. */
export type ResponsesStreamEventType =
  | "response.created"
  | "response.in_progress"
  | "response.output_item.added"
  | "response.output_item.done"
  | "response.content_part.added"
  | "response.content_part.done"
  | "response.output_text.delta"
  | "response.output_text.done"
  | "response.refusal.delta"
  | "response.refusal.done"
  | "response.function_call_arguments.delta"
  | "response.function_call_arguments.done"
  | "response.custom_tool_call_input.delta"
  | "response.custom_tool_call_input.done"
  | "response.reasoning_summary_part.added"
  | "response.reasoning_summary_part.done"
  | "response.reasoning_summary_text.delta"
  | "response.reasoning_summary_text.done"
  | "response.completed"
  | "response.incomplete"
  | "response.failed"
  | "error";

export const TERMINAL_EVENTS: ReadonlySet<string> = new Set(["response.completed", "response.incomplete", "response.failed"]);

export interface ErrorEnvelope {
  error: { message: string; type: string; param: string | null; code: string | null };
}
