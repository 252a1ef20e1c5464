/**
 * JSON to UTF-8 bytes without one big string: the write side of `parseJsonBytes`
 * (json-peek.ts).
 *
 * `Buffer.from(JSON.stringify(body))` on a 75 KB translated body cost about 790 µs,
 * 130 µs of it the stringify. V8 builds a long stringify result as a rope of
 * parts, and getting its UTF-8 flattens the rope into one string; a string past 65,536
 * UTF-16 units (131,072 Latin-1 ones) lives in V8's large-object space, and allocating one
 * per request is what costs (docs/architecture.md#measured-facts). Here the value is
 * stringified piece by piece, each piece short enough to stay in the young generation,
 * and the pieces are written into one buffer of the exact size.
 *
 * A long string met before is written from the bytes kept for it (string-json.ts).
 */
import { CACHED_STRING_FROM, StringJsonCache } from "./string-json.js";

export { CACHED_STRING_FROM };

/**
 * Pieces are kept below this many UTF-16 units: half the large-object line for a
 * two-byte string, so a rope of parts under it flattens in the young generation.
 */
const PIECE_BELOW = 32_768;

/** Long strings' bytes, for every caller: they are a string's own JSON text, whoever sent it. */
const stringJson = new StringJsonCache();

/** Short pieces are joined into a run up to this length first: one byteLength and one write per run. */
const RUN_TARGET = 16_384;

/**
 * JSON text already written, placed as is by {@link jsonBytes} at the top or as a member of the
 * top: for a value whose bytes are known (tools-cache.ts). The bytes must be one JSON value.
 * Deeper, and for JSON.stringify, which knows nothing of it, it is its value parsed back.
 */
export class RawJson {
  constructor(readonly bytes: Buffer) {}

  toJSON(): unknown {
    return JSON.parse(this.bytes.toString("utf8"));
  }
}

/** Collects pieces, joining the short ones, never letting a run reach the limit. */
class Pieces {
  readonly list: Array<string | Buffer> = [];
  private run = "";

  constructor(private readonly below: number) {}

  addBytes(bytes: Buffer): void {
    if (this.run.length > 0) this.list.push(this.run);
    this.run = "";
    this.list.push(bytes);
  }

  add(piece: string): void {
    if (this.run.length + piece.length < Math.min(RUN_TARGET, this.below)) {
      this.run += piece;
      return;
    }
    if (this.run.length > 0) this.list.push(this.run);
    this.run = "";
    if (piece.length < Math.min(RUN_TARGET, this.below)) this.run = piece;
    else this.list.push(piece);
  }

  done(): Array<string | Buffer> {
    if (this.run.length > 0) this.list.push(this.run);
    this.run = "";
    return this.list;
  }
}

/**
 * The bytes of `Buffer.from(JSON.stringify(value))`, or JSON.stringify's own TypeError
 * (a cycle, a BigInt); a value JSON.stringify turns into `undefined` throws a TypeError
 * too, as Buffer.from would. `below` is for tests.
 */
export function jsonBytes(value: unknown, below: number = PIECE_BELOW): Buffer {
  return joined(jsonPieces(value, below));
}

/** The pieces' UTF-8 bytes in one buffer of the exact size. */
function joined(pieces: ReadonlyArray<string | Buffer>): Buffer {
  let size = 0;
  for (const p of pieces) size += typeof p === "string" ? Buffer.byteLength(p) : p.length;
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  for (const p of pieces) at += typeof p === "string" ? out.write(p, at, "utf8") : p.copy(out, at);
  return out;
}

/**
 * The JSON text of `value` as pieces: strings each below `below` UTF-16 units, when `below` is
 * above the longest number text (24 units), which is never cut, and the bytes of each
 * {@link RawJson} as they are (exported for tests).
 */
export function jsonPieces(value: unknown, below: number = PIECE_BELOW): Array<string | Buffer> {
  const pieces = new Pieces(below);
  const v = jsonView(value, "");
  if (!isVisible(v)) throw new TypeError("The value has no JSON text.");
  writeValue(v, pieces, below, 0);
  return pieces.done();
}

type Container = unknown[] | Record<string, unknown>;

/** What JSON.stringify serialises in place of `value` under `key`: its toJSON() result if it has one (a RawJson stays itself). */
function jsonView(value: unknown, key: string): unknown {
  if (value instanceof RawJson) return value;
  if (value !== null && typeof value === "object" && typeof (value as { toJSON?: unknown }).toJSON === "function") {
    return (value as { toJSON(key: string): unknown }).toJSON(key);
  }
  return value;
}

/** Whether JSON.stringify writes anything for the value (as an object member; in an array the rest become null). */
function isVisible(v: unknown): boolean {
  return v !== undefined && typeof v !== "function" && typeof v !== "symbol";
}

/** Arrays and plain objects, whose members are walked here; anything else goes to JSON.stringify whole. */
function isSplittable(v: unknown): v is Container {
  if (Array.isArray(v)) return true;
  if (v === null || typeof v !== "object") return false;
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
}

/**
 * The callers' bodies are big at the top and in the top's members (a request's input and
 * tools): those levels are split without first being stringified whole.
 */
