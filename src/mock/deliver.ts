/** Writing answers onto node:http responses: plain replies, paced SSE streams, broken connections. */
import type { ServerResponse } from "node:http";
import type { HttpReply } from "./adapter.js";

export interface StreamControl {
  /** Pause between frames. */
  chunkDelayMs: number;
  /** Close the connection abruptly after this many frames. */
  resetAfter: number | undefined;
  /** Write each frame in two writes split inside a multi-byte character. */
  byteSplit: boolean;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The client went away (or the server is closing): stop writing. */
export function isGone(res: ServerResponse): boolean {
  return res.destroyed || res.socket === null || res.socket.destroyed;
}

export function sendReply(res: ServerResponse, reply: HttpReply): void {
  const body = Buffer.from(reply.body, "utf8");
  res.writeHead(reply.status, { ...reply.headers, "content-length": String(body.length) });
  res.end(body);
}

export function sendRaw(res: ServerResponse, status: number, headers: Record<string, string>, body: Buffer): void {
  res.writeHead(status, { ...headers, "content-length": String(body.length) });
  res.end(body);
}

/** Drop the connection with a TCP reset before any response byte (client sees ECONNRESET / socket hang up). */
export function resetConnection(res: ServerResponse): void {
  res.socket?.resetAndDestroy();
}

/**
 * Stream pre-rendered SSE frames. Unpaced streams go out in one write, because
 * this server is also the benchmark upstream; `chunk_delay` / `byte_split`
 * spread them over time when a test needs separate reads.
 */
export async function deliverStream(res: ServerResponse, headers: Record<string, string>, frames: readonly string[], ctl: StreamControl): Promise<void> {
  if (ctl.resetAfter === 0) {
    resetConnection(res);
    return;
  }
  const limit = Math.min(frames.length, ctl.resetAfter ?? frames.length);
  const truncated = limit < frames.length;
  res.writeHead(200, headers);
  if (ctl.chunkDelayMs === 0 && !ctl.byteSplit) {
    // Encoded frame by frame and written once: joining first would turn the
    // whole stream into a two-byte string (any non-ASCII frame does that) whose
    // UTF-8 encoding is many times slower than the per-frame one.
    const parts: Buffer[] = [];
    for (let i = 0; i < limit; i++) parts.push(Buffer.from(frames[i] as string, "utf8"));
    const all = Buffer.concat(parts);
    if (!truncated) {
      // Head, body and terminating chunk leave in a single syscall.
      res.end(all);
      return;
    }
    res.write(all);
  } else {
    res.flushHeaders();
    for (let i = 0; i < limit; i++) {
      if (i > 0 && ctl.chunkDelayMs > 0) await sleep(ctl.chunkDelayMs);
      if (isGone(res)) return;
      await writeFrame(res, frames[i] as string, ctl.byteSplit);
    }
  }
  if (truncated) {
    // End the TCP connection after the frames already written, without the
    // terminating chunk: the client sees a stream cut mid-way.
    res.socket?.destroySoon();
    return;
  }
  res.end();
}

async function writeFrame(res: ServerResponse, frame: string, split: boolean): Promise<void> {
  if (!split) {
    res.write(frame);
    return;
  }
  const bytes = Buffer.from(frame, "utf8");
  // Cut one byte into the first multi-byte character, or in the middle if the frame is ASCII.
  const firstHigh = bytes.findIndex((b) => b >= 0x80);
  const cut = firstHigh >= 0 ? firstHigh + 1 : bytes.length >> 1;
  res.write(bytes.subarray(0, cut));
  await sleep(5);
  if (!isGone(res)) res.write(bytes.subarray(cut));
}
