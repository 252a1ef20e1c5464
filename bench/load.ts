/**
 * Closed-loop HTTP load: `connections` workers, each with its own keep-alive
 * connection, send the next request as soon as the previous response body has
 * been read to the end. Bounded by time and by request count.
 *
 * Requests go through undici's `dispatch` with a handler that counts the answer's bytes as
 * they come, not `request()` and a Readable body read with `for await`: the load generator
 * shares its core with the mock upstream, and that core, not the proxy's, set the pace of the
 * bare proxy's phases at 50 connections (bench/README.md, the nineteenth stop).
 */
import { performance } from "node:perf_hooks";
import { type Dispatcher, Pool } from "undici";
import { buildWorkloadBody, streamEnd } from "./agent-bodies.js";
import type { BodyKind } from "./settings.js";
import { type LatencySummary, summarize } from "./stats.js";

export interface LoadSpec {
  /** Origin of the target, e.g. http://127.0.0.1:1234. */
  origin: string;
  path: string;
  headers: Record<string, string>;
  body: { kind: BodyKind; stream: boolean; model: string };
  connections: number;
  durationMs: number;
  maxRequests: number;
}

export interface LoadResult {
  /** Responses that were 200 with a complete body. */
  ok: number;
  errors: number;
  /** Error kinds (HTTP status or exception name) and their counts. */
  errorKinds: Record<string, number>;
  /** First few error descriptions, for diagnosis. */
  errorSamples: string[];
  elapsedMs: number;
  /** Request sent → last body byte read, successful requests only. */
  latency: LatencySummary;
  /** Request sent → first body byte, successful requests only. */
  firstByte: LatencySummary;
  responseBytes: number;
}

const MAX_ERROR_SAMPLES = 3;

/**
 * Whether a stream read by read has shown its end (`data: [DONE]`, …), which may straddle two reads.
 * Each read is searched where it lies; only the seam is copied (the last bytes of the read before and
 * the first of this one), not every read: a Codex stream's reads are 40–90 KB, on the driver's core.
 */
export class EndWatch {
  /** The last bytes read, fewer than the end's length: what a straddling end began with. */
  tail: Buffer = Buffer.alloc(0);

  constructor(private readonly end: Buffer) {}

  /** Takes the next read; true once the end has been seen. */
  read(chunk: Buffer): boolean {
    const seam = this.end.length - 1;
    const ended = chunk.includes(this.end) || (this.tail.length > 0 && Buffer.concat([this.tail, chunk.subarray(0, seam)]).includes(this.end));
    this.tail = chunk.length >= seam ? chunk.subarray(chunk.length - seam) : Buffer.concat([this.tail, chunk]).subarray(-seam);
    return ended;
  }
}

/**
 * One request's answer as undici's dispatcher hands it over: its status, when its first byte came,
 * how many bytes, whether a stream's end was seen, and the first bytes of an error's body.
 */
export class Answer implements Dispatcher.DispatchHandler {
  status = 0;
  /** performance.now() at the first body byte; 0 while none has come. */
  first = 0;
  bytes = 0;
  ended = false;
  readonly text: Buffer[] = [];
  #settle: { resolve(): void; reject(err: Error): void } | undefined;

  /** `watch`: look for a stream's end in the body (undefined for an answer that is not a stream). */
  constructor(readonly watch: EndWatch | undefined) {}

  /** Sends the request; resolves once the whole answer has been read, rejects on a failed exchange. */
  from(dispatcher: Dispatcher, options: Dispatcher.DispatchOptions): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#settle = { resolve, reject };
      dispatcher.dispatch(options, this);
    });
  }

  onRequestStart(): void {
    // Nothing to keep: the exchange is never aborted from here.
  }

  onResponseStart(_controller: Dispatcher.DispatchController, statusCode: number): void {
    this.status = statusCode;
  }

  onResponseData(_controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.bytes === 0) this.first = performance.now();
    this.bytes += chunk.length;
    if (this.watch !== undefined && !this.ended) this.ended = this.watch.read(chunk);
    if (this.status !== 200 && this.bytes < 4096) this.text.push(chunk);
  }

  onResponseEnd(): void {
    this.#settle?.resolve();
  }

  onResponseError(_controller: Dispatcher.DispatchController | undefined, err: Error): void {
    this.#settle?.reject(err);
  }
}

