/**
 * The ChatGPT Codex backend's body rules (docs/protocols.md#codex-body-rules), applied to a
 * Responses body: either one our encoder built (translate lane) or a client's
 * raw body (passthrough lane). A Codex CLI request already satisfies them and
 * comes out unchanged apart from an empty `instructions` when it had none.
 */
import type { TranslationWarning } from "../codec.js";
import { ENCRYPTED_REASONING_INCLUDE } from "../openai-responses/encode-request.js";
import { withMembers } from "../../canonical/shared-shape.js";

type JsonObject = Record<string, unknown>;

/** Top-level fields the backend answers `400 {"detail":"Unsupported parameter: X"}` to. */
export const CODEX_STRIPPED_FIELDS: readonly string[] = [
  "max_output_tokens",
  "max_completion_tokens",
  "temperature",
  "top_p",
  "frequency_penalty",
  "presence_penalty",
  "truncation",
  "user",
  "context_management",
  "prompt_cache_retention",
  "prompt_cache_options",
  "safety_identifier",
  "stream_options",
  // Nothing is persisted with store:false, so there is nothing to continue from over HTTP.
  "previous_response_id",
  "generate",
  "service_tier",
];

export interface CodexPatch {
  body: JsonObject;
  warnings: TranslationWarning[];
}

export function applyCodexRules(input: JsonObject): CodexPatch {
  const warnings: TranslationWarning[] = [];
  const body: JsonObject = { ...input };

  for (const field of CODEX_STRIPPED_FIELDS) {
    if (!(field in body)) continue;
    if (field === "service_tier" && body[field] === "priority") continue;
    delete body[field];
    warnings.push({ code: "unsupported_parameter", message: `The Codex backend does not accept '${field}'; it was removed.`, field });
  }

  if (body.store !== false) {
    if (body.store !== undefined) warnings.push({ code: "forced_parameter", message: "The Codex backend requires store:false.", field: "store" });
    body.store = false;
  }
  body.stream = true;
  if (typeof body.instructions !== "string") body.instructions = "";

  const include = Array.isArray(body.include) ? body.include : [];
  if (!include.includes(ENCRYPTED_REASONING_INCLUDE)) body.include = [...include, ENCRYPTED_REASONING_INCLUDE];

  // The backend wants a list of items; the public API's bare-string shorthand is one user message.
  if (typeof body.input === "string") body.input = [{ type: "message", role: "user", content: [{ type: "input_text", text: body.input }] }];
  if (Array.isArray(body.input)) {
    const input = patchInput(body.input, warnings);
    if (input !== body.input) body.input = input;
  }
  return { body, warnings };
}

/** Copy-on-write over the input items: untouched items keep their identity. */
function patchInput(items: unknown[], warnings: TranslationWarning[]): unknown[] {
  let changed = false;
  let breakpoints = 0;
  let reasoningDropped = 0;
  const out: unknown[] = [];
  for (const item of items) {
    if (!isObject(item)) {
      out.push(item);
      continue;
    }
    // An id'd reasoning item without its blob is a lookup, and nothing is stored (docs/protocols.md#responses-input-items).
    if (item.type === "reasoning" && item.id !== undefined && !item.encrypted_content) {
      reasoningDropped++;
      changed = true;
      continue;
    }
    let next = item;
    if (next.role === "system" && (next.type === undefined || next.type === "message")) next = withMembers(next, { role: "developer" });
    if (Array.isArray(next.content)) {
      const content = next.content.map((p: unknown) => {
        if (!isObject(p) || !("prompt_cache_breakpoint" in p)) return p;
        breakpoints++;
        const { prompt_cache_breakpoint: _bp, ...rest } = p;
        return rest;
      });
      if (content.some((p, i) => p !== (next.content as unknown[])[i])) next = withMembers(next, { content });
    }
    if (next !== item) changed = true;
    out.push(next);
  }
  if (breakpoints > 0) {
    warnings.push({
      code: "unsupported_parameter",
      message: `The Codex backend does not accept prompt_cache_breakpoint; removed from ${breakpoints} content part(s).`,
      field: "input[].content[].prompt_cache_breakpoint",
    });
  }
  if (reasoningDropped > 0) {
    warnings.push({
      code: "reasoning_dropped",
      message: `Dropped ${reasoningDropped} reasoning item(s) that had an id but no encrypted_content (store:false cannot look them up).`,
      field: "input",
    });
  }
  return changed ? out : items;
}

function isObject(v: unknown): v is JsonObject {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
