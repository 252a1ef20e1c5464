/**
 * Byte-level access to a JSON request body's top-level fields, for the
 * passthrough lane. Real agent bodies are 40–80 KB with non-ASCII text; decoding
 * them to a JS string costs ~0.6 ms and JSON.parse another ~0.1 ms (docs/architecture.md#measured-facts).
 * Scanning the bytes once to find a few top-level values, and splicing the
 * original bytes to patch them, avoids both.
 */

import type { MemberTree } from "../protocols/codec.js";
import { SeenValues } from "./seen-values.js";

export interface FieldRange {
  /** Byte offset of the member's key (its opening quote). */
  keyStart: number;
  /** Byte offset of the value's first byte. */
  start: number;
  /** Byte offset just past the value. */
  end: number;
}

export interface PeekedBody {
  /** Top-level fields by name, each with its value's byte range. */
  fields: Map<string, FieldRange>;
  /** Offset of the opening `{`. */
  open: number;
  /** Whether the object has at least one member. */
  nonEmpty: boolean;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const LBRACE = 0x7b;
const RBRACE = 0x7d;
const LBRACKET = 0x5b;
const RBRACKET = 0x5d;
const COMMA = 0x2c;
const COLON = 0x3a;

function isWs(b: number): boolean {
  return b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09;
}

function skipWs(buf: Uint8Array, i: number): number {
  while (i < buf.length && isWs(buf[i]!)) i++;
  return i;
}

/**
 * Returns the offset just past the closing quote of the string starting at `i`
 * (a quote), or -1. Strings are most of a request's bytes, so the next quote is
 * found with the native `indexOf`; a quote preceded by an odd run of
 * backslashes is escaped and skipped.
 */
function skipString(buf: Uint8Array, i: number): number {
  let from = i + 1;
  for (;;) {
    const q = buf.indexOf(QUOTE, from);
    if (q === -1) return -1;
    let slashes = 0;
    while (buf[q - 1 - slashes] === BACKSLASH) slashes++;
    if (slashes % 2 === 0) return q + 1;
    from = q + 1;
  }
}

/** Big containers met before, stepped over by a byte compare (seen-values.ts). */
let seen: SeenValues | undefined = new SeenValues();

/** Replaces the scanner's cache of big containers (undefined: none); returns the one it had. For tests. */
export function useSeenValues(next: SeenValues | undefined): SeenValues | undefined {
  const had = seen;
  seen = next;
  return had;
}

/**
 * Members whose big values clients and upstreams repeat byte for byte from one request (answer)
 * to the next: an agent's tools and system prompt. Only these go through the cache: a turn's
 * `messages` or `input` grows every turn, and would only cost copies.
 */
const REPEATED_MEMBERS: ReadonlySet<string> = new Set(["tools", "system", "functions"]);

/** skipValue for the value of member `key`: through the cache when the member is one that repeats. */
function skipMember(buf: Uint8Array, key: string, i: number): number {
  return skipValue(buf, i, seen !== undefined && REPEATED_MEMBERS.has(key));
}

/** Offset just past the value starting at `i`, or -1 when malformed. `remember`: look up and note a big container in the cache. */
function skipValue(buf: Uint8Array, i: number, remember = false): number {
  const first = buf[i];
  if (first === QUOTE) return skipString(buf, i);
  if (first === LBRACE || first === LBRACKET) {
    const start = i;
    const known = remember ? seen!.endOf(buf, start) : -1;
    if (known >= 0) return known;
    let depth = 0;
    for (; i < buf.length; i++) {
      const b = buf[i];
      if (b === QUOTE) {
        i = skipString(buf, i);
        if (i < 0) return -1;
        i--;
      } else if (b === LBRACE || b === LBRACKET) depth++;
      else if (b === RBRACE || b === RBRACKET) {
        depth--;
        if (depth === 0) {
          if (remember) seen!.walked(buf, start, i + 1);
          return i + 1;
        }
      }
    }
    return -1;
  }
  const start = i;
  while (i < buf.length) {
    const b = buf[i]!;
    if (b === COMMA || b === RBRACE || b === RBRACKET || isWs(b)) break;
    i++;
  }
  return i > start ? i : -1;
}

/**
 * Scans a JSON object's top-level members. Returns undefined when the body is
 * not a well-formed JSON object at the top level (the caller then parses it
 * fully to report a precise error).
 */
export function peekBody(buf: Uint8Array): PeekedBody | undefined {
  const open = skipWs(buf, 0);
  const fields = new Map<string, FieldRange>();
  const end = scanObject(buf, open, (key, keyStart, start) => {
    const valueEnd = skipMember(buf, key, start);
    if (valueEnd >= 0) fields.set(key, { keyStart, start, end: valueEnd });
    return valueEnd;
  });
  return end >= 0 && skipWs(buf, end) === buf.length ? { fields, open, nonEmpty: fields.size > 0 } : undefined;
}

/** Keys longer than this are decoded each time. */
const KNOWN_KEY_BYTES = 32;
/** Distinct keys remembered; past it the map starts over (a protocol has a few dozen). */
const KNOWN_KEYS = 4096;
/** Short ASCII keys met before, by a hash of their bytes: most keys are a protocol's own few names. */
const knownKeys = new Map<number, string>();

/**
 * The key whose bytes (between its quotes) are `buf[from, to)`. A short ASCII key without escapes
 * is looked up by its bytes instead of decoded: making a Buffer view and decoding it cost more than
 * the rest of a member's scan, on every member of every body and big event scanned.
 */
function keyAt(buf: Uint8Array, from: number, to: number): string {
  const n = to - from;
  if (n <= KNOWN_KEY_BYTES) {
    let h = 0x811c9dc5 ^ n;
    let k = from;
    for (; k < to; k++) {
      const b = buf[k]!;
      if (b >= 0x80 || b === BACKSLASH) break;
      h = Math.imul(h ^ b, 0x01000193);
    }
    if (k === to) {
      const known = knownKeys.get(h);
      if (known !== undefined && known.length === n && sameAscii(known, buf, from)) return known;
      const key = String.fromCharCode.apply(null, buf.subarray(from, to) as unknown as number[]);
      if (knownKeys.size >= KNOWN_KEYS) knownKeys.clear();
      knownKeys.set(h, key);
      return key;
    }
  }
  const raw = Buffer.from(buf.buffer, buf.byteOffset + from, n).toString("utf8");
  return raw.includes("\\") ? (JSON.parse(`"${raw}"`) as string) : raw;
}

/** Whether the ASCII string `s` is the bytes of `buf` from `at`. */
function sameAscii(s: string, buf: Uint8Array, at: number): boolean {
  for (let k = 0; k < s.length; k++) if (s.charCodeAt(k) !== buf[at + k]) return false;
  return true;
}

/**
 * Walks the members of the object whose `{` is at `i`: `member` gets each key, the offset of its
 * opening quote and of its value's first byte, and returns the offset just past the value (-1:
 * malformed). Returns the offset just past the closing brace, or -1 when the object is malformed.
 */
function scanObject(buf: Uint8Array, i: number, member: (key: string, keyStart: number, start: number) => number): number {
  if (buf[i] !== LBRACE) return -1;
  i = skipWs(buf, i + 1);
  if (buf[i] === RBRACE) return i + 1;
  for (;;) {
    if (buf[i] !== QUOTE) return -1;
    const keyStart = i;
    const keyEnd = skipString(buf, i);
    if (keyEnd < 0) return -1;
    const key = keyAt(buf, i + 1, keyEnd - 1);
    i = skipWs(buf, keyEnd);
    if (buf[i] !== COLON) return -1;
    const end = member(key, keyStart, skipWs(buf, i + 1));
    if (end < 0) return -1;
    i = skipWs(buf, end);
    if (buf[i] === COMMA) {
      i = skipWs(buf, i + 1);
      continue;
    }
    return buf[i] === RBRACE ? i + 1 : -1;
  }
}

/**
 * The raw bytes of each element of a top-level array field, one at a time, so
 * a caller that needs only the first few never scans the rest. Stops silently
 * at malformed input.
 */
export function* arrayItemBytes(buf: Uint8Array, body: PeekedBody, name: string): Generator<Buffer> {
  const r = body.fields.get(name);
  if (!r || buf[r.start] !== LBRACKET) return;
  let i = skipWs(buf, r.start + 1);
  if (buf[i] === RBRACKET) return;
  while (i < r.end) {
    const end = skipValue(buf, i);
    if (end < 0) return;
    yield Buffer.from(buf.buffer, buf.byteOffset + i, end - i);
    i = skipWs(buf, end);
    if (buf[i] !== COMMA) return;
    i = skipWs(buf, i + 1);
  }
}

/** The elements of a top-level array field, parsed lazily one by one. */
export function* readArrayItems(buf: Uint8Array, body: PeekedBody, name: string): Generator<unknown> {
  for (const item of arrayItemBytes(buf, body, name)) yield JSON.parse(item.toString("utf8"));
}

/** The raw bytes of one top-level field's value, or undefined. */
export function fieldBytes(buf: Uint8Array, body: PeekedBody, name: string): Buffer | undefined {
  const r = body.fields.get(name);
  return r ? Buffer.from(buf.buffer, buf.byteOffset + r.start, r.end - r.start) : undefined;
}

/**
 * UTF-8 that decodes to more than 65,536 UTF-16 units makes a string V8 keeps in its
 * large-object space, and Node 20 builds such a string about eight times slower per byte:
 * the 77 KB Claude Code bench body took 1.1 ms to decode, its first 72 KB 0.18 ms
 * (docs/architecture.md#measured-facts). Bytes below this always decode to fewer units.
 */
const WHOLE_DECODE_BELOW = 65_536;

/**
 * `JSON.parse(buf.toString("utf8"))`, with the same result and the same errors, but a big
 * object or array is parsed member by member (element by element), so no decoded string
 * crosses the size above unless a single string value does. `wholeBelow` is for tests.
 */
export function parseJsonBytes(buf: Buffer, wholeBelow: number = WHOLE_DECODE_BELOW): unknown {
  if (buf.length >= wholeBelow) {
    try {
      const parsed = parseInParts(buf, wholeBelow);
      if (parsed !== NOT_IN_PARTS) return parsed;
    } catch {
      // A malformed member: the whole parse below reports it, as JSON.parse of the whole would.
    }
  }
  return JSON.parse(buf.toString("utf8"));
}

/**
 * Objects shorter than this are parsed whole by {@link parseMembers} (the translate lane's answers), as
 * measured when it was written; the passthrough lane's answers go through {@link readMembers}, which
 * was faster inside the gateway even on a 713-byte answer (docs/architecture.md#measured-facts).
 */
const MEMBERS_FROM = 4096;

/**
 * The members `names` of the JSON object in `buf`, each parsed as {@link parseJsonBytes} would,
 * the rest only scanned for structure, never decoded or parsed. A short object, or bytes that
 * are not a well-formed object at the top level, are parsed whole, so anything else still
 * gives JSON.parse's result or error.
 */
export function parseMembers(buf: Buffer, names: readonly string[]): unknown {
  if (buf.length < MEMBERS_FROM) return parseJsonBytes(buf);
  const peek = peekBody(buf);
  if (!peek) return parseJsonBytes(buf);
  const picked: [string, unknown][] = [];
  for (const name of names) {
    const r = peek.fields.get(name);
    if (r) picked.push([name, parseJsonBytes(buf.subarray(r.start, r.end))]);
  }
  return Object.fromEntries(picked);
}

const NOT_IN_PARTS = Symbol("not in parts");

function parseInParts(buf: Buffer, wholeBelow: number): unknown {
  const i = skipWs(buf, 0);
  if (buf[i] === LBRACE) {
    const peek = peekBody(buf);
    if (!peek) return NOT_IN_PARTS;
    // fromEntries defines own properties, as JSON.parse does (a "__proto__" member stays data);
    // the peek keeps a repeated key at its first place with its last value, as JSON.parse does.
    return Object.fromEntries(Array.from(peek.fields, ([name, r]) => [name, parseJsonBytes(buf.subarray(r.start, r.end), wholeBelow)]));
  }
  if (buf[i] !== LBRACKET) return NOT_IN_PARTS;
  const spans = arrayItemSpans(buf);
  return spans ? spans.map((item) => parseJsonBytes(item, wholeBelow)) : NOT_IN_PARTS;
}

/**
 * The bytes of each element of the JSON array that `buf` holds (whitespace around it allowed), as
 * views, without decoding any; undefined when `buf` is not one array of well-formed structure. The
 * elements themselves are only scanned: parsing one may still fail.
 */
export function arrayItemSpans(buf: Buffer): Buffer[] | undefined {
  let at = skipWs(buf, 0);
  if (buf[at] !== LBRACKET) return undefined;
  const items: Buffer[] = [];
  at = skipWs(buf, at + 1);
  if (buf[at] === RBRACKET) return skipWs(buf, at + 1) === buf.length ? items : undefined;
  for (;;) {
    const end = skipValue(buf, at);
    if (end < 0) return undefined;
    items.push(buf.subarray(at, end));
    at = skipWs(buf, end);
    if (buf[at] === COMMA) {
      at = skipWs(buf, at + 1);
      continue;
    }
    return buf[at] === RBRACKET && skipWs(buf, at + 1) === buf.length ? items : undefined;
  }
}

const NOT_SCALAR = Symbol("not read off the bytes");

/** A literal, a string without escapes or an integer in buf[start, end), off the bytes; NOT_SCALAR for anything else. */
function scalarAt(buf: Uint8Array, start: number, end: number): unknown {
  const first = buf[start];
  const n = end - start;
  if (n === 4 && first === 0x74 && buf[start + 1] === 0x72 && buf[start + 2] === 0x75 && buf[start + 3] === 0x65) return true;
  if (n === 5 && first === 0x66 && buf[start + 1] === 0x61 && buf[start + 2] === 0x6c && buf[start + 3] === 0x73 && buf[start + 4] === 0x65) return false;
  if (n === 4 && first === 0x6e && buf[start + 1] === 0x75 && buf[start + 2] === 0x6c && buf[start + 3] === 0x6c) return null;
  if (first === QUOTE && n >= 2 && buf[end - 1] === QUOTE && plainString(buf, start + 1, end - 1)) {
    return Buffer.prototype.utf8Slice.call(buf, start + 1, end - 1) as string;
  }
  const int = plainInteger(buf, start, end);
  return int === undefined ? NOT_SCALAR : int;
}

/**
 * Parses one field's value (small values only: model, stream, keys). The lane reads several of
 * a request's fields, most of them `true`, `false`, `null`, a string without escapes or an
 * integer: those are read off the bytes, without a Buffer view, a decoded copy of the JSON and a
 * parse each.
 */
export function readField(buf: Uint8Array, body: PeekedBody, name: string): unknown {
  const r = body.fields.get(name);
  if (!r) return undefined;
  const v = scalarAt(buf, r.start, r.end);
  return v !== NOT_SCALAR ? v : JSON.parse(Buffer.from(buf.buffer, buf.byteOffset + r.start, r.end - r.start).toString("utf8"));
}

/** Whether `buf[from, to)` is a JSON string's content that means itself: no escape, no control character. */
function plainString(buf: Uint8Array, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const c = buf[i]!;
    if (c === BACKSLASH || c < 0x20) return false;
  }
  return true;
}

