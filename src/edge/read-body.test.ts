import { Readable } from "node:stream";
import type { IncomingMessage } from "node:http";
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { readBody } from "./read-body.js";

/** A request body arriving in the given pieces, each a `data` event of its own, with `content-length` when given. */
function request(pieces: readonly Buffer[], contentLength?: number): IncomingMessage {
  const stream = Readable.from(pieces, { objectMode: false }) as unknown as IncomingMessage;
  (stream as { headers: Record<string, string> }).headers = contentLength === undefined ? {} : { "content-length": String(contentLength) };
  return stream;
}

/** `bytes` cut at the given offsets. */
function cut(bytes: Buffer, at: readonly number[]): Buffer[] {
  const points = [...new Set(at.map((n) => n % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let from = 0;
  for (const p of [...points, bytes.length]) {
    if (p > from) out.push(Buffer.from(bytes.subarray(from, p)));
    from = Math.max(from, p);
  }
  return out;
}

describe("readBody", () => {
  it("gives the bytes sent, however they are cut, with and without a declared length", async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 20_000 }), fc.array(fc.nat(), { maxLength: 12 }), fc.boolean(), async (raw, at, declare) => {
        const bytes = Buffer.from(raw);
        const body = await readBody(request(cut(bytes, at), declare ? bytes.length : undefined), 1 << 20);
        expect(body.equals(bytes)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it("gives a body in one piece as that piece, without a copy", async () => {
    const piece = Buffer.from('{"model":"m"}');
    expect(await readBody(request([piece], piece.length), 1024)).toBe(piece);
  });

  it("gives what came when the declared length says otherwise", async () => {
    expect((await readBody(request([Buffer.from("abc"), Buffer.from("def")], 100), 1024)).toString()).toBe("abcdef");
    expect((await readBody(request([Buffer.from("abc"), Buffer.from("def"), Buffer.from("ghi")], 7), 1024)).toString()).toBe("abcdefghi");
  });

  it("refuses a body past the limit, declared or not", async () => {
    await expect(readBody(request([Buffer.alloc(10)], 2000), 1000)).rejects.toMatchObject({ code: "request_too_large" });
    await expect(readBody(request([Buffer.alloc(600), Buffer.alloc(600)]), 1000)).rejects.toMatchObject({ code: "request_too_large" });
    await expect(readBody(request([Buffer.alloc(600), Buffer.alloc(600)], 900), 1000)).rejects.toMatchObject({ code: "request_too_large" });
  });
});
