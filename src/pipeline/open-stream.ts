/**
 * Holds back an upstream stream's opening events (docs/routing.md#failover):
 * until an event carries content, nothing has reached the client, so an error
 * event there is a failed attempt like a 5xx and the next key may answer. The
 * hold ends at the first content-bearing event, at a small byte cap, or after a
 * short wait, whichever comes first; the held bytes are then replayed unchanged
 * ahead of the rest, so a healthy stream loses nothing but the time to see its
 * first content event (which it needed to send anyway).
 */
import type { UpstreamProtocol } from "../canonical/protocols.js";
import type { AnswerError } from "../protocols/common/error-in-answer.js";
import { classifyOpeningEvent, type OpeningVerdict } from "../protocols/common/stream-opening.js";
import { LazySseParser } from "../transport/sse.js";
import { emptyUsage } from "../canonical/usage.js";
import type { Attempt } from "./attempt.js";
import type { Exchange } from "./exchange.js";
import type { LaneResult } from "./lane.js";
import { stoppedBy } from "./stop.js";
import type { UpstreamBody } from "../upstream/response.js";

/** Opening events are small (a few hundred bytes each); past this the stream is let through. */
export const OPENING_BYTE_CAP = 16 * 1024;
/**
 * A reasoning model may think for a long time after `response.created`: after this wait the
 * stream is let through (its head and opening events reach the client) and the attempt stands.
 */
export const OPENING_HOLD_MS = 2_000;

const OPENING: OpeningVerdict = { kind: "opening" };

export type OpenedStream =
  /** The stream goes to the client: `body` replays the held bytes, then the rest. */
  | { kind: "go"; body: UpstreamBody }
  /** The upstream failed before any content: an error event, a break, or an end with nothing in it. */
  | { kind: "failed"; error: AnswerError; reason: "error_event" | "broken" | "empty" };

/**
 * Reads `body` until its first content event (or the cap or the wait). `holdMs` may be
 * shortened by the caller (the request's deadline); on abort the read rejects as usual.
 *
 * What has arrived already (UpstreamBody.takeNow) is judged within the call: a stream whose
 * first read holds content, as one that comes in a burst or meets a busy gateway does, opens
 * without a timer or a promise. Only a wait for more starts the hold's clock.
 */
export function openStream(protocol: UpstreamProtocol, body: UpstreamBody, holdMs = OPENING_HOLD_MS): OpenedStream | Promise<OpenedStream> {
  const opening = new Opening(protocol, body);
  if (body.takeNow) {
    for (let chunk = body.takeNow(); chunk !== undefined; chunk = body.takeNow()) {
      const decided = chunk === null ? opening.ended() : opening.judge(chunk);
      if (decided) return decided;
    }
  }
  return opening.wait(holdMs);
}

/** The opening events read so far, and how each read changes the verdict. */
class Opening {
  readonly #protocol: UpstreamProtocol;
  readonly #body: UpstreamBody;
  readonly #it: AsyncIterator<Buffer>;
  readonly #held: Buffer[] = [];
  #bytes = 0;
  readonly #parser = new LazySseParser();

  constructor(protocol: UpstreamProtocol, body: UpstreamBody) {
    this.#protocol = protocol;
    this.#body = body;
    this.#it = body[Symbol.asyncIterator]();
  }

