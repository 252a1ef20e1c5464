/**
 * A client's conversation items, each parsed once for as long as the same bytes keep coming: the
 * elements of `messages` (Anthropic Messages, Chat), of Anthropic's `system` blocks and of
 * Responses' `input`. A coding agent sends its whole conversation on every turn, byte for byte
 * but for the turn's new items (a prompt cache needs the prefix unchanged), and the translate lane
 * decoded and parsed all of it again each time: `BENCH_PERF` on translate-76k at 50 connections
 * put 22 µs a request in V8's UTF-8 decoder and 8 in JSON.parse's string scanning, nearly all of it
 * (a call-graph recording showed) for the Claude Code body's 12.6 KB of system blocks and messages,
 * a sixth of whose bytes are non-ASCII, so V8 builds two-byte strings. `npm run bench:codecs`
 * section 1b, two runs: a later turn's request conversion takes 0.85–0.90× the time with this
 * cache on that body, whose newest item is its 6 KB message, and 0.63–0.65× on the Codex body,
 * whose big items are old.
 *
 * Safe for the reasons the tools cache is (tools-cache.ts): an item is found by a sampled key
 * of its bytes and compared byte for byte, so a request gets the items it sent; the parsed item
 * is deep-frozen and shared, so a codec that tried to change it would throw rather than change
 * another request's conversation. Items shorter than `cachedFrom` are parsed each time: a short
 * item costs less to parse than to look up and keep.
 */
import { deepFreeze } from "./deep-freeze.js";
import { arrayItemSpans, parseJsonBytes } from "./json-peek.js";
import { sampledKey } from "./sampled-key.js";
import { SampledLists } from "./sampled-lists.js";

/** The top-level members whose items are conversation: parsed item by item, through the cache. */
export const CONVERSATION_MEMBERS: ReadonlySet<string> = new Set(["messages", "system", "input"]);

/** Items shorter than this are parsed each time. */
export const ITEMS_CACHED_FROM = 1024;

/** What the cache may hold, counted as three times the items' bytes (parsed strings are UTF-16, plus the bytes kept). */
const CACHE_BYTES = 16 * 1024 * 1024;

/** Samples taken from an item's bytes for its key; an entry is still compared whole before use. */
const SAMPLES = 32;

/** Items kept under one key at most: items of one length that differ only between the sampled bytes share a key. */
const PER_KEY = 4;

interface ItemEntry {
  readonly bytes: Buffer;
  readonly parsed: unknown;
}

export class ItemsCache {
  /** By sampled key, the items with that key, most recent last. */
  readonly #entries: SampledLists<ItemEntry>;
  /** Items longer than this could not be kept (the cache counts three times their bytes), so they are parsed plainly. */
  readonly #largest: number;

  constructor(
    /** Items of at least this many bytes are cached. */
    readonly cachedFrom: number = ITEMS_CACHED_FROM,
    maxBytes: number = CACHE_BYTES,
  ) {
    this.#entries = new SampledLists(maxBytes, (e) => 3 * e.bytes.length, PER_KEY);
    this.#largest = Math.floor(maxBytes / 3);
  }

  /**
   * `parseJsonBytes(member)`, with the same result and the same errors, the big items of an array
   * from the cache (deep-frozen and shared). Anything but an array is parsed whole.
   */
  parseArray(member: Buffer): unknown {
    const spans = arrayItemSpans(member);
    if (!spans) return parseJsonBytes(member);
    try {
      return spans.map((item) => (item.length >= this.cachedFrom && item.length <= this.#largest ? this.#item(item) : parseJsonBytes(item)));
    } catch {
      // A malformed item: the whole member's parse reports it, as JSON.parse of the whole would.
      return parseJsonBytes(member);
    }
  }

  #item(bytes: Buffer): unknown {
    const key = sampledKey(bytes, SAMPLES);
    const list = this.#entries.get(key);
    if (list !== undefined) for (const e of list) if (e.bytes.equals(bytes)) return e.parsed;
    // Parsed before it is kept: a malformed item is never cached.
    const own = Buffer.from(bytes);
    const parsed = deepFreeze(parseJsonBytes(own));
    this.#entries.add(key, list, { bytes: own, parsed });
    return parsed;
  }
}