/**
 * The value of an integer as JSON writes it (`max_tokens`, `n`): an optional minus, then `0` or
 * digits without a leading zero, at most 15 of them (always a safe integer); undefined for
 * anything else, which JSON.parse then reads or refuses.
 */
function plainInteger(buf: Uint8Array, from: number, to: number): number | undefined {
  const negative = buf[from] === 0x2d;
  const digits = negative ? from + 1 : from;
  if (digits >= to || to - digits > 15 || (buf[digits] === 0x30 && to - digits > 1)) return undefined;
  let n = 0;
  for (let i = digits; i < to; i++) {
    const d = buf[i]! - 0x30;
    if (d < 0 || d > 9) return undefined;
    n = n * 10 + d;
  }
  // -0 as JSON.parse gives it.
  return negative ? -n : n;
}

/**
 * Where the last {@link readAt} ended (just past the value), or -1 when the bytes were not well
 * formed there. A module variable rather than a returned pair: one read allocates nothing more
 * than the values it makes.
 */
let readEnd = -1;

/** Containers nested deeper than this are parsed whole by JSON.parse (the reader recurses). */
const READ_DEPTH = 32;

/**
 * The JSON value starting at `i`, with JSON.parse's result for its bytes, read by this module's
 * scanner: literals, plain strings and integers off the bytes ({@link readField}), objects and
 * arrays member by member, anything else (a string with escapes, a fraction) by JSON.parse of
 * its own bytes, which throws JSON.parse's SyntaxError where the value is not JSON. Sets
 * {@link readEnd}; after -1 the value returned means nothing.
 *
 * Why not JSON.parse: on the request path a parse is cold code (docs/architecture.md#measured-facts).
 * Reading the bench's 713-byte Chat answer for its usage this way took 6–10 µs at the median
 * inside the gateway at 50 connections, against 13–16 µs for the JSON.parse of the answer it
 * replaced (timed around the call, two runs of each).
 */
