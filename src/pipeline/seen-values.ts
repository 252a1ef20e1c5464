/**
 * Big JSON containers the byte scanner (json-peek.ts) has met more than once, so the next scan can
 * step over one by comparing bytes instead of walking it. Coding agents repeat their tool list on
 * every turn, byte for byte (a prompt cache needs the prefix unchanged): 61 of the 77 KB of the
 * bench's Claude Code body, and upstreams echo the tools in their answers. Walking that structure
 * byte by byte in JavaScript is what the top-level scan of a turn costs; `Buffer.compare` is a
 * native memcmp.
 *
 * Why a match is exact: the scanner reads a container only from its first byte to its closing
 * bracket, and a string in it only from its opening quote to its closing one (a backslash run is
 * read backwards from a quote, never past the opening quote). So bytes equal to a complete
 * container that the scanner walked before end where that one ended: the scan would give the
 * same offset. The cache changes how long a scan takes, never what it returns.
 *
 * What it keeps: a container of {@link SEEN_FROM} bytes or more is remembered the second time
 * its fingerprint is met, as a copy of its bytes, so a value met once (a turn's growing
 * `messages`) costs a fingerprint and nothing more. Entries are found by a hash of their first
 * bytes; at most {@link PER_HEAD} share one hash, the newest first. The content is never served
 * to anyone, only compared, so sharing the cache between tenants reveals no bytes; like any
 * cache, it makes a repeated value cheaper to scan, for whoever sent it.
 */
import { LRUCache } from "lru-cache";
import { sampledKey } from "./sampled-key.js";

/** Containers shorter than this are walked: the hash and the bookkeeping would cost more than they save. */
export const SEEN_FROM = 8192;

/** Bytes of a container's start hashed to find its candidates. */
const HEAD = 64;
/** Candidates compared for one head hash; a fifth list with the same start pushes out the oldest. */
const PER_HEAD = 4;
/** Bytes sampled across a container for the fingerprint of one met once. */
const SAMPLES = 32;
/** Copies kept, in bytes. */
const KEPT_BYTES = 8 * 1024 * 1024;

/** FNV-1a over the {@link HEAD} bytes of `buf` from `start`. */
function headHash(buf: Uint8Array, start: number): number {
  let h = 0x811c9dc5;
  for (let at = start; at < start + HEAD; at++) {
    h ^= buf[at]!;
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

export class SeenValues {
  /** Fingerprints of containers met once: a second meeting keeps the bytes. */
  readonly #once = new LRUCache<string, true>({ max: 1024 });
  /** Containers met twice or more, by the hash of their first {@link HEAD} bytes. */
  readonly #kept: LRUCache<number, Buffer[]>;

  constructor(keptBytes: number = KEPT_BYTES) {
    this.#kept = new LRUCache({ maxSize: keptBytes, sizeCalculation: (list) => list.reduce((n, b) => n + b.length, 0) || 1 });
  }

  /** Forgets everything: the next scan is a first meeting with every container. */
  clear(): void {
    this.#once.clear();
    this.#kept.clear();
  }

  /** Offset just past a kept container that `buf` holds from `start`, or -1. */
  endOf(buf: Uint8Array, start: number): number {
    if (this.#kept.size === 0 || buf.length - start < SEEN_FROM) return -1;
    const list = this.#kept.get(headHash(buf, start));
    if (list === undefined) return -1;
    for (const kept of list) {
      const end = start + kept.length;
      if (end <= buf.length && kept.compare(buf, start, end) === 0) return end;
    }
    return -1;
  }

  /** Tells the cache the scanner walked a container from `start` to `end` (its closing bracket + 1). */
  walked(buf: Uint8Array, start: number, end: number): void {
    const length = end - start;
    if (length < SEEN_FROM) return;
    const head = headHash(buf, start);
    const print = `${head}:${sampledKey(buf.subarray(start, end), SAMPLES)}`;
    if (!this.#once.has(print)) {
      this.#once.set(print, true);
      return;
    }
    this.#once.delete(print);
    const copy = Buffer.from(buf.subarray(start, end));
    const list = this.#kept.get(head) ?? [];
    this.#kept.set(head, [copy, ...list.filter((b) => !b.equals(copy))].slice(0, PER_HEAD));
  }
}
