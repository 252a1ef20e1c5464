/**
 * Time-ordered ids (UUID version 7, RFC 9562 §5.7): 48 bits of Unix milliseconds, then
 * random bits. Rows written on the hot path (usage records, debit ledger rows) are keyed by
 * these, so each insert lands at the right-hand end of its B-tree index instead of on a
 * random page: a batch of records dirties a handful of pages, not one page per record per
 * index, and that is most of what a SQLite commit writes (docs/architecture.md#storage).
 */
import { randomUUID } from "node:crypto";

/** The time part of the last millisecond asked for, in both forms: most ids of a busy gateway share it. */
let lastMs = -1;
let dashedPrefix = "";
let plainPrefix = "";

function prefixFor(now: number): void {
  const ms = Math.max(0, Math.floor(now));
  if (ms === lastMs) return;
  lastMs = ms;
  const hex = ms.toString(16).padStart(12, "0").slice(-12);
  dashedPrefix = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-7`;
  plainPrefix = `${hex}7`;
}

// randomUUID is pooled and cheap; its random bits and variant are kept, its time and version
// replaced. Its layout: xxxxxxxx-xxxx-4xxx-Vxxx-xxxxxxxxxxxx (index 14 is the version digit).

/** A version-7 UUID, in the usual 8-4-4-4-12 lowercase hex form. Within one millisecond the order is random. */
export function timeOrderedUuid(now: number = Date.now()): string {
  prefixFor(now);
  return dashedPrefix + randomUUID().slice(15);
}

/** The same id as 32 hex digits, for ids with a prefix (`req_…`). */
export function timeOrderedHex(now: number = Date.now()): string {
  prefixFor(now);
  const r = randomUUID();
  return plainPrefix + r.slice(15, 18) + r.slice(19, 23) + r.slice(24);
}