function readAt(buf: Uint8Array, i: number, depth: number): unknown {
  const first = buf[i];
  if ((first === LBRACE || first === LBRACKET) && depth < READ_DEPTH) return first === LBRACE ? readObject(buf, i, depth) : readArray(buf, i, depth);
  const end = skipValue(buf, i);
  readEnd = end;
  if (end < 0) return undefined;
  const v = scalarAt(buf, i, end);
  return v !== NOT_SCALAR ? v : JSON.parse(Buffer.from(buf.buffer, buf.byteOffset + i, end - i).toString("utf8"));
}

function readObject(buf: Uint8Array, i: number, depth: number): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  readEnd = scanObject(buf, i, (key, keyStart, start) => {
    if (rawControlInKey(buf, keyStart)) return -1;
    const v = readAt(buf, start, depth + 1);
    if (readEnd < 0) return -1;
    // An own data property, as JSON.parse makes it: assigning `__proto__` would set the prototype instead.
    if (key === "__proto__") Object.defineProperty(out, key, { value: v, writable: true, enumerable: true, configurable: true });
    else out[key] = v;
    return readEnd;
  });
  return out;
}

function readArray(buf: Uint8Array, i: number, depth: number): unknown[] {
  const out: unknown[] = [];
  let at = skipWs(buf, i + 1);
  if (buf[at] === RBRACKET) {
    readEnd = at + 1;
    return out;
  }
  for (;;) {
    out.push(readAt(buf, at, depth + 1));
    if (readEnd < 0) return out;
    at = skipWs(buf, readEnd);
    if (buf[at] === COMMA) {
      at = skipWs(buf, at + 1);
      continue;
    }
    readEnd = buf[at] === RBRACKET ? at + 1 : -1;
    return out;
  }
}

