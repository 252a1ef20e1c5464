import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { NEAR, lastEventBoundary, nextEventBoundary } from "./sse-boundaries.js";

/** The same answers from Buffer's own searches over the whole range: what the loops must agree with. */
function referenceLast(buf: Buffer, end: number): number {
  const lf = end < 2 ? -1 : buf.lastIndexOf("\n\n", end - 2);
  const crlf = end < 4 ? -1 : buf.lastIndexOf("\r\n\r\n", end - 4);
  return Math.max(lf === -1 ? 0 : lf + 2, crlf === -1 ? 0 : crlf + 4);
}

function referenceNext(buf: Buffer, from: number): number {
  const lf = buf.indexOf("\n\n", from);
  const crlf = buf.indexOf("\r\n\r\n", from);
  if (lf === -1 && crlf === -1) return buf.length;
  if (crlf === -1 || (lf !== -1 && lf < crlf)) return lf + 2;
  return crlf + 4;
}

/**
 * Spans of line endings, near-misses (`\n\r\n`, `\r\r`) and text, some long enough that the answer
 * lies past the bytes looked at one by one, so both the loops and the searches they hand over to answer.
 */
const span = fc
  .array(
    fc.oneof(
      fc.constantFrom("\n", "\r", "\r\n", "\n\n", "\r\n\r\n", "\n\r\n", "data: x", "é"),
      fc.string({ maxLength: 1500 }).map((s) => s.replace(/[\r\n]/g, ".")),
    ),
    {
      maxLength: 30,
    },
  )
  .map((parts) => Buffer.from(parts.join("")));

describe("SSE event boundaries", () => {
  it("lastEventBoundary agrees with searching the whole range, at any end", () => {
    fc.assert(
      fc.property(span, fc.nat(), (buf, at) => {
        const end = buf.length === 0 ? 0 : at % (buf.length + 1);
        expect(lastEventBoundary(buf, end)).toBe(referenceLast(buf, end));
        expect(lastEventBoundary(buf)).toBe(referenceLast(buf, buf.length));
      }),
      { numRuns: 2000 },
    );
  });

  it("nextEventBoundary agrees with searching the whole range, from any offset", () => {
    fc.assert(
      fc.property(span, fc.nat(), (buf, at) => {
        const from = buf.length === 0 ? 0 : at % (buf.length + 1);
        expect(nextEventBoundary(buf, from)).toBe(referenceNext(buf, from));
      }),
      { numRuns: 2000 },
    );
  });

  it("finds a blank line that straddles the point where the byte loop hands over to Buffer's search", () => {
    const at = NEAR + 300;
    for (const eol of ["\n\n", "\r\n\r\n"]) {
      const buf = Buffer.from("x".repeat(at) + eol + "x".repeat(NEAR + 300));
      const after = at + eol.length;
      for (let d = -1; d <= eol.length + 1; d++) {
        // The loop looks at the NEAR bytes before `end` and after `from`.
        const end = at + NEAR + d;
        expect(lastEventBoundary(buf, end), `${JSON.stringify(eol)}, end ${end}`).toBe(end >= after ? after : 0);
        const from = at - NEAR + d;
        expect(nextEventBoundary(buf, from), `${JSON.stringify(eol)}, from ${from}`).toBe(from <= at ? after : buf.length);
      }
    }
  });
});
