/**
 * Protocol codec micro-benchmark (`npm run bench:codecs`). In one process, with
 * real-size client bodies and realistic upstream streams, it times:
 *
 *  1. request conversion on the translate lane, for every client → upstream pair;
 *  2. the passthrough lane's byte-level peek + patch against a naive full
 *     parse + stringify of the same body;
 *  3. stream conversion per pair, against the passthrough lane's observation
 *     (SSE parsing alone, and with the usage observer).
 *
 * Every case is warmed up, then run in batches for BENCH_CODEC_MS (default
 * 400 ms); the median batch is reported. Ratios to a baseline measured in the
 * same run are the figures to compare (DESIGN.md §8). The full results go to a
 * JSON file in the OS temp directory (BENCH_CODEC_JSON=- prints them instead).
 * Progress goes to stderr, tables to stdout.
 */
import { writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import type { ClientProtocol, OutboundEvent } from "../src/protocols/codec.js";
import { CLIENT_CODECS, UPSTREAM_CODECS } from "../src/protocols/registry.js";
import { peekBody, readField } from "../src/pipeline/json-peek.js";
import type { UpstreamProtocol } from "../src/storage/ports.js";
import {
  codexPassthroughBody,
  codexPassthroughOp,
  convertRequest,
  convertStream,
  naiveRoundTripOp,
  passthroughBody,
  passthroughOp,
  peekOnlyOp,
  requestConversionOp,
  sseObservedOp,
  sseOnlyOp,
  streamConversionOp,
} from "./codecs-cases.js";
import {
  buildUpstreamStream,
  CACHE_KEY,
  CLIENT_PROTOCOLS,
  loadClientBodies,
  SAME_WIRE,
  STREAM_SHAPE,
  STREAM_USAGE,
  UPSTREAM_PROTOCOLS,
  validateWire,
  type ClientBodies,
  type ClientBody,
  type UpstreamStream,
} from "./codecs-inputs.js";
import {
  passthroughTable,
  requestTable,
  short,
  streamBaselineTable,
  streamTable,
  type PassthroughRow,
  type RequestRow,
  type StreamBaselineRow,
  type StreamRow,
} from "./codecs-report.js";
import { envNumber, measure, type Measurement, type Operation, type TimingOptions } from "./codecs-timing.js";

const timing: TimingOptions = {
  budgetMs: envNumber("BENCH_CODEC_MS", 400),
  warmupMs: envNumber("BENCH_CODEC_WARMUP_MS", 150),
  targetBatches: 15,
  minBatches: 5,
};
const chunkBytes = Math.round(envNumber("BENCH_CODEC_CHUNK", 1024));

let sink = 0;

function time(label: string, op: Operation): Measurement {
  const m = measure(op, timing);
  sink += m.sink;
  process.stderr.write(`  ${label.padEnd(52)} ${(m.medianNs / 1000).toFixed(2).padStart(9)} µs  (${m.batches}×${m.opsPerBatch})\n`);
  return m;
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Untimed check that a passthrough output is still a JSON object carrying our cache key. */
function checkPatched(out: Buffer): string[] {
  const peek = peekBody(out);
  if (!peek) return ["patched body is not a JSON object"];
  const problems: string[] = [];
  if (readField(out, peek, "prompt_cache_key") !== CACHE_KEY) problems.push("prompt_cache_key not set");
  try {
    JSON.parse(out.toString("utf8"));
  } catch (err) {
    problems.push(`patched body is not valid JSON: ${message(err)}`);
  }
  return problems;
}

/* ------------------------------------------------- sections 1 and 2, per body */

const LANE_PLAIN = "peek+read+patch";

type BodyBaselines = Map<ClientProtocol, { passthrough: Measurement; naive: Measurement }>;

/** Passthrough rows for one body (section 2): naive round trip, byte scan alone, the lane; for Responses also the Codex lane. */
function passthroughRows(body: ClientBody, lane: string): PassthroughRow[] {
  const upstream = SAME_WIRE[body.protocol][0] as UpstreamProtocol;
  const out = passthroughBody(body.bytes);
  const naive = time(`naive ${short(body.protocol)} (${lane})`, naiveRoundTripOp(body.bytes));
  const peekOnly = time(`peekBody ${short(body.protocol)} (${lane})`, peekOnlyOp(body.bytes));
  const passthrough = time(`passthrough ${short(body.protocol)} → ${short(upstream)} (${lane})`, passthroughOp(body.bytes));
  const row: PassthroughRow = {
    client: body.protocol,
    upstream,
    body: body.source,
    lane,
    inBytes: body.bytes.length,
    nonAsciiBytes: body.nonAsciiBytes,
    outBytes: out.length,
    peekOnly,
    passthrough,
    naive,
    problems: checkPatched(out),
  };
  if (body.protocol !== "openai-responses" || lane !== LANE_PLAIN) return [row];
  // The Codex backend's passthrough goes through the pipeline's preparePassthroughBody (§3.3 checks, one more splice).
  const codexOut = codexPassthroughBody(body.bytes);
  const problems = checkPatched(codexOut);
  if (codexOut.length > body.bytes.length + 200) problems.push("codex passthrough left the byte-splice fast path");
  const codexTime = time("passthrough responses → codex (preparePassthroughBody)", codexPassthroughOp(body.bytes));
  return [row, { ...row, upstream: "codex", lane: "preparePassthroughBody", outBytes: codexOut.length, passthrough: codexTime, problems }];
}

/** Request conversion rows for one body (section 1), one per upstream protocol. */
function requestRows(body: ClientBody): RequestRow[] {
  const client = body.protocol;
  return UPSTREAM_PROTOCOLS.map((upstream) => {
    const row: RequestRow = { client, upstream, sameWire: SAME_WIRE[client].includes(upstream), inBytes: body.bytes.length, outBytes: 0, warnings: [], m: undefined };
    try {
      const once = convertRequest(body.bytes, CLIENT_CODECS[client], UPSTREAM_CODECS[upstream]);
      row.outBytes = once.bytes.length;
      row.warnings = once.warnings;
      row.m = time(`request ${short(client)} → ${short(upstream)}`, requestConversionOp(body.bytes, client, upstream));
    } catch (err) {
      row.error = message(err);
      process.stderr.write(`  request ${short(client)} → ${short(upstream)} FAILED: ${row.error}\n`);
    }
    return row;
  });
}

/** Sections 1 and 2, body by body, so each conversion is timed right after its own baselines (drift hits both alike). */
function requestSections(bodies: ClientBodies): { requests: RequestRow[]; pass: PassthroughRow[]; baselines: BodyBaselines } {
  process.stderr.write("requests: naive / peek / passthrough baselines, then translate-lane conversion\n");
  const requests: RequestRow[] = [];
  const pass: PassthroughRow[] = [];
  const baselines: BodyBaselines = new Map();
  for (const protocol of CLIENT_PROTOCOLS) {
    const body = bodies.byProtocol[protocol];
    const rows = passthroughRows(body, LANE_PLAIN);
    const first = rows[0] as PassthroughRow;
    baselines.set(protocol, { passthrough: first.passthrough, naive: first.naive });
    pass.push(...rows);
    requests.push(...requestRows(body));
  }
  pass.push(...passthroughRows(bodies.codexAsCaptured, "same, body all ASCII"));
  return { requests, pass, baselines };
}

/* ------------------------------------------------------ section 3, per stream */

function streamBaselineRow(s: UpstreamStream): StreamBaselineRow {
  return {
    upstream: s.protocol,
    sseBytes: s.sse.length,
    chunks: s.chunks.length,
    events: s.events,
    sseOnly: time(`sse only ${short(s.protocol)}`, sseOnlyOp(s.chunks)),
    observed: time(`sse + usage observer ${short(s.protocol)}`, sseObservedOp(s.chunks, s.protocol)),
    problems: s.problems,
  };
}

function streamRow(client: ClientProtocol, canonical: ClientBody["canonical"], s: UpstreamStream): StreamRow {
  const row: StreamRow = {
    client,
    upstream: s.protocol,
    sameWire: SAME_WIRE[client].includes(s.protocol),
    upstreamEvents: s.events,
    outEvents: 0,
    outDataBytes: 0,
    problems: [],
    m: undefined,
  };
  try {
    const events: OutboundEvent[] = [];
    const once = convertStream(s.chunks, canonical, CLIENT_CODECS[client], UPSTREAM_CODECS[s.protocol], events);
    row.outEvents = once.outEvents;
    row.outDataBytes = once.outDataBytes;
    row.problems = validateWire(client, events);
    if (once.errorParts > 0) row.problems.push(`${once.errorParts} error parts decoded`);
    if (once.usage.outputTokens !== STREAM_USAGE.outputTokens) row.problems.push("usage lost in translation");
    row.m = time(`stream ${short(client)} ← ${short(s.protocol)}`, streamConversionOp(s.chunks, canonical, client, s.protocol));
  } catch (err) {
    row.error = message(err);
    process.stderr.write(`  stream ${short(client)} ← ${short(s.protocol)} FAILED: ${row.error}\n`);
  }
  return row;
}

/** Section 3, stream by stream: the observation baselines, then the three client conversions of that same stream. */
function streamSections(bodies: Record<ClientProtocol, ClientBody>, streams: readonly UpstreamStream[]): { baselines: StreamBaselineRow[]; pairs: StreamRow[] } {
  process.stderr.write("streams: passthrough observation baselines, then translate-lane conversion\n");
  const baselines: StreamBaselineRow[] = [];
  const pairs: StreamRow[] = [];
  for (const s of streams) {
    baselines.push(streamBaselineRow(s));
    for (const client of CLIENT_PROTOCOLS) pairs.push(streamRow(client, bodies[client].canonical, s));
  }
  const order = (r: StreamRow): number => CLIENT_PROTOCOLS.indexOf(r.client) * 10 + UPSTREAM_PROTOCOLS.indexOf(r.upstream);
  return { baselines, pairs: pairs.sort((a, b) => order(a) - order(b)) };
}

/* ------------------------------------------------------------------ main */

function main(): void {
  const started = Date.now();
  const bodies = loadClientBodies();
  const streams = UPSTREAM_PROTOCOLS.map((p) => buildUpstreamStream(p, chunkBytes));
  const cpu = cpus()[0]?.model ?? "unknown CPU";
  const header =
    `Switchyard codec micro-benchmark — node ${process.version}, ${cpu}, ${cpus().length} cores; ` +
    `${timing.budgetMs} ms/case after ${timing.warmupMs} ms warm-up, median of batches`;
  process.stderr.write(`${header}\n`);

  const { requests, pass: passRows, baselines: bodyBaselines } = requestSections(bodies);
  const { baselines, pairs: streamPairs } = streamSections(bodies.byProtocol, streams);
  const baselineBy = new Map(baselines.map((b) => [b.upstream, b] as const));

  const bodyLines = [...Object.values(bodies.byProtocol), bodies.codexAsCaptured].map(
    (b) => `  ${short(b.protocol).padEnd(9)} ${String(b.bytes.length).padStart(6)} B, ${String(b.nonAsciiBytes).padStart(2)} non-ASCII B — ${b.source}`,
  );
  const out = [
    header,
    "",
    "Client bodies:",
    ...bodyLines,
    "",
    "1. Request conversion, translate lane: bytes → JSON.parse → decodeRequest → encodeRequest → JSON.stringify → bytes",
    "   × naive = / full parse+stringify of the same client body; × passthrough = / that client's passthrough lane (section 2).",
    "   * same wire format: the pipeline would take the passthrough lane instead.",
    requestTable(requests, bodyBaselines),
    "",
    "2. Passthrough lane: peekBody + readField(model, stream, prompt_cache_key) + patchBody(prompt_cache_key)",
    "   vs naive: Buffer → toString → JSON.parse → JSON.stringify → Buffer, on the same bytes; peek = peekBody alone (the byte scan).",
    passthroughTable(passRows),
    ...passRows.filter((r) => r.problems.length > 0).map((r) => `   ! ${short(r.client)} → ${short(r.upstream)} (${r.lane}): ${r.problems.join("; ")}`),
    "",
    `3a. Stream observation, passthrough lane: SseParser over ~${chunkBytes} B chunks; +observer = createUsageObserver on every event.`,
    `    Each stream: response start, ${STREAM_SHAPE.textDeltas} text deltas of ~8 chars (some non-ASCII), one tool call in ${STREAM_SHAPE.toolArgDeltas} argument deltas, usage, finish.`,
    streamBaselineTable(baselines),
    "",
    "3b. Stream conversion, translate lane: SseParser → upstream decoder → client encoder → JSON.stringify per outbound event.",
    "    ns/up-event = µs/stream ÷ upstream events; × sse-only / × observer = / section 3a for the same upstream stream.",
    streamTable(streamPairs, baselineBy),
    ...streamPairs
      .filter((r) => r.problems.length > 0)
      .map((r) => `   ! ${short(r.client)} ← ${short(r.upstream)}: ${r.problems.slice(0, 3).join("; ")}${r.problems.length > 3 ? " …" : ""}`),
  ];
  process.stdout.write(`${out.join("\n")}\n`);

  const report = {
    benchmark: "switchyard-codecs",
    node: process.version,
    cpu,
    cores: cpus().length,
    timing,
    chunkBytes,
    streamShape: STREAM_SHAPE,
    bodies: [...Object.values(bodies.byProtocol), bodies.codexAsCaptured].map((b) => ({
      protocol: b.protocol,
      source: b.source,
      bytes: b.bytes.length,
      nonAsciiBytes: b.nonAsciiBytes,
    })),
    upstreamStreams: streams.map((s) => ({ protocol: s.protocol, sseBytes: s.sse.length, chunks: s.chunks.length, events: s.events, problems: s.problems })),
    requestConversion: requests,
    passthrough: passRows,
    streamObservation: baselines,
    streamConversion: streamPairs,
    elapsedMs: Date.now() - started,
    sink,
  };
  const json = JSON.stringify(report, null, 2);
  if (process.env.BENCH_CODEC_JSON === "-") {
    process.stdout.write(`${json}\n`);
  } else {
    const file = process.env.BENCH_CODEC_JSON || join(tmpdir(), `switchyard-bench-codecs-${started}.json`);
    writeFileSync(file, json);
    process.stdout.write(`\nJSON results: ${file}  (total ${((Date.now() - started) / 1000).toFixed(1)} s)\n`);
  }
}

main();
