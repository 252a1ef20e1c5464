/**
 * Server-sent events framing, per the WHATWG event-stream format
 * (https://html.spec.whatwg.org/multipage/server-sent-events.html#parsing-an-event-stream).
 *
 * Layered like openai-node: bytes → lines → events. The parser works on bytes
 * so a multi-byte UTF-8 character split across chunks is never corrupted, and
 * so the passthrough lane can observe a stream without re-encoding it.
 */

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
 * Incremental SSE parser. Feed it chunks as they arrive; it returns the events
 * completed by that chunk. Call `end()` when the byte stream closes to flush a
 * final event that was not followed by a blank line.
 */
export class SseParser {
  private pending: Buffer | null = null;
  private event: string | undefined = undefined;
  private dataLines: string[] = [];
  private id: string | undefined = undefined;
  private sawCR = false;

  push(chunk: Uint8Array): SseEvent[] {
    const out: SseEvent[] = [];
    const incoming = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    const buf = this.pending ? Buffer.concat([this.pending, incoming]) : incoming;
    this.pending = null;
    // Everything up to the last line terminator is whole lines: decode it in one go (a
    // UTF-8 character can only be split in the unterminated tail, kept as bytes).
    const end = Math.max(buf.lastIndexOf(LF), buf.lastIndexOf(CR));
    if (end === -1) {
      if (buf.length > 0) this.pending = Buffer.from(buf);
      return out;
    }
    if (end + 1 < buf.length) this.pending = Buffer.from(buf.subarray(end + 1));
    const text = buf.toString("utf8", 0, end + 1);
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
    return out;
  }

  /** Flush at end of stream. A trailing partial line is treated as complete. */
  end(): SseEvent[] {
    const out: SseEvent[] = [];
    if (this.pending) {
      const line = this.pending.toString("utf8");
      this.pending = null;
      this.line(line, out);
    }
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

/** One SSE frame with an `event:` line (Anthropic, Responses). `json` must already be one line. */
export function sseFrame(event: string, json: string): string {
  return `event: ${event}\ndata: ${json}\n\n`;
}

/** One SSE frame with only a `data:` line (OpenAI Chat). */
export function sseData(json: string): string {
  return `data: ${json}\n\n`;
}

export const SSE_DONE = "data: [DONE]\n\n";
