/**
 * Tool-call arguments built from the tool's JSON Schema: the required
 * properties (or, when none is required, the first property) with the simplest
 * value that validates. Deterministic and always a JSON object.
 */
import type { JsonValue } from "./types.js";

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/**
 * What the mock writes where a tool asks for a Codex `apply_patch` patch (its free-form grammar,
 * or a string field whose description carries it): a patch Codex CLI can apply.
 */
export const MOCK_PATCH = "*** Begin Patch\n*** Add File: mock.txt\n+Hello from the mock ✓\n*** End Patch\n";

export function argumentsFor(schema: unknown): { [key: string]: JsonValue } {
  const value = isObj(schema) ? objectValue(schema, 0, true) : {};
  return isObj(value) ? (value as { [key: string]: JsonValue }) : {};
}

function objectValue(schema: Obj, depth: number, top: boolean): { [key: string]: JsonValue } {
  const props = isObj(schema.properties) ? schema.properties : {};
  const names = Object.keys(props);
  let chosen = Array.isArray(schema.required) ? schema.required.filter((n): n is string => typeof n === "string") : [];
  if (chosen.length === 0 && top && names[0] !== undefined) chosen = [names[0]];
  const out: { [key: string]: JsonValue } = {};
  for (const name of chosen) out[name] = valueFor(props[name], depth + 1);
  return out;
}

function valueFor(schema: unknown, depth: number): JsonValue {
  if (!isObj(schema) || depth > 6) return "mock";
  if ("const" in schema) return toJson(schema.const);
  if (Array.isArray(schema.enum) && schema.enum.length > 0) return toJson(schema.enum[0]);
  for (const key of ["anyOf", "oneOf", "allOf"] as const) {
    const options = schema[key];
    if (Array.isArray(options) && options.length > 0) return valueFor(options[0], depth);
  }
  let type = schema.type;
  if (Array.isArray(type)) type = type.find((t) => t !== "null") ?? type[0];
  switch (type) {
    case "string":
      return typeof schema.description === "string" && schema.description.includes("*** Begin Patch") ? MOCK_PATCH : "mock";
    case "integer":
    case "number":
      return typeof schema.minimum === "number" ? schema.minimum : 1;
    case "boolean":
      return true;
    case "null":
      return null;
    case "array": {
      const min = typeof schema.minItems === "number" ? schema.minItems : 0;
      return Array.from({ length: Math.min(min, 3) }, () => valueFor(schema.items, depth + 1));
    }
    case "object":
      return objectValue(schema, depth, false);
    default:
      return isObj(schema.properties) ? objectValue(schema, depth, false) : "mock";
  }
}

function toJson(v: unknown): JsonValue {
  if (v === null || typeof v === "string" || typeof v === "number" || typeof v === "boolean") return v;
  return JSON.parse(JSON.stringify(v ?? null)) as JsonValue;
}
