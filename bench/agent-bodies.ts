/**
 * Request bodies shaped like what coding agents really send, for the load bench:
 * a Codex CLI turn on `/v1/responses` (~40 KB) and a Claude Code turn on
 * `/v1/messages` (~76 KB). Field order, item kinds, block counts and the size of
 * every part follow the captures beside the codecs
 * (src/protocols/openai-responses/__fixtures__/codex/001-POST-v1_responses.json,
 * src/protocols/anthropic-messages/__fixtures__/claude/002-POST-v1_messages.json);
 * the prose is generated (bodies.ts `mixedText`), deterministic, with non-ASCII
 * mixed in as real prompts have.
 */
import { type BuiltBody, buildChatBody, mixedText } from "./bodies.js";
import type { BodyKind } from "./settings.js";

/** Part sizes (bytes of text) of the Codex capture: a developer prompt, an environment block in two parts, two user turns. */
const CODEX_TEXT = { developer: 16_979, environment: [2_139, 341], user: 443, followUp: 6 } as const;
/** JSON sizes of the Codex capture's eight function tools (a ninth, hosted `web_search`, is added as is). */
const CODEX_TOOLS = [1_635, 819, 1_419, 391, 10_107, 297, 784, 2_187] as const;
const CODEX_TOOL_NAMES = ["exec_command", "write_stdin", "request_user_input", "view_image", "spawn_agent", "get_goal", "create_goal", "update_goal"];
/** The capture's `client_metadata` is about 1.2 KB of JSON. */
const CODEX_METADATA_BYTES = 1_150;

/** Sizes of the Claude Code capture: three system blocks, the first user turn's two blocks, a mid-conversation system message, 24 tools. */
const CLAUDE_SYSTEM = [60, 75, 5_720] as const;
const CLAUDE_USER = [306, 2] as const;
const CLAUDE_MID_SYSTEM = 6_062;
const CLAUDE_TOOLS = [
  2_530, 2_668, 3_968, 445, 289, 997, 3_721, 2_486, 1_661, 1_667, 1_923, 3_685, 1_167, 2_112, 2_812, 1_015, 1_181, 1_573, 553, 3_470, 767, 868, 20_665, 661,
] as const;
const CLAUDE_TOOL_NAMES = ["Agent", "Bash", "Edit", "Glob", "Grep", "ExitPlanMode", "Read", "Write", "NotebookEdit", "WebFetch", "TodoWrite", "WebSearch"];

/** The session ids the captures carried; a real client keeps one per session, so every request of the bench shares them. */
export const CODEX_SESSION_ID = "01a21074-ae94-75a2-8b92-18a84856cd55";
export const CLAUDE_SESSION_ID = "f71394b5-7c28-446c-b220-556c119536e1";

interface JsonSchemaObject {
  type: "object";
  properties: Record<string, { type: string; description: string }>;
  required: string[];
}

/** Grows a tool's schema with described properties until its JSON is about `bytes` long. */
function fillSchema(tool: object, schema: JsonSchemaObject, bytes: number, seed: number): void {
  for (let i = 0; Buffer.byteLength(JSON.stringify(tool)) < bytes - 60; i++) {
    const prop = `arg_${i}`;
    schema.properties[prop] = { type: i % 3 === 0 ? "number" : "string", description: mixedText(Math.min(160, bytes), seed + 101 * (i + 1)) };
    if (i % 2 === 0) schema.required.push(prop);
  }
}

function responsesTool(name: string, bytes: number, seed: number): object {
  const parameters: JsonSchemaObject = { type: "object", properties: {}, required: [] };
  const tool = { type: "function", name, description: mixedText(Math.floor(bytes * 0.3), seed), strict: false, parameters };
  fillSchema(tool, parameters, bytes, seed);
  return tool;
}

function messagesTool(name: string, bytes: number, seed: number): object {
  const input_schema: JsonSchemaObject = { type: "object", properties: {}, required: [] };
  const tool = { name, description: mixedText(Math.floor(bytes * 0.4), seed), input_schema };
  fillSchema(tool, input_schema, bytes, seed);
  return tool;
}

function inputText(text: string): { type: "input_text"; text: string } {
  return { type: "input_text", text };
}

function built(value: unknown): BuiltBody {
  const bytes = Buffer.from(JSON.stringify(value));
  let nonAsciiBytes = 0;
  for (const b of bytes) if (b > 0x7f) nonAsciiBytes++;
  return { bytes, nonAsciiBytes };
}

/** A Codex CLI turn as `codex exec` sends it with `wire_api = "responses"`: `stream` follows the argument (Codex itself always streams). */
export function buildCodexBody(o: { stream: boolean; model: string }): BuiltBody {
  return built({
    model: o.model,
    stream: o.stream,
    input: [
      { type: "message", role: "developer", content: [inputText(mixedText(CODEX_TEXT.developer, 41))] },
      { type: "message", role: "developer", content: CODEX_TEXT.environment.map((n, i) => inputText(mixedText(n, 42 + i))) },
      { type: "message", role: "user", content: [inputText(mixedText(CODEX_TEXT.user, 44))] },
      { type: "message", role: "user", content: [inputText(mixedText(CODEX_TEXT.followUp, 45))] },
    ],
    tools: [...CODEX_TOOLS.map((n, i) => responsesTool(CODEX_TOOL_NAMES[i] ?? `tool_${i}`, n, 51 + i)), { type: "web_search" }],
    tool_choice: "auto",
    parallel_tool_calls: true,
    reasoning: { summary: "auto" },
    store: false,
    include: ["reasoning.encrypted_content"],
    prompt_cache_key: CODEX_SESSION_ID,
    client_metadata: { "x-codex-installation-id": "00000000-0000-4000-8000-000000000000", notes: mixedText(CODEX_METADATA_BYTES, 49) },
  });
}

