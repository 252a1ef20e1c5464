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
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    let start = 0;
    if (this.sawCR && buf.length > 0 && buf[0] === LF) start = 1;
    this.sawCR = false;
    // Line ends are found with the native indexOf; lines are decoded only once whole,
    // so a UTF-8 character split across chunks is never cut.
    let nextLF = buf.indexOf(LF, start);
    let nextCR = buf.indexOf(CR, start);
    while (nextLF !== -1 || nextCR !== -1) {
      const isCR = nextCR !== -1 && (nextLF === -1 || nextCR < nextLF);
      const end = isCR ? nextCR : nextLF;
      let line: Buffer = buf.subarray(start, end);
      if (this.pending) {
        line = Buffer.concat([this.pending, line]);
        this.pending = null;
      }
      this.line(line, out);
      start = end + 1;
      if (isCR) {
        if (start < buf.length) {
          if (buf[start] === LF) start++;
        } else {
          this.sawCR = true;
        }
      }
      if (nextLF !== -1 && nextLF < start) nextLF = buf.indexOf(LF, start);
      if (nextCR !== -1 && nextCR < start) nextCR = buf.indexOf(CR, start);
    }
    if (start < buf.length) {
      const rest = buf.subarray(start);
      this.pending = this.pending ? Buffer.concat([this.pending, rest]) : Buffer.from(rest);
    }
    return out;
  }

  /** Flush at end of stream. A trailing partial line is treated as complete. */
  end(): SseEvent[] {
    const out: SseEvent[] = [];
    if (this.pending) {
      const line = this.pending;
      this.pending = null;
      this.line(line, out);
    }
    this.dispatch(out);
    return out;
  }

  private line(bytes: Buffer, out: SseEvent[]): void {
    if (bytes.length === 0) {
      this.dispatch(out);
      return;
    }
    const line = bytes.toString("utf8");
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
