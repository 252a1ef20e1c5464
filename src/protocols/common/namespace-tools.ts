/**
 * Codex CLI groups some tools in a Responses `namespace` tool
 * (`{type:"namespace",name:"multi_agent_v1",tools:[{type:"function",…}]}`);
 * their calls travel in the canonical model as `namespace.name`
 * (openai-responses/tool-call-names.ts). Vendors without namespaces get the
 * inner functions as plain tools under those joined names, which their
 * encoders then make wire-valid (tool-names.ts) and map back.
 */
import type { FunctionTool, Tool } from "../../canonical/request.js";
import { joinNamespace } from "../openai-responses/tool-call-names.js";
import { normalizeToolSchema } from "./json-schema.js";

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

export function flattenNamespaceTools(tools: readonly Tool[]): Tool[] {
  if (!tools.some((t) => t.type === "builtin" && t.kind === "namespace")) return tools as Tool[];
  const out: Tool[] = [];
  for (const t of tools) {
    if (t.type !== "builtin" || t.kind !== "namespace" || typeof t.raw.name !== "string" || !Array.isArray(t.raw.tools)) {
      out.push(t);
      continue;
    }
    for (const inner of t.raw.tools) {
      if (!isRecord(inner) || inner.type !== "function" || typeof inner.name !== "string") continue;
      const fn: FunctionTool = { type: "function", name: joinNamespace(t.raw.name, inner.name), parameters: normalizeToolSchema(inner.parameters) };
      if (typeof inner.description === "string") fn.description = inner.description;
      out.push(fn);
    }
  }
  return out;
}
