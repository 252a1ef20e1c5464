/**
 * Server-sent events framing, per the WHATWG event-stream format
 * (https://html.spec.whatwg.org/multipage/server-sent-events.html#parsing-an-event-stream).
 *
 * Layered like openai-node: bytes → lines → events. The parser works on bytes
 * so a multi-byte UTF-8 character split across chunks is never corrupted, and
 * so the passthrough lane can observe a stream without re-encoding it.
 */

import { borrowBuffer, giveBack, joinInto } from "./lent-buffers.js";

export interface SseEvent {
  /** The `event:` field, or undefined when absent (OpenAI Chat sends none). */
  event: string | undefined;
  /** All `data:` lines joined with "\n". */
  data: string;
  id?: string;
}

const LF = 0x0a;
const CR = 0x0d;

/**
 * Bytes held back until what they belong to is whole (a line, an event), kept as the chunks
 * they came in. A long line arriving over many chunks (a Responses event that repeats the
 * request, tens of KB) is then joined once, when it ends, and each chunk is searched once;
 * joining and searching the whole held tail again on every chunk cost a translated stream
 * about 3 % of its CPU.
 */
export class HeldBytes {
  #parts: Buffer[] = [];
  #length = 0;

  /**
   * `copy`: hold copies, for a reader that keeps no views of the chunks. `target`: a buffer of at
   * least the size asked for, that a join writes into instead of a new one (see {@link LazySseParserOptions}).
   */
  constructor(
    private readonly copy = false,
    private readonly target?: (size: number) => Buffer,
  ) {}

  get length(): number {
    return this.#length;
  }

  hold(bytes: Buffer): void {
    if (bytes.length === 0) return;
    this.#parts.push(this.copy ? Buffer.from(bytes) : bytes);
    this.#length += bytes.length;
  }

