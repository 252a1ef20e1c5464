/**
 * Result rows and text tables for bench/codecs.ts. Ratios come first in the
 * reading order: these machines drift up to 2× between runs (docs/architecture.md#measured-facts), so
 * absolute times are only comparable within one run.
 */
import type { ClientProtocol } from "../src/protocols/codec.js";
import type { UpstreamProtocol } from "../src/storage/ports.js";
import type { Measurement } from "./codecs-timing.js";

export interface RequestRow {
  client: ClientProtocol;
  upstream: UpstreamProtocol;
  /** Same wire format on both sides: the pipeline would take the passthrough lane. */
  sameWire: boolean;
  inBytes: number;
  outBytes: number;
  warnings: string[];
  m: Measurement | undefined;
  /** The same conversion with the tools and scanner caches kept across calls: a turn that repeats its tools. */
  repeated: Measurement | undefined;
  /** Median per-round ratio to the naive parse+stringify of the same client body. */
  vsNaive: number;
  /** Median per-round ratio to that client's passthrough lane on the same body. */
  vsPassthrough: number;
  error?: string;
}

export interface PassthroughRow {
  client: ClientProtocol;
  upstream: UpstreamProtocol;
  body: string;
  /** How the lane was exercised. */
  lane: string;
  inBytes: number;
  nonAsciiBytes: number;
  outBytes: number;
  /** peekBody alone on the same bytes: the part of the passthrough cost that is the byte scan. */
  peekOnly: Measurement;
  /** peekBody with the scanner's cache kept across calls: a turn that repeats its tools. */
  peekRepeated: Measurement;
  passthrough: Measurement;
  /** The passthrough lane with the scanner's cache kept across calls. */
  passthroughRepeated: Measurement;
  naive: Measurement;
  /** Median per-round ratio passthrough / naive. */
  ptOverNaive: number;
  problems: string[];
}

export interface StreamBaselineRow {
  upstream: UpstreamProtocol;
  /** The stream's variant (UpstreamStream.variant), if any. */
  variant?: string;
  sseBytes: number;
  chunks: number;
  events: number;
  sseOnly: Measurement;
  observed: Measurement;
  /** Median per-round ratio (SSE + usage observer) / SSE only. */
  observerOverSse: number;
  problems: string[];
}

export interface StreamRow {
  client: ClientProtocol;
  upstream: UpstreamProtocol;
  /** The stream's variant (UpstreamStream.variant), if any. */
  variant?: string;
  sameWire: boolean;
  upstreamEvents: number;
  outEvents: number;
  outDataBytes: number;
  problems: string[];
  m: Measurement | undefined;
  /** Median per-round ratios to the SSE-only and SSE + observer passes over the same upstream stream. */
  vsSse: number;
  vsObserver: number;
  /** With BENCH_CODEC_OTHER_BUILD: this build's time as a multiple of the other build's on the same pair (median per-round ratio). */
  vsOther?: number;
  error?: string;
}

const SHORT: Readonly<Record<ClientProtocol | UpstreamProtocol, string>> = {
  "anthropic-messages": "messages",
  anthropic: "messages",
  "openai-chat": "chat",
  "openai-responses": "responses",
  codex: "codex",
};

export function short(p: ClientProtocol | UpstreamProtocol): string {
  return SHORT[p];
}

function us(ns: number): string {
  const v = ns / 1000;
  return v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2);
}

function nsFmt(ns: number): string {
  return ns >= 100 ? ns.toFixed(0) : ns.toFixed(1);
}

function ratio(r: number): string {
  if (!Number.isFinite(r)) return "—";
  return `${r >= 10 ? r.toFixed(1) : r.toFixed(2)}×`;
}

function iqr(m: Measurement): string {
  return `${(m.spread * 100).toFixed(1)}%`;
}

function kb(bytes: number): string {
  return `${(bytes / 1024).toFixed(1)} KB`;
}

/** Left-aligns the first `textCols` columns, right-aligns the rest. */
export function table(head: readonly string[], rows: readonly (readonly string[])[], textCols = 1): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => (i < textCols ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0)))
      .join("  ")
      .trimEnd();
  return [line(head), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n");
}

/** Section 1: translate-lane request conversion, with each client body's passthrough and naive parse+stringify as the baselines. */
export function requestTable(rows: readonly RequestRow[]): string {
  const body = rows.map((r) => {
    const pair = `${short(r.client)} → ${short(r.upstream)}${r.sameWire ? " *" : ""}`;
    if (!r.m) return [pair, kb(r.inBytes), "—", "failed", "", "", "", "", r.error ?? ""];
    return [
      pair,
      kb(r.inBytes),
      kb(r.outBytes),
      us(r.m.medianNs),
      iqr(r.m),
      r.repeated ? us(r.repeated.medianNs) : "",
      ratio(r.vsNaive),
      ratio(r.vsPassthrough),
      r.warnings.length > 0 ? [...new Set(r.warnings)].join(",") : "",
    ];
  });
  return table(["client → upstream", "in", "out", "µs/req", "IQR", "tools repeated", "× naive", "× passthrough", "warnings"], body);
}

