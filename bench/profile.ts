/**
 * Where a proxy's CPU goes, from V8 CPU profiles taken over the measured windows
 * (BENCH_PROFILE): each sampled function's self time, put in a group (a folder of the
 * gateway, a package, a part of Node, collection, socket writes) and divided by the
 * requests the window answered. Side by side for the gateway and the bare proxy, the
 * groups show what the gateway's extra microseconds are made of, which is the question
 * the ratios in the other tables leave open.
 *
 * Only the main thread is sampled (an inspector session profiles its own thread), and the
 * sampler itself costs CPU: a profiled run's CPU figures are higher than an unprofiled one's.
 */

/** The parts of V8's `.cpuprofile` format this module reads (the Profiler domain's `Profile`). */
export interface CpuProfile {
  nodes: ReadonlyArray<{ id: number; callFrame: CallFrame; children?: readonly number[] }>;
  /** Node id of each sample, in time order. */
  samples: readonly number[];
  /** Microseconds from the previous sample (the first: from the profile's start) to each sample. */
  timeDeltas: readonly number[];
}

export interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

/** Microseconds of self time a request, per group and for the busiest functions. */
export interface ProfileSummary {
  /** Requests the profiled windows answered (the divisor). */
  requests: number;
  /** Sampled busy microseconds a request (idle excluded). */
  busyUsPerReq: number;
  groups: Record<string, number>;
  /** The functions with the most self time, busiest first. */
  top: Array<{ name: string; usPerReq: number }>;
}

/** Native functions that are the socket's writes: the system calls themselves, on both proxies. */
const SOCKET_WRITES = new Set(["writev", "writeBuffer", "writeUtf8String", "writeLatin1String", "writeAsciiString", "writeUcs2String"]);

/**
 * The group a sampled function belongs to; undefined for a native function (no script) other
 * than the ones named here, whose time belongs to the code that called it (a `JSON.parse` to
 * the module parsing, a statement's `run` to the repository running it).
 */
export function groupOf(frame: CallFrame): string | undefined {
  const { functionName: fn, url } = frame;
  if (fn === "(garbage collector)") return "GC";
  if (fn === "(program)") return "V8 and native, unattributed";
  if (url === "") {
    if (SOCKET_WRITES.has(fn)) return "socket writes (system calls)";
    if (fn === "runMicrotasks") return "node event loop";
    return undefined;
  }
  return groupOfScript(url);
}

/**
 * The group of code from the script at `url` (a file path or URL, `node:…`, `wasm://…`): a
 * folder of the gateway, a package, a part of Node. The gateway's code is any build's `src/`
 * (`dist/src/`, or the other build's under BENCH_OTHER_BUILD), so two builds compare group by group.
 */
export function groupOfScript(url: string): string {
  if (url.startsWith("wasm://")) return "undici";
  const pkg = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
  if (pkg) return pkg[1]!;
  if (url.startsWith("node:")) return nodeGroup(url.slice(5));
  if (/\/bench\/[^/]+\.js$/.test(url)) return "bench harness";
  const src = /\/src\/(?:([^/]+)\/)?(?:[^/]+\/)*[^/]+\.js$/.exec(url);
  if (src) return `switchyard ${src[1] ?? "(root)"}`;
  return "other";
}

function nodeGroup(module: string): string {
  if (module.startsWith("_http_") || module === "http") return "node http";
  if (module.startsWith("internal/streams/") || module === "stream" || module.startsWith("internal/webstreams/")) return "node streams";
  if (module === "net" || module === "internal/stream_base_commons" || module.startsWith("internal/net")) return "node net";
  if (module === "events" || module === "internal/event_target" || module.startsWith("internal/abort")) return "node events";
  if (module === "buffer" || module === "internal/buffer") return "node buffer";
  if (module === "crypto" || module.startsWith("internal/crypto/")) return "node crypto";
  if (module === "internal/process/task_queues" || module.endsWith("timers") || module === "internal/process/promises") return "node event loop";
  return "node other";
}