const SPLIT_UNSEEN_DEPTH = 1;

/**
 * A value already through jsonView and visible, `depth` levels below the top. Deeper than
 * SPLIT_UNSEEN_DEPTH a container is stringified whole unless it holds a string the cache writes.
 */
function writeValue(v: unknown, pieces: Pieces, below: number, depth: number): void {
  if (typeof v === "string" && v.length >= CACHED_STRING_FROM) {
    const kept = stringJson.bytesOf(v, (s) => stringBytes(s, below));
    if (kept !== undefined) pieces.addBytes(kept);
    else writeString(v, pieces, below);
    return;
  }
  // A RawJson is placed as is at the top, in the top's members and in theirs, the levels this
  // walked before it walked into containers for their long strings; deeper, its value is written
  // through toJSON, as JSON.stringify of the container around it always wrote it.
  if (v instanceof RawJson && depth <= SPLIT_UNSEEN_DEPTH + 1) {
    pieces.addBytes(v.bytes);
    return;
  }
  if (isSplittable(v) && (depth <= SPLIT_UNSEEN_DEPTH || holdsCachedString(v))) {
    writeContainer(v, pieces, below, depth);
    return;
  }
  const text = JSON.stringify(v);
  if (text.length < below) pieces.add(text);
  else if (typeof v === "string") writeLongString(v, pieces, below);
  else if (isSplittable(v)) writeContainer(v, pieces, below, depth);
  // A long boxed primitive or class instance: rare enough to flatten.
  else pieces.add(text);
}

/** Values {@link holdsCachedString} looks at, at most, for one container: past them it answers no. */
const SCAN_LIMIT = 2048;

let scanBudget = 0;

/**
 * Whether a plain array or object holds, at any depth, a string long enough for the cache. Only
 * chooses between walking a container and stringifying it whole, which write the same bytes, so a
 * member whose toJSON would say otherwise does no harm, and neither does giving up on a big or
 * cyclic value (it is stringified whole, and a cycle throws as JSON.stringify throws).
 */
function holdsCachedString(v: unknown): boolean {
  scanBudget = SCAN_LIMIT;
  return scan(v);
}

function scan(v: unknown): boolean {
  if (--scanBudget < 0) return false;
  if (typeof v === "string") return v.length >= CACHED_STRING_FROM;
  if (!isSplittable(v)) return false;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) if (scan(v[i])) return true;
    return false;
  }
  for (const key in v) if (Object.hasOwn(v, key) && scan(v[key])) return true;
  return false;
}

/** `s`'s JSON text in pieces below `below`. */
function writeString(s: string, pieces: Pieces, below: number): void {
  // Escaped, a unit takes at most six: below that, one stringify stays under the limit.
  if (6 * s.length + 2 < below) pieces.add(JSON.stringify(s));
  else writeLongString(s, pieces, below);
}

/** `s`'s JSON text as UTF-8 bytes, written in pieces below `below`. */
function stringBytes(s: string, below: number): Buffer {
  const pieces = new Pieces(below);
  writeString(s, pieces, below);
  return joined(pieces.done());
}

/** The containers being walked, outermost first: one met again is a cycle. */
const walking: Container[] = [];

function writeContainer(v: Container, pieces: Pieces, below: number, depth: number): void {
  if (walking.includes(v)) throw new TypeError("Converting circular structure to JSON");
  walking.push(v);
  try {
    writeMembers(v, pieces, below, depth);
  } finally {
    walking.pop();
  }
}

function writeMembers(v: Container, pieces: Pieces, below: number, depth: number): void {
  if (Array.isArray(v)) {
    pieces.add("[");
    for (let i = 0; i < v.length; i++) {
      if (i > 0) pieces.add(",");
      const item = jsonView(v[i], String(i));
      if (isVisible(item)) writeValue(item, pieces, below, depth + 1);
      else pieces.add("null");
    }
    pieces.add("]");
    return;
  }
  pieces.add("{");
  let first = true;
  for (const key of Object.keys(v)) {
    const member = jsonView(v[key], key);
    if (!isVisible(member)) continue;
    if (!first) pieces.add(",");
    first = false;
    const name = JSON.stringify(key);
    if (name.length + 1 < below) pieces.add(`${name}:`);
    else writeLongString(key, pieces, below);
    if (name.length + 1 >= below) pieces.add(":");
    writeValue(member, pieces, below, depth + 1);
  }
  pieces.add("}");
}

/** A surrogate pair is never cut: each half alone would be written as a \u escape. */
function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}

/**
 * A string written as slices: JSON.stringify of each slice, without its quotes, is the
 * matching part of the whole string's escaping, since escapes are per character (or per
 * pair). A slice of n units escapes to at most 6n.
 */
function writeLongString(s: string, pieces: Pieces, below: number): void {
  const step = Math.max(2, Math.floor((below - 2) / 6));
  pieces.add('"');
  for (let at = 0; at < s.length;) {
    let end = Math.min(s.length, at + step);
    if (end < s.length && isHighSurrogate(s.charCodeAt(end - 1))) end--;
    const quoted = JSON.stringify(s.slice(at, end));
    pieces.add(quoted.slice(1, -1));
    at = end;
  }
  pieces.add('"');
}
