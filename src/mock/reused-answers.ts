/**
 * Answers the mock rendered, given again to a request that asks the same thing: for the
 * benchmark (bench/README.md), whose load generator sends each workload's one request again and
 * again to a mock on the driver's core. That core, not the proxy's, had set the bare proxy's pace
 * at 50 connections, and rendering an answer again (its text, its chunks, its JSON) is work the
 * mock can skip there.
 *
 * A request asks the same thing when its body is the same parsed object (parsed-bodies.ts hands
 * out one frozen object for bytes byte for byte the same) and it goes to the same endpoint. Its
 * headers are not compared: reuse is for a client whose headers do not change what it asks, as
 * the benchmark's do not. Only answers without a directive, a script rule or an
 * `x-mock-scenario` header are kept, and a request is still authenticated and validated every
 * time before one is reused.
 *
 * The second answer to a body is the one kept, not the first: the prompt-cache simulation
 * (usage.ts) reports the first request of a prompt as a cache write and the ones after as cache
 * hits, so the second is what every later answer would say. A reused answer repeats its ids,
 * `created` time and request id; nothing the gateway reads depends on those being new.
 */
import type { ServerResponse } from "node:http";
import type { HttpReply, ProtocolAdapter } from "./adapter.js";

/**
 * An answer as it goes on the wire, encoded once: its head and its bytes. Encoding it again for
 * each request (a Responses stream that repeats the request is 120 KB or more) is work the
 * driver's core can skip.
 */
export interface ReusedAnswer {
  readonly status: number;
  /** A reply's with its `content-length`; a stream's without one, so it goes out chunked as a fresh stream does (deliver.ts). */
  readonly headers: Readonly<Record<string, string>>;
  readonly bytes: Buffer;
}

/** A rendered reply, kept as deliver.ts `sendReply` writes it. */
export function keptReply(reply: HttpReply): ReusedAnswer {
  const bytes = Buffer.from(reply.body, "utf8");
  return { status: reply.status, headers: { ...reply.headers, "content-length": String(bytes.length) }, bytes };
}

/** A rendered stream, kept as deliver.ts `deliverStream` writes an unpaced one. */
export function keptStream(headers: Readonly<Record<string, string>>, frames: readonly string[]): ReusedAnswer {
  return { status: 200, headers, bytes: Buffer.concat(frames.map((f) => Buffer.from(f, "utf8"))) };
}

/** Writes a kept answer: its head and its bytes in one go. */
export function sendKept(res: ServerResponse, answer: ReusedAnswer): void {
  res.writeHead(answer.status, answer.headers);
  res.end(answer.bytes);
}

interface Seen {
  /** Answers rendered for this body and endpoint so far (none are rendered once one is kept). */
  rendered: number;
  answer: ReusedAnswer | undefined;
}

export class ReusedAnswers {
  /** By parsed body: a body the parse cache drops takes its answers with it. */
  readonly #byBody = new WeakMap<object, Map<ProtocolAdapter, Seen>>();

  /** The answer to give `body` on `adapter`'s endpoint again, once one has been kept. */
  get(body: object, adapter: ProtocolAdapter): ReusedAnswer | undefined {
    return this.#byBody.get(body)?.get(adapter)?.answer;
  }

  /** Notes an answer rendered for `body` on `adapter`'s endpoint; the second is kept. */
  rendered(body: object, adapter: ProtocolAdapter, answer: ReusedAnswer): void {
    let byAdapter = this.#byBody.get(body);
    if (!byAdapter) this.#byBody.set(body, (byAdapter = new Map()));
    const seen = byAdapter.get(adapter) ?? { rendered: 0, answer: undefined };
    byAdapter.set(adapter, seen);
    seen.rendered += 1;
    if (seen.rendered === 2) seen.answer = answer;
  }
}