function frameName(frame: CallFrame): string {
  const file = frame.url.replace(/^.*\/(dist|node_modules)\//, "").replace(/^node:/, "") || "native";
  return `${frame.functionName || "(anonymous)"} ${file}:${frame.lineNumber + 1}`;
}

/**
 * Self time per group and per function, divided by `requests`. A sample stands for the time
 * until the next one (as Chrome's profiler reads the format); the last, whose end is unknown,
 * for the mean interval. `topN` functions are kept: enough that rounds merged later
 * ({@link mergeSummaries}) still hold the busiest of their sum.
 */
export function summarizeProfile(profile: CpuProfile, requests: number, topN = 200): ProfileSummary {
  const frames = new Map(profile.nodes.map((n) => [n.id, n.callFrame]));
  const parents = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parents.set(c, n.id);
  /** A node's group, a native function's from its nearest caller that has one ("native" at the root). */
  const known = new Map<number, string>();
  const groupAt = (id: number): string => {
    let g = known.get(id);
    if (g === undefined) {
      const parent = parents.get(id);
      g = groupOf(frames.get(id)!) ?? (parent === undefined ? "native, no caller" : groupAt(parent));
      known.set(id, g);
    }
    return g;
  };
  const { samples, timeDeltas } = profile;
  const mean = samples.length > 1 ? timeDeltas.slice(1).reduce((a, b) => a + b, 0) / (samples.length - 1) : 0;
  const groups = new Map<string, number>();
  const functions = new Map<string, number>();
  let busy = 0;
  for (let i = 0; i < samples.length; i++) {
    const frame = frames.get(samples[i]!);
    if (!frame || frame.functionName === "(idle)" || frame.functionName === "(root)") continue;
    const us = i + 1 < samples.length ? timeDeltas[i + 1]! : mean;
    busy += us;
    const group = groupAt(samples[i]!);
    groups.set(group, (groups.get(group) ?? 0) + us);
    const name = frameName(frame);
    functions.set(name, (functions.get(name) ?? 0) + us);
  }
  return summaryOf(requests, busy, groups, functions, topN);
}

/** Totals (µs) turned into a summary a request, groups and functions busiest first. */
export function summaryOf(requests: number, busy: number, groups: Map<string, number>, functions: Map<string, number>, topN: number): ProfileSummary {
  const per = (us: number): number => (requests > 0 ? us / requests : Number.NaN);
  return {
    requests,
    busyUsPerReq: per(busy),
    groups: Object.fromEntries([...groups].sort((a, b) => b[1] - a[1]).map(([g, us]) => [g, per(us)])),
    top: [...functions]
      .sort((a, b) => b[1] - a[1])
      .slice(0, topN)
      .map(([name, us]) => ({ name, usPerReq: per(us) })),
  };
}

/** Adds up summaries of one target's rounds of one phase: totals over all their requests. */
export function mergeSummaries(parts: readonly ProfileSummary[], topN = 15): ProfileSummary {
  const requests = parts.reduce((a, p) => a + p.requests, 0);
  const add = (into: Map<string, number>, per: number, n: number, key: string): void => void into.set(key, (into.get(key) ?? 0) + per * n);
  const groups = new Map<string, number>();
  const functions = new Map<string, number>();
  let busy = 0;
  for (const p of parts) {
    busy += p.busyUsPerReq * p.requests;
    for (const [g, us] of Object.entries(p.groups)) add(groups, us, p.requests, g);
    for (const f of p.top) add(functions, f.usPerReq, p.requests, f.name);
  }
  return summaryOf(requests, busy, groups, functions, topN);
}

/**
 * One phase's groups as a table: a column of µs a request per target (in the order given), and
 * with exactly two targets the second minus the first. Groups below `minUs` in every column are
 * summed into one line.
 */
export function profileTable(phase: string, columns: ReadonlyArray<{ target: string; summary: ProfileSummary }>, minUs = 2): string {
  const names = [...new Set(columns.flatMap((c) => Object.keys(c.summary.groups)))];
  const value = (c: { summary: ProfileSummary }, g: string): number => c.summary.groups[g] ?? 0;
  const shown = names.filter((g) => columns.some((c) => value(c, g) >= minUs));
  const rest = names.filter((g) => !shown.includes(g));
  shown.sort((a, b) => Math.max(...columns.map((c) => value(c, b))) - Math.max(...columns.map((c) => value(c, a))));
  const diff = columns.length === 2;
  const header = ["µs a request (self time)", ...columns.map((c) => c.target), ...(diff ? ["difference"] : [])];
  const row = (label: string, vs: number[]): string[] => [label, ...vs.map((v) => v.toFixed(1)), ...(diff ? [signed(vs[1]! - vs[0]!)] : [])];
  const rows = shown.map((g) =>
    row(
      g,
      columns.map((c) => value(c, g)),
    ),
  );
  if (rest.length > 0)
    rows.push(
      row(
        `${rest.length} smaller groups`,
        columns.map((c) => rest.reduce((a, g) => a + value(c, g), 0)),
      ),
    );
  rows.push(
    row(
      "busy (sampled)",
      columns.map((c) => c.summary.busyUsPerReq),
    ),
  );
  return `${phase}\n${layout([header, ...rows])}`;
}

function signed(v: number): string {
  return `${v >= 0 ? "+" : ""}${v.toFixed(1)}`;
}

function layout(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join("  ")).join("\n");
}

/**
 * The profile part of the report: per phase, the groups of every profiled target side by side
 * (their rounds added up), then the busiest functions of each target but the bare proxy.
 */
export function profileReport(
  measurements: ReadonlyArray<{ phase: string; target: string; profile?: ProfileSummary }>,
  targets: readonly string[],
  topN = 12,
): string {
  const phases = [...new Set(measurements.filter((m) => m.profile).map((m) => m.phase))];
  const out: string[] = [];
  for (const phase of phases) {
    const columns = targets.flatMap((target) => {
      const parts = measurements.filter((m) => m.phase === phase && m.target === target && m.profile).map((m) => m.profile!);
      return parts.length > 0 ? [{ target, summary: mergeSummaries(parts, topN) }] : [];
    });
    out.push(profileTable(phase, columns));
    for (const c of columns) {
      if (c.target === "baseline") continue;
      out.push(`  busiest functions of ${c.target} (self µs a request):`);
      for (const f of c.summary.top) out.push(`  ${f.usPerReq.toFixed(1).padStart(7)}  ${f.name}`);
    }
    out.push("");
  }
  return out.join("\n");
}
