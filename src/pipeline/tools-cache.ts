/**
 * A client's tools, parsed once and written once per upstream protocol, for as long as the same
 * bytes keep coming. Coding agents send the same tools on every turn, byte for byte (a prompt
 * cache needs the prefix unchanged): 64 KB of a 77 KB Claude Code turn. `npm run bench:codecs`
 * converts the Claude Code capture to a Responses body in 529 µs on a first turn and 92 µs on a
 * turn that repeats its tools (docs/architecture.md#measured-facts).
 *
 * Why this is safe:
 * - Entries are found by content (a sample of the bytes) and checked byte for byte, so a
 *   request gets the tools it sent.
 * - The parsed tools are deep-frozen and shared: a codec that tried to change them would throw
 *   rather than change another request's tools. Codecs build new objects (see
 *   common/json-schema.ts `normalizeToolSchema`).
 * - The written bytes are reused only for an encoded `tools` value equal, in JSON terms with
 *   key order, to a frozen copy of the one they were written from; values shared with that copy
 *   are frozen, so they have not changed since. The bytes are therefore always those
 *   `jsonBytes` would write. Whatever the upstream codec does to tools (names shortened for
 *   this request, schemas normalised) it still does on every request; only the writing is saved.
 */
import { LRUCache } from "lru-cache";
import { deepFreeze, isDeepFrozen, markDeepFrozen } from "./deep-freeze.js";
import { CONVERSATION_MEMBERS, type ItemsCache } from "./items-cache.js";
import { jsonBytes, RawJson } from "./json-bytes.js";
import { parseJsonBytes } from "./json-peek.js";
import { sampledKey } from "./sampled-key.js";
import type { ParsedBody } from "./request-body.js";
import { withMembers } from "../canonical/shared-shape.js";

/** Tools shorter than this are parsed and written each time: a turn without a big tool list gains nothing. */
export const TOOLS_CACHED_FROM = 8192;

/** What the cache may hold, counted as three times the tools' bytes (parsed strings are UTF-16, plus written copies). */
const CACHE_BYTES = 16 * 1024 * 1024;

class ToolsEntry {
  /** Per upstream protocol: the encoded tools last written, frozen, and their bytes. */
  readonly written = new Map<string, { value: unknown; bytes: Buffer }>();

  constructor(
    readonly bytes: Buffer,
    readonly parsed: unknown,
  ) {}
}

export interface ClientBodyJson {
  json: unknown;
  /** Set when the tools came from (or went into) the cache: pass it to {@link ToolsCache.bodyBytes}. */
  tools?: ToolsEntry;
}

export class ToolsCache {
  readonly #entries: LRUCache<number, ToolsEntry>;

  constructor(
    private readonly cachedFrom: number = TOOLS_CACHED_FROM,
    maxBytes: number = CACHE_BYTES,
    /** The conversation's items (items-cache.ts), parsed through it when given. */
    private readonly items?: ItemsCache,
  ) {
    this.#entries = new LRUCache({ maxSize: maxBytes, sizeCalculation: (e) => 3 * e.bytes.length });
  }

  /**
   * The client body parsed as `parseJsonBytes` would, its `tools` member (when big) from the
   * cache, and its conversation's big items from the items cache: deep-frozen, shared with every
   * request that sent the same bytes.
   */
  parse(body: ParsedBody): ClientBodyJson {
    const fields = body.peek.fields;
    const range = fields.get("tools");
    const tools = range && range.end - range.start >= this.cachedFrom ? this.#entry(body.raw.subarray(range.start, range.end)) : undefined;
    const items = this.items && hasBigConversation(body, this.items.cachedFrom) ? this.items : undefined;
    if (!tools && !items) return { json: parseJsonBytes(body.raw) };
    // As parseJsonBytes builds a big object: each member from its own bytes, in the peek's order.
    const json = Object.fromEntries(
      Array.from(fields, ([name, r]) => {
        const bytes = body.raw.subarray(r.start, r.end);
        if (name === "tools" && tools) return [name, tools.parsed];
        return [name, items && CONVERSATION_MEMBERS.has(name) ? items.parseArray(bytes) : parseJsonBytes(bytes)];
      }),
    );
    return tools ? { json, tools } : { json };
  }

