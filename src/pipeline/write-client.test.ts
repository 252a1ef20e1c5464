import { describe, expect, it } from "vitest";
import { warningsHeader } from "./write-client.js";

describe("warningsHeader", () => {
  it("lists each code and field once, and nothing when there is nothing", () => {
    expect(warningsHeader([])).toBeUndefined();
    const w = { code: "unsupported_parameter", message: "m", field: "seed" };
    expect(warningsHeader([w, w, { code: "content_dropped", message: "m" }])).toBe("unsupported_parameter:seed, content_dropped");
  });

  it("ends a list too long for a header with '...'", () => {
    const many = Array.from({ length: 500 }, (_, i) => ({ code: "unsupported_parameter", message: "m", field: `field_${i}` }));
    const header = warningsHeader(many)!;
    expect(header.length).toBeLessThanOrEqual(2048 + 5);
    expect(header.endsWith(", ...")).toBe(true);
    expect(header.startsWith("unsupported_parameter:field_0, unsupported_parameter:field_1,")).toBe(true);
  });
});
