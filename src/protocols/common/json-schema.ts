/**
 * Tool parameter schemas normalised for OpenAI function tools (docs/protocols.md#tool-schemas):
 * a missing or non-object schema becomes an empty object schema, an object schema
 * without `properties` gets `{}`, and `$schema` is dropped. Returns a new object;
 * the input is not mutated.
 */
export function normalizeToolSchema(schema: unknown): Record<string, unknown> {
  if (!schema || typeof schema !== "object" || Array.isArray(schema)) {
    return { type: "object", properties: {} };
  }
  const { $schema: _drop, ...rest } = schema as Record<string, unknown>;
  if (rest.type === undefined) rest.type = "object";
  if (rest.type === "object" && (typeof rest.properties !== "object" || rest.properties === null)) {
    rest.properties = {};
  }
  return rest;
}
