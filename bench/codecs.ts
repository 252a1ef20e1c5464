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
 * Cases run in groups (one per client body, one per upstream stream): each case
 * is warmed up, then the group runs in interleaved rounds of a few-ms batch per
 * case, for BENCH_CODEC_MS (default 400 ms) per case. A case's figure is its
 * median batch; a ratio is the median of per-round ratios, so both sides ran
 * under the same conditions. Ratios are the figures to compare (docs/architecture.md#measured-facts).
 * The full results go to a JSON file in the OS temp directory
 * (BENCH_CODEC_JSON=- prints them to stdout, BENCH_CODEC_JSON=path writes
 * there). Progress goes to stderr, tables to stdout.
 */
import { writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import type { ClientProtocol, OutboundEvent } from "../src/protocols/codec.js";
import { CLIENT_CODECS, UPSTREAM_CODECS } from "../src/protocols/registry.js";
import { patchBody, peekBody, readField, type PeekedBody } from "../src/pipeline/json-peek.js";
import type { UpstreamProtocol } from "../src/storage/ports.js";
import {
  codexPassthroughBody,
  codexPassthroughOp,
  convertRequest,
  convertStream,
  laterTurnsOp,
  naiveRoundTripOp,
  passthroughBody,
  passthroughOp,
  peekOnlyOp,
  requestConversionOp,
  sseObservedOp,
  sseOnlyOp,
  streamConversionOp,
} from "./codecs-cases.js";
import { buildClaudeBody, buildCodexBody } from "./agent-bodies.js";
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
  type ClientBody,
  type UpstreamStream,
} from "./codecs-inputs.js";
import {
  itemsTable,
  passthroughTable,
  streamName,
  requestTable,
  short,
  streamBaselineTable,
  streamTable,
  type ItemsRow,
  type PassthroughRow,
  type RequestRow,
  type StreamBaselineRow,
  type StreamRow,
} from "./codecs-report.js";
import { loadOtherBuild, type OtherBuild } from "./codecs-other-build.js";
import { envNumber, measureGroup, type Case, type GroupResult, type Measurement, type TimingOptions } from "./codecs-timing.js";

const timing: TimingOptions = {
  budgetMs: envNumber("BENCH_CODEC_MS", 400),
  warmupMs: envNumber("BENCH_CODEC_WARMUP_MS", 150),
  targetBatches: 80,
  minBatches: 5,
};
const chunkBytes = Math.round(envNumber("BENCH_CODEC_CHUNK", 1024));

let sink = 0;
const batchTotals = { all: 0, clean: 0 };

/** Times a group of cases in interleaved rounds (see codecs-timing.ts) and logs each case's median to stderr. */
function timeGroup(title: string, cases: readonly Case[]): GroupResult {
  const result = measureGroup(cases, timing);
  sink += result.sink;
  process.stderr.write(`${title}\n`);
  for (const [name, m] of result.measurements) {
    batchTotals.all += m.batches;
    batchTotals.clean += m.cleanBatches;
    process.stderr.write(
      `  ${name.padEnd(40)} ${(m.medianNs / 1000).toFixed(2).padStart(9)} µs  (${m.cleanBatches}/${m.batches} batches × ${m.opsPerBatch})\n`,
    );
  }
  return result;
}

function measurement(group: GroupResult, name: string): Measurement {
  const m = group.measurements.get(name);
  if (!m) throw new Error(`case ${name} was not measured`);
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

interface BodyResult {
  requests: RequestRow[];
  pass: PassthroughRow[];
}

/**
 * One group per client body: the naive round trip, the byte scan alone, the
 * passthrough lane (and for Responses the Codex lane), and, when `convert`,
 * the four translate-lane conversions of the same bytes.
 */
function bodyGroup(body: ClientBody, lane: string, convert: boolean): BodyResult {
  const client = body.protocol;
  const upstream = SAME_WIRE[client][0] as UpstreamProtocol;
  const withCodex = client === "openai-responses" && convert;
  const cases: Case[] = [
    { name: "naive", op: naiveRoundTripOp(body.bytes) },
    { name: "peek", op: peekOnlyOp(body.bytes, false) },
    { name: "peek, tools repeated", op: peekOnlyOp(body.bytes, true) },
    { name: "passthrough", op: passthroughOp(body.bytes, false) },
    { name: "passthrough, tools repeated", op: passthroughOp(body.bytes, true) },
  ];
  if (withCodex) {
    cases.push({ name: "passthrough codex", op: codexPassthroughOp(body.bytes, false) });
    cases.push({ name: "passthrough codex, tools repeated", op: codexPassthroughOp(body.bytes, true) });
  }

  const requests: RequestRow[] = [];
  if (convert) {
    for (const up of UPSTREAM_PROTOCOLS) {
      const row: RequestRow = {
        client,
        upstream: up,
        sameWire: SAME_WIRE[client].includes(up),
        inBytes: body.bytes.length,
        outBytes: 0,
        warnings: [],
        m: undefined,
        repeated: undefined,
        vsNaive: Number.NaN,
        vsPassthrough: Number.NaN,
      };
      try {
        const once = convertRequest(body.bytes, CLIENT_CODECS[client], UPSTREAM_CODECS[up], up);
        row.outBytes = once.bytes.length;
        row.warnings = once.warnings;
        cases.push({ name: `request → ${short(up)}`, op: requestConversionOp(body.bytes, client, up, false) });
        cases.push({ name: `request → ${short(up)}, tools repeated`, op: requestConversionOp(body.bytes, client, up, true) });
      } catch (err) {
        row.error = message(err);
      }
      requests.push(row);
    }
  }

  const g = timeGroup(`${short(client)} body (${lane}), ${body.bytes.length} B`, cases);
  for (const row of requests) {
    if (row.error) continue;
    const name = `request → ${short(row.upstream)}`;
    row.m = measurement(g, name);
    row.repeated = measurement(g, `${name}, tools repeated`);
    row.vsNaive = g.ratio(name, "naive");
    row.vsPassthrough = g.ratio(name, "passthrough");
  }

  const out = passthroughBody(body.bytes);
  const row: PassthroughRow = {
    client,
    upstream,
    body: body.source,
    lane,
    inBytes: body.bytes.length,
    nonAsciiBytes: body.nonAsciiBytes,
    outBytes: out.length,
    peekOnly: measurement(g, "peek"),
    peekRepeated: measurement(g, "peek, tools repeated"),
    passthrough: measurement(g, "passthrough"),
    passthroughRepeated: measurement(g, "passthrough, tools repeated"),
    naive: measurement(g, "naive"),
    ptOverNaive: g.ratio("passthrough", "naive"),
    problems: checkPatched(out),
  };
  const pass = [row];
  if (withCodex) {
    const codexOut = codexPassthroughBody(body.bytes);
    const problems = checkPatched(codexOut);
    // A Codex CLI body is already what the backend wants: the fast path only splices `instructions` (absent) and the key.
    const spliced = patchBody(body.bytes, peekBody(body.bytes) as PeekedBody, { instructions: "", prompt_cache_key: CACHE_KEY });
    if (!spliced.equals(codexOut)) problems.push("codex passthrough left the byte-splice fast path");
    pass.push({
      ...row,
      upstream: "codex",
      lane: "preparePassthroughBody",
      outBytes: codexOut.length,
      passthrough: measurement(g, "passthrough codex"),
      passthroughRepeated: measurement(g, "passthrough codex, tools repeated"),
      ptOverNaive: g.ratio("passthrough codex", "naive"),
      problems,
    });
  }
  return { requests, pass };
}

/* ------------------------------------------ section 1b, the conversation's items */

/** Variants of a turn, the same length, differing in the last item of `member` alone (a marker at the end of its text). */
function newestItemVariants(raw: Buffer, member: string, count: number): Buffer[] {
  const body = JSON.parse(raw.toString("utf8")) as Record<string, unknown>;
  const variants = Array.from({ length: count }, (_, i) => {
    const copy = structuredClone(body);
    const items = copy[member] as unknown[];
    // The marker goes into the item's last text, wherever it is: the item differs, its neighbours do not.
    const mark = (v: unknown): unknown => {
      if (typeof v === "string") return `${v} #${String(i).padStart(4, "0")}`;
      if (Array.isArray(v)) return v.map((x, j) => (j === v.length - 1 ? mark(x) : x));
      if (v !== null && typeof v === "object") {
        const entries = Object.entries(v);
        // The last member holding text (a container or a long string), else the last string (a short text after its `type`).
        let at = entries.findLastIndex(([, x]) => (x !== null && typeof x === "object") || (typeof x === "string" && x.length > 20));
        if (at < 0) at = entries.findLastIndex(([, x]) => typeof x === "string");
        return Object.fromEntries(entries.map(([k, x], j) => [k, j === at ? mark(x) : x]));
      }
      return v;
    };
    items[items.length - 1] = mark(items[items.length - 1]);
    return Buffer.from(JSON.stringify(copy));
  });
  if (new Set(variants.map((v) => v.toString("latin1"))).size !== count) throw new Error(`the ${member} variants of a body are not all different`);
  return variants;
}

/**
 * The `npm run bench` agent bodies (bench/agent-bodies.ts) on their translate-lane pairs, as a
 * session's later turns: the conversion with the tools cache alone and with the items cache too,
 * on the same body again and on bodies whose newest item is new each time.
 */
function itemsGroups(): ItemsRow[] {
  const pairs: Array<{ client: ClientProtocol; upstream: UpstreamProtocol; raw: Buffer; member: string; name: string }> = [
    {
      client: "anthropic-messages",
      upstream: "openai-responses",
      raw: buildClaudeBody({ stream: true, model: "claude-x" }).bytes,
      member: "messages",
      name: "claude-76k",
    },
    { client: "openai-responses", upstream: "anthropic", raw: buildCodexBody({ stream: true, model: "gpt-x" }).bytes, member: "input", name: "codex-40k" },
  ];
  return pairs.map(({ client, upstream, raw, member, name }) => {
    const variants = newestItemVariants(raw, member, 64);
    const g = timeGroup(`${name} body, later turns, ${short(client)} → ${short(upstream)}`, [
      { name: "same, tools only", op: laterTurnsOp([raw], client, upstream, false) },
      { name: "same, items", op: laterTurnsOp([raw], client, upstream, true) },
      { name: "newest new, tools only", op: laterTurnsOp(variants, client, upstream, false) },
      { name: "newest new, items", op: laterTurnsOp(variants, client, upstream, true) },
    ]);
    return {
      pair: `${name}: ${short(client)} → ${short(upstream)}`,
      inBytes: raw.length,
      same: { toolsOnly: measurement(g, "same, tools only"), items: measurement(g, "same, items"), ratio: g.ratio("same, items", "same, tools only") },
      newest: {
        toolsOnly: measurement(g, "newest new, tools only"),
        items: measurement(g, "newest new, items"),
        ratio: g.ratio("newest new, items", "newest new, tools only"),
      },
    };
  });
}

/* ------------------------------------------------------ section 3, per stream */

interface StreamResult {
  baseline: StreamBaselineRow;
  pairs: StreamRow[];
}

/**
 * One group per upstream stream: SSE only, SSE + usage observer, and the three client conversions of the same
 * stream (each on the other build too, with BENCH_CODEC_OTHER_BUILD).
 */
function streamGroup(bodies: Record<ClientProtocol, ClientBody>, s: UpstreamStream, other: OtherBuild | undefined): StreamResult {
  const cases: Case[] = [
    { name: "sse only", op: sseOnlyOp(s.chunks) },
    { name: "sse + observer", op: sseObservedOp(s.chunks, s.protocol) },
  ];
  const pairs: StreamRow[] = CLIENT_PROTOCOLS.map((client) => {
    const canonical = bodies[client].canonical;
    const row: StreamRow = {
      client,
      upstream: s.protocol,
      ...(s.variant !== undefined ? { variant: s.variant } : {}),
      sameWire: SAME_WIRE[client].includes(s.protocol),
      upstreamEvents: s.events,
      outEvents: 0,
      outDataBytes: 0,
      problems: [],
      m: undefined,
      vsSse: Number.NaN,
      vsObserver: Number.NaN,
    };
    try {
      const events: OutboundEvent[] = [];
      const once = convertStream(s.chunks, canonical, CLIENT_CODECS[client], UPSTREAM_CODECS[s.protocol], events);
      row.outEvents = once.outEvents;
      row.outDataBytes = once.outDataBytes;
      row.problems = validateWire(client, events);
      if (once.errorParts > 0) row.problems.push(`${once.errorParts} error parts decoded`);
      if (once.usage.outputTokens !== STREAM_USAGE.outputTokens) row.problems.push("usage lost in translation");
      cases.push({ name: `→ ${short(client)} client`, op: streamConversionOp(s.chunks, canonical, client, s.protocol) });
      if (other) cases.push({ name: `→ ${short(client)} client, other build`, op: other.streamConversionOp(s.chunks, canonical, client, s.protocol) });
    } catch (err) {
      row.error = message(err);
    }
    return row;
  });

  const g = timeGroup(`${streamName({ upstream: s.protocol, variant: s.variant })} upstream stream, ${s.events} events, ${s.sse.length} B`, cases);
  for (const row of pairs) {
    if (row.error) continue;
    const name = `→ ${short(row.client)} client`;
    row.m = measurement(g, name);
    row.vsSse = g.ratio(name, "sse only");
    row.vsObserver = g.ratio(name, "sse + observer");
    if (other) row.vsOther = g.ratio(name, `${name}, other build`);
  }
  const baseline: StreamBaselineRow = {
    upstream: s.protocol,
    ...(s.variant !== undefined ? { variant: s.variant } : {}),
    sseBytes: s.sse.length,
    chunks: s.chunks.length,
    events: s.events,
    sseOnly: measurement(g, "sse only"),
    observed: measurement(g, "sse + observer"),
    observerOverSse: g.ratio("sse + observer", "sse only"),
    problems: s.problems,
  };
  return { baseline, pairs };
}

/* ------------------------------------------------------------------ main */

function main(other: OtherBuild | undefined): void {
  const started = Date.now();
  const bodies = loadClientBodies();
  const streams = UPSTREAM_PROTOCOLS.map((p) => buildUpstreamStream(p, chunkBytes));
  // A Responses upstream repeats the request's instructions and tools in three events: the Codex CLI capture's.
  const codexRequest = JSON.parse(bodies.byProtocol["openai-responses"].bytes.toString("utf8")) as { instructions?: unknown; tools?: unknown };
  streams.push(buildUpstreamStream("openai-responses", chunkBytes, { instructions: codexRequest.instructions, tools: codexRequest.tools }));
  const cpu = cpus()[0]?.model ?? "unknown CPU";
  const header =
    `Switchyard codec micro-benchmark — node ${process.version}, ${cpu}, ${cpus().length} cores; ` +
    `${timing.budgetMs} ms/case after ${timing.warmupMs} ms warm-up, median of ~${timing.targetBatches} batches (preempted batches left out)` +
    (other ? `; section 3b against the build in ${other.dir}` : "");
  process.stderr.write(`${header}\n`);

  const requests: RequestRow[] = [];
  const passRows: PassthroughRow[] = [];
  for (const protocol of CLIENT_PROTOCOLS) {
    const r = bodyGroup(bodies.byProtocol[protocol], LANE_PLAIN, true);
    requests.push(...r.requests);
    passRows.push(...r.pass);
  }
  passRows.push(...bodyGroup(bodies.codexAsCaptured, "same, body all ASCII", false).pass);
  const itemsRows = itemsGroups();
  const baselines: StreamBaselineRow[] = [];
  const streamPairs: StreamRow[] = [];
  for (const s of streams) {
    const r = streamGroup(bodies.byProtocol, s, other);
    baselines.push(r.baseline);
    streamPairs.push(...r.pairs);
  }
  const order = (r: StreamRow): number =>
    CLIENT_PROTOCOLS.indexOf(r.client) * 10 + UPSTREAM_PROTOCOLS.indexOf(r.upstream) + (r.variant === undefined ? 0 : 0.5);
  streamPairs.sort((a, b) => order(a) - order(b));

  const bodyLines = [...Object.values(bodies.byProtocol), bodies.codexAsCaptured].map(
    (b) => `  ${short(b.protocol).padEnd(9)} ${String(b.bytes.length).padStart(6)} B, ${String(b.nonAsciiBytes).padStart(2)} non-ASCII B — ${b.source}`,
  );
  const out = [
    header,
    "",
    "Client bodies:",
    ...bodyLines,
    "",
    '1. Request conversion, translate lane: bytes → parse (tools through the ToolsCache, big conversation items through the ItemsCache) → decodeRequest → encodeRequest → jsonBytes; "tools repeated" keeps the caches (tools, items, scanner), as a session\'s later turns do (the same body again, so its newest items too)',
    "   × naive / × passthrough: median per-round ratio to the full parse+stringify / the passthrough lane (section 2) of the same client body.",
    "   * same wire format: the pipeline would take the passthrough lane instead.",
    requestTable(requests),
    "",
    "1b. The conversation's items cache (pipeline/items-cache.ts), on the `npm run bench` agent bodies as a session's later turns: the conversion with",
    "    the tools cache alone and with the items cache too, on the same body again and on bodies whose newest item is new each time (as a real turn's is).",
    "    items / tools only: median per-round ratio.",
    itemsTable(itemsRows),
    "",
    "2. Passthrough lane: peekBody + readField(model, stream, prompt_cache_key) + patchBody(prompt_cache_key)",
    "   vs naive: Buffer → toString → JSON.parse → JSON.stringify → Buffer, on the same bytes; peek = peekBody alone (the byte scan).",
    "   \"repeated\" keeps the scanner's cache of big containers (pipeline/seen-values.ts), as a session's later turns do; the rest start without it, as a first turn.",
    passthroughTable(passRows),
    ...passRows.filter((r) => r.problems.length > 0).map((r) => `   ! ${short(r.client)} → ${short(r.upstream)} (${r.lane}): ${r.problems.join("; ")}`),
    "",
    `3a. Stream observation, passthrough lane: SseParser over ~${chunkBytes} B chunks; +observer = the protocol's stream meter (METERS) on every event.`,
    `    Each stream: response start, ${STREAM_SHAPE.textDeltas} text deltas of ~8 chars (some non-ASCII), one tool call in ${STREAM_SHAPE.toolArgDeltas} argument deltas, usage, finish.`,
    '    "echoing the request": the Responses stream with the Codex CLI capture\'s instructions and tools in response.created, in_progress and completed, as the real API sends them.',
    streamBaselineTable(baselines),
    "",
    "3b. Stream conversion, translate lane: UpstreamEventReader → upstream decoder → client encoder → each outbound event's JSON as the lane writes it.",
    "    ns/up-event = µs/stream ÷ upstream events; × sse-only / × observer: median per-round ratio to section 3a on the same upstream stream;",
    "    × other build (BENCH_CODEC_OTHER_BUILD): median per-round ratio to the same conversion on the other build, timed in the same rounds.",
    streamTable(streamPairs),
    ...streamPairs
      .filter((r) => r.problems.length > 0)
      .map((r) => `   ! ${short(r.client)} ← ${short(r.upstream)}: ${r.problems.slice(0, 3).join("; ")}${r.problems.length > 3 ? " …" : ""}`),
  ];
  const preempted = batchTotals.all > 0 ? (100 * (batchTotals.all - batchTotals.clean)) / batchTotals.all : 0;
  out.push(
    "",
    `Batches: ${batchTotals.clean} of ${batchTotals.all} ran without preemption (${preempted.toFixed(0)} % left out); a high share means a busy machine.`,
  );
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
    conversationItems: itemsRows,
    passthrough: passRows,
    streamObservation: baselines,
    streamConversion: streamPairs,
    batches: batchTotals,
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

main(await loadOtherBuild(process.env));
