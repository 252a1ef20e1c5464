/**
 * Closed-loop HTTP load: `connections` workers, each with its own keep-alive
 * connection, send the next request as soon as the previous response body has
 * been read to the end. Bounded by time and by request count.
 */
import { performance } from "node:perf_hooks";
import { Pool } from "undici";
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
        try {
          const res = await pool.request({ method: "POST", path: spec.path, headers, body });
          let first = 0;
          let bytes = 0;
          let ended = false;
          const watch = new EndWatch(end);
          const text: Buffer[] = [];
          for await (const chunk of res.body as AsyncIterable<Buffer>) {
            if (bytes === 0) first = performance.now();
            bytes += chunk.length;
            if (spec.body.stream && !ended) ended = watch.read(chunk);
            if (res.statusCode !== 200 && bytes < 4096) text.push(chunk);
          }
          const t1 = performance.now();
          result.responseBytes += bytes;
          if (res.statusCode !== 200) {
            fail(`HTTP ${res.statusCode}`, Buffer.concat(text).toString("utf8"));
          } else if (bytes === 0 || (spec.body.stream && !ended)) {
            fail("incomplete body", `${bytes} bytes, ends with ${JSON.stringify(watch.tail.toString("latin1"))}`);
          } else {
            latencies[result.ok] = t1 - t0;
            firstBytes[result.ok] = first - t0;
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
