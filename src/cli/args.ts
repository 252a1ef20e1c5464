/**
 * Value parsers for command options: each refuses bad input with a short reason that
 * commander turns into one line ("option '--x <n>' argument 'y' is invalid. <reason>").
 */
import { InvalidArgumentError } from "commander";

export function wholeNumber(value: string): number {
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(Number(value))) throw new InvalidArgumentError("It must be a whole number.");
  return Number(value);
}

export function positiveWholeNumber(value: string): number {
  const n = wholeNumber(value);
  if (n === 0) throw new InvalidArgumentError("It must be at least 1.");
  return n;
}

/** A comma-separated list, empty items dropped. */
export function list(value: string): string[] {
  return value
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
}

/** Collects a repeatable option's values. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

export function isoTime(value: string): string {
  if (!/^\d{4}-\d{2}-\d{2}T/.test(value) || Number.isNaN(Date.parse(value))) {
    throw new InvalidArgumentError("It must be an ISO-8601 time, e.g. 2027-01-31T00:00:00Z.");
  }
  return value;
}

/**
 * A currency amount like `12.5` or `0.000001`, as integer micro-units, parsed from the text
 * (no floating point, so `0.1` is exactly 100000).
 */
export function amountToMicros(value: string): number {
  const m = /^(\d+)(?:\.(\d{1,6}))?$/.exec(value);
  if (!m) throw new InvalidArgumentError("It must be a positive amount with at most 6 decimals, e.g. 12.50.");
  const micros = Number(m[1]) * 1_000_000 + Number((m[2] ?? "").padEnd(6, "0"));
  if (!Number.isSafeInteger(micros)) throw new InvalidArgumentError("It is too large.");
  return micros;
}

export function jsonObject(value: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    throw new InvalidArgumentError("It must be a JSON object, e.g. '{\"rpm\": 60}'.");
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) throw new InvalidArgumentError("It must be a JSON object.");
  return parsed as Record<string, unknown>;
}
