/**
 * Time-ordered ids (UUID version 7, RFC 9562 §5.7): 48 bits of Unix milliseconds, then
 * random bits. Rows written on the hot path (usage records, debit ledger rows) are keyed by
 * these, so each insert lands at the right-hand end of its B-tree index instead of on a
 * random page: a batch of records dirties a handful of pages, not one page per record per
 * index, and that is most of what a SQLite commit writes (docs/architecture.md#storage).
 */
import { randomUUID } from "node:crypto";

/** A version-7 UUID, in the usual 8-4-4-4-12 lowercase hex form. Within one millisecond the order is random. */
export function timeOrderedUuid(now: number = Date.now()): string {
  const ms = Math.max(0, Math.floor(now)).toString(16).padStart(12, "0").slice(-12);
  // randomUUID is pooled and cheap; keep its random bits and variant, replace the time and version.
  // Its layout: xxxxxxxx-xxxx-4xxx-Vxxx-xxxxxxxxxxxx (index 14 is the version digit).
  return `${ms.slice(0, 8)}-${ms.slice(8, 12)}-7${randomUUID().slice(15)}`;
}

/** The same id as 32 hex digits, for ids with a prefix (`req_…`). */
export function timeOrderedHex(now?: number): string {
  const id = timeOrderedUuid(now);
  return id.slice(0, 8) + id.slice(9, 13) + id.slice(14, 18) + id.slice(19, 23) + id.slice(24);
}
