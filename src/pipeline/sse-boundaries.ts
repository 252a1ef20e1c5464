/**
 * Where SSE events end in a span of bytes: at a blank line, `\n\n` or `\r\n\r\n`
 * (https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation).
 * Lines ended by a lone `\r`, which the format also allows, are not recognised here.
 *
 * The relay asks on every chunk of every stream, and the answer is almost always within a few bytes
 * of where it starts looking (an upstream flushes whole events). `Buffer.indexOf`/`lastIndexOf`
 * check their arguments, cross into C++ and set up a search on every call: with up to four such calls
 * a chunk, the native search alone was about 5 µs a stream of a 1 KB Chat stream at 50 connections
 * in a profile (`npm run bench`, BENCH_PROFILE). So the first {@link NEAR} bytes are looked at one by one, and only
 * a longer stretch (a big Responses event that spans chunks) goes to Buffer's search.
 */

const LF = 0x0a;
const CR = 0x0d;
const LF2 = Buffer.from("\n\n");
const CRLF2 = Buffer.from("\r\n\r\n");

/**
 * Bytes looked at one by one before the rest of a search goes to Buffer's: more than the ordinary
 * events of a Chat or Anthropic stream (at 256, some of the 1 KB Chat stream's events went on to
 * Buffer's search), and at about a nanosecond a byte no dearer than one call of that search.
 */
export const NEAR = 1024;

/** Whether a blank line that starts at or after `from` ends with byte `i`; for `i > from` only, where a `\n\n` ending at `i` does. */
function blankLineEndsAt(buf: Uint8Array, i: number, from: number): boolean {
  if (buf[i] !== LF) return false;
  if (buf[i - 1] === LF) return true;
  return i - 3 >= from && buf[i - 1] === CR && buf[i - 2] === LF && buf[i - 3] === CR;
}

/**
 * Offset just past the last blank line that lies wholly before `end` in `buf`, or 0: where the
 * whole events of `buf[0, end)` end, and where the event holding byte `end` starts.
 */
export function lastEventBoundary(buf: Buffer, end: number = buf.length): number {
  // No blank line ends at byte 0, so the loop stops at 1 at the latest.
  const near = Math.max(1, end - NEAR);
  for (let i = end - 1; i >= near; i--) if (blankLineEndsAt(buf, i, 0)) return i + 1;
  // The blank lines ending before byte `near`, which the loop did not look at.
  const lf = near < 2 ? -1 : buf.lastIndexOf(LF2, near - 2);
  const crlf = near < 4 ? -1 : buf.lastIndexOf(CRLF2, near - 4);
  return Math.max(lf === -1 ? 0 : lf + 2, crlf === -1 ? 0 : crlf + 4);
}

/** Offset just past the first blank line that starts at or after `from` in `buf`, or the end of `buf`. */
export function nextEventBoundary(buf: Buffer, from: number): number {
  const near = Math.min(buf.length, from + NEAR);
  for (let i = from + 1; i < near; i++) if (blankLineEndsAt(buf, i, from)) return i + 1;
  if (near >= buf.length) return buf.length;
  // A blank line the loop did not see ends at byte `near` or later, so starts at `near - 3` or later.
  const start = Math.max(from, near - 3);
  const lf = buf.indexOf(LF2, start);
  const crlf = buf.indexOf(CRLF2, start);
  if (lf === -1 && crlf === -1) return buf.length;
  if (crlf === -1 || (lf !== -1 && lf < crlf)) return lf + 2;
  return crlf + 4;
}