/** Whether the key whose opening quote is at `keyStart` holds a raw control character: the scanner reads a short key without looking for one, and JSON.parse refuses it. */
function rawControlInKey(buf: Uint8Array, keyStart: number): boolean {
  const close = skipString(buf, keyStart) - 1;
  for (let i = keyStart + 1; i < close; i++) if (buf[i]! < 0x20) return true;
  return false;
}

/**
 * `JSON.parse(buf.toString("utf8"))`, the same result and the same errors, read by the scanner
 * ({@link readAt}). For small values on the request path: a value nested past {@link READ_DEPTH}
 * goes to JSON.parse whole, and so does anything the scanner finds malformed (JSON.parse then
 * gives its own error).
 */
export function readJson(buf: Buffer): unknown {
  const v = readAt(buf, skipWs(buf, 0), 0);
  return readEnd >= 0 && skipWs(buf, readEnd) === buf.length ? v : JSON.parse(buf.toString("utf8"));
}

/**
 * The members `names` of the JSON object in `buf`, read as {@link readJson} reads them, every other
 * member only scanned (a repeated member: its last value, as JSON.parse gives it). Bytes that are
 * not a well-formed object are parsed whole, so they give JSON.parse's result or error.
 */
export function readMembers(buf: Buffer, names: ReadonlySet<string>): unknown {
  const out: Record<string, unknown> = {};
  const open = skipWs(buf, 0);
  const end = scanObject(buf, open, (key, keyStart, start) => {
    if (!names.has(key)) return skipMember(buf, key, start);
    if (rawControlInKey(buf, keyStart)) return -1;
    const v = readAt(buf, start, 1);
    if (readEnd >= 0) out[key] = v;
    return readEnd;
  });
  return end >= 0 && skipWs(buf, end) === buf.length ? out : JSON.parse(buf.toString("utf8"));
}

