/**
 * Reading big upstream SSE events by the members a reader declared, off the bytes
 * (docs/architecture.md#measured-facts). A Responses stream's response-level events repeat the
 * request's instructions and tools, tens of KB each, to carry an id, a status and a few dozen
 * bytes of usage; decoding such an event to one string and parsing it costs more than the rest
 * of the stream, and past 65,536 UTF-16 units Node decodes about eight times slower per byte.
 *
 * The members read are decoded and parsed as JSON.parse would; the members skipped are only
 * checked for structure (balanced strings, brackets and braces), not parsed.
 */
import type { MemberTree, StreamEventMembers } from "../protocols/codec.js";
import { LazySseParser, undecodedData, type SseEvent } from "../transport/sse.js";
import { projectFields } from "./json-peek.js";

/** Below this an event's data is decoded whole: the projection's scan would cost about as much. */
export const SLIM_FROM_BYTES = 2048;

/** An event whose data, when read, holds only `members` of the source's data if it is big and still undecoded. */
export class SlimEvent implements SseEvent {
  readonly event: string | undefined;
  #data: string | undefined;

  constructor(
    private readonly source: SseEvent,
    private readonly members: MemberTree,
  ) {
    this.event = source.event;
  }

  get data(): string {
    if (this.#data === undefined) {
      const bytes = undecodedData(this.source);
      this.#data = (bytes && bytes.length >= SLIM_FROM_BYTES ? projectFields(bytes, this.members) : undefined) ?? this.source.data;
    }
    return this.#data;
  }
}

/**
 * An upstream stream's events for a stream decoder: events are decoded one by one as the
 * decoder reads them (never a whole chunk at once), and the events `slim` names are read
 * as {@link SlimEvent}s. The events of one push are to be read before the next push, end or
 * release: lines that came over several reads are joined into a buffer the next join reuses.
 */
export class UpstreamEventReader {
  readonly #parser = new LazySseParser({ reuseJoins: true });

  constructor(private readonly slim: StreamEventMembers | undefined) {}

  push(chunk: Uint8Array): SseEvent[] {
    return this.#slimmed(this.#parser.push(chunk));
  }

  end(): SseEvent[] {
    return this.#slimmed(this.#parser.end());
  }

  /** Done with the stream and its events: gives the join buffer back for other streams' readers. */
  release(): void {
    this.#parser.release();
  }

  #slimmed(events: SseEvent[]): SseEvent[] {
    const slim = this.slim;
    if (slim === undefined) return events;
    for (let i = 0; i < events.length; i++) {
      const ev = events[i]!;
      if (ev.event !== undefined && slim.events.has(ev.event)) events[i] = new SlimEvent(ev, slim.members);
    }
    return events;
  }
}
