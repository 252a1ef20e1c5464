/**
 * An upstream body as the HTTP transport hands it over (upstream/http-client.ts): chunks queue as
 * they arrive, a reader takes them within the call (`takeNow`) or awaits the next (`next()`).
 * `arrive` and `end` play the upstream's side.
 */
import type { UpstreamBody } from "../upstream/response.js";

export interface QueuedBody extends UpstreamBody {
  arrive(text: string | Buffer): void;
  end(): void;
  takeNow(): Buffer | null | undefined;
}

export function queuedBody(...already: Array<string | Buffer>): QueuedBody {
  const queue: Buffer[] = already.map((c) => Buffer.from(c));
  let ended = false;
  let waiter: ((step: IteratorResult<Buffer>) => void) | undefined;
  const wake = (step: IteratorResult<Buffer>): boolean => {
    const w = waiter;
    waiter = undefined;
    w?.(step);
    return w !== undefined;
  };
  const iterator: AsyncIterator<Buffer> = {
    next() {
      const value = queue.shift();
      if (value) return Promise.resolve({ done: false, value });
      if (ended) return Promise.resolve({ done: true, value: undefined });
      return new Promise((resolve) => (waiter = resolve));
    },
  };
  return {
    arrive(text) {
      const value = Buffer.from(text);
      if (!wake({ done: false, value })) queue.push(value);
    },
    end() {
      ended = true;
      if (queue.length === 0) wake({ done: true, value: undefined });
    },
    takeNow: () => queue.shift() ?? (ended ? null : undefined),
    [Symbol.asyncIterator]: () => iterator,
  };
}
