import { describe, expect, it } from "vitest";
import { BoundedLru } from "./bounded-lru.js";

describe("BoundedLru", () => {
  it("never holds more than its limit and evicts the least recently used entry", () => {
    const lru = new BoundedLru<string, number>(3);
    lru.set("a", 1);
    lru.set("b", 2);
    lru.set("c", 3);
    expect(lru.get("a")).toBe(1); // a is now the most recent
    lru.set("d", 4);
    expect(lru.size).toBe(3);
    expect(lru.get("b")).toBeUndefined();
    expect([lru.get("a"), lru.get("c"), lru.get("d")]).toEqual([1, 3, 4]);
    for (let i = 0; i < 1000; i++) lru.set(`flood-${i}`, i);
    expect(lru.size).toBe(3);
  });
});
