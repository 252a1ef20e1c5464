import { describe, expect, it } from "vitest";
import { normalizeToolSchema } from "./json-schema.js";

describe("normalizeToolSchema", () => {
  it("returns a schema that needs nothing as it is, so a frozen one stays shared", () => {
    const schema = Object.freeze({ type: "object", properties: Object.freeze({ path: Object.freeze({ type: "string" }) }), required: ["path"] });
    expect(normalizeToolSchema(schema)).toBe(schema);
    const text = Object.freeze({ type: "string" });
    expect(normalizeToolSchema(text)).toBe(text);
  });

  it("drops $schema and fills type and properties in a new object, leaving the input alone", () => {
    const schema = Object.freeze({ $schema: "http://json-schema.org/draft-07/schema#", type: "object", properties: { a: { type: "number" } } });
    expect(normalizeToolSchema(schema)).toEqual({ type: "object", properties: { a: { type: "number" } } });
    expect(schema.$schema).toBeDefined();
    expect(normalizeToolSchema(Object.freeze({ required: [] }))).toEqual({ required: [], type: "object", properties: {} });
    expect(normalizeToolSchema(Object.freeze({ type: "object", properties: null }))).toEqual({ type: "object", properties: {} });
    // An own `$schema` of undefined is still dropped, as before.
    expect(Object.keys(normalizeToolSchema({ $schema: undefined, type: "object", properties: {} }))).toEqual(["type", "properties"]);
  });

  it("makes an empty object schema of a missing or non-object one", () => {
    for (const s of [undefined, null, "x", 3, []]) expect(normalizeToolSchema(s)).toEqual({ type: "object", properties: {} });
  });
});