/** A Claude Code turn as `claude -p` sends it: three system blocks (the first a per-request billing line), 24 tools, adaptive thinking. */
export function buildClaudeBody(o: { stream: boolean; model: string }): BuiltBody {
  const userId = JSON.stringify({ device_id: "0".repeat(64), account_uuid: "", session_id: CLAUDE_SESSION_ID });
  return built({
    model: o.model,
    messages: [
      {
        role: "user",
        content: [
          { type: "text", text: mixedText(CLAUDE_USER[0], 61) },
          { type: "text", text: mixedText(CLAUDE_USER[1], 62), cache_control: { type: "ephemeral" } },
        ],
      },
      { role: "system", content: mixedText(CLAUDE_MID_SYSTEM, 63) },
    ],
    system: [
      { type: "text", text: `x-anthropic-billing-header: cc_version=2.1.197; ${mixedText(CLAUDE_SYSTEM[0] - 48, 64)}` },
      { type: "text", text: mixedText(CLAUDE_SYSTEM[1], 65), cache_control: { type: "ephemeral" } },
      { type: "text", text: mixedText(CLAUDE_SYSTEM[2], 66), cache_control: { type: "ephemeral" } },
    ],
    tools: CLAUDE_TOOLS.map((n, i) => messagesTool(CLAUDE_TOOL_NAMES[i] ?? `mcp__tool_${i}`, n, 71 + i)),
    metadata: { user_id: userId },
    max_tokens: 64_000,
    thinking: { type: "adaptive" },
    context_management: { edits: [{ type: "clear_thinking_20251015", keep: "all" }] },
    output_config: { effort: "high" },
    stream: o.stream,
  });
}

/** Codex CLI's per-turn metadata header, about 0.8 KB in the capture (ids fixed here). */
const CODEX_TURN_METADATA = JSON.stringify({
  installation_id: "00000000-0000-4000-8000-000000000000",
  session_id: CODEX_SESSION_ID,
  thread_id: CODEX_SESSION_ID,
  agent_name: "/home/dev",
  turn_id: "01a21074-af21-7100-a314-91973e63a182",
  window_id: `${CODEX_SESSION_ID}:0`,
  window_number: 0,
  request_kind: "turn",
  history_initialization: "new",
  thread_source: "user",
  turn_trigger: "exec",
  sandbox: "seccomp",
  sandbox_mode: "read-only",
  analytics_enabled: true,
  model: "gpt-5-codex",
});

/** The headers Codex CLI sends with every turn (the capture's): its session headers drive cache affinity. */
export const CODEX_HEADERS: Readonly<Record<string, string>> = {
  "x-codex-beta-features": "remote_compaction_v2",
  "x-codex-turn-metadata": CODEX_TURN_METADATA,
  "session-id": CODEX_SESSION_ID,
  "thread-id": CODEX_SESSION_ID,
  "x-client-request-id": CODEX_SESSION_ID,
  "x-codex-window-id": `${CODEX_SESSION_ID}:0`,
  originator: "codex_exec",
  "user-agent": "codex_exec/0.169.0 (Debian 12.0.0; x86_64) xterm (codex_exec; 0.169.0)",
};

/** The headers Claude Code sends (its SDK's x-stainless-* set trimmed to a few): the session header drives cache affinity. */
export const CLAUDE_HEADERS: Readonly<Record<string, string>> = {
  "anthropic-version": "2023-06-01",
  "anthropic-beta": "claude-code-20250219,interleaved-thinking-2025-05-14,context-management-2025-06-27",
  "x-claude-code-session-id": CLAUDE_SESSION_ID,
  "x-app": "cli",
  "user-agent": "claude-cli/2.1.197 (external, sdk-cli)",
  "x-stainless-lang": "js",
  "x-stainless-retry-count": "0",
};

/** The bytes of one workload's body. */
export function buildWorkloadBody(kind: BodyKind, stream: boolean, model: string): BuiltBody {
  switch (kind) {
    case "chat-40k":
      return buildChatBody({ size: "40k", stream, model });
    case "chat-1k":
      return buildChatBody({ size: "1k", stream, model });
    case "sdk-chat-1k":
      return buildChatBody({ size: "1k", stream, model, includeUsage: false });
    case "codex-40k":
      return buildCodexBody({ stream, model });
    case "claude-76k":
      return buildClaudeBody({ stream, model });
  }
}

/** What a complete stream of each client protocol ends with (a stream without it is counted as an error). */
export function streamEnd(path: string): string {
  return path === "/v1/messages" ? "event: message_stop" : path === "/v1/responses" ? "event: response.completed" : "data: [DONE]";
}

/** The headers a real client of the endpoint sends besides its key. */
export function clientHeaders(path: string): Readonly<Record<string, string>> {
  return path === "/v1/messages" ? CLAUDE_HEADERS : path === "/v1/responses" ? CODEX_HEADERS : {};
}