/** What section 1b measures for one agent body. */
export interface ItemsRow {
  pair: string;
  inBytes: number;
  /** The same body again: tools cache alone, then with the items cache too. */
  same: { toolsOnly: Measurement; items: Measurement; ratio: number };
  /** A body whose newest item differs from the last turn's. */
  newest: { toolsOnly: Measurement; items: Measurement; ratio: number };
}

/** Section 1b's table. */
export function itemsTable(rows: readonly ItemsRow[]): string {
  const us = (m: Measurement): string => (m.medianNs / 1000).toFixed(1);
  const x = (r: number): string => (Number.isFinite(r) ? `${r.toFixed(2)}×` : "—");
  return table(
    [
      "body: client → upstream",
      "in",
      "same: tools only µs",
      "+ items µs",
      "items / tools only",
      "newest new: tools only µs",
      "+ items µs",
      "items / tools only",
    ],
    rows.map((r) => [
      r.pair,
      `${(r.inBytes / 1024).toFixed(1)} KB`,
      us(r.same.toolsOnly),
      us(r.same.items),
      x(r.same.ratio),
      us(r.newest.toolsOnly),
      us(r.newest.items),
      x(r.newest.ratio),
    ]),
  );
}

/** Section 2: the passthrough lane against a full parse + stringify of the same bytes. */
export function passthroughTable(rows: readonly PassthroughRow[]): string {
  const body = rows.map((r) => [
    `${short(r.client)} → ${short(r.upstream)}`,
    r.lane,
    kb(r.inBytes),
    String(r.nonAsciiBytes),
    us(r.peekOnly.medianNs),
    us(r.peekRepeated.medianNs),
    us(r.passthrough.medianNs),
    iqr(r.passthrough),
    us(r.passthroughRepeated.medianNs),
    us(r.naive.medianNs),
    iqr(r.naive),
    ratio(r.ptOverNaive),
    ratio(1 / r.ptOverNaive),
  ]);
  return table(
    ["pair", "body / lane", "in", "non-ASCII B", "peek µs", "repeated", "passthrough µs", "IQR", "repeated", "naive µs", "IQR", "pt / naive", "naive / pt"],
    body,
    2,
  );
}

/** An upstream stream's name in the tables: its protocol, and its variant if it has one. */
export function streamName(r: { upstream: UpstreamProtocol; variant?: string }): string {
  return r.variant === undefined ? short(r.upstream) : `${short(r.upstream)}, ${r.variant}`;
}

/** Section 3a: what observing a stream costs on the passthrough lane. */
export function streamBaselineTable(rows: readonly StreamBaselineRow[]): string {
  const body = rows.map((r) => [
    streamName(r),
    kb(r.sseBytes),
    String(r.chunks),
    String(r.events),
    nsFmt(r.sseOnly.medianNs / r.events),
    us(r.sseOnly.medianNs),
    iqr(r.sseOnly),
    nsFmt(r.observed.medianNs / r.events),
    us(r.observed.medianNs),
    ratio(r.observerOverSse),
    r.problems.length === 0 ? "ok" : `${r.problems.length} problems`,
  ]);
  return table(
    ["upstream", "SSE", "chunks", "events", "sse ns/ev", "sse µs/stream", "IQR", "+observer ns/ev", "+observer µs/stream", "observer / sse", "stream valid"],
    body,
  );
}

/** Section 3b: translate-lane stream conversion per pair, against the SSE-only observation of the same upstream stream. */
export function streamTable(rows: readonly StreamRow[]): string {
  const other = rows.some((r) => r.vsOther !== undefined);
  const body = rows.map((r) => {
    const pair = `${short(r.client)} ← ${streamName(r)}${r.sameWire ? " *" : ""}`;
    if (!r.m) return [pair, String(r.upstreamEvents), "—", "—", "failed", "", "", "", "", ...(other ? [""] : []), r.error ?? ""];
    return [
      pair,
      String(r.upstreamEvents),
      String(r.outEvents),
      kb(r.outDataBytes),
      nsFmt(r.m.medianNs / r.upstreamEvents),
      us(r.m.medianNs),
      iqr(r.m),
      ratio(r.vsSse),
      ratio(r.vsObserver),
      ...(other ? [r.vsOther === undefined ? "—" : ratio(r.vsOther)] : []),
      r.problems.length === 0 ? "ok" : `${r.problems.length} problems`,
    ];
  });
  return table(
    [
      "client ← upstream",
      "up events",
      "out events",
      "out JSON",
      "ns/up-event",
      "µs/stream",
      "IQR",
      "× sse-only",
      "× observer",
      ...(other ? ["× other build"] : []),
      "client stream valid",
    ],
    body,
  );
}
