/**
 * The abort signal of one HTTP request, without the cost of Node's.
 *
 * Node's `AbortController` builds a full `EventTarget` for its signal: about 1.6 µs to create
 * one, and about 0.6 µs more for each listener added and removed (Node 20, a loop of 500,000).
 * The edge makes one a request, and the body reader and the upstream exchange each add and
 * remove a listener: in a CPU profile of 1 KB requests that was about 3 % of the gateway's busy
 * time, for a signal that almost never fires.
 *
 * `RequestAbort` keeps the part of the `AbortSignal` contract the gateway and the libraries it
 * hands a signal to rely on: `aborted`, `reason` (an `AbortError` DOMException when none is
 * given), `throwIfAborted()`, `onabort`, and `abort` listeners added with `addEventListener`
 * (functions or `{ handleEvent }` objects, the same listener once, called once in the order
 * added, never when added after the abort, and not when removed before its turn). Node's own
 * APIs accept it: they check a signal by its `aborted` property and listen with
 * `addEventListener` (https://github.com/nodejs/node/blob/v20.x/lib/internal/validators.js,
 * `validateAbortSignal`), as undici does. What it is not: `instanceof AbortSignal`, and a member
 * of `AbortSignal.any([...])`, which reads Node's private fields; nothing in the gateway does
 * either with a request's signal.
 */

type AbortListener = ((this: AbortSignal, ev: Event) => unknown) | { handleEvent(ev: Event): unknown };

class RequestSignal {
  aborted = false;
  reason: unknown = undefined;
  onabort: ((this: AbortSignal, ev: Event) => unknown) | null = null;
  /** The first listener in its own slot: most requests have one or two at a time. */
  #first: AbortListener | undefined = undefined;
  #more: AbortListener[] | undefined = undefined;

  addEventListener(type: string, listener: AbortListener | null, options?: boolean | { once?: boolean; signal?: AbortSignal }): void {
    if (type !== "abort" || listener === null || this.aborted) return;
    if (this.#has(listener)) return;
    const stopWith = typeof options === "object" ? options.signal : undefined;
    if (stopWith) {
      if (stopWith.aborted) return;
      stopWith.addEventListener("abort", () => this.removeEventListener("abort", listener), { once: true });
    }
    if (this.#first === undefined && this.#more === undefined) this.#first = listener;
    else (this.#more ??= []).push(listener);
  }

  removeEventListener(type: string, listener: AbortListener | null): void {
    if (type !== "abort" || listener === null) return;
    if (this.#first === listener) {
      this.#first = undefined;
      return;
    }
    const more = this.#more;
    if (!more) return;
    const at = more.indexOf(listener);
    if (at !== -1) more.splice(at, 1);
  }

  dispatchEvent(event: Event): boolean {
    if (event.type !== "abort") return true;
    const self = this as unknown as AbortSignal;
    if (this.onabort) call(this.onabort, self, event);
    // Listeners added by a listener are not called for this event; one removed before its turn is not called.
    const order: AbortListener[] = [];
    if (this.#first !== undefined) order.push(this.#first);
    if (this.#more) order.push(...this.#more);
    for (const listener of order) {
      if (!this.#has(listener)) continue;
      this.removeEventListener("abort", listener);
      call(listener, self, event);
    }
    return true;
  }

  throwIfAborted(): void {
    if (this.aborted) throw this.reason;
  }

  #has(listener: AbortListener): boolean {
    return this.#first === listener || (this.#more !== undefined && this.#more.includes(listener));
  }
}

/** As an EventTarget does: a listener's throw does not stop the others, and surfaces as an uncaught exception. */
function call(listener: AbortListener, signal: AbortSignal, event: Event): void {
  try {
    if (typeof listener === "function") listener.call(signal, event);
    else listener.handleEvent(event);
  } catch (err) {
    process.nextTick(() => {
      throw err;
    });
  }
}

/** An `AbortController` for one request: `signal` is typed as the AbortSignal it stands in for. */
export class RequestAbort {
  readonly #signal = new RequestSignal();
  readonly signal: AbortSignal = this.#signal as unknown as AbortSignal;

  abort(reason?: unknown): void {
    const s = this.#signal;
    if (s.aborted) return;
    s.aborted = true;
    s.reason = reason === undefined ? new DOMException("This operation was aborted", "AbortError") : reason;
    const event = new Event("abort");
    // Dispatched by hand, so the event's target is set by hand (an EventTarget sets both).
    Object.defineProperty(event, "target", { value: this.signal });
    Object.defineProperty(event, "currentTarget", { value: this.signal });
    s.dispatchEvent(event);
  }
}
