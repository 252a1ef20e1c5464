/**
 * Free-form ("custom") tools (https://platform.openai.com/docs/guides/function-calling#custom-tools):
 * the model answers with raw text, optionally constrained by a grammar, instead of JSON
 * arguments. Codex CLI declares `apply_patch` this way for GPT-5-family models. Vendors
 * without free-form tools get a function taking one string, `input` (the shape of Codex's
 * own function-style `apply_patch`), and calls travel in the canonical model as
 * `{"input": text}` so every codec can treat them as ordinary tool calls.
 */
import type { FunctionTool, Tool } from "../../canonical/request.js";

export const FREEFORM_FIELD = "input";

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** The function form of a free-form tool; a grammar is spelled out for the model in the field's description. */
export function freeformTool(name: string, description: string | undefined, format: unknown): FunctionTool {
  let field = "The tool's input as plain text.";
  if (isRecord(format) && format.type === "grammar" && typeof format.definition === "string") {
    const syntax = typeof format.syntax === "string" ? format.syntax : "grammar";
    field = `The tool's input as plain text, which must match this ${syntax} grammar:\n${format.definition}`;
  } else if (isRecord(format) && format.type === "regex" && typeof format.definition === "string") {
    field = `The tool's input as plain text, matching the regular expression ${format.definition}`;
  }
  const tool: FunctionTool = {
    type: "function",
    name,
    parameters: {
      type: "object",
      properties: { [FREEFORM_FIELD]: { type: "string", description: field } },
      required: [FREEFORM_FIELD],
      additionalProperties: false,
    },
    freeform: isRecord(format) ? { format } : {},
  };
  if (description !== undefined) tool.description = description;
  return tool;
}

export function freeformArguments(input: string): string {
  return JSON.stringify({ [FREEFORM_FIELD]: input });
}

/**
 * The raw text of a free-form call's canonical arguments. Upstreams that were given
 * the function form do not always answer by the book: an empty object means no
 * input, another field name is taken for `input`, and arguments cut off mid-string
 * (a `length` stop) yield the part of the text that did arrive, never JSON.
 */
export function freeformInput(args: string): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(args);
  } catch {
    return partialInput(args) ?? args;
  }
  if (typeof parsed === "string") return parsed;
  if (!isRecord(parsed)) return args;
  const input = parsed[FREEFORM_FIELD];
  if (typeof input === "string") return input;
  return Object.values(parsed).find((v): v is string => typeof v === "string") ?? "";
}

const PARTIAL_PREFIX = /^\s*\{\s*"[^"\\]*"\s*:\s*"/;

/** The decoded prefix of a JSON object's first string value, cut wherever the text ends. */
function partialInput(args: string): string | undefined {
  const m = PARTIAL_PREFIX.exec(args);
  if (!m) return args.trim() === "" ? "" : undefined;
  let end = m[0].length;
  while (end < args.length && args[end] !== '"') end += args[end] === "\\" ? 2 : 1;
  // Drop an escape sequence the cut left incomplete (at most `\uXXX`), then decode.
  for (let cut = Math.min(end, args.length); cut >= Math.max(m[0].length, end - 6); cut--) {
    try {
      return JSON.parse(`"${args.slice(m[0].length, cut)}"`) as string;
    } catch {
      // keep cutting
    }
  }
  return undefined;
}

/** Canonical names of a request's free-form tools. */
export function freeformToolNames(tools: readonly Tool[] | undefined): ReadonlySet<string> {
  const names = new Set<string>();
  for (const t of tools ?? []) if (t.type === "function" && t.freeform) names.add(t.name);
  return names;
}
