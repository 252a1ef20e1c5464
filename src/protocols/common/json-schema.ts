/**
 * Tool parameter schemas normalised for OpenAI function tools (docs/protocols.md#tool-schemas):
 * a missing or non-object schema becomes an empty object schema, an object schema
 * without `properties` gets `{}`, and `$schema` is dropped. The input is never mutated: a
 * schema that needs none of this is returned as it is (an agent's tool list arrives parsed
 * once and deep-frozen, pipeline/tools-cache.ts, and a schema shared with the list's last
 * written copy is compared by identity there), anything else as a new object.
 */
export function normalizeToolSchema(schema: unknown): Record<string, unknown> {
  if (!schema || typeof schema !== "object" || Array.isArray(schema)) {
    return { type: "object", properties: {} };
  }
  const given = schema as Record<string, unknown>;
  if (isNormal(given)) return given;
  const { $schema: _drop, ...rest } = given;
  if (rest.type === undefined) rest.type = "object";
  if (rest.type === "object" && (typeof rest.properties !== "object" || rest.properties === null)) {
    rest.properties = {};
  }
  return rest;
}

function isNormal(s: Record<string, unknown>): boolean {
  return !Object.hasOwn(s, "$schema") && s.type !== undefined && (s.type !== "object" || (typeof s.properties === "object" && s.properties !== null));
}
