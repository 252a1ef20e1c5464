/**
 * How nodes of a cluster tell each other that a key changed state (disabled, cooling,
 * open, healthy again), so every node stops using a dead key within a second. The hot
 * path never reads the bus: a transition arriving from it is applied to the node's own
 * key objects, which is all a request looks at. Redis carries it in a cluster
 * (key-state-redis.ts); one process, or a test, uses the in-memory bus here.
 */

export type SharedKeyState = "healthy" | "cooling" | "open" | "disabled";

export interface KeyTransition {
  /** The upstream key's id, and its fingerprint: a transition never applies to a key whose secret changed since. */
  keyId: string;
  fingerprint: string;
  state: SharedKeyState;
  reason: string | null;
  /** Epoch ms when a cooling or open key may be tried again; 0 when there is no end. */
  until: number;
  /** Epoch ms of the transition, so an older one never overrides a newer one. */
  at: number;
  /** The node that saw it (a node ignores its own). */
  origin: string;
}

export interface KeyStateBus {
  publish(t: KeyTransition): void;
  /** Calls `handler` with every other node's transitions; returns the unsubscribe. */
  subscribe(handler: (t: KeyTransition) => void): () => void;
  /** Transitions still in force, for a node that starts (keys already disabled or cooling). */
  current(): Promise<KeyTransition[]>;
  close(): Promise<void>;
}

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