/** Keeps one pool per origin and width so connections stay warm between the warm-up and the measured run. */
export class LoadRunner {
  private readonly pools = new Map<string, Pool>();
  private readonly bodies = new Map<string, Buffer>();

  private pool(origin: string, connections: number): Pool {
    const key = `${origin}#${connections}`;
    let p = this.pools.get(key);
    if (!p) {
      p = new Pool(origin, { connections, pipelining: 1 });
      this.pools.set(key, p);
    }
    return p;
  }

  private body(b: LoadSpec["body"]): Buffer {
    const key = `${b.kind}/${b.stream}/${b.model}`;
    let bytes = this.bodies.get(key);
    if (!bytes) {
      bytes = buildWorkloadBody(b.kind, b.stream, b.model).bytes;
      this.bodies.set(key, bytes);
    }
    return bytes;
  }

  async run(spec: LoadSpec): Promise<LoadResult> {
    const pool = this.pool(spec.origin, spec.connections);
    const body = this.body(spec.body);
    const headers = { ...spec.headers, "content-type": "application/json" };
    // A stream is complete only once its protocol's terminator arrived; it may straddle two chunks.
    const end = Buffer.from(streamEnd(spec.path));
    const latencies = new Float64Array(spec.maxRequests);
    const firstBytes = new Float64Array(spec.maxRequests);
    const result: LoadResult = {
      ok: 0,
      errors: 0,
      errorKinds: {},
      errorSamples: [],
      elapsedMs: 0,
      latency: summarize(new Float64Array(0)),
      firstByte: summarize(new Float64Array(0)),
      responseBytes: 0,
    };
    const fail = (kind: string, detail: string): void => {
      result.errors++;
      result.errorKinds[kind] = (result.errorKinds[kind] ?? 0) + 1;
      if (result.errorSamples.length < MAX_ERROR_SAMPLES) result.errorSamples.push(`${kind}: ${detail.slice(0, 500)}`);
    };

    const start = performance.now();
    const deadline = start + spec.durationMs;
    let issued = 0;

    const worker = async (): Promise<void> => {
      while (issued < spec.maxRequests && performance.now() < deadline) {
        issued++;
        const t0 = performance.now();
        const answer = new Answer(spec.body.stream ? new EndWatch(end) : undefined);
        try {
          await answer.from(pool, { method: "POST", path: spec.path, headers, body });
          const t1 = performance.now();
          result.responseBytes += answer.bytes;
          if (answer.status !== 200) {
            fail(`HTTP ${answer.status}`, Buffer.concat(answer.text).toString("utf8"));
          } else if (answer.bytes === 0 || (answer.watch !== undefined && !answer.ended)) {
            fail("incomplete body", `${answer.bytes} bytes, ends with ${JSON.stringify(answer.watch?.tail.toString("latin1") ?? "")}`);
          } else {
            latencies[result.ok] = t1 - t0;
            firstBytes[result.ok] = answer.first - t0;
            result.ok++;
          }
        } catch (err) {
          const e = err instanceof Error ? err : new Error(String(err));
          fail((e as { code?: string }).code ?? e.name, e.message);
        }
      }
    };

    await Promise.all(Array.from({ length: spec.connections }, worker));
    result.elapsedMs = performance.now() - start;
    result.latency = summarize(latencies.subarray(0, result.ok));
    result.firstByte = summarize(firstBytes.subarray(0, result.ok));
    return result;
  }

  async close(): Promise<void> {
    await Promise.all([...this.pools.values()].map((p) => p.close()));
    this.pools.clear();
  }
}
