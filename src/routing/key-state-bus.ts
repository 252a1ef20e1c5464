/**
 * How nodes of a cluster tell each other that a key changed state (disabled, cooling,
 * open, healthy again), so every node stops using a dead key within a second. The hot
 * path never reads the bus: a transition arriving from it is applied to the node's own
 * key objects, which is all a request looks at. Redis carries it in a cluster
 * (storage/redis/key-state-bus.ts, behind the port in storage/ports.ts); one process,
 * or a test, uses the in-memory bus here.
 */

export type { KeyStateBus, KeyTransition, SharedKeyState } from "../storage/ports.js";
import type { KeyStateBus, KeyTransition } from "../storage/ports.js";

/** In-process bus: every subscriber of the same instance hears every publish except its own node's. */
export class MemoryKeyStateBus {
  readonly #handlers = new Set<{ origin: string; handler: (t: KeyTransition) => void }>();
  readonly #state = new Map<string, KeyTransition>();

  /** A view of this bus for one node: it hears the others, never itself. */
  node(origin: string): KeyStateBus {
    return {
      publish: (t) => {
        this.#state.set(t.keyId, t);
        for (const h of this.#handlers) if (h.origin !== t.origin) h.handler(t);
      },
      subscribe: (handler) => {
        const entry = { origin, handler };
        this.#handlers.add(entry);
        return () => this.#handlers.delete(entry);
      },
      current: () => Promise.resolve([...this.#state.values()].filter((t) => t.state !== "healthy")),
      close: () => Promise.resolve(),
    };
  }
}