  /** Holds `chunk`; the stream's fate if it decides it, undefined while the opening goes on. */
  judge(chunk: Buffer): OpenedStream | undefined {
    this.#held.push(chunk);
    this.#bytes += chunk.length;
    // Parsing stops at the first event that decides: a stream sent in one read is not parsed past its head.
    const protocol = this.#protocol;
    let verdict: OpeningVerdict = OPENING;
    this.#parser.push(chunk, (ev) => (verdict = classifyOpeningEvent(protocol, ev)).kind !== "opening");
    if (verdict.kind === "error") {
      void this.#it.return?.();
      return { kind: "failed", error: verdict.error, reason: "error_event" };
    }
    if (verdict.kind === "content" || this.#bytes >= OPENING_BYTE_CAP) return this.go(undefined);
    return undefined;
  }

  /** Ended without content: whatever is held judges itself once more (a last event without a blank line). */
  ended(): OpenedStream {
    for (const ev of this.#parser.end()) {
      const v = classifyOpeningEvent(this.#protocol, ev);
      if (v.kind === "error") return { kind: "failed", error: v.error, reason: "error_event" };
      if (v.kind === "content") return this.go(undefined);
    }
    return { kind: "failed", error: { message: "The upstream stream ended before any content.", code: undefined }, reason: "empty" };
  }

  go(inFlight: Promise<IteratorResult<Buffer>> | undefined): OpenedStream {
    return { kind: "go", body: new Replay(this.#held, this.#body, this.#it, inFlight) };
  }

  /** Reads on, awaiting each read, until a verdict or the hold's end. */
  async wait(holdMs: number): Promise<OpenedStream> {
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<"expired">((resolve) => {
      timer = setTimeout(() => resolve("expired"), Math.max(0, holdMs));
    });
    let pendingNext: Promise<IteratorResult<Buffer>> | undefined;
    try {
      for (;;) {
        pendingNext = this.#it.next();
        const step = await Promise.race([pendingNext, expired]);
        if (step === "expired") {
          // The replay awaits this read; until it runs, a failure of the read must not go unhandled.
          pendingNext.catch(() => undefined);
          return this.go(pendingNext);
        }
        pendingNext = undefined;
        const decided = step.done ? this.ended() : this.judge(step.value);
        if (decided) return decided;
      }
    } catch (err) {
      if (pendingNext === undefined) throw err;
      return { kind: "failed", error: { message: `The upstream stream broke: ${(err as Error).message}`, code: undefined }, reason: "broken" };
    } finally {
      clearTimeout(timer);
    }
  }
}

/**
 * The held chunks (joined, so the relay sees them as one read), then the in-flight read, then
 * the rest, read straight from the upstream's iterator: no generator in between, which would
 * cost two more promise hops on every chunk of the stream. Its `takeNow` hands over the held
 * chunks and then whatever the upstream's own has, within the call. Giving it up early leaves
 * the upstream's iterator alone, as a generator would: the request's signal is what tears it down.
 * A class: an object literal with a computed `Symbol.asyncIterator` key and closures for its
 * methods, made for every stream, was about 1 % of the gateway's busy time on stream-1k in a CPU
 * profile.
 */
class Replay implements UpstreamBody, AsyncIterator<Buffer> {
  #first: Buffer | undefined;
  #pending: Promise<IteratorResult<Buffer>> | undefined;
  #finished = false;

  constructor(
    held: Buffer[],
    private readonly source: UpstreamBody,
    private readonly it: AsyncIterator<Buffer>,
    inFlight: Promise<IteratorResult<Buffer>> | undefined,
  ) {
    this.#first = held.length === 0 ? undefined : held.length === 1 ? held[0]! : Buffer.concat(held);
    this.#pending = inFlight;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<Buffer>> {
    if (this.#finished) return Promise.resolve({ done: true, value: undefined });
    const first = this.#first;
    if (first) {
      this.#first = undefined;
      return Promise.resolve({ done: false, value: first });
    }
    const pending = this.#pending;
    if (pending) {
      this.#pending = undefined;
      return pending;
    }
    return this.it.next();
  }

  return(): Promise<IteratorResult<Buffer>> {
    this.#finished = true;
    this.#first = undefined;
    return Promise.resolve({ done: true, value: undefined });
  }

  takeNow(): Buffer | null | undefined {
    if (this.#finished) return null;
    const first = this.#first;
    if (first) {
      this.#first = undefined;
      return first;
    }
    // A read in flight is only known by its promise: it is awaited.
    return this.#pending ? undefined : this.source.takeNow?.();
  }
}

/** How long an attempt may hold a stream's opening back: the hold, but never past the request's deadline. */
export function openingHoldMs(attempt: Attempt): number {
  return Math.max(0, Math.min(OPENING_HOLD_MS, attempt.remainingMs()));
}

/**
 * A stream that failed before any content: the next attempt may answer, unless the client left
 * or the gateway is stopping (the read broke because of that, not because of the upstream).
 */
export function streamFailedEarly(ex: Exchange, attempt: Attempt, opened: Extract<OpenedStream, { kind: "failed" }>, discard: () => void): LaneResult {
  discard();
  if (ex.signal.aborted) {
    attempt.finish("neutral");
    const stopped = stoppedBy(ex.signal);
    if (stopped) throw stopped;
    return { kind: "done", outcome: { status: 499, usage: emptyUsage(), errorCode: "client_closed" } };
  }
  return { kind: "retry", error: attempt.errorInStream(opened.error, opened.reason) };
}