interface Edit {
  start: number;
  end: number;
  text: string;
}

/**
 * Cuts the removed members out with their separators: up to the next member that
 * stays, or, after the last one that stays, from the end of that one's value.
 */
function removals(body: PeekedBody, removed: ReadonlySet<FieldRange>): Edit[] {
  const members = [...body.fields.values()];
  const edits: Edit[] = [];
  members.forEach((m, i) => {
    if (!removed.has(m)) return;
    const nextKept = members.slice(i + 1).find((x) => !removed.has(x));
    const prevKept = members
      .slice(0, i)
      .reverse()
      .find((x) => !removed.has(x));
    if (nextKept) edits.push({ start: m.keyStart, end: nextKept.keyStart, text: "" });
    else if (prevKept) edits.push({ start: prevKept.end, end: m.end, text: "" });
    else edits.push({ start: m.keyStart, end: members[i + 1]?.keyStart ?? m.end, text: "" });
  });
  return edits;
}

/**
 * Replaces top-level fields' values in the original bytes, inserts them right
 * after the opening brace when absent, and removes those set to `undefined`.
 * Everything else stays byte-identical.
 */
export function patchBody(buf: Buffer, body: PeekedBody, set: Record<string, unknown>): Buffer {
  const edits: Edit[] = [];
  const inserts: string[] = [];
  const removed = new Set<FieldRange>();
  for (const [name, value] of Object.entries(set)) {
    const r = body.fields.get(name);
    if (value === undefined) {
      if (r) removed.add(r);
      continue;
    }
    const json = JSON.stringify(value);
    if (r) edits.push({ start: r.start, end: r.end, text: json });
    else inserts.push(`${JSON.stringify(name)}:${json}`);
  }
  if (removed.size > 0) edits.push(...removals(body, removed));
  if (inserts.length > 0) {
    const survivors = body.fields.size - removed.size > 0;
    edits.push({ start: body.open + 1, end: body.open + 1, text: inserts.join(",") + (survivors ? "," : "") });
  }
  if (edits.length === 0) return buf;
  edits.sort((a, b) => a.start - b.start);
  const pieces: Buffer[] = [];
  let at = 0;
  for (const e of edits) {
    // Two adjacent removals may both claim the comma between them.
    pieces.push(buf.subarray(at, Math.max(at, e.start)), Buffer.from(e.text, "utf8"));
    at = Math.max(at, e.end);
  }
  pieces.push(buf.subarray(at));
  return Buffer.concat(pieces);
}

