/**
 * OpenAI Chat Completions wire shapes, as far as the gateway reads or writes them.
 * https://platform.openai.com/docs/api-reference/chat — docs/protocols.md#openai-chat-completions.
 */

export const PROTOCOL = "openai-chat";

export type ChatTextPart = { type: "text"; text: string };
export type ChatImagePart = { type: "image_url"; image_url: { url: string; detail?: "auto" | "low" | "high" } };
export type ChatAudioPart = { type: "input_audio"; input_audio: { data: string; format: string } };
export type ChatFilePart = { type: "file"; file: { file_data?: string; file_id?: string; filename?: string } };
export type ChatUserPart = ChatTextPart | ChatImagePart | ChatAudioPart | ChatFilePart;

export interface ChatToolCall {
  id: string;
  type: "function";
  function: { name: string; arguments: string };
}

export type ChatMessage =
  | { role: "system" | "developer"; content: string | ChatTextPart[]; name?: string }
  | { role: "user"; content: string | ChatUserPart[]; name?: string }
  | {
      role: "assistant";
      content: string | ChatTextPart[] | null;
      tool_calls?: ChatToolCall[];
      /** Non-standard, used by DeepSeek/vLLM-style servers and proxies (docs/protocols.md#chat-streaming). */
      reasoning_content?: string;
      name?: string;
    }
  | { role: "tool"; tool_call_id: string; content: string | ChatTextPart[] };

export interface ChatFunctionTool {
  type: "function";
  function: { name: string; description?: string; parameters?: Record<string, unknown>; strict?: boolean };
}

export type ChatToolChoice = "none" | "auto" | "required" | { type: "function"; function: { name: string } };

export type ChatResponseFormat =
  | { type: "text" }
  | { type: "json_object" }
  | { type: "json_schema"; json_schema: { name: string; schema?: Record<string, unknown>; strict?: boolean; description?: string } };

export type ChatReasoningEffort = "none" | "minimal" | "low" | "medium" | "high" | "xhigh";

export interface ChatRequest {
  model: string;
  messages: ChatMessage[];
  tools?: Array<ChatFunctionTool | Record<string, unknown>>;
  tool_choice?: ChatToolChoice;
  parallel_tool_calls?: boolean;
  stream?: boolean;
  stream_options?: { include_usage?: boolean; [k: string]: unknown };
  max_tokens?: number;
  max_completion_tokens?: number;
  temperature?: number;
  top_p?: number;
  stop?: string | string[];
  response_format?: ChatResponseFormat;
  reasoning_effort?: ChatReasoningEffort;
  prompt_cache_key?: string;
  user?: string;
  metadata?: Record<string, string>;
  [key: string]: unknown;
}

export type ChatFinishReason = "stop" | "length" | "tool_calls" | "content_filter" | "function_call";

export interface ChatUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  prompt_tokens_details?: { cached_tokens?: number; cache_write_tokens?: number };
  completion_tokens_details?: { reasoning_tokens?: number };
}

export interface ChatCompletion {
  id: string;
  object: "chat.completion";
  created: number;
  model: string;
  choices: Array<{
    index: number;
    message: {
      role: "assistant";
      content: string | null;
      reasoning_content?: string;
      tool_calls?: ChatToolCall[];
      refusal?: string | null;
    };
    finish_reason: ChatFinishReason;
    logprobs: null;
  }>;
  usage: ChatUsage;
}

export interface ChatToolCallDelta {
  index: number;
  id?: string;
  type?: "function";
  function: { name?: string; arguments?: string };
}

export interface ChatDelta {
  role?: "assistant";
  content?: string;
  reasoning_content?: string;
  tool_calls?: ChatToolCallDelta[];
}

export interface ChatChunk {
  id: string;
  object: "chat.completion.chunk";
  created: number;
  model: string;
  choices: Array<{ index: number; delta: ChatDelta; finish_reason: ChatFinishReason | null; logprobs?: null }>;
  usage?: ChatUsage | null;
}

export interface ChatErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}