  /** The held bytes, then `chunk`, as one buffer; nothing is held afterwards. */
  joinedWith(chunk: Buffer): Buffer {
    if (this.#length === 0) return chunk;
    const size = this.#length + chunk.length;
    const all = this.target === undefined ? Buffer.concat([...this.#parts, chunk], size) : joinInto(this.target(size), [...this.#parts, chunk]);
    this.#parts = [];
    this.#length = 0;
    return all;
  }

  /** The held bytes as one buffer (null when none); nothing is held afterwards. */
  take(): Buffer | null {
    return this.#length === 0 ? null : this.joinedWith(Buffer.alloc(0));
  }

  /** The last `n` held bytes (fewer when fewer are held), still held. */
  tail(n: number): Buffer {
    const out: Buffer[] = [];
    let need = n;
    for (let i = this.#parts.length - 1; i >= 0 && need > 0; i--) {
      const part = this.#parts[i]!;
      out.unshift(part.subarray(Math.max(0, part.length - need)));
      need -= part.length;
    }
    return Buffer.concat(out);
  }
}

/** A pushed chunk as a Buffer view, without copying. */
function asBuffer(chunk: Uint8Array): Buffer {
  return Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
}

/**
 * Where a chunk's lines are: `first` and `last` are its first and last line terminators (-1 when
 * it has none); `hasCR` says whether any of them is a CR. One scan for CR, which streams from
 * the providers do not send, and one each way for LF.
 */
function terminators(chunk: Buffer): { first: number; last: number; hasCR: boolean } {
  const cr = chunk.indexOf(CR);
  const lf = chunk.indexOf(LF);
  if (cr === -1) return { first: lf, last: lf === -1 ? -1 : chunk.lastIndexOf(LF), hasCR: false };
  return { first: lf === -1 ? cr : Math.min(cr, lf), last: Math.max(chunk.lastIndexOf(LF), chunk.lastIndexOf(CR)), hasCR: true };
}

/**
 * How a parser takes a chunk: the line the held bytes began (if any) is joined alone, up to
 * its terminator, and `lines` is called on it; the chunk's other whole lines are read in place,
 * as a view; what follows the last terminator is held. Joining the whole chunk onto the held
 * bytes, as this once did, copied it too: a Responses stream whose reads each end inside an
 * event that repeats the request (64 KB reads, 65 KB events) copied about twice its bytes.
 *
 * `lines(buf, start, end, hasCR)` gets whole lines `buf[start, end]` (`end` a terminator) and
 * returns false to stop: the rest of the chunk is then neither read nor held.
 */
function eachWholeLines(held: HeldBytes, chunk: Uint8Array, lines: (buf: Buffer, start: number, end: number, hasCR: boolean) => boolean): void {
  const incoming = asBuffer(chunk);
  const { first, last, hasCR } = terminators(incoming);
  if (first === -1) {
    held.hold(incoming);
    return;
  }
  let start = 0;
  if (held.length > 0) {
    // The held bytes end no line, so the chunk's first terminator ends the one they began.
    const line = held.joinedWith(incoming.subarray(0, first + 1));
    if (!lines(line, 0, line.length - 1, incoming[first] === CR)) return;
    start = first + 1;
  }
  if (last >= start && !lines(incoming, start, last, hasCR)) return;
  if (last + 1 < incoming.length) held.hold(incoming.subarray(last + 1));
}

/**
 * Incremental SSE parser. Feed it chunks as they arrive; it returns the events
 * completed by that chunk. Call `end()` when the byte stream closes to flush a
 * final event that was not followed by a blank line.
 */
export class SseParser {
  private readonly held = new HeldBytes(true);
  private event: string | undefined = undefined;
  private dataLines: string[] = [];
  private id: string | undefined = undefined;
  private sawCR = false;

  push(chunk: Uint8Array): SseEvent[] {
    const out: SseEvent[] = [];
    eachWholeLines(this.held, chunk, (buf, start, end) => {
      this.text(buf, start, end, out);
      return true;
    });
    return out;
  }

  /** Whole lines `buf[start, end]`, decoded in one go (a UTF-8 character can only be split in the unterminated tail, kept as bytes). */
  private text(buf: Buffer, start: number, end: number, out: SseEvent[]): void {
    const text = buf.toString("utf8", start, end + 1);
    const hasCR = text.includes("\r");
    let i = 0;
    if (this.sawCR && text.charCodeAt(0) === LF) i = 1;
    while (i < text.length) {
      let j = text.indexOf("\n", i);
      if (hasCR) {
        const r = text.indexOf("\r", i);
        if (r !== -1 && (j === -1 || r < j)) j = r;
      }
      if (j === -1) break;
      this.line(text.slice(i, j), out);
      i = j + 1;
      if (text.charCodeAt(j) === CR && text.charCodeAt(i) === LF) i++;
    }
    this.sawCR = buf[end] === CR;
  }

  /** Flush at end of stream. A trailing partial line is treated as complete. */
  end(): SseEvent[] {
    const out: SseEvent[] = [];
    const tail = this.held.take();
    if (tail) this.line(tail.toString("utf8"), out);
    this.dispatch(out);
    return out;
  }

  private line(line: string, out: SseEvent[]): void {
    if (line.length === 0) {
      this.dispatch(out);
      return;
    }
    if (line.charCodeAt(0) === 0x3a /* ':' comment */) return;
    const colon = line.indexOf(":");
    let field: string;
    let value: string;
    if (colon === -1) {
      field = line;
      value = "";
    } else {
      field = line.slice(0, colon);
      value = line.charCodeAt(colon + 1) === 0x20 ? line.slice(colon + 2) : line.slice(colon + 1);
    }
    switch (field) {
      case "event":
        this.event = value;
        break;
      case "data":
        this.dataLines.push(value);
        break;
      case "id":
        this.id = value;
        break;
      default:
        // `retry` and unknown fields are ignored, as the spec says.
        break;
    }
  }

  private dispatch(out: SseEvent[]): void {
    if (this.dataLines.length === 0 && this.event === undefined) return;
    const ev: SseEvent = { event: this.event, data: this.dataLines.join("\n") };
    if (this.id !== undefined) ev.id = this.id;
    out.push(ev);
    this.event = undefined;
    this.dataLines = [];
    this.id = undefined;
  }
}

const COLON = 0x3a;
const SPACE = 0x20;

/**
 * An event whose `data` is decoded only when read: the relay reads the data of few events, and some
 * are tens of KB. Its first data line is kept as where it lies in the parser's buffer, not as a
 * view of it: an answer streams an event for every token or two, and a Buffer view for each is an
 * object more (a typed array V8 builds through node's `FastBuffer`); one is made only when asked for.
 */
class LazyEvent implements SseEvent {
  id?: string;
  /** The first data line is `#buf[#start, #end)`; undefined once decoded, or without data. */
  #buf: Buffer | undefined;
  #start: number;
  #end: number;
  /** The further data lines, as views (the providers send one data line an event). */
  #more: Buffer[] | undefined;
  #data: string | undefined;

  constructor(
    readonly event: string | undefined,
    buf: Buffer | undefined,
    start: number,
    end: number,
    more: Buffer[] | undefined,
  ) {
    this.#buf = buf;
    this.#start = start;
    this.#end = end;
    this.#more = more;
  }

  /** The data's bytes while undecoded and on one line; undefined otherwise. */
  get bytes(): Buffer | undefined {
    return this.#buf !== undefined && this.#more === undefined ? this.#buf.subarray(this.#start, this.#end) : undefined;
  }

  get data(): string {
    if (this.#data === undefined) {
      const buf = this.#buf;
      let data = buf === undefined ? "" : buf.toString("utf8", this.#start, this.#end);
      if (this.#more !== undefined) for (const line of this.#more) data += `\n${line.toString("utf8")}`;
      this.#data = data;
      this.#buf = undefined;
      this.#more = undefined;
    }
    return this.#data;
  }
}

export interface LazySseParserOptions {
  /**
   * Join a line that arrived over several chunks into a buffer that the parser's later joins
   * reuse, and after {@link LazySseParser.release} other readers' (lent-buffers.ts), not a new
   * buffer for each. For a reader done with the events of one push (their data read, or never to
   * be) before its next push, end or release, since an event's data may be a view of that
   * buffer. A Responses stream that a gateway translates repeats the request in three events
   * of 70 KB or more, each over two 64 KB reads: a new buffer for each join is pages touched for
   * the first time and bytes counted towards V8's next collection (docs/architecture.md#measured-facts;
   * bench/README.md, the tenth stop, has the A/B).
   */
  reuseJoins?: boolean;
}

/** An event's data as the bytes it arrived as, when a {@link LazySseParser} made it and nothing has decoded it yet. */
export function undecodedData(ev: SseEvent): Buffer | undefined {
  return ev instanceof LazyEvent ? ev.bytes : undefined;
}

/**
 * The same events as {@link SseParser}, found on the bytes: only `event:` and `id:` values are
 * decoded as lines are read, and an event's data when something reads it. For a relay that
 * forwards bytes and looks inside a few events (a Responses stream repeats the request's
 * instructions and tools in its opening and closing events, tens of KB each).
 * The events hold views of the pushed chunks, which must not change afterwards.
 */
export class LazySseParser {
  private readonly held: HeldBytes;
  private event: string | undefined = undefined;
  /** The open event's first data line, `dataBuf[dataStart, dataEnd)` (see LazyEvent), and any further ones. */
  private dataBuf: Buffer | undefined = undefined;
  private dataStart = 0;
  private dataEnd = 0;
  private dataMore: Buffer[] | undefined = undefined;
  /** The last `event:` value read: most events of a stream repeat the one before's name, which is then not decoded again. */
  private lastName: string | undefined = undefined;
  private id: string | undefined = undefined;
  private sawCR = false;
  /** The buffer lines are joined into, with `reuseJoins`. */
  #joins: Buffer | undefined;

  constructor(opts: LazySseParserOptions = {}) {
    this.held = new HeldBytes(false, opts.reuseJoins ? (size) => this.#joinBuffer(size) : undefined);
  }

  #joinBuffer(size: number): Buffer {
    const had = this.#joins;
    if (had !== undefined && !this.#holdsViewOf(had)) {
      if (had.length >= size) return had;
      giveBack(had);
    }
    // None yet, too small, or a data line of the event still open is a view of it: that event keeps it.
    this.#joins = borrowBuffer(size);
    return this.#joins;
  }

  /** Whether the event still open holds a view of `buf` (a lent buffer is a whole ArrayBuffer of its own). */
  #holdsViewOf(buf: Buffer): boolean {
    if (this.dataBuf !== undefined && this.dataBuf.buffer === buf.buffer) return true;
    if (this.dataMore !== undefined) for (const line of this.dataMore) if (line.buffer === buf.buffer) return true;
    return false;
  }

  /**
   * With `reuseJoins`: the parser is done, and no event it returned is left to read. Its join
   * buffer is given back, for the next reader's joins.
   */
  release(): void {
    const buf = this.#joins;
    this.#joins = undefined;
    if (buf !== undefined && !this.#holdsViewOf(buf)) giveBack(buf);
  }

  /**
   * The events `chunk` completes. With `enough`, each is offered to it as it completes, and
   * parsing stops at the first it accepts (the last one returned): for a reader that needs only
   * a stream's head, the parser is then spent and must not be pushed to again.
   */
  push(chunk: Uint8Array, enough?: (ev: SseEvent) => boolean): SseEvent[] {
    const out: SseEvent[] = [];
    eachWholeLines(this.held, chunk, (buf, start, end, hasCR) => this.lines(buf, start, end, hasCR, out, enough));
    return out;
  }

  /** Whole lines `buf[start, end]`; false when `enough` accepted an event (parsing stops there). */
  private lines(buf: Buffer, start: number, end: number, hasCR: boolean, out: SseEvent[], enough: ((ev: SseEvent) => boolean) | undefined): boolean {
    let i = this.sawCR && buf[start] === LF ? start + 1 : start;
    while (i <= end) {
      let j = buf.indexOf(LF, i);
      if (hasCR) {
        const r = buf.indexOf(CR, i);
        if (r !== -1 && (j === -1 || r < j)) j = r;
      }
      if (j === -1 || j > end) break;
      const before = out.length;
      this.line(buf, i, j, out);
      i = j + 1;
      if (buf[j] === CR && i <= end && buf[i] === LF) i++;
      if (enough !== undefined && out.length > before && enough(out[before]!)) return false;
    }
    this.sawCR = buf[end] === CR;
    return true;
  }

  /** Flush at end of stream. A trailing partial line is treated as complete. */
  end(): SseEvent[] {
    const out: SseEvent[] = [];
    const line = this.held.take();
    if (line) this.line(line, 0, line.length, out);
    this.dispatch(out);
    return out;
  }

  /** The line `buf[start, end)`, its terminator excluded. */
  private line(buf: Buffer, start: number, end: number, out: SseEvent[]): void {
    if (start === end) {
      this.dispatch(out);
      return;
    }
    if (buf[start] === COLON) return;
    // Only `data`, `event` and `id` are read, so the colon is looked for among the first six bytes
    // alone, in JS rather than by a native call for every line: a line without one there names a
    // field of six bytes or more, which is ignored either way.
    let colon = start;
    const near = Math.min(end, start + 6);
    while (colon < near && buf[colon] !== COLON) colon++;
    let value = colon + 1;
    if (value < end && buf[value] === SPACE) value++;
    if (value > end) value = end;
    // The field name is compared byte by byte: a native compare per line costs more than it saves.
    const nameLength = colon - start;
    const b = buf[start];
    if (nameLength === 4 && b === 0x64 && buf[start + 1] === 0x61 && buf[start + 2] === 0x74 && buf[start + 3] === 0x61) {
      // data
      if (this.dataBuf === undefined) {
        this.dataBuf = buf;
        this.dataStart = value;
        this.dataEnd = end;
      } else (this.dataMore ??= []).push(buf.subarray(value, end));
    } else if (nameLength === 5 && b === 0x65 && buf[start + 1] === 0x76 && buf[start + 2] === 0x65 && buf[start + 3] === 0x6e && buf[start + 4] === 0x74) {
      this.event = this.sameName(buf, value, end) ?? (this.lastName = buf.toString("utf8", value, end)); // event
    } else if (nameLength === 2 && b === 0x69 && buf[start + 1] === 0x64) {
      this.id = buf.toString("utf8", value, end); // id
    }
    // `retry` and unknown fields are ignored, as the spec says.
  }

  /**
   * The last event name read, when `buf[start, end)` are its bytes. Compared only for ASCII names,
   * whose bytes are their characters' codes; a name holding any other character is decoded again.
   */
  private sameName(buf: Buffer, start: number, end: number): string | undefined {
    const name = this.lastName;
    if (name === undefined || name.length !== end - start) return undefined;
    for (let k = 0; k < name.length; k++) {
      const c = name.charCodeAt(k);
      if (c >= 0x80 || buf[start + k] !== c) return undefined;
    }
    return name;
  }

  private dispatch(out: SseEvent[]): void {
    if (this.dataBuf === undefined && this.event === undefined) return;
    const ev = new LazyEvent(this.event, this.dataBuf, this.dataStart, this.dataEnd, this.dataMore);
    if (this.id !== undefined) ev.id = this.id;
    out.push(ev);
    this.event = undefined;
    this.dataBuf = undefined;
    this.dataMore = undefined;
    this.id = undefined;
  }
}

/**
 * The event of `bytes` when they are one `data:` line and the blank line that ends it
 * (`data: …\n\n`), as a {@link LazySseParser} gives it; undefined for any other shape, which a
 * parser must read. Nearly every event of a Chat stream has this shape, and the relay looks into
 * a few events of a stream one at a time: a parser for each made five native searches or more
 * and three objects where two searches do.
 */
export function oneDataLineEvent(bytes: Buffer): SseEvent | undefined {
  const n = bytes.length;
  // "data:" and a blank line: a line feed ends the data line and a second one the event.
  if (n < 7 || bytes[n - 1] !== LF || bytes[n - 2] !== LF) return undefined;
  if (bytes[0] !== 0x64 || bytes[1] !== 0x61 || bytes[2] !== 0x74 || bytes[3] !== 0x61 || bytes[4] !== COLON) return undefined;
  // No other line: no line feed before the data line's own, and no carriage return anywhere.
  if (bytes.indexOf(LF) !== n - 2 || bytes.indexOf(CR) !== -1) return undefined;
  return new LazyEvent(undefined, bytes, bytes[5] === SPACE ? 6 : 5, n - 2, undefined);
}

/** One SSE frame with an `event:` line (Anthropic, Responses). `json` must already be one line. */
export function sseFrame(event: string, json: string): string {
  return `event: ${event}\ndata: ${json}\n\n`;
}

/** One SSE frame with only a `data:` line (OpenAI Chat). */
export function sseData(json: string): string {
  return `data: ${json}\n\n`;
}

export const SSE_DONE = "data: [DONE]\n\n";