  /**
   * `jsonBytes(body)`, with `body.tools` written from the entry's bytes for `upstream` when
   * it is what they were written from.
   */
  bodyBytes(body: Record<string, unknown>, entry: ToolsEntry | undefined, upstream: string): Buffer {
    if (entry === undefined || body.tools === undefined) return jsonBytes(body);
    const last = entry.written.get(upstream);
    if (last !== undefined && sameJson(body.tools, last.value)) return jsonBytes(withMembers(body, { tools: new RawJson(last.bytes) }));
    const value = frozenCopy(body.tools);
    if (value === NOT_COPIED) return jsonBytes(body);
    const bytes = jsonBytes(value);
    entry.written.set(upstream, { value, bytes });
    return jsonBytes(withMembers(body, { tools: new RawJson(bytes) }));
  }

  #entry(bytes: Buffer): ToolsEntry {
    const key = sampledKey(bytes, SAMPLES);
    const found = this.#entries.get(key);
    if (found !== undefined && found.bytes.equals(bytes)) return found;
    // A miss, or another list with the same fingerprint: the newer one takes the place.
    const own = Buffer.from(bytes);
    const entry = new ToolsEntry(own, deepFreeze(parseJsonBytes(own)));
    this.#entries.set(key, entry);
    return entry;
  }
}

/** Samples taken from the bytes for the key; an entry is still compared whole before use. */
const SAMPLES = 64;

/** Whether a conversation member of the body is long enough to hold an item the items cache keeps. */
function hasBigConversation(body: ParsedBody, itemsFrom: number): boolean {
  for (const name of CONVERSATION_MEMBERS) {
    const r = body.peek.fields.get(name);
    if (r && r.end - r.start >= itemsFrom) return true;
  }
  return false;
}

function isPlainObject(v: object): v is Record<string, unknown> {
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
}

const NOT_COPIED = Symbol("not copied");

/** A deep-frozen copy of a JSON value, sharing what is already deep-frozen; NOT_COPIED for anything but plain data. */
function frozenCopy(v: unknown): unknown {
  if (v === null || typeof v !== "object") return typeof v === "function" || typeof v === "symbol" ? NOT_COPIED : v;
  if (isDeepFrozen(v)) return v;
  let out: unknown[] | Record<string, unknown>;
  if (Array.isArray(v)) {
    out = [];
    for (let i = 0; i < v.length; i++) {
      const item = frozenCopy(v[i]);
      if (item === NOT_COPIED) return NOT_COPIED;
      out.push(item);
    }
  } else {
    if (!isPlainObject(v) || typeof v.toJSON === "function") return NOT_COPIED;
    out = {};
    for (const k of Object.keys(v)) {
      const member = frozenCopy(v[k]);
      if (member === NOT_COPIED) return NOT_COPIED;
      out[k] = member;
    }
  }
  return markDeepFrozen(out);
}

/**
 * Whether `a` writes as the same JSON text as `b`, a frozenCopy: same keys in the same order,
 * same values. A value `b` shares with `a` is deep-frozen, so it is equal as it stands.
 */
function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a === null || b === null || typeof a !== "object" || typeof b !== "object") return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!sameJson(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b) || !isPlainObject(a)) return false;
  const kb = frozenKeys(b);
  let i = 0;
  // `for…in` rather than Object.keys(a): no array for every object of a request's tools. A plain
  // object has no inherited enumerable members, so it lists Object.keys' keys in their order.
  for (const k in a) {
    if (k !== kb[i] || !sameJson(a[k], (b as Record<string, unknown>)[k])) return false;
    i++;
  }
  return i === kb.length;
}

const keysOfFrozen = new WeakMap<object, readonly string[]>();

/** `Object.keys(o)` of a frozen object, listed once: its keys cannot change. */
function frozenKeys(o: object): readonly string[] {
  let keys = keysOfFrozen.get(o);
  if (keys === undefined) keysOfFrozen.set(o, (keys = Object.keys(o)));
  return keys;
}