/**
 * The JSON text of an object holding only the members `tree` names, read off the bytes: the
 * members' own bytes are decoded, nothing else. Undefined when `buf` is not a well-formed object
 * at the top level (the caller then parses it whole). A member the tree descends into whose value
 * is not an object is kept whole, as a full parse would show it.
 */
export function projectFields(buf: Buffer, tree: MemberTree): string | undefined {
  const projected = projectObject(buf, skipWs(buf, 0), tree);
  return projected && skipWs(buf, projected.end) === buf.length ? projected.text : undefined;
}

/**
 * The object at `i` projected to `tree`, and the offset just past it, in one pass: a member the
 * tree descends into is projected as it is scanned, not skipped and then scanned again. A
 * repeated member keeps its first place and its last value, as JSON.parse does.
 */
function projectObject(buf: Buffer, i: number, tree: MemberTree): { text: string; end: number } | undefined {
  const kept = new Map<string, string>();
  const end = scanObject(buf, i, (key, _keyStart, start) => {
    const sub = Object.hasOwn(tree, key) ? tree[key] : undefined;
    if (sub === undefined) return skipMember(buf, key, start);
    if (sub !== true && buf[start] === LBRACE) {
      const nested = projectObject(buf, start, sub);
      if (!nested) return -1;
      kept.set(key, nested.text);
      return nested.end;
    }
    const valueEnd = skipMember(buf, key, start);
    if (valueEnd >= 0) kept.set(key, buf.toString("utf8", start, valueEnd));
    return valueEnd;
  });
  if (end < 0) return undefined;
  let text = "";
  for (const [key, value] of kept) text += `${text ? "," : ""}${JSON.stringify(key)}:${value}`;
  return { text: `{${text}}`, end };
}
