/**
 * The JSON text (UTF-8 bytes, quotes included) of long strings met more than once, for
 * `jsonBytes` (json-bytes.ts). A coding agent resends its whole conversation every turn, and what
 * the codecs make of it carries the client's own strings into every upstream body the translate
 * lane writes: the Claude Code bench body's system block and messages come back as 11 KB of
 * Responses `input` text, a sixth of its bytes non-ASCII, escaped and UTF-8-encoded afresh on
 * every turn; a kept string is a few reads, a compare and a copy (bench/README.md, the sixteenth
 * stop: 0.94–0.95x the CPU a request on the translate phases).
 *
 * Found by a sampled key (sampled-key.ts), not by a `Map` of the strings: V8 hashes a string
 * the first time it is used as a key, a pass over all of it, which a string met once, the
 * turn's new message, would pay for nothing. The strings the items cache (items-cache.ts)
 * hands out are the same objects every turn, so the compare is usually of one pointer.
 *
 * What it keeps: a string of {@link CACHED_STRING_FROM} units or more the second time its key is
 * met, so a string met once costs a key. The bytes are the string's own JSON text, whoever
 * sent it, and only ever written for a string equal to the one they were written from.
 */
import { sampledStringKey } from "./sampled-key.js";
import { SampledLists } from "./sampled-lists.js";

/** Strings shorter than this are written each time: a key and a copy would save little. */
export const CACHED_STRING_FROM = 512;

/** Units sampled across a string for its key. */
const SAMPLES = 32;
/** Strings kept under one key at most, the newest last. */
const PER_KEY = 4;
/** What the cache may hold: each entry's bytes and its string's UTF-16 units. */
const KEPT_BYTES = 8 * 1024 * 1024;
/** Slots of the table of keys met once (a power of two). */
const ONCE_SLOTS = 4096;

interface Kept {
  readonly text: string;
  readonly bytes: Buffer;
}

export class StringJsonCache {
  readonly #kept: SampledLists<Kept>;
  /** Keys met once, each in the slot its low bits name: a collision forgets one, which is then met "once" again. */
  readonly #once = new Uint32Array(ONCE_SLOTS);

  constructor(keptBytes: number = KEPT_BYTES) {
    this.#kept = new SampledLists(keptBytes, (e) => e.bytes.length + 2 * e.text.length, PER_KEY);
  }

  /**
   * The bytes of `JSON.stringify(s)` when `s` was met before: kept ones, or ones `write` makes now
   * and the cache keeps. Undefined the first time: the caller writes the string itself.
   */
  bytesOf(s: string, write: (s: string) => Buffer): Buffer | undefined {
    const key = sampledStringKey(s, SAMPLES);
    const list = this.#kept.get(key);
    if (list !== undefined) for (const e of list) if (e.text === s) return e.bytes;
    const slot = key & (ONCE_SLOTS - 1);
    if (list === undefined && this.#once[slot] !== key) {
      this.#once[slot] = key;
      return undefined;
    }
    const bytes = write(s);
    // One past the cache's size is not kept, and is written again next time.
    this.#kept.add(key, list, { text: s, bytes });
    return bytes;
  }
}
