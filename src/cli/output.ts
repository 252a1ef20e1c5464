/**
 * How admin answers are shown: `--json` prints the gateway's JSON as is (for scripts);
 * otherwise a record is `field: value` lines and a list is an aligned table.
 */
import type { CliIo } from "./io.js";

export interface OutputOptions {
  json?: boolean;
}

function cell(v: unknown): string {
  if (v === null || v === undefined) return "-";
  if (Array.isArray(v)) return v.length === 0 ? "-" : v.map(cell).join(",");
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}

export function printRecord(io: CliIo, opts: OutputOptions, record: unknown, heading?: string): void {
  if (opts.json) {
    io.out(`${JSON.stringify(record, null, 2)}\n`);
    return;
  }
  if (heading) io.out(`${heading}\n`);
  if (record === null || typeof record !== "object") {
    io.out(`${cell(record)}\n`);
    return;
  }
  const entries = Object.entries(record as Record<string, unknown>);
  const width = Math.max(0, ...entries.map(([k]) => k.length));
  for (const [k, v] of entries) io.out(`${`${k}:`.padEnd(width + 2)}${cell(v)}\n`);
}

/** A list answer (`{data: [...], next_cursor?}`) as a table of the named columns. */
export function printList(io: CliIo, opts: OutputOptions, answer: unknown, columns: readonly string[]): void {
  if (opts.json) {
    io.out(`${JSON.stringify(answer, null, 2)}\n`);
    return;
  }
  const body = (answer ?? {}) as { data?: unknown; next_cursor?: unknown };
  const rows = Array.isArray(body.data) ? (body.data as Array<Record<string, unknown>>) : [];
  if (rows.length === 0) {
    io.out("(none)\n");
  } else {
    const cells = rows.map((r) => columns.map((c) => cell(r[c])));
    const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((row) => row[i]!.length)));
    const line = (values: readonly string[]) => values.map((v, i) => (i === values.length - 1 ? v : v.padEnd(widths[i]!))).join("  ");
    io.out(`${line(columns.map((c) => c.toUpperCase()))}\n`);
    for (const row of cells) io.out(`${line(row)}\n`);
  }
  if (typeof body.next_cursor === "string" && body.next_cursor !== "") io.out(`more: --cursor ${body.next_cursor}\n`);
}
