import { describe, expect, it } from "vitest";
import { EndWatch } from "./load.js";

const END = Buffer.from("data: [DONE]");
const stream = Buffer.from('data: {"a":1}\n\ndata: {"b":"ü"}\n\ndata: [DONE]\n\n');

/** Feeds `bytes` cut at `cuts` and says whether the watch saw the end, and at which read. */
function readIn(bytes: Buffer, cuts: number[]): number {
  const watch = new EndWatch(END);
  let from = 0;
  const reads = [...cuts, bytes.length].map((to) => {
    const piece = bytes.subarray(from, to);
    from = to;
    return piece;
  });
  return reads.findIndex((r) => watch.read(r));
}

describe("EndWatch", () => {
  it("sees the end in one read", () => {
    expect(readIn(stream, [])).toBe(0);
  });

  it("sees the end straddling two reads, wherever they meet", () => {
    const at = stream.indexOf(END);
    for (let cut = at + 1; cut < at + END.length; cut++) expect(readIn(stream, [cut]), `cut at ${cut}`).toBe(1);
  });

  it("sees the end read a byte at a time", () => {
    const cuts = Array.from({ length: stream.length - 1 }, (_, i) => i + 1);
    expect(readIn(stream, cuts)).toBe(stream.indexOf(END) + END.length - 1);
  });

  it("does not see an end that is not there, nor one made of bytes from reads apart", () => {
    expect(readIn(Buffer.from('data: {"a":1}\n\ndata: [DON'), [10])).toBe(-1);
    const watch = new EndWatch(END);
    expect(watch.read(Buffer.from("data: [DO"))).toBe(false);
    expect(watch.read(Buffer.from("xx"))).toBe(false);
    expect(watch.read(Buffer.from("NE]"))).toBe(false);
    expect(watch.tail.toString()).toBe("ata: [DOxxNE]".slice(-(END.length - 1)));
  });
});
