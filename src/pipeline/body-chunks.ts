/**
 * Reading an upstream answer's body to its end without a promise for each chunk that has arrived
 * already (UpstreamBody.takeNow): under load the event loop turns later than reads come in, and a
 * stream sent whole (or a burst of events) is then read within the call.
 */
import type { UpstreamBody } from "../upstream/response.js";

/**
 * Hands each chunk of `body` to `take`, in order, and returns at the end. It waits only for a
 * chunk that has not arrived and for the promise `take` returns (a sink to drain); a failure of
 * the body or of `take` rejects.
 */
export async function eachChunk(body: UpstreamBody, take: (chunk: Buffer) => Promise<void> | undefined): Promise<void> {
  const it = body[Symbol.asyncIterator]();
  for (;;) {
    let chunk = body.takeNow?.();
    if (chunk === undefined) {
      const step = await it.next();
      if (step.done) return;
      chunk = step.value;
    } else if (chunk === null) return;
    const waiting = take(chunk);
    if (waiting) await waiting;
  }
}
