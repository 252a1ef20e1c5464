import { EventEmitter, once } from "node:events";
import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { RequestAbort } from "./request-abort.js";

type Listener = ((ev: Event) => void) | { handleEvent(ev: Event): void };
type Op = { kind: "add"; listener: number; handleEvent: boolean } | { kind: "remove"; listener: number } | { kind: "abort"; reason: string | undefined };

/** Runs the same operations against a controller and returns what happened, comparable across the two kinds. */
function run(controller: { signal: AbortSignal; abort(reason?: unknown): void }, ops: readonly Op[]): unknown[] {
  const seen: unknown[] = [];
  const listeners = new Map<string, Listener>();
  const listenerOf = (n: number, handleEvent: boolean): Listener => {
    const k = `${n}:${handleEvent}`;
    let l = listeners.get(k);
    if (!l) {
      const record = (ev: Event): void => {
        seen.push({ call: k, type: ev.type, target: ev.target === controller.signal, aborted: controller.signal.aborted });
      };
      l = handleEvent ? { handleEvent: record } : record;
      listeners.set(k, l);
    }
    return l;
  };
  for (const op of ops) {
    if (op.kind === "add") controller.signal.addEventListener("abort", listenerOf(op.listener, op.handleEvent));
    else if (op.kind === "remove") {
      controller.signal.removeEventListener("abort", listenerOf(op.listener, false));
      controller.signal.removeEventListener("abort", listenerOf(op.listener, true));
    } else controller.abort(op.reason);
  }
  const reason = controller.signal.reason as unknown;
  seen.push({
    aborted: controller.signal.aborted,
    reason: reason instanceof DOMException ? `${reason.name}: ${reason.message}` : reason,
  });
  return seen;
}

describe("RequestAbort", () => {
  it("behaves as Node's AbortController for any sequence of adds, removes and aborts", () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant("add" as const), listener: fc.integer({ min: 0, max: 4 }), handleEvent: fc.boolean() }),
      fc.record({ kind: fc.constant("remove" as const), listener: fc.integer({ min: 0, max: 4 }) }),
      fc.record({ kind: fc.constant("abort" as const), reason: fc.option(fc.constantFrom("stopped", "gone"), { nil: undefined }) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 30 }), (ops) => {
        expect(run(new RequestAbort(), ops)).toEqual(run(new AbortController(), ops));
      }),
      { numRuns: 500 },
    );
  });

  it("gives an AbortError DOMException when aborted without a reason, and throws it from throwIfAborted", () => {
    const ac = new RequestAbort();
    expect(() => ac.signal.throwIfAborted()).not.toThrow();
    ac.abort();
    expect(ac.signal.reason).toBeInstanceOf(DOMException);
    expect((ac.signal.reason as DOMException).name).toBe("AbortError");
    expect(() => ac.signal.throwIfAborted()).toThrow(ac.signal.reason as Error);
  });

  it("does not call a listener an earlier listener removed, nor one added after the abort", () => {
    const ac = new RequestAbort();
    const calls: string[] = [];
    const second = (): void => void calls.push("second");
    ac.signal.addEventListener("abort", () => {
      calls.push("first");
      ac.signal.removeEventListener("abort", second);
    });
    ac.signal.addEventListener("abort", second);
    ac.signal.onabort = () => void calls.push("onabort");
    ac.abort("x");
    ac.signal.addEventListener("abort", () => void calls.push("late"));
    ac.abort("again");
    expect(calls).toEqual(["onabort", "first"]);
    expect(ac.signal.reason).toBe("x");
  });

  it("drops a listener when the signal in its options aborts first", () => {
    const ac = new RequestAbort();
    const stop = new AbortController();
    const calls: string[] = [];
    ac.signal.addEventListener("abort", () => void calls.push("kept"));
    ac.signal.addEventListener("abort", () => void calls.push("dropped"), { signal: stop.signal });
    stop.abort();
    ac.abort();
    expect(calls).toEqual(["kept"]);
  });

  it("is accepted by Node's APIs that take a signal, which reject with its reason when it aborts", async () => {
    const ac = new RequestAbort();
    const waiting = once(new EventEmitter(), "never", { signal: ac.signal });
    const sleeping = sleep(60_000, undefined, { signal: ac.signal });
    ac.abort();
    await expect(waiting).rejects.toMatchObject({ name: "AbortError" });
    await expect(sleeping).rejects.toMatchObject({ name: "AbortError" });

    const late = new RequestAbort();
    late.abort();
    await expect(sleep(60_000, undefined, { signal: late.signal })).rejects.toMatchObject({ name: "AbortError" });
  });
});
