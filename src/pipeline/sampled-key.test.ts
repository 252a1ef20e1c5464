import { describe, expect, it } from "vitest";
import { sampledKey, sampledStringKey } from "./sampled-key.js";

describe("sampledKey", () => {
  it("is the same for the same bytes, and tells apart lengths and sampled bytes", () => {
    const a = Buffer.from("x".repeat(1000));
    expect(sampledKey(a, 16)).toBe(sampledKey(Buffer.from(a), 16));
    expect(sampledKey(a, 16)).not.toBe(sampledKey(a.subarray(0, 999), 16));
    const changed = Buffer.from(a);
    changed[0] = 0x79;
    expect(sampledKey(changed, 16)).not.toBe(sampledKey(a, 16));
    // A byte between the samples is not seen: callers compare whole before use.
    const between = Buffer.from(a);
    between[1] = 0x79;
    expect(sampledKey(between, 16)).toBe(sampledKey(a, 16));
  });

  it("keys the empty run and runs shorter than the samples", () => {
    expect(sampledKey(Buffer.alloc(0), 16)).not.toBe(sampledKey(Buffer.from("a"), 16));
    // Samples of a short run repeat its bytes: "ab" is read as a, a, b, b.
    expect(sampledKey(Buffer.from("ab"), 4)).toBe(sampledKey(Buffer.from("ab"), 4));
    expect(sampledKey(Buffer.from("ab"), 4)).not.toBe(sampledKey(Buffer.from("ba"), 4));
    expect(sampledKey(Buffer.from("ab"), 4)).not.toBe(sampledKey(Buffer.from("ab"), 2));
  });

  it("spreads keys: 10,000 runs of one length that differ in a digit or two get 10,000 keys", () => {
    const keys = new Set<number>();
    for (let i = 0; i < 10_000; i++) keys.add(sampledKey(Buffer.from(String(i).padStart(16, "0")), 16));
    expect(keys.size).toBe(10_000);
  });
});

describe("sampledStringKey", () => {
  it("is the same for equal strings and tells apart lengths, sampled units and both bytes of a unit", () => {
    const a = "x".repeat(1000);
    expect(sampledStringKey(a, 16)).toBe(sampledStringKey(a.split("").join(""), 16));
    expect(sampledStringKey(a, 16)).not.toBe(sampledStringKey(a.slice(1), 16));
    expect(sampledStringKey(`y${a.slice(1)}`, 16)).not.toBe(sampledStringKey(a, 16));
    // U+0178 and U+7800 share a low byte with "x" (0x78) or a high one with each other's.
    expect(sampledStringKey(`\u0178${a.slice(1)}`, 16)).not.toBe(sampledStringKey(`\u7800${a.slice(1)}`, 16));
    expect(sampledStringKey(`\u0178${a.slice(1)}`, 16)).not.toBe(sampledStringKey(a, 16));
    expect(sampledStringKey("", 16)).not.toBe(sampledStringKey("a", 16));
  });
});
