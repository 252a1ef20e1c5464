import { describe, expect, it } from "vitest";
import { borrowBuffer, giveBack, joinInto } from "./lent-buffers.js";

describe("lent buffers", () => {
  it("lends a buffer of at least the size asked, a whole ArrayBuffer of its own", () => {
    for (const size of [1, 100, 16 * 1024, 16 * 1024 + 1, 200_000]) {
      const buf = borrowBuffer(size);
      expect(buf.length).toBeGreaterThanOrEqual(size);
      // Never a slice of Node's shared pool: a view of it is known by its ArrayBuffer.
      expect(buf.byteOffset).toBe(0);
      expect(buf.buffer.byteLength).toBe(buf.length);
    }
  });

  it("lends a buffer given back again, never to two borrowers at once", () => {
    const a = borrowBuffer(70_000);
    giveBack(a);
    const b = borrowBuffer(60_000);
    expect(b).toBe(a);
    const c = borrowBuffer(60_000);
    expect(c).not.toBe(a);
    giveBack(b);
    giveBack(b);
    expect(borrowBuffer(60_000)).toBe(b);
    // Given back twice, kept once: the next borrower gets another.
    expect(borrowBuffer(60_000)).not.toBe(b);
  });

  it("keeps a few, none over 1 MB", () => {
    const big = borrowBuffer(2 * 1024 * 1024);
    giveBack(big);
    expect(borrowBuffer(2 * 1024 * 1024)).not.toBe(big);
    const many = Array.from({ length: 20 }, () => borrowBuffer(40_000));
    for (const buf of many) giveBack(buf);
    const again = Array.from({ length: 20 }, () => borrowBuffer(40_000));
    const reused = again.filter((buf) => many.includes(buf)).length;
    expect(reused).toBeGreaterThan(0);
    expect(reused).toBeLessThanOrEqual(8);
  });

  it("joins parts into a buffer from its start", () => {
    const target = Buffer.alloc(16, 0x2e);
    const joined = joinInto(target, [Buffer.from("ab"), new Uint8Array([0x63]), Buffer.from("")]);
    expect(joined.toString()).toBe("abc");
    expect(joined.buffer).toBe(target.buffer);
  });
});
