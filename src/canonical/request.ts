/**
 * The gateway's own request model. Holds only concepts that at least two wire
 * protocols share; anything protocol-only rides in `extensions`, namespaced by
 * the protocol that produced it (e.g. `extensions.anthropic.context_management`).
 *
 * This module imports nothing: codecs depend on it, never the reverse.
 */

export type Role = "system" | "developer" | "user" | "assistant" | "tool";

export interface TextPart {
  type: "text";
  text: string;
  /** Anthropic `cache_control` or similar breakpoint marker, kept opaque. */
  cacheControl?: unknown;
}

export interface ImagePart {
  type: "image";
  /** Either inline base64 data (with its media type) or a URL. */
  source: { kind: "base64"; mediaType: string; data: string } | { kind: "url"; url: string };
  detail?: "auto" | "low" | "high";
  /** Cache breakpoint marker (Anthropic `cache_control`), kept opaque. */
  cacheControl?: unknown;
}

export interface FilePart {
  type: "file";
  /** Inline data; `mediaType` is e.g. application/pdf. */
  source: { kind: "base64"; mediaType: string; data: string } | { kind: "url"; url: string } | { kind: "id"; fileId: string };
  filename?: string;
  /** Cache breakpoint marker (Anthropic `cache_control`), kept opaque. */
  cacheControl?: unknown;
}

export interface ToolCallPart {
  type: "tool-call";
  /** The id the client sees and sends back with the result. */
  callId: string;
  name: string;
  /** JSON text of the arguments, exactly as produced (may be partial-invalid for broken upstreams). */
  arguments: string;
  /** A call of a free-form tool (see FunctionTool.freeform): `arguments` is `{"input": text}`. */
  freeform?: true;
  /** Cache breakpoint marker (Anthropic `cache_control`), kept opaque. */
  cacheControl?: unknown;
}

export interface ToolResultPart {
  type: "tool-result";
  callId: string;
  /** String output, or structured parts (text / image). */
  content: string | Array<TextPart | ImagePart | FilePart>;
  isError?: boolean;
  /** Cache breakpoint marker (Anthropic `cache_control`), kept opaque. */
  cacheControl?: unknown;
}

export interface ReasoningPart {
  type: "reasoning";
  /** Human-readable summary / thinking text, possibly empty. */
  text: string;
  /**
   * Opaque provider blob that must be replayed unchanged next turn:
   * an Anthropic thinking `signature` or an OpenAI `encrypted_content` (Fernet, "gAAAA…").
   */
  signature?: string;
  /** Anthropic `redacted_thinking.data`. */
  redacted?: string;
}

export type ContentPart = TextPart | ImagePart | FilePart | ToolCallPart | ToolResultPart | ReasoningPart;

export interface Message {
  role: Role;
  content: ContentPart[];
  /** Protocol-only fields of this message (e.g. Responses item `id`, `phase`). */
  extensions?: Record<string, unknown>;
}

export interface FunctionTool {
  type: "function";
  name: string;
  description?: string;
  /** JSON Schema of the arguments. */
  parameters: Record<string, unknown>;
  strict?: boolean;
  /** Cache breakpoint marker (Anthropic `cache_control`), kept opaque. */
  cacheControl?: unknown;
  /** Protocol-only fields of this tool (e.g. Anthropic `defer_loading`), keyed by protocol name. */
  extensions?: Record<string, unknown>;
  /**
   * A free-form tool (OpenAI `custom` tool, e.g. Codex CLI's `apply_patch`): the model writes
   * plain text instead of JSON. `parameters` is then an object with one string field, `input`,
   * which is what vendors without free-form tools are given; calls carry `{"input": text}` as
   * their arguments (protocols/common/freeform-tools.ts).
   */
  freeform?: { format?: Record<string, unknown> };
}

/** A provider built-in tool (web search, namespace, custom …) carried as its original JSON. */
export interface BuiltinTool {
  type: "builtin";
  /** Protocol that defined it and its original JSON. */
  protocol: string;
  kind: string;
  raw: Record<string, unknown>;
}

export type Tool = FunctionTool | BuiltinTool;

export type ToolChoice = "auto" | "none" | "required" | { name: string };

export type ReasoningEffort = "none" | "minimal" | "low" | "medium" | "high" | "xhigh" | "max";

export interface ReasoningConfig {
  effort?: ReasoningEffort;
  /** Anthropic `thinking.budget_tokens` when known. */
  budgetTokens?: number;
  /** Whether the client wants reasoning text streamed back (Responses `summary`, Anthropic display). */
  summary?: "auto" | "concise" | "detailed" | "none";
  /** Anthropic adaptive thinking. */
  adaptive?: boolean;
}

export interface ResponseFormat {
  type: "text" | "json_object" | "json_schema";
  name?: string;
  schema?: Record<string, unknown>;
  strict?: boolean;
  description?: string;
}

export interface CanonicalRequest {
  model: string;
  messages: Message[];
  tools?: Tool[];
  toolChoice?: ToolChoice;
  parallelToolCalls?: boolean;
  stream: boolean;
  maxOutputTokens?: number;
  temperature?: number;
  topP?: number;
  topK?: number;
  stopSequences?: string[];
  reasoning?: ReasoningConfig;
  responseFormat?: ResponseFormat;
  /** Cache-routing key (Responses/Chat `prompt_cache_key`). */
  promptCacheKey?: string;
  /** Free-form end-user id (OpenAI `user`, Anthropic `metadata.user_id`). */
  user?: string;
  metadata?: Record<string, string>;
  /** Protocol-only request fields, keyed by protocol name. */
  extensions?: Record<string, Record<string, unknown>>;
}
