/**
 * Buffers lent for joining bytes that arrived in pieces (an SSE line over two reads), for readers
 * that are done with what they joined before they give the buffer back. A new buffer of 70 KB or
 * more for every join is memory touched for the first time and bytes V8 counts towards its next
 * collection; a translated Responses stream joined three such lines (docs/architecture.md#measured-facts).
 *
 * A borrower owns a buffer from {@link borrowBuffer} until {@link giveBack}, and neither it nor
 * anything it handed a view of reads the buffer after that.
 */

/** Buffers are lent in sizes rounded up to this, so that joins a few bytes apart in size share one. */
const STEP = 16 * 1024;
/** Buffers kept while nobody borrows them, and the biggest kept: a bigger one is left to the collector. */
const KEPT = 8;
const KEPT_BYTES = 1024 * 1024;

const kept: Buffer[] = [];

/**
 * A buffer of at least `size` bytes, the caller's until it gives it back: a kept one, or a new one.
 * Each is a whole ArrayBuffer of its own (never a slice of Node's shared pool), so a view of it
 * is known by its `buffer`.
 */
export function borrowBuffer(size: number): Buffer {
  for (let i = kept.length - 1; i >= 0; i--) {
    const buf = kept[i]!;
    if (buf.length >= size) {
      kept.splice(i, 1);
      return buf;
    }
  }
  return Buffer.allocUnsafeSlow(Math.max(STEP, Math.ceil(size / STEP) * STEP));
}

/** Takes back a buffer {@link borrowBuffer} lent: it may be lent again at once. */
export function giveBack(buf: Buffer): void {
  if (buf.length <= KEPT_BYTES && kept.length < KEPT && !kept.includes(buf)) kept.push(buf);
}

/** `parts` joined into `target` from its start; the view of the bytes written. */
export function joinInto(target: Buffer, parts: readonly Uint8Array[]): Buffer {
  let at = 0;
  for (const part of parts) {
    target.set(part, at);
    at += part.length;
  }
  return target.subarray(0, at);
}
