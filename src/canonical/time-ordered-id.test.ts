import { describe, expect, it } from "vitest";
import { timeOrderedHex, timeOrderedUuid } from "./time-ordered-id.js";

describe("time-ordered ids", () => {
  it("are version-7 UUIDs whose first 48 bits are the milliseconds", () => {
    const id = timeOrderedUuid(0x0123456789ab);
    expect(id).toMatch(/^01234567-89ab-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(timeOrderedUuid()).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it("sort by time across milliseconds, as text", () => {
    const ids = Array.from({ length: 200 }, (_, i) => timeOrderedUuid(1_700_000_000_000 + i * 7));
    expect([...ids].sort()).toEqual(ids);
    expect(timeOrderedUuid(1_700_000_000_001) > timeOrderedUuid(1_700_000_000_000)).toBe(true);
  });

  it("differ within one millisecond", () => {
    const ids = new Set(Array.from({ length: 10_000 }, () => timeOrderedUuid(1_700_000_000_000)));
    expect(ids.size).toBe(10_000);
  });

  it("have a 32-digit hex form with the same order", () => {
    const a = timeOrderedHex(1_700_000_000_000);
    const b = timeOrderedHex(1_700_000_000_999);
    expect(a).toMatch(/^018bcfe568007[0-9a-f]{3}[89ab][0-9a-f]{15}$/);
    expect(b > a).toBe(true);
  });
});
