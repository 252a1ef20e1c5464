import { describe, expect, it } from "vitest";
import { CACHED_STRING_FROM, StringJsonCache } from "./string-json.js";

const json = (s: string): Buffer => Buffer.from(JSON.stringify(s));

describe("StringJsonCache", () => {
  it("leaves a string met once to the caller, and keeps the bytes from the second meeting on", () => {
    const cache = new StringJsonCache();
    const s = `"é" 改\n${"a".repeat(CACHED_STRING_FROM)}`;
    let writes = 0;
    const write = (t: string): Buffer => (writes++, json(t));
    expect(cache.bytesOf(s, write)).toBeUndefined();
    const second = cache.bytesOf(s, write);
    expect(second?.equals(json(s))).toBe(true);
    // The same text as another string object: the kept bytes, not written again.
    expect(cache.bytesOf(s.split("").join(""), write)).toBe(second);
    expect(writes).toBe(1);
  });

  it("never gives a string another one's bytes, however alike", () => {
    const cache = new StringJsonCache();
    const base = "b".repeat(4000);
    // Strings of one length that differ only between the sampled units share a key.
    const variants = Array.from({ length: 6 }, (_, i) => `${base.slice(0, 1001)}${i}${base.slice(1002)}`);
    for (let round = 0; round < 3; round++) {
      for (const v of variants) {
        const bytes = cache.bytesOf(v, json);
        if (bytes !== undefined) expect(bytes.toString()).toBe(JSON.stringify(v));
      }
    }
    const last = variants.at(-1)!;
    expect(cache.bytesOf(last, json)?.toString()).toBe(JSON.stringify(last));
  });

  it("writes anew, without keeping, a string too big for the cache", () => {
    const cache = new StringJsonCache(10_000);
    const big = "c".repeat(8000);
    let writes = 0;
    const write = (t: string): Buffer => (writes++, json(t));
    cache.bytesOf(big, write);
    expect(cache.bytesOf(big, write)?.equals(json(big))).toBe(true);
    expect(cache.bytesOf(big, write)?.equals(json(big))).toBe(true);
    expect(writes).toBe(2);
  });
});
